"""The outbox: alert matches recorded in the archive, in the same transaction as the articles.

A match row is unique per (rule, recipient, story): recording the same story again (a re-run,
a near-duplicate folded into an already-alerted story) is a no-op, so nobody is alerted twice.
A row stays pending (`email_id IS NULL`) until the SMTP server has accepted the email that
lists it; only then is it linked to its `sent_emails` row.

Every function takes a sqlite3 connection or a sqlite-utils Database and never commits on its
own, except the delivery bookkeeping (`claim`, `mark_sent`, `release`), which runs outside
any article transaction and must be durable before and after each SMTP exchange.
"""
from __future__ import annotations

import os
import socket
import sqlite3
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Iterable

from alerts.config import AlertRule
from alerts.match import BatchIndex, Candidate

# A delivery that died mid-way (killed process) leaves its claim; after this long another
# delivery may take the rows over. Longer than any SMTP exchange with its retries. A claim
# whose holder process is gone from this host is taken over at once (see `claim_pending`);
# the expiry only matters for a holder on another host.
CLAIM_LEASE = timedelta(minutes=15)

# Shipped as archive migration 3 (storage/schema.py): never edit, append a new step instead.
ALERT_TABLES_DDL = """
CREATE TABLE sent_emails (
    id INTEGER PRIMARY KEY,
    recipient TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('immediate', 'digest')),
    subject TEXT NOT NULL,
    message_id TEXT NOT NULL UNIQUE,
    match_count INTEGER NOT NULL,
    sent_at TEXT NOT NULL
);
CREATE TABLE alert_matches (
    id INTEGER PRIMARY KEY,
    rule TEXT NOT NULL,
    recipient TEXT NOT NULL,
    story_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    mode TEXT NOT NULL CHECK (mode IN ('immediate', 'digest')),
    title TEXT,
    source TEXT,
    published TEXT,
    url TEXT,
    snippet TEXT,
    matched_at TEXT NOT NULL,
    email_id INTEGER REFERENCES sent_emails(id),
    claim TEXT,
    claimed_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    UNIQUE (rule, recipient, story_id)
);
CREATE INDEX alert_matches_pending ON alert_matches (mode, recipient) WHERE email_id IS NULL;
CREATE INDEX alert_matches_email ON alert_matches (email_id);
"""

# Archive migration 5: who holds a claim (host + pid), so a claim left by a killed delivery on
# this host is taken over at once. Shipped: never edit, append a new step instead.
CLAIM_HOLDER_DDL = """
ALTER TABLE alert_matches ADD COLUMN claim_host TEXT;
ALTER TABLE alert_matches ADD COLUMN claim_pid INTEGER
"""


def _conn(db) -> sqlite3.Connection:
    return getattr(db, "conn", db)


def _run_ddl(db, ddl: str) -> None:
    conn = _conn(db)
    for statement in ddl.split(";"):
        if statement.strip():
            conn.execute(statement)


def create_alert_tables(db) -> None:
    """Archive migration 3; runs inside the migration's transaction."""
    _run_ddl(db, ALERT_TABLES_DDL)


def add_claim_holder(db) -> None:
    """Archive migration 5; runs inside the migration's transaction."""
    _run_ddl(db, CLAIM_HOLDER_DDL)


@contextmanager
def _transaction(conn: sqlite3.Connection):
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # SQLite already rolled back on some errors (disk full)
            conn.execute("ROLLBACK")
        raise


