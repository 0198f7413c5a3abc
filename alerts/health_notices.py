"""Health alerts: email the `health_alerts:` recipients when a source becomes unhealthy.

`storage/health.py` judges the sources and remembers, per (source, problem kind, recipient),
what was already emailed (`health_notices`); this module decides whom to tell, renders and
sends. One problem emails once, not on every run; when a source no longer has a problem of
that kind, its notice is cleared, so a later relapse emails again. Each email goes through the
outbox like an alert email: recorded before its SMTP transaction, its notices recorded only
after the SMTP server accepted it; a failure is reported and the next run tries again.

Plain functions, no Prefect: `notify_unhealthy(db, smtp, settings, health)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from alerts.email import freeze, message_bytes, send_email, send_with_retries
from alerts.render import Unhealthy, message_id_for, render_health_email
from alerts.settings import HealthAlertSettings, SmtpSettings
from errors import SmtpDeliveryError
from storage.db import Database
from storage.health import clear_recovered, notified_kinds, problem_kind
from storage.outbox import (
    PreparedHealthEmail,
    archive_id,
    drop_health_email,
    health_email_sent,
    prepare_health_email,
    prepared_health_emails,
)

# A problem is recorded as told only once an email about it was accepted.
NOT_TOLD = "the next run's health check emails these problems again"


@dataclass
class HealthAlertReport:
    sent: list[str] = field(default_factory=list)  # recipients
    errors: list[str] = field(default_factory=list)  # "recipient: why"
    cleared: int = 0  # notices dropped because the problem went away

    def summary(self) -> str:
        lines = [f"health alerts: {len(self.sent)} email(s) sent, {len(self.errors)} failed"]
        return "\n".join(lines + [f"  NOT sent to {e}" for e in self.errors])


def _fields(h) -> tuple[str, list[str]]:
    """(source, problems) of a `storage.health.SourceHealth` or its `to_dict()`."""
    if isinstance(h, dict):
        return h["source"], list(h.get("problems") or [])
    return h.source, list(h.problems)


def to_notify(db: Database, health: Iterable, recipient: str) -> list[Unhealthy]:
    """The unhealthy sources with a problem kind not yet emailed to `recipient`."""
    out = []
    for h in health:
        source, problems = _fields(h)
        notified = notified_kinds(db, source, recipient)
        if any(problem_kind(p) not in notified for p in problems):
            out.append(Unhealthy(source, tuple(problems)))
    return out


def notify_unhealthy(
    db: Database,
    smtp: SmtpSettings,
    settings: HealthAlertSettings,
    health: Iterable,
    *,
    attempts: int = 3,
    retry_delay: float = 5.0,
    now: datetime | None = None,
    send: Callable = send_email,
) -> HealthAlertReport:
    """Clear recovered problems, then email each recipient (one email each) the unhealthy
    sources it was not yet told about; record them once the server accepted the email.

    Each email is recorded in the outbox before its SMTP transaction (`storage.outbox`): one
    recorded by an earlier check and maybe accepted (a crash, a dropped connection) is sent
    again as it is, first."""
    health = list(health)
    report = HealthAlertReport(cleared=clear_recovered(db, dict(_fields(h) for h in health)))
    unhealthy = [h for h in health if _fields(h)[1]]
    salt = archive_id(db)
    for index, recipient in enumerate(settings.to):
        sent = False
        try:
            for prepared in prepared_health_emails(db, recipient):
                _send_recorded(db, smtp, prepared, send, attempts, retry_delay, now)
                sent = True
            sources = to_notify(db, unhealthy, recipient)
            if sources:
                told = [(u.source, p) for u in sources for p in u.problems]
                message_id = message_id_for(salt, "health", recipient, repr(sorted(told)), smtp.sender)
                message = freeze(
                    render_health_email(
                        sources, sender=smtp.sender, recipient=recipient, message_id=message_id, now=now
                    )
                )
                prepared = prepare_health_email(
                    db,
                    recipient=recipient,
                    subject=str(message["Subject"]),
                    message_id=message_id,
                    message=message_bytes(message),
                    problems=told,
                    now=now,
                )
                _send_recorded(db, smtp, prepared, send, attempts, retry_delay, now)
                sent = True
        except SmtpDeliveryError as e:
            report.errors.append(f"{recipient}: {e}; {NOT_TOLD}")
            if e.unreachable:  # every other recipient would wait for the same timeout
                report.errors += [f"{r}: not tried, {e}; {NOT_TOLD}" for r in settings.to[index + 1 :]]
                break
            continue
        if sent:
            report.sent.append(recipient)
    return report


def _send_recorded(
    db: Database,
    smtp: SmtpSettings,
    prepared: PreparedHealthEmail,
    send: Callable,
    attempts: int,
    retry_delay: float,
    now: datetime | None,
) -> None:
    """Send a recorded health email; once accepted, its problems are told. One that cannot have
    been delivered is forgotten (the next check renders what is still wrong); one that may
    have been is kept, to be sent again as it is."""
    try:
        send_with_retries(send, smtp, freeze(prepared.message), attempts, retry_delay)
    except SmtpDeliveryError as e:
        if not e.maybe_accepted:
            drop_health_email(db, prepared.id)
        raise
    health_email_sent(db, prepared, now=now)
