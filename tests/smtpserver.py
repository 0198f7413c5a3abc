"""The `smtp_server` fixture: `flows.demo.servers.SmtpServer` (a real SMTP server on 127.0.0.1,
the demo's too) started on a free port, stopped after the test. `closed_port()`: SMTP down.
"""

from __future__ import annotations

import pytest

from flows.demo.servers import SmtpServer, closed_port  # noqa: F401 (re-exported)


@pytest.fixture
def smtp_server():
    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()
