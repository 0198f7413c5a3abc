"""The alert outbox tables (`alert_matches`, `sent_emails`): every statement on them.

A rule alerts a story once per recipient (`per: story`; `per: article`: each article is its own
story): one row per (rule, recipient, story) with `also_in` NULL, the alert. A later version of
an alerted story that the rule matches is a row `also_in` that alert (`story_alert` finds it,
whatever split or merge renamed the story since): it makes no email of its own, and is listed
("also in …") by the next email that carries an alert of the same rule to the same recipient
(`claim_pending`). Recording an article again (a re-run) is a no-op: rows are unique per
(rule, recipient, article), and a near-duplicate is folded into its article, so nobody is
alerted twice. A row stays pending (`email_id IS NULL`) until the SMTP server has accepted the
email that lists it; only then is it linked to its `sent_emails` row.

Before the SMTP transaction the email is recorded (`prepare_email`): its rendered bytes, its
Message-ID, and which rows it lists (`prepared_id`). If the process dies after the server
accepted it but before `mark_sent` commits, the next delivery finds those rows prepared and
sends the very same bytes again (`prepared_email`), never a new rendering: a mail system that
collapses copies by Message-ID shows it once.

Health emails go the same way (`prepare_health_email` before the SMTP transaction,
`health_email_sent` after it: the notices and the end of the recorded copy in one commit), so a
crash in between re-sends the very same health email, never a new one.

`add_match` never commits: call it inside the transaction that stores the articles
(`alerts.outbox.record_matches` does), so articles and their alerts are kept or lost together.
The delivery bookkeeping (`claim_pending`, `mark_sent`, `release`) commits on its own: it runs
outside any article transaction and must be durable before and after each SMTP exchange.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from storage.db import Database, holder_gone, inserted_id, utc_iso

# A delivery that died mid-way (killed process) leaves its claim; after this long another
# delivery may take the rows over. Longer than any SMTP exchange with its retries. A claim
# whose holder process is gone from this host is taken over at once (see `claim_pending`);
# the expiry only matters for a holder on another host.
CLAIM_LEASE = timedelta(minutes=15)


@dataclass(frozen=True)
class NewMatch:
    """An outbox row to add: `rule` matched the story `story_id` for `recipient`."""

    rule: str
    recipient: str
    mode: str
    story_id: int
    article_id: int
    title: str | None
    source: str | None
    published: str | None
    url: str | None
    snippet: str | None
    also_in: int | None = None  # a later version: the row of its story's alert (same rule and recipient)


@dataclass(frozen=True)
class OutboxEntry(NewMatch):
    """A row of the outbox, as stored: the match, its id, whether and when it was sent."""

    id: int = 0
    language: str | None = None  # the article's
    story_title: str | None = None  # a later version: the title of its story's alert
    prepared_id: int | None = None  # the recorded email listing it, not yet marked sent
    also_published_by: list[str] = field(default_factory=list)
    matched_at: str = ""
    sent_at: str | None = None
    attempts: int = 0
    last_error: str | None = None

    @property
    def pending(self) -> bool:
        return self.sent_at is None


def has_match(db: Database, rule: str, recipient: str, story_id: int) -> bool:
    """Whether the outbox already holds this (rule, recipient, story), sent or not."""
    return (
        db.conn.execute(
            "SELECT 1 FROM alert_matches WHERE rule = ? AND recipient = ? AND story_id = ?", (rule, recipient, story_id)
        ).fetchone()
        is not None
    )


def story_alert(db: Database, rule: str, recipient: str, story_id: int) -> int | None:
    """The row of the alert `rule` sent (or will send) `recipient` for story `story_id`: the
    alert recorded under that story id, or the alert of any of the story's versions (a split or
    a merge may have renamed the story since). None: the story was never alerted."""
    row = db.conn.execute(
        "SELECT coalesce(m.also_in, m.id) FROM alert_matches m WHERE m.rule = :rule AND m.recipient = :recipient"
        " AND (m.story_id = :story OR m.article_id IN (SELECT article_id FROM story_members WHERE story_id = :story))"
        " ORDER BY m.also_in IS NOT NULL, m.id LIMIT 1",
        {"rule": rule, "recipient": recipient, "story": story_id},
    ).fetchone()
    return row[0] if row else None


def add_match(db: Database, match: NewMatch, *, now: datetime | None = None) -> OutboxEntry | None:
    """Add one pending row and return it; None when it was there already (never commits)."""
    matched_at = utc_iso(now)
    cur = db.conn.execute(  # the unique (rule, recipient, article) and (rule, recipient, story) alert stay the guards
        "INSERT OR IGNORE INTO alert_matches (rule, recipient, story_id, article_id, mode,"
        " title, source, published, url, snippet, also_in, matched_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            match.rule,
            match.recipient,
            match.story_id,
            match.article_id,
            match.mode,
            match.title,
            match.source,
            match.published,
            match.url,
            match.snippet,
            match.also_in,
            matched_at,
        ),
    )
    if not cur.rowcount:
        return None
    return OutboxEntry(**vars(match), id=inserted_id(cur), matched_at=matched_at)


# "Also published by": the other sources the archive folded into the story, read when the
# email is rendered, so a digest lists the republications that came after the match too.
_ENTRY_COLUMNS = (  # NewMatch's fields in order, then the rest of OutboxEntry's
    "m.rule, m.recipient, m.mode, m.story_id, m.article_id, m.title, m.source, m.published,"
    " m.url, m.snippet, m.also_in, m.id, (SELECT a.language FROM articles a WHERE a.id = m.article_id),"
    " (SELECT t.title FROM alert_matches t WHERE t.id = m.also_in), m.prepared_id,"
    " (SELECT group_concat(source, char(31)) FROM (SELECT DISTINCT s.source FROM sightings s"
    "   WHERE s.article_id = m.article_id AND s.source IS NOT m.source ORDER BY s.source)),"
    " m.matched_at, e.sent_at, m.attempts, m.last_error"
)


def _entry(row) -> OutboxEntry:
    match = NewMatch(*row[:11])
    entry_id, language, story_title, prepared_id, also, matched_at, sent_at, attempts, last_error = row[11:]
    return OutboxEntry(
        **vars(match),
        id=entry_id,
        language=language,
        story_title=story_title,
        prepared_id=prepared_id,
        also_published_by=also.split("\x1f") if also else [],
        matched_at=matched_at,
        sent_at=sent_at,
        attempts=attempts,
        last_error=last_error,
    )


def list_outbox(db: Database, *, pending_only: bool = False, limit: int | None = None) -> list[OutboxEntry]:
    sql = f"SELECT {_ENTRY_COLUMNS} FROM alert_matches m LEFT JOIN sent_emails e ON e.id = m.email_id"
    if pending_only:
        sql += " WHERE m.email_id IS NULL"
    sql += " ORDER BY m.id DESC"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [_entry(r) for r in db.conn.execute(sql)]


@dataclass(frozen=True)
class OutboxState:
    """What is waiting in the outbox, for a run's summary."""

    pending_emails: int  # recipients with immediate matches not sent: one email each
    pending_matches: int  # alerts (a later version of an alerted story waits for the next one)
    last_error: str | None  # the latest delivery error of a pending immediate match
    digest_queued: int  # digest matches recorded since `since`, waiting for the digest
    digest_pending: int  # every digest match waiting for the next digest


