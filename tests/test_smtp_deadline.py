"""SMTP bounded in time (issue 20, item 6): real peers on 127.0.0.1 -- a raw socket server that
never answers or sends its greeting a byte at a time, and the aiosmtpd server that accepts.

The whole exchange has smtp.total_timeout, each answer smtp.timeout; a server that times out is
tried once per delivery and once per run (early alerts, end of run, health emails); the message
says "timed out"; the alerts stay pending and the next run sends each exactly once.
"""

from __future__ import annotations

import socket
import textwrap
import threading
import time

import pytest
from smtpserver import SmtpServer
from test_hostile import zorblax_site

from alerts.deliver import deliver_immediate
from alerts.settings import AlertRule, SmtpSettings
from errors import SmtpUnreachable
from storage.archive import Archive
from storage.outbox import list_outbox

# Each test waits out an SMTP deadline (seconds): in `make test`, not `make test-fast`.
pytestmark = pytest.mark.slow


class SlowPeer:
    """A TCP server on 127.0.0.1 that accepts every connection and then says nothing
    (`drip=None`), or sends an SMTP greeting one byte every `drip` seconds; `connections`
    counts the connections it accepted."""

    def __init__(self, drip: float | None = None) -> None:
        self.drip = drip
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self._listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            self._held.append(conn)
            if self.drip is not None:
                threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        for byte in b"220 slow.example ESMTP at last\r\n":
            if self._stop.wait(self.drip):
                return
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                return

    def settings(self, **kw) -> SmtpSettings:
        return SmtpSettings(host="127.0.0.1", port=self.port, sender="nw@test.example", password_env=None, **kw)

    def stop(self) -> None:
        self._stop.set()
        self._listener.close()
        for conn in self._held:
            conn.close()


@pytest.fixture
def silent_peer():
    peer = SlowPeer()
    yield peer
    peer.stop()


@pytest.fixture
def dripping_peer():
    peer = SlowPeer(drip=1.0)
    yield peer
    peer.stop()


def pending_alerts(archive: Archive, recipients: tuple[str, ...]) -> None:
    """Two pending immediate alerts, one per recipient, stored as a run stores them."""
    from core.article import Article
    from flows.pipeline.stages import store_batch
    from storage.records import Incoming

    rule = AlertRule(name="zorblax", query="zorblax", to=list(recipients))
    body = ["Le dossier zorblax est suivi de près par les autorités de la région.", "Deuxième paragraphe " * 20]
    item = Incoming(Article(title="Zorblax", date="2026-11-01", paragraphs=body, url="https://x.example/1"), "x")
    store_batch(archive, [item], [rule])


RECIPIENTS = ("a@test.example", "b@test.example")


def timed_delivery(tmp_path, peer: SlowPeer, **settings):
    """Two pending alerts delivered to `peer`: (the report, seconds taken, still pending)."""
    with Archive.open(tmp_path / "archive.db") as archive:
        pending_alerts(archive, RECIPIENTS)
        started = time.monotonic()
        report = deliver_immediate(archive, peer.settings(**settings), retry_delay=0)
        elapsed = time.monotonic() - started
        return report, elapsed, all(e.pending for e in list_outbox(archive))


@pytest.mark.timeout(60)
def test_a_server_that_never_answers_is_tried_once_per_delivery_and_says_timed_out(tmp_path, silent_peer):
    report, elapsed, pending = timed_delivery(tmp_path, silent_peer, timeout=1.5, total_timeout=10)
    # before: 3 tries x timeout per recipient (2 recipients, 30 s: 208 s), "closed the connection"
    assert elapsed < 10, elapsed
    assert silent_peer.connections == 1
    assert [f.recipient for f in report.failed] == list(RECIPIENTS) and not report.sent
    server = f"127.0.0.1:{silent_peer.port}"
    assert report.failed[0].error.startswith(
        f"SMTP server {server} timed out: no answer within smtp.timeout (1.5 s); it is not tried again in this run"
    )
    assert "closed the connection" not in report.summary()
    assert "the alerts stay pending" in report.failed[1].error
    assert pending


