"""Send what is pending in the outbox: one email per recipient, marked sent once accepted.

Immediate mode runs at the end of each ingest run (and from `newswatch alerts retry`); digest
mode from the digest flow, covering every digest match not yet sent — that is, exactly what
matched since the last digest that reached the recipient. A failure leaves the recipient's
matches pending and is reported; the next delivery sends them, once.

Each email is recorded in the outbox (bytes, Message-ID derived from its rows) before the
SMTP transaction. Rows left with a recorded email by an earlier delivery (a crash, a
refusal) are sent with that very email, byte for byte, before anything new is rendered: a
crash between the server's acceptance and the commit of "sent" re-sends the same message,
with the same Message-ID, which mail systems show once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from alerts.email import freeze, message_bytes, send_email, send_with_retries
from alerts.render import derived_message_id, render_email
from alerts.settings import SmtpSettings
from errors import SmtpDeliveryError, SmtpUnreachable
from storage.db import Database
from storage.outbox import OutboxEntry, archive_id, claim_pending, mark_sent, prepare_email, prepared_email, release

Mode = Literal["immediate", "digest"]


@dataclass(frozen=True)
class SentEmail:
    recipient: str
    subject: str
    message_id: str
    match_count: int  # alerts
    versions: int = 0  # later versions of stories, listed "also in"


@dataclass(frozen=True)
class DeliveryFailure:
    recipient: str
    error: str
    pending: int  # matches left in the outbox for this recipient
    temporary: bool


@dataclass
class DeliveryReport:
    mode: str
    sent: list[SentEmail] = field(default_factory=list)
    failed: list[DeliveryFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        if not self.sent and not self.failed:
            return f"{self.mode} alerts: nothing pending"
        lines = [f"{self.mode} alerts: {len(self.sent)} email(s) sent, {len(self.failed)} failed"]
        lines += [
            f"  sent to {s.recipient}: {s.match_count} match(es)"
            + (f" and {s.versions} later version(s) of their stories" if s.versions else "")
            for s in self.sent
        ]
        lines += [f"  NOT sent to {f.recipient} ({f.pending} match(es) kept pending): {f.error}" for f in self.failed]
        return "\n".join(lines)


# What becomes of matches an email failed to carry, by mode: said with the error, which the
# outbox keeps as the rows' last error (the run's summary and `alerts list` show it).
STAY_PENDING = {
    "immediate": "the alerts stay pending: the next run or `newswatch alerts retry` sends them",
    "digest": "the matches stay pending: the next digest (or `newswatch alerts retry --include-digest`) sends them",
}


def deliver_pending(
    db: Database,
    smtp: SmtpSettings,
    mode: Mode,
    *,
    attempts: int = 3,
    retry_delay: float = 5.0,
    now: datetime | None = None,
    send: Callable = send_email,
) -> DeliveryReport:
    """Send every pending match of `mode`, one email per recipient.

    `db` is the archive, used outside any article transaction. A temporary refusal (4xx,
    disconnect) is retried `attempts` times, `retry_delay` seconds apart; if the server cannot
    be reached at all or timed out, the remaining recipients are not tried this time (each
    would wait for the same timeout). The whole delivery has `smtp.delivery_timeout` seconds:
    each email's exchange is cut to what is left, and what is not tried by then stays pending.
    """
    report = DeliveryReport(mode)
    until = time.monotonic() + smtp.delivery_timeout
    token, entries = claim_pending(db, mode, now=now)
    # Emails recorded by an earlier delivery first (one per recorded email), then one new
    # email per recipient for the rest.
    groups: dict[tuple[str, int | None], list[OutboxEntry]] = {}
    for e in sorted(entries, key=lambda e: e.prepared_id is None):
        groups.setdefault((e.recipient, e.prepared_id), []).append(e)
    unreachable: SmtpDeliveryError | None = None
    for (recipient, prepared_id), items in groups.items():
        ids = [e.id for e in items]
        if unreachable is None and time.monotonic() >= until:
            unreachable = SmtpUnreachable(
                f"not tried: this delivery used up smtp.delivery_timeout ({smtp.delivery_timeout:g} s) "
                f"on SMTP server {smtp.host}:{smtp.effective_port}"
            )
        if unreachable is not None:
            release(db, token, ids, error=None)
            report.failed.append(DeliveryFailure(recipient, f"{unreachable}; {STAY_PENDING[mode]}", len(ids), True))
            continue
        recorded = prepared_email(db, prepared_id) if prepared_id is not None else None
        if recorded is None:
            message_id = derived_message_id(
                items, recipient=recipient, kind=mode, salt=archive_id(db), sender=smtp.sender
            )
            message = freeze(
                render_email(items, sender=smtp.sender, recipient=recipient, kind=mode, now=now, message_id=message_id)
            )
            recorded = prepare_email(
                db,
                token,
                ids,
                recipient=recipient,
                kind=mode,
                subject=str(message["Subject"]),
                message_id=message_id,
                message=message_bytes(message),
                now=now,
            )
        message = freeze(recorded.message)
        try:
            send_with_retries(send, smtp, message, attempts, retry_delay, until=until)
        except SmtpDeliveryError as e:
            error = f"{e}; {STAY_PENDING[mode]}"
            release(db, token, ids, error=error, not_sent=not e.maybe_accepted)
            report.failed.append(DeliveryFailure(recipient, error, len(ids), e.temporary))
            if e.unreachable:
                unreachable = e
            continue
        except BaseException:
            # Unknown outcome (e.g. interrupted mid-exchange): hand the rows back pending.
            release(db, token, ids, error=None)
            raise
        mark_sent(
            db,
            token,
            ids,
            recipient=recipient,
            kind=mode,
            subject=recorded.subject,
            message_id=recorded.message_id,
            now=now,
            prepared_id=recorded.id,
        )
        versions = sum(e.also_in is not None for e in items)
        report.sent.append(SentEmail(recipient, recorded.subject, recorded.message_id, len(ids) - versions, versions))
    return report


def deliver_immediate(db: Database, smtp: SmtpSettings, **options) -> DeliveryReport:
    """End of an ingest run, or `newswatch alerts retry`: send pending immediate-mode matches."""
    return deliver_pending(db, smtp, "immediate", **options)


def deliver_digest(db: Database, smtp: SmtpSettings, **options) -> DeliveryReport:
    """The digest: per recipient, every digest-mode match not yet sent."""
    return deliver_pending(db, smtp, "digest", **options)