def outbox_state(db: Database, *, since: str) -> OutboxState:
    """The outbox now; `since` is an ISO time like `matched_at` (a run's start)."""
    # A later version of an alerted story makes no email: it waits for the next alert of its rule.
    emails, matches = db.conn.execute(
        "SELECT count(DISTINCT recipient), count(*) FROM alert_matches WHERE email_id IS NULL AND mode = 'immediate'"
        " AND (also_in IS NULL OR prepared_id IS NOT NULL) AND article_id NOT IN (SELECT article_id FROM forgotten)"
    ).fetchone()
    error = db.conn.execute(
        "SELECT last_error FROM alert_matches WHERE email_id IS NULL AND mode = 'immediate'"
        " AND last_error IS NOT NULL ORDER BY id DESC LIMIT 1"
    ).fetchone()
    queued, pending = db.conn.execute(
        "SELECT coalesce(sum(matched_at >= ?), 0), count(*) FROM alert_matches"
        " WHERE email_id IS NULL AND mode = 'digest' AND (also_in IS NULL OR prepared_id IS NOT NULL)"
        " AND article_id NOT IN (SELECT article_id FROM forgotten)",
        (since,),
    ).fetchone()
    return OutboxState(emails, matches, error[0] if error else None, queued, pending)


def claim_pending(db: Database, mode: str, *, now: datetime | None = None) -> tuple[str, list[OutboxEntry]]:
    """Take the pending rows of `mode` for this delivery (commits), so that a concurrent
    delivery (`alerts retry` while a run delivers) cannot send them too.

    Rows claimed by another delivery are left alone unless that claim is stale: its holder
    process is gone from this host (a killed delivery), or it is older than `CLAIM_LEASE`
    (a holder on another host, whose process cannot be checked)."""
    token = uuid.uuid4().hex
    moment = now or datetime.now(UTC)
    stale = utc_iso(moment - CLAIM_LEASE)
    with db.transaction() as conn:
        held = conn.execute(
            "SELECT DISTINCT claim, claim_host, claim_pid FROM alert_matches"
            " WHERE email_id IS NULL AND mode = ? AND claim IS NOT NULL AND claimed_at >= ?",
            (mode, stale),
        ).fetchall()
        dead = [claim for claim, host, pid in held if holder_gone(host, pid)]
        claimable = (
            "UPDATE alert_matches SET claim = ?, claimed_at = ?, claim_host = ?, claim_pid = ?"
            " WHERE email_id IS NULL AND mode = ? AND (claim IS NULL OR claimed_at < ?"
            f" OR claim IN ({','.join('?' * len(dead))}))"
            # a forgotten article (storage/forget.py) is alerted by no email while it is forgotten
            " AND article_id NOT IN (SELECT article_id FROM forgotten)"
        )
        values = (token, utc_iso(moment), socket.gethostname(), os.getpid(), mode, stale, *dead)
        # The alerts, and the later versions an email already recorded lists (sent again as they are)...
        conn.execute(claimable + " AND (also_in IS NULL OR prepared_id IS NOT NULL)", values)
        # ...then the later versions that wait for an email: they ride with a new email of their
        # rule to their recipient, never make one of their own.
        conn.execute(
            claimable + " AND also_in IS NOT NULL AND prepared_id IS NULL AND EXISTS (SELECT 1 FROM alert_matches a"
            " WHERE a.claim = ? AND a.also_in IS NULL AND a.prepared_id IS NULL"
            " AND a.rule = alert_matches.rule AND a.recipient = alert_matches.recipient)",
            (*values, token),
        )
    rows = db.conn.execute(
        f"SELECT {_ENTRY_COLUMNS} FROM alert_matches m LEFT JOIN sent_emails e ON e.id = m.email_id"
        " WHERE m.claim = ? ORDER BY m.recipient, m.rule, m.published DESC, m.id",
        (token,),
    ).fetchall()
    return token, [_entry(r) for r in rows]


