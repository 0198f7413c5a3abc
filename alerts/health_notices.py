"""Health alerts: email the `health_alerts:` recipients when a source becomes unhealthy.

`storage/health.py` judges the sources and remembers, per (source, problem kind, recipient),
what was already emailed (`health_notices`); this module decides whom to tell, renders and
sends. One problem emails once, not on every run; when a source no longer has a problem of
that kind, its notice is cleared, so a later relapse emails again. A notice is recorded only
after the SMTP server accepted the email; a failure is reported and the next run tries again.

Plain functions, no Prefect: `notify_unhealthy(db, smtp, settings, health)`.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from alerts.email import header_safe, send_email, send_with_retries
from alerts.settings import HealthAlertSettings, SmtpSettings
from errors import SmtpDeliveryError
from storage.db import Database
from storage.health import add_notices, clear_recovered, notified_kinds, problem_kind

# A problem is recorded as told only once an email about it was accepted.
NOT_TOLD = "the next run's health check emails these problems again"


@dataclass(frozen=True)
class Unhealthy:
    """One unhealthy source as emailed: its name and every current problem."""

    source: str
    problems: tuple[str, ...]


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


def render_health_email(
    sources: list[Unhealthy], *, sender: str, recipient: str, now: datetime | None = None
) -> EmailMessage:
    """One message listing every unhealthy source and why, text + HTML."""
    if not sources:
        raise ValueError("no unhealthy source to render")
    names = [u.source for u in sources]
    noun = "source" if len(names) == 1 else "sources"
    intro = f"{len(names)} newswatch {noun} unhealthy: they may be missing articles."
    text = [intro, ""]
    parts = ["<!DOCTYPE html><html><body>", f"<p>{html.escape(intro)}</p>"]
    for u in sources:
        text.append(f"== {header_safe(u.source, limit=200)} ==")
        text += [f"- {header_safe(p, limit=1000)}" for p in u.problems] + [""]
        parts.append(f"<h2>{html.escape(header_safe(u.source, limit=200))}</h2><ul>")
        parts += [f"<li>{html.escape(header_safe(p, limit=1000))}</li>" for p in u.problems]
        parts.append("</ul>")
    footer = (
        "Sent once per problem; sent again if a source recovers and relapses. "
        "See `newswatch sources`; recipients are set in the health_alerts: section of the config."
    )
    text.append("-- \n" + footer)
    parts.append(f"<hr><p><small>{html.escape(footer)}</small></p></body></html>")

    message = EmailMessage()
    message["Subject"] = header_safe(f"[newswatch] {len(names)} unhealthy {noun}: {', '.join(names)}")
    message["From"] = sender
    message["To"] = recipient
    message["Date"] = format_datetime(now or datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "newswatch")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content("\n".join(text))
    message.add_alternative("\n".join(parts), subtype="html")
    return message


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
    sources it was not yet told about; record them once the server accepted the email."""
    health = list(health)
    report = HealthAlertReport(cleared=clear_recovered(db, dict(_fields(h) for h in health)))
    unhealthy = [h for h in health if _fields(h)[1]]
    for recipient in settings.to:
        sources = to_notify(db, unhealthy, recipient)
        if not sources:
            continue
        message = render_health_email(sources, sender=smtp.sender, recipient=recipient, now=now)
        try:
            send_with_retries(send, smtp, message, attempts, retry_delay)
        except SmtpDeliveryError as e:
            report.errors.append(f"{recipient}: {e}; {NOT_TOLD}")
            if e.unreachable:  # every other recipient would wait for the same timeout
                report.errors += [
                    f"{r}: not tried, {e}; {NOT_TOLD}" for r in settings.to[settings.to.index(recipient) + 1 :]
                ]
                break
            continue
        add_notices(
            db, recipient, [(u.source, p) for u in sources for p in u.problems], str(message["Message-ID"]), now
        )
        report.sent.append(recipient)
    return report
