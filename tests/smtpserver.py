"""A real SMTP server on 127.0.0.1 for the alert tests (aiosmtpd), keeping what it accepted.

`smtp_server` fixture: a started server on a free port; `server.refuse_next(n)` makes the next
n DATA commands answer 451 (temporary failure), or the reply given; `server.messages` are the accepted messages,
parsed with the modern email policy; `server.settings` the matching `SmtpSettings`.
`closed_port()` is a port with nothing listening: SMTP down.
"""
from __future__ import annotations

import email
import email.policy
import socket
import threading
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

from alerts.config import SmtpSettings


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Handler:
    def __init__(self):
        self.lock = threading.Lock()
        self.refusals_left = 0
        self.refusal = "451 4.3.0 Mailbox busy, try again later"
        self.refused = 0
        self.accepted: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.refusals_left > 0:
                self.refusals_left -= 1
                self.refused += 1
                return self.refusal
            self.accepted.append((list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 2.0.0 OK"


class SmtpServer:
    def __init__(self):
        self.handler = _Handler()
        self.port = closed_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def start(self) -> "SmtpServer":
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def refuse_next(self, count: int, reply: str = "451 4.3.0 Mailbox busy, try again later") -> None:
        with self.handler.lock:
            self.handler.refusals_left = count
            self.handler.refusal = reply

    @property
    def refused(self) -> int:
        return self.handler.refused

    @property
    def messages(self) -> list[EmailMessage]:
        return [email.message_from_bytes(raw, policy=email.policy.default)
                for _, raw in self.handler.accepted]

    @property
    def raw_messages(self) -> list[bytes]:
        return [raw for _, raw in self.handler.accepted]

    def to(self, recipient: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == recipient]

    @property
    def settings(self) -> SmtpSettings:
        return SmtpSettings(host="127.0.0.1", port=self.port, sender="newswatch@test.example",
                            timeout=5)


@pytest.fixture
def smtp_server():
    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()