@dataclass(frozen=True)
class PreparedEmail:
    """An email recorded before its SMTP transaction: what is sent, byte for byte."""

    id: int
    recipient: str
    kind: str
    subject: str
    message_id: str
    message: bytes


def archive_id(db: Database) -> str:
    """A random identity of this archive (schema v9), mixed into derived Message-IDs."""
    row = db.conn.execute("SELECT value FROM archive_meta WHERE key = 'archive_id'").fetchone()
    return row[0] if row else ""


def prepare_email(
    db: Database,
    token: str,
    entry_ids: list[int],
    *,
    recipient: str,
    kind: str,
    subject: str,
    message_id: str,
    message: bytes,
    now: datetime | None = None,
) -> PreparedEmail:
    """Record the email listing the claimed `entry_ids` before it is handed to SMTP (commits)."""
    with db.transaction() as conn:
        prepared_id = inserted_id(
            conn.execute(
                "INSERT INTO prepared_emails (recipient, kind, subject, message_id, message, prepared_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (recipient, kind, subject, message_id, message, utc_iso(now)),
            )
        )
        conn.executemany(
            "UPDATE alert_matches SET prepared_id = ? WHERE id = ? AND claim = ?",
            [(prepared_id, i, token) for i in entry_ids],
        )
    return PreparedEmail(prepared_id, recipient, kind, subject, message_id, message)


def prepared_email(db: Database, prepared_id: int) -> PreparedEmail | None:
    row = db.conn.execute(
        "SELECT id, recipient, kind, subject, message_id, message FROM prepared_emails WHERE id = ?", (prepared_id,)
    ).fetchone()
    if row is None:
        return None
    prepared_id, recipient, kind, subject, message_id, message = row
    return PreparedEmail(prepared_id, recipient, kind, subject, message_id, bytes(message))


def mark_sent(
    db: Database,
    token: str,
    entry_ids: list[int],
    *,
    recipient: str,
    kind: str,
    subject: str,
    message_id: str,
    now: datetime | None = None,
    prepared_id: int | None = None,
) -> int:
    """Record that the SMTP server accepted the email listing `entry_ids` (commits); its
    recorded copy (`prepared_id`) is no longer needed."""
    with db.transaction() as conn:
        email_id = inserted_id(
            conn.execute(
                "INSERT INTO sent_emails (recipient, kind, subject, message_id, match_count, sent_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (recipient, kind, subject, message_id, len(entry_ids), utc_iso(now)),
            )
        )
        conn.executemany(
            "UPDATE alert_matches SET email_id = ?, prepared_id = NULL, claim = NULL, claimed_at = NULL,"
            " claim_host = NULL, claim_pid = NULL, attempts = attempts + 1, last_error = NULL"
            " WHERE id = ? AND claim = ?",
            [(email_id, i, token) for i in entry_ids],
        )
        if prepared_id is not None:
            conn.execute(
                "DELETE FROM prepared_emails WHERE id = ? AND NOT EXISTS"
                " (SELECT 1 FROM alert_matches WHERE prepared_id = ?)",
                (prepared_id, prepared_id),
            )
    return email_id