def _now(now: datetime | None) -> str:
    return (now or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class RecordedMatch:
    """One new outbox row: `rule` matched `article_id` for `recipient`."""

    id: int
    rule: str
    recipient: str
    mode: str
    story_id: int
    article_id: int
    source: str | None
    title: str | None


@dataclass(frozen=True)
class OutboxEntry:
    id: int
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
    also_published_by: list[str] = field(default_factory=list)
    matched_at: str = ""
    sent_at: str | None = None
    attempts: int = 0
    last_error: str | None = None

    @property
    def pending(self) -> bool:
        return self.sent_at is None


def record_matches(
    db, rules: Iterable[AlertRule], candidates: list[Candidate], *, now: datetime | None = None
) -> list[RecordedMatch]:
    """Match the batch's new articles and add one outbox row per (rule, recipient, story).

    Call it inside the transaction that writes the articles, so that either both the articles
    and their alerts are stored, or neither. Rows already present (same rule, recipient and
    story) are left alone; only the rows added now are returned.
    """
    conn = _conn(db)
    rules = list(rules)
    if not rules or not candidates:
        return []
    matched_at = _now(now)
    recorded: list[RecordedMatch] = []
    with BatchIndex(candidates) as index:
        for rule in rules:
            for position in index.match(rule):
                c = candidates[position]
                snippet = None  # built once per (rule, article), only if a row is new
                for recipient in rule.to:
                    exists = conn.execute(
                        "SELECT 1 FROM alert_matches WHERE rule = ? AND recipient = ? AND story_id = ?",
                        (rule.name, recipient, c.story_id)).fetchone()
                    if exists:
                        continue
                    if snippet is None:
                        snippet = index.snippet(rule, position)
                    cur = conn.execute(  # the unique (rule, recipient, story) stays the guard
                        "INSERT OR IGNORE INTO alert_matches (rule, recipient, story_id, article_id, mode,"
                        " title, source, published, url, snippet, matched_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (rule.name, recipient, c.story_id, c.article_id, rule.mode,
                         c.title, c.source, c.published, c.url, snippet, matched_at),
                    )
                    if cur.rowcount:
                            recorded.append(RecordedMatch(cur.lastrowid, rule.name, recipient, rule.mode,
                                                      c.story_id, c.article_id, c.source, c.title))
    return recorded


# "Also published by": the other sources the archive folded into the story, read when the
# email is rendered, so a digest lists the republications that came after the match too.
_ENTRY_COLUMNS = (
    "m.id, m.rule, m.recipient, m.mode, m.story_id, m.article_id, m.title, m.source, m.published,"
    " m.url, m.snippet,"
    " (SELECT group_concat(source, char(31)) FROM (SELECT DISTINCT s.source FROM sightings s"
    "   WHERE s.article_id = m.story_id AND s.source IS NOT m.source ORDER BY s.source)),"
    " m.matched_at, e.sent_at, m.attempts, m.last_error"
)


def _entry(row) -> OutboxEntry:
    values = list(row)
    values[11] = values[11].split("\x1f") if values[11] else []
    return OutboxEntry(*values)


def list_outbox(db, *, pending_only: bool = False, limit: int | None = None) -> list[OutboxEntry]:
    sql = f"SELECT {_ENTRY_COLUMNS} FROM alert_matches m LEFT JOIN sent_emails e ON e.id = m.email_id"
    if pending_only:
        sql += " WHERE m.email_id IS NULL"
    sql += " ORDER BY m.id DESC"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [_entry(r) for r in _conn(db).execute(sql)]


def _holder_gone(host: str | None, pid: int | None) -> bool:
    """True when the claim's holder was a process of this host that no longer exists."""
    if host != socket.gethostname() or pid is None or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False


def claim_pending(db, mode: str, *, now: datetime | None = None) -> tuple[str, list[OutboxEntry]]:
    """Take the pending rows of `mode` for this delivery (commits), so that a concurrent
    delivery (`alerts retry` while a run delivers) cannot send them too.

    Rows claimed by another delivery are left alone unless that claim is stale: its holder
    process is gone from this host (a killed delivery), or it is older than `CLAIM_LEASE`
    (a holder on another host, whose process cannot be checked)."""
    conn = _conn(db)
    token = uuid.uuid4().hex
    moment = now or datetime.now(timezone.utc)
    stale = _now(moment - CLAIM_LEASE)
    with _transaction(conn):
        held = conn.execute(
            "SELECT DISTINCT claim, claim_host, claim_pid FROM alert_matches"
            " WHERE email_id IS NULL AND mode = ? AND claim IS NOT NULL AND claimed_at >= ?",
            (mode, stale)).fetchall()
        dead = [claim for claim, host, pid in held if _holder_gone(host, pid)]
        conn.execute(
            "UPDATE alert_matches SET claim = ?, claimed_at = ?, claim_host = ?, claim_pid = ?"
            " WHERE email_id IS NULL AND mode = ? AND (claim IS NULL OR claimed_at < ?"
            f" OR claim IN ({','.join('?' * len(dead))}))",
            (token, _now(moment), socket.gethostname(), os.getpid(), mode, stale, *dead),
        )
    rows = conn.execute(
        f"SELECT {_ENTRY_COLUMNS} FROM alert_matches m LEFT JOIN sent_emails e ON e.id = m.email_id"
        " WHERE m.claim = ? ORDER BY m.recipient, m.rule, m.published DESC, m.id",
        (token,),
    ).fetchall()
    return token, [_entry(r) for r in rows]


