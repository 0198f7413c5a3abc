"""Read-only queries of the analyst's desk: Atom feeds and the Datasette reading room.

Every function takes the archive (`storage.db.Database`) and only reads. The
reading room's canned queries are SQL text that Datasette runs itself; they live here, as
named constants and builders, with the rest of the archive's SQL.
"""
from __future__ import annotations

from dataclasses import dataclass

from storage.db import Database


@dataclass(frozen=True)
class FeedItem:
    """One article as a feed entry. `updated`: when it entered this feed (ISO 8601 UTC)."""

    article_id: int
    content_hash: str
    title: str | None
    source: str
    published: str | None  # ISO date
    link: str  # clean canonical URL, else where it was seen
    updated: str
    summary: str  # a highlighted snippet (alert markers) for a rule, the opening text otherwise
    also_published_by: tuple[str, ...] = ()


_ALSO = ("(SELECT group_concat(source, char(31)) FROM (SELECT DISTINCT s.source FROM sightings s"
         " WHERE s.article_id = a.id AND s.source != a.source ORDER BY s.source))")


def _item(row) -> FeedItem:
    *values, also = row
    return FeedItem(*values, also_published_by=tuple(also.split("\x1f")) if also else ())


def rule_feed_items(db: Database, rule: str, limit: int = 50) -> list[FeedItem]:
    """The articles alert rule `rule` matched (one per story, whatever the recipients), newest
    match first, with the highlighted snippet recorded in the outbox."""
    rows = db.conn.execute(
        "SELECT a.id, a.content_hash, a.title, a.source, a.published, coalesce(a.canonical_url, a.url),"
        " min(m.matched_at), coalesce(max(m.snippet), ''), " + _ALSO +
        " FROM alert_matches m JOIN articles a ON a.id = m.article_id WHERE m.rule = ?"
        " GROUP BY a.id ORDER BY min(m.matched_at) DESC, a.id DESC LIMIT ?", (rule, int(limit)))
    return [_item(r) for r in rows]


def new_article_items(db: Database, limit: int = 50, summary_chars: int = 600) -> list[FeedItem]:
    """The last `limit` articles archived, newest first, with the opening of their body."""
    rows = db.conn.execute(
        "SELECT a.id, a.content_hash, a.title, a.source, a.published, coalesce(a.canonical_url, a.url),"
        " a.fetched_at, substr(a.body, 1, ?), " + _ALSO +
        " FROM articles a ORDER BY a.id DESC LIMIT ?", (int(summary_chars), int(limit)))
    return [_item(r) for r in rows]