def release(db: Database, token: str, entry_ids: list[int], *, error: str | None, not_sent: bool = False) -> None:
    """Give claimed rows back to the outbox, still pending, with why they were not sent (commits).

    Their recorded email is kept for the next delivery to send again as it is, unless
    `not_sent`: the server refused it or was never reached, so it cannot have been delivered
    and the next delivery renders the rows afresh (with whatever matched since)."""
    counted = 1 if error is not None else 0
    with db.transaction() as conn:
        prepared = (
            {
                p
                for (p,) in conn.execute(
                    f"SELECT DISTINCT prepared_id FROM alert_matches WHERE id IN ({','.join('?' * len(entry_ids))})"
                    " AND prepared_id IS NOT NULL",
                    entry_ids,
                )
            }
            if not_sent
            else set()
        )
        conn.executemany(
            "UPDATE alert_matches SET claim = NULL, claimed_at = NULL, claim_host = NULL, claim_pid = NULL,"
            " attempts = attempts + ?, last_error = coalesce(?, last_error),"
            " prepared_id = CASE WHEN ? THEN NULL ELSE prepared_id END WHERE id = ? AND claim = ?",
            [(counted, error, not_sent, i, token) for i in entry_ids],
        )
        conn.executemany(
            "DELETE FROM prepared_emails WHERE id = ? AND NOT EXISTS"
            " (SELECT 1 FROM alert_matches WHERE prepared_id = ?)",
            [(p, p) for p in prepared],
        )


# ------------------------------------------------------------------------ health emails ---


@dataclass(frozen=True)
class PreparedHealthEmail:
    """A health email recorded before its SMTP transaction, and the (source, problem) it tells."""

    id: int
    recipient: str
    subject: str
    message_id: str
    message: bytes
    problems: list[tuple[str, str]]


def prepare_health_email(
    db: Database,
    *,
    recipient: str,
    subject: str,
    message_id: str,
    message: bytes,
    problems: list[tuple[str, str]],
    now: datetime | None = None,
) -> PreparedHealthEmail:
    """Record the health email before it is handed to SMTP (commits)."""
    with db.transaction() as conn:
        prepared_id = inserted_id(
            conn.execute(
                "INSERT INTO prepared_health_emails (recipient, subject, message_id, message, problems, prepared_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (recipient, subject, message_id, message, json.dumps(problems), utc_iso(now)),
            )
        )
    return PreparedHealthEmail(prepared_id, recipient, subject, message_id, message, problems)


def prepared_health_emails(db: Database, recipient: str) -> list[PreparedHealthEmail]:
    """The health emails recorded for `recipient` and not known to be sent (oldest first)."""
    rows = db.conn.execute(
        "SELECT id, recipient, subject, message_id, message, problems FROM prepared_health_emails"
        " WHERE recipient = ? ORDER BY id",
        (recipient,),
    )
    return [
        PreparedHealthEmail(i, r, subject, mid, bytes(message), [tuple(p) for p in json.loads(problems)])
        for i, r, subject, mid, message, problems in rows
    ]


def health_email_sent(db: Database, prepared: PreparedHealthEmail, *, now: datetime | None = None) -> None:
    """The SMTP server accepted it: its problems are told (`storage.health` notices) and its
    recorded copy goes, in one transaction (commits)."""
    from storage.health import add_notices

    with db.transaction() as conn:
        add_notices(db, prepared.recipient, prepared.problems, prepared.message_id, now)
        conn.execute("DELETE FROM prepared_health_emails WHERE id = ?", (prepared.id,))


def drop_health_email(db: Database, prepared_id: int) -> None:
    """Forget a recorded health email that cannot have been delivered (refused, or the server
    never reached): the next check renders what is still wrong afresh (commits)."""
    with db.transaction() as conn:
        conn.execute("DELETE FROM prepared_health_emails WHERE id = ?", (prepared_id,))


def rule_activity(db: Database, *, since: str) -> dict[str, dict]:
    """rule -> {"recent": stories matched since `since` (an ISO time), "last": its last match
    (ISO time), "pending": matches not sent yet (a later version of a story already alerted,
    which waits for the rule's next alert, is not one)} (`newswatch rules list`)."""
    rows = db.conn.execute(
        "SELECT rule, count(DISTINCT CASE WHEN matched_at >= ? THEN story_id END), max(matched_at),"
        " coalesce(sum(email_id IS NULL AND (also_in IS NULL OR prepared_id IS NOT NULL)), 0)"
        " FROM alert_matches GROUP BY rule",
        (since,),
    )
    return {rule: {"recent": recent, "last": last, "pending": pending} for rule, recent, last, pending in rows}
