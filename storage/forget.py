"""Articles taken out by hand (`newswatch forget ID|URL [--reason TEXT]`), kept in the archive.

A page archived that is not news (an "about us" page a sitemap listed, a job offer): the analyst
forgets it. Nothing is deleted. Its row in `forgotten` (schema v18) leaves it out of:
- alerts and digests: its pending outbox rows are never claimed (`storage.outbox`);
- the Atom feeds (`storage.reading` feed items), `newswatch search` (`Archive.search`) and the
  reading room's lists (new today, search, rule queries, stories, near duplicates), whose SQL
  carries `NOT_FORGOTTEN`;
- ingestion: its URL stays archived (so it is never fetched again), a copy of it elsewhere
  folds into it as a near-duplicate (no alert), and a `pages` row (reason `forgotten`, the
  analyst's reason as its message) has `newswatch rejected` list it.
`forget --undo` (or `newswatch recheck URL`) deletes both rows: the article is back, and its
pending alerts go out with the next delivery.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.urls import url_key
from errors import NewswatchError
from storage.db import Database, utc_iso

REASON = "forgotten"  # pages.reason of a forgotten article's page

# SQL: the article `a` is not forgotten.
NOT_FORGOTTEN = "NOT EXISTS (SELECT 1 FROM forgotten f WHERE f.article_id = a.id)"
# SQL: the story member `m` (story_members) is not a forgotten article.
MEMBER_NOT_FORGOTTEN = "m.article_id NOT IN (SELECT article_id FROM forgotten)"


@dataclass(frozen=True)
class Forgotten:
    article_id: int
    title: str | None
    url: str
    source: str | None
    reason: str | None
    forgotten_at: str
    pending_alerts: int  # outbox rows not sent, held back while it is forgotten


def find_article(db: Database, ref: str) -> int:
    """The id of the archived article `ref` names: its id (`12` or `#12`), or a URL it was
    archived or seen at (any spelling the archive folds: scheme, tracking parameters...)."""
    text = ref.strip().lstrip("#")
    if text.isdigit():
        if db.conn.execute("SELECT 1 FROM articles WHERE id = ?", (int(text),)).fetchone():
            return int(text)
        raise NewswatchError(
            f"no archived article #{text} in {db.path}: `newswatch search QUERY` shows the ids (or give its URL)"
        )
    key = url_key(text)
    row = db.conn.execute(
        "SELECT id FROM articles WHERE url_key = ? UNION SELECT article_id FROM sightings WHERE url_key = ? LIMIT 1",
        (key, key),
    ).fetchone()
    if row is None:
        raise NewswatchError(
            f"no archived article at {text} in {db.path}: give its id (`newswatch search QUERY` shows them) "
            "or a URL it was archived at"
        )
    return row[0]


def forgotten(db: Database, article_id: int) -> Forgotten | None:
    row = db.conn.execute(
        "SELECT f.article_id, a.title, f.url, a.source, f.reason, f.forgotten_at,"
        " (SELECT count(*) FROM alert_matches m WHERE m.article_id = f.article_id AND m.email_id IS NULL)"
        " FROM forgotten f JOIN articles a ON a.id = f.article_id WHERE f.article_id = ?",
        (article_id,),
    ).fetchone()
    return Forgotten(*row) if row else None


def forget(db: Database, article_id: int, reason: str | None = None) -> tuple[Forgotten, bool]:
    """Take the article out (commits); (its record, False when it was forgotten already)."""
    with db.transaction() as conn:
        earlier = forgotten(db, article_id)
        if earlier is not None:
            return earlier, False
        title, url, source = conn.execute(
            "SELECT title, coalesce(canonical_url, url), source FROM articles WHERE id = ?", (article_id,)
        ).fetchone()
        now = utc_iso()
        conn.execute(
            "INSERT INTO forgotten (article_id, url, reason, forgotten_at) VALUES (?, ?, ?, ?)",
            (article_id, url, reason, now),
        )
        why = f": {reason}" if reason else ""
        message = f"forgotten by hand (#{article_id}{why}); `newswatch forget --undo {article_id}` brings it back"
        conn.execute(
            "INSERT INTO pages (url, source, outcome, reason, error_kind, error, attempts, first_seen, last_attempt)"
            " VALUES (?, ?, 'not_article', ?, ?, ?, 0, ?, ?) ON CONFLICT (url) DO UPDATE SET"
            " outcome = excluded.outcome, reason = excluded.reason, error_kind = excluded.error_kind,"
            " error = excluded.error, last_attempt = excluded.last_attempt, next_attempt = NULL",
            (url, source or "?", REASON, REASON, message, now, now),
        )
        record = forgotten(db, article_id)
    assert record is not None
    return record, True


def undo(db: Database, article_id: int) -> Forgotten | None:
    """Bring the article back (commits); its record as it was, None when it was not forgotten."""
    with db.transaction() as conn:
        record = forgotten(db, article_id)
        if record is None:
            return None
        conn.execute("DELETE FROM forgotten WHERE article_id = ?", (article_id,))
        conn.execute("DELETE FROM pages WHERE url = ? AND reason = ?", (record.url, REASON))
    return record


def undo_urls(db: Database, urls: list[str]) -> list[Forgotten]:
    """`newswatch recheck URL...` of forgotten pages: bring their articles back."""
    ids = (
        [
            r[0]
            for r in db.conn.execute(
                f"SELECT article_id FROM forgotten WHERE url IN ({','.join('?' * len(urls))})", urls
            ).fetchall()
        ]
        if urls
        else []
    )
    return [record for record in (undo(db, i) for i in ids) if record is not None]


def forgotten_ids(db: Database) -> set[int] | None:
    """The ids of the forgotten articles; None when a damaged archive cannot say (`export`)."""
    import sqlite3

    try:
        return {i for (i,) in db.conn.execute("SELECT article_id FROM forgotten")}
    except sqlite3.DatabaseError:
        return None
