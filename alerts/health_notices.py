"""Health alerts: email the `health_alerts:` recipients when a source becomes unhealthy.

`storage/health.py` judges the sources; this module remembers, per (source, problem kind,
recipient), what was already emailed (`health_notices`), so one problem emails once, not on
every run. A kind is the part of a problem before its first colon (`silent`, `empty pages`,
`tiny bodies`): the rest of the sentence (durations, dates) changes from run to run.
When a source no longer has a problem of that kind, its notice is cleared, so a later
relapse emails again. A notice is recorded only after the SMTP server accepted the email;
a failure is reported and the next run tries again.

Plain functions, no Prefect: `notify_unhealthy(db, smtp, settings, health)`.
"""
from __future__ import annotations

import html
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Callable, Iterable

from alerts.config import HealthAlertSettings, SmtpSettings
from alerts.deliver import _send_with_retries  # the outbox's retry policy, shared
from alerts.email import header_safe, send_email
from alerts.outbox import _transaction
from errors import SmtpDeliveryError

# Archive migration 6 (storage/schema.py): never edit, append a new step instead.
DDL = """
CREATE TABLE health_notices (
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    problem TEXT NOT NULL,
    message_id TEXT NOT NULL,
    notified_at TEXT NOT NULL,
    PRIMARY KEY (source, kind, recipient)
)
"""


def create_tables(db) -> None:
    """Archive migration 6; runs inside the migration's transaction."""
    getattr(db, "conn", db).execute(DDL)


def problem_kind(problem: str) -> str:
    return problem.partition(":")[0].strip()


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


def _now(now: datetime | None) -> str:
    return (now or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat(timespec="seconds")


def clear_recovered(conn: sqlite3.Connection, health: Iterable) -> int:
    """Drop the notices of problems the judged sources no longer have (commits)."""
    cleared = 0
    with _transaction(conn):
        for h in health:
            source, problems = _fields(h)
            kinds = sorted({problem_kind(p) for p in problems})
            cleared += conn.execute(
                f"DELETE FROM health_notices WHERE source = ? AND kind NOT IN ({','.join('?' * len(kinds))})",
                (source, *kinds)).rowcount
    return cleared


def to_notify(conn: sqlite3.Connection, health: Iterable, recipient: str) -> list[Unhealthy]:
    """The unhealthy sources with a problem kind not yet emailed to `recipient`."""
    out = []
    for h in health:
        source, problems = _fields(h)
        notified = {k for (k,) in conn.execute(
            "SELECT kind FROM health_notices WHERE source = ? AND recipient = ?", (source, recipient))}
        if any(problem_kind(p) not in notified for p in problems):
            out.append(Unhealthy(source, tuple(problems)))
    return out


def mark_notified(conn: sqlite3.Connection, recipient: str, sources: list[Unhealthy], message_id: str,
                  now: datetime | None = None) -> None:
    """Record that `recipient` was told about these problems (commits)."""
    at = _now(now)
    with _transaction(conn):
        conn.executemany(
            "INSERT INTO health_notices (source, kind, recipient, problem, message_id, notified_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (source, kind, recipient) DO NOTHING",
            [(u.source, problem_kind(p), recipient, p, message_id, at) for u in sources for p in u.problems])


def render_health_email(sources: list[Unhealthy], *, sender: str, recipient: str,
                        now: datetime | None = None) -> EmailMessage:
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
    footer = ("Sent once per problem; sent again if a source recovers and relapses. "
              "See `newswatch sources`; recipients are set in the health_alerts: section of the config.")
    text.append("-- \n" + footer)
    parts.append(f"<hr><p><small>{html.escape(footer)}</small></p></body></html>")

    message = EmailMessage()
    message["Subject"] = header_safe(f"[newswatch] {len(names)} unhealthy {noun}: {', '.join(names)}")
    message["From"] = sender
    message["To"] = recipient
    message["Date"] = format_datetime(now or datetime.now(timezone.utc))
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "newswatch")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content("\n".join(text))
    message.add_alternative("\n".join(parts), subtype="html")
    return message


def notify_unhealthy(db, smtp: SmtpSettings, settings: HealthAlertSettings, health: Iterable, *,
                     attempts: int = 3, retry_delay: float = 5.0, now: datetime | None = None,
                     send: Callable = send_email) -> HealthAlertReport:
    """Clear recovered problems, then email each recipient (one email each) the unhealthy
    sources it was not yet told about; record them once the server accepted the email."""
    conn = getattr(db, "conn", db)
    health = list(health)
    report = HealthAlertReport(cleared=clear_recovered(conn, health))
    unhealthy = [h for h in health if _fields(h)[1]]
    for recipient in settings.to:
        sources = to_notify(conn, unhealthy, recipient)
        if not sources:
            continue
        message = render_health_email(sources, sender=smtp.sender, recipient=recipient, now=now)
        try:
            _send_with_retries(send, smtp, message, attempts, retry_delay)
        except SmtpDeliveryError as e:
            report.errors.append(f"{recipient}: {e}")
            if e.unreachable:  # every other recipient would wait for the same timeout
                report.errors += [f"{r}: not tried, {e}" for r in settings.to[settings.to.index(recipient) + 1:]]
                break
            continue
        mark_notified(conn, recipient, sources, str(message["Message-ID"]), now)
        report.sent.append(recipient)
    return report