@pytest.mark.timeout(60)
def test_a_greeting_one_byte_a_second_is_cut_off_at_the_total_deadline(tmp_path, dripping_peer):
    # each byte comes within smtp.timeout: only the total deadline can end it
    report, elapsed, pending = timed_delivery(tmp_path, dripping_peer, timeout=30, total_timeout=3)
    assert pending
    assert 2.9 < elapsed < 10, elapsed  # under load: at most a few seconds late
    assert dripping_peer.connections == 1
    server = f"127.0.0.1:{dripping_peer.port}"
    assert report.failed[0].error.startswith(
        f"SMTP server {server} timed out: the exchange did not end within smtp.total_timeout (3 s)"
    )
    assert report.failed[1].error.startswith(f"SMTP server {server} timed out")


@pytest.mark.timeout(60)
def test_the_delivery_deadline_cuts_each_exchange_and_leaves_the_rest_pending(tmp_path, dripping_peer):
    report, elapsed, pending = timed_delivery(tmp_path, dripping_peer, timeout=30, total_timeout=30, delivery_timeout=2)
    assert elapsed < 10, elapsed
    assert "timed out" in report.failed[0].error and len(report.failed) == 2
    assert pending


def test_the_send_of_a_run_does_not_try_a_timed_out_server_again(silent_peer):
    from email.message import EmailMessage

    from alerts.email import OncePerRun, send_email

    send = OncePerRun(send_email)
    settings = silent_peer.settings(timeout=1, total_timeout=5)
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "nw@test.example", "a@test.example", "test"
    message.set_content("test")
    for _ in range(3):
        with pytest.raises(SmtpUnreachable, match="timed out"):
            send(settings, message)
    assert silent_peer.connections == 1


def config_text(tmp_path, site, smtp_port: int) -> str:
    return textwrap.dedent(f"""\
        archive: {tmp_path / "archive.db"}
        user_agent: smtp-deadline-test
        sources:
          - {{name: good, url: '{site.url("/feed.xml")}', kind: feed, profile: aprnews, delay: 0}}
        smtp: {{host: 127.0.0.1, port: {smtp_port}, sender: nw@test.example, timeout: 1.5,
                total_timeout: 4, password_env: null}}
        alerts:
          - {{name: zorblax, query: zorblax, to: [a@test.example, b@test.example]}}
        health_alerts: {{to: [ops@test.example]}}
        """)


@pytest.mark.timeout(180)
def test_a_run_tries_a_silent_server_once_then_the_next_run_sends_each_alert_once(
    tmp_path, make_http_server, silent_peer
):
    from flows.config.loader import load_config
    from flows.pipeline.ingest import ingest_run
    from flows.pipeline.runner import Delivery

    site = zorblax_site(make_http_server(), 3)
    config = tmp_path / "newswatch.yaml"
    config.write_text(config_text(tmp_path, site, silent_peer.port))
    started = time.monotonic()
    first = ingest_run(load_config(config), delivery=Delivery(retry_delay=0))
    elapsed = time.monotonic() - started
    assert sum(s.new for s in first.sources) == 3 and first.alerts_sent == 0
    # early alerts, end of run, and (the feed is healthy) no health email: one connection in all
    assert silent_peer.connections == 1, silent_peer.connections
    assert elapsed < 30, elapsed
    assert first.alert_errors and all("timed out" in e for e in first.alert_errors)
    assert not any("closed the connection" in e for e in first.alert_errors)
    assert first.outbox["pending_emails"] == 2

    smtp = SmtpServer().start()
    try:
        config.write_text(config_text(tmp_path, site, smtp.port))
        second = ingest_run(load_config(config), delivery=Delivery(retry_delay=0))
        third = ingest_run(load_config(config), delivery=Delivery(retry_delay=0))
    finally:
        smtp.stop()
    assert second.alerts_sent == 2 and third.alerts_sent == 0
    assert sorted(str(m["To"]) for m in smtp.messages) == list(RECIPIENTS)
    assert second.outbox["pending_emails"] == 0


@pytest.mark.timeout(60)
def test_a_tls_handshake_that_never_ends_is_cut_off_at_the_total_deadline(tmp_path, dripping_peer):
    """security ssl: the handshake gets one byte a second (no TLS at all): the total deadline ends it."""
    report, elapsed, pending = timed_delivery(tmp_path, dripping_peer, security="ssl", timeout=30, total_timeout=2)
    assert pending
    assert elapsed < 10, elapsed
    assert dripping_peer.connections == 1
    assert "timed out: the exchange did not end within smtp.total_timeout (2 s)" in report.failed[0].error