def mark_sent(
    db, token: str, entry_ids: list[int], *, recipient: str, kind: str, subject: str,
    message_id: str, now: datetime | None = None,
) -> int:
    """Record that the SMTP server accepted the email listing `entry_ids` (commits)."""
    conn = _conn(db)
    with _transaction(conn):
        email_id = conn.execute(
            "INSERT INTO sent_emails (recipient, kind, subject, message_id, match_count, sent_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (recipient, kind, subject, message_id, len(entry_ids), _now(now)),
        ).lastrowid
        conn.executemany(
            "UPDATE alert_matches SET email_id = ?, claim = NULL, claimed_at = NULL,"
            " claim_host = NULL, claim_pid = NULL, attempts = attempts + 1, last_error = NULL WHERE id = ? AND claim = ?",
            [(email_id, i, token) for i in entry_ids],
        )
    return email_id


def release(db, token: str, entry_ids: list[int], *, error: str | None) -> None:
    """Give claimed rows back to the outbox, still pending, with why they were not sent (commits)."""
    conn = _conn(db)
    counted = 1 if error is not None else 0
    with _transaction(conn):
        conn.executemany(
            "UPDATE alert_matches SET claim = NULL, claimed_at = NULL, claim_host = NULL, claim_pid = NULL,"
            " attempts = attempts + ?, last_error = coalesce(?, last_error) WHERE id = ? AND claim = ?",
            [(counted, error, i, token) for i in entry_ids],
        )


def emit_match_events(matches: list[RecordedMatch]) -> int:
    """Emit one Prefect event `newswatch.alert.matched` per (rule, article) just recorded.

    The only place in `alerts/` that touches Prefect: imported lazily so that matching and
    delivery run (and are tested) without it. Returns how many events were emitted.
    """
    from prefect.events import emit_event

    seen: set[tuple[str, str]] = set()
    for m in matches:
        if (m.rule, m.article_id) in seen:
            continue
        seen.add((m.rule, m.article_id))
        related = [{"prefect.resource.id": f"newswatch.rule.{m.rule}",
                    "prefect.resource.role": "alert-rule", "prefect.resource.name": m.rule}]
        if m.source:
            related.append({"prefect.resource.id": f"newswatch.source.{m.source}",
                            "prefect.resource.role": "source", "prefect.resource.name": m.source})
        emit_event(
            event="newswatch.alert.matched",
            resource={"prefect.resource.id": f"newswatch.article.{m.article_id}",
                      "prefect.resource.name": (m.title or "")[:200]},
            related=related,
            payload={"rule": m.rule, "mode": m.mode, "story_id": m.story_id},
        )
    return len(seen)


def archive_batch_with_alerts(archive, items, rules: Iterable[AlertRule], *, now: datetime | None = None):
    """Store a batch in the archive and record its alert matches in ONE transaction.

    Returns (storage BatchResult, the outbox rows added). Only articles new to the archive are
    matched: a near-duplicate or republication is folded by the archive into an existing story,
    so it never alerts again; a re-run adds nothing.
    """
    rules = list(rules)
    recorded: list[RecordedMatch] = []

    def record(conn, items, result) -> None:
        candidates = [
            Candidate(article_id=r.article_id, story_id=r.article_id, title=item.article.title,
                      body=item.article.body, source=item.source, published=item.article.date,
                      url=r.link or item.url or item.article.url)
            for item, r in zip(items, result.items)
            if r.status == "new"
        ]
        recorded.extend(record_matches(conn, rules, candidates, now=now))

    result = archive.add_batch(items, before_commit=record if rules else None)
    return result, recorded
