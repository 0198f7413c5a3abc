"""Immediate-mode alert emails sent while the run goes on (`AlertsAsCommitted`), not after its
slowest source: one source hanging on a page held every alert of the run back by 90 s.

The store stage tells it of each committed batch's outbox rows (`committed`); when some are
immediate-mode, a thread of its own delivers the outbox (`alerts.deliver.deliver_immediate`,
the same delivery as the end of the run and `newswatch alerts retry`: rows claimed, each
email recorded before its SMTP transaction and marked sent after it, a re-send the same
bytes and Message-ID), so every email goes out once whoever sends it. After a delivery it
waits `GATHER_SECONDS` before the next one, gathering what was matched meanwhile into one
email per recipient: a run of a thousand sources sends a few emails per recipient, not one
per batch. The first delivery that fails (SMTP refused or unreachable) ends early sending
for the run: the rows stay pending, and the end of the run tries once more and reports it.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from alerts.settings import SmtpSettings
from flows.pipeline.runner import Delivery
from storage.outbox import OutboxEntry

GATHER_SECONDS = 30.0  # after an email, matches gather this long before the next one


class AlertsAsCommitted:
    """Use as a context manager around the run's sources (`with AlertsAsCommitted(...) as
    alerts:`); `sent`: emails it sent. `smtp` None: nothing to send (no rules or no smtp:)."""

    def __init__(
        self,
        archive: Path,
        smtp: SmtpSettings | None,
        delivery: Delivery,
        log: logging.Logger | logging.LoggerAdapter,
        *,
        gather: float = GATHER_SECONDS,
    ) -> None:
        self.archive, self.smtp, self.delivery, self.log, self.gather = archive, smtp, delivery, log, gather
        self.sent = 0
        self._due = threading.Event()  # immediate matches committed and not delivered yet
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="newswatch-early-alerts", daemon=True)

    def __enter__(self) -> AlertsAsCommitted:
        if self.smtp is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """The delivery in hand ends (its SMTP exchange has its deadlines); the rest is the end
        of the run's."""
        self._closing.set()
        if self._thread.is_alive():
            self._thread.join()

    def committed(self, matches: list[OutboxEntry]) -> None:
        """A batch's outbox rows are committed: deliver them soon if one is immediate-mode."""
        if self.smtp is not None and any(m.mode == "immediate" for m in matches):
            self._due.set()

    def _run(self) -> None:
        from alerts.deliver import deliver_immediate
        from storage.archive import Archive

        assert self.smtp is not None
        archive = None
        try:
            while not self._closing.is_set():
                if not self._due.wait(0.1):
                    continue
                self._due.clear()
                if archive is None:
                    archive = Archive.reopen(self.archive)
                d = self.delivery
                report = deliver_immediate(archive, self.smtp, send=d.send, retry_delay=d.retry_delay, now=d.now)
                self.sent += len(report.sent)
                if report.sent:
                    self.log.info("alerts: %d email(s) sent as their matches were stored", len(report.sent))
                if report.failed:
                    self.log.warning(
                        "alerts: %s; no more email until the end of the run", report.failed[0].error.split(";")[0]
                    )
                    return
                self._closing.wait(self.gather)
        except Exception as e:  # noqa: BLE001 - the end of the run delivers what is left, and says why
            self.log.warning("alerts: sending as matches were stored stopped (%s: %s)", type(e).__name__, e)
        finally:
            if archive is not None:
                archive.close()
