"""How long an alert delivery waits for an SMTP server that does not answer, or answers a byte
at a time (issue 20, item 6), with the default smtp: settings.

    .venv/bin/python bench/smtp_deadline.py                 # silent, then a greeting byte every 10 s
    .venv/bin/python bench/smtp_deadline.py --drip 5 --recipients 3

Raw socket servers on 127.0.0.1 (tests/test_smtp_deadline.py's SlowPeer), an archive with one
pending alert per recipient, `alerts.deliver.deliver_immediate` with `SmtpSettings` defaults
(timeout 30 s, total_timeout 60 s): prints the time taken, the connections the server saw and
the first error. Before the deadline: 3 tries x timeout per recipient (2 recipients: 208 s),
and a drip was never cut.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from test_smtp_deadline import SlowPeer, pending_alerts  # noqa: E402

from alerts.deliver import deliver_immediate  # noqa: E402
from storage.archive import Archive  # noqa: E402


def measure(drip: float | None, recipients: tuple[str, ...]) -> None:
    peer = SlowPeer(drip=drip)
    try:
        with tempfile.TemporaryDirectory() as directory, Archive.open(Path(directory) / "archive.db") as archive:
            pending_alerts(archive, recipients)
            started = time.monotonic()
            report = deliver_immediate(archive, peer.settings(), retry_delay=5)
            elapsed = time.monotonic() - started
    finally:
        peer.stop()
    kind = "silent server" if drip is None else f"greeting one byte every {drip:g} s"
    print(f"{kind}, {len(recipients)} recipients: {elapsed:.1f} s, {peer.connections} connection(s)")
    print(f"  {report.failed[0].error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drip", type=float, default=10.0, help="seconds between the greeting's bytes")
    parser.add_argument("--recipients", type=int, default=2)
    args = parser.parse_args()
    recipients = tuple(f"r{i}@test.example" for i in range(args.recipients))
    measure(None, recipients)
    measure(args.drip, recipients)


if __name__ == "__main__":
    main()
