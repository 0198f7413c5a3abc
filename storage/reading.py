"""Read-only queries of the analyst's desk: Atom feeds and the Datasette reading room.

Every function takes the archive (`storage.db.Database`) and only reads. The
reading room's canned queries are SQL text that Datasette runs itself; they live here, as
named constants and builders, with the rest of the archive's SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from storage.db import Database
from storage.forget import MEMBER_NOT_FORGOTTEN as _KEPT
from storage.forget import NOT_FORGOTTEN
from storage.query import SNIPPET_MARKS


@dataclass(frozen=True)
class FeedVersion:
    """A later version of a story in a rule's feed: another outlet or language."""

    article_id: int
    title: str | None
    source: str
    language: str | None
    link: str


@dataclass(frozen=True)
class FeedItem:
    """One article as a feed entry (in a rule's feed: the story it alerted, with the later
    versions the rule matched). `updated`: when it, or its latest version, entered this feed
    (ISO 8601 UTC)."""

    article_id: int
    content_hash: str
    title: str | None
    source: str
    published: str | None  # ISO date
    link: str  # clean canonical URL, else where it was seen
    updated: str
    summary: str  # a highlighted snippet (alert markers) for a rule, the opening text otherwise
    also_published_by: tuple[str, ...] = ()
    versions: tuple[FeedVersion, ...] = ()


_ALSO = (
    "(SELECT group_concat(source, char(31)) FROM (SELECT DISTINCT s.source FROM sightings s"
    " WHERE s.article_id = a.id AND s.source != a.source ORDER BY s.source))"
)


def _item(row) -> FeedItem:
    article_id, content_hash, title, source, published, link, updated, summary, also = row
    return FeedItem(
        article_id,
        content_hash,
        title,
        source,
        published,
        link,
        updated,
        summary,
        also_published_by=tuple(also.split("\x1f")) if also else (),
    )


def rule_feed_items(db: Database, rule: str, limit: int = 50) -> list[FeedItem]:
    """The stories alert rule `rule` alerted (one entry per story, whatever the recipients:
    the article that alerted it, with the highlighted snippet recorded in the outbox, and the
    later versions the rule matched), the story first alerted most recently first."""
    rows = db.conn.execute(
        "SELECT a.id, a.content_hash, a.title, a.source, a.published, coalesce(a.canonical_url, a.url),"
        " min(m.matched_at), coalesce(max(m.snippet), ''), "
        + _ALSO
        + " FROM alert_matches m JOIN articles a ON a.id = m.article_id WHERE m.rule = ? AND m.also_in IS NULL"
        f" AND {NOT_FORGOTTEN} GROUP BY a.id ORDER BY min(m.matched_at) DESC, a.id DESC LIMIT ?",
        (rule, int(limit)),
    ).fetchall()
    items = []
    for row in rows:
        item = _item(row)
        versions = db.conn.execute(
            "SELECT a.id, a.title, a.source, a.language, coalesce(a.canonical_url, a.url), min(v.matched_at)"
            " FROM alert_matches v JOIN alert_matches f ON f.id = v.also_in"
            " JOIN articles a ON a.id = v.article_id"
            f" WHERE v.rule = ? AND f.article_id = ? AND {NOT_FORGOTTEN}"
            " GROUP BY a.id ORDER BY min(v.matched_at), a.id",
            (rule, item.article_id),
        ).fetchall()
        if versions:
            item = replace(
                item,
                versions=tuple(FeedVersion(*v[:5]) for v in versions),
                updated=max(item.updated, *(v[5] for v in versions)),
            )
        items.append(item)
    return items


def new_article_items(db: Database, limit: int = 50, summary_chars: int = 600) -> list[FeedItem]:
    """The last `limit` articles archived, newest first, with the opening of their body."""
    rows = db.conn.execute(
        "SELECT a.id, a.content_hash, a.title, a.source, a.published, coalesce(a.canonical_url, a.url),"
        " a.fetched_at, substr(a.body, 1, ?), "
        + _ALSO
        + f" FROM articles a WHERE {NOT_FORGOTTEN} ORDER BY a.id DESC LIMIT ?",
        (int(summary_chars), int(limit)),
    )
    return [_item(r) for r in rows]


# ------------------------------------------------------------------ the reading room (Datasette) ---
# SQL that Datasette runs itself (the plugin's pages and the canned queries). Named parameters.

# A forgotten article (storage/forget.py) is in none of the counts, charts and lists below.
HOME_COUNTS_SQL = (
    "SELECT (SELECT count(*) FROM articles) - (SELECT count(*) FROM forgotten) AS articles,"
    f" (SELECT count(DISTINCT source) FROM articles a WHERE {NOT_FORGOTTEN}) AS sources,"
    f" (SELECT max(fetched_at) FROM articles a WHERE {NOT_FORGOTTEN}) AS latest,"
    f" (SELECT count(*) FROM articles a WHERE fetched_at >= date('now') AND {NOT_FORGOTTEN}) AS today"
)

ARTICLE_PAGE_SQL = (
    "SELECT id, title, source, published, language, fetched_at, body, contacts, profile,"
    " coalesce(canonical_url, url) AS link,"
    " (SELECT forgotten_at FROM forgotten WHERE article_id = :id) AS forgotten_at,"
    " (SELECT reason FROM forgotten WHERE article_id = :id) AS forgotten_reason"
    " FROM articles WHERE id = :id"
)

ARTICLE_RULES_SQL = "SELECT DISTINCT rule FROM alert_matches WHERE article_id = :id ORDER BY rule"

_LINK = "coalesce(a.canonical_url, a.url) AS link"
# Newest by publication date; undated articles after the dated ones (an undated article is
# not today's news because it was fetched today).
_NEWEST = "ORDER BY a.published IS NULL, a.published DESC, a.id DESC"
# The body around the first match, one line, a matched phrase whole (storage.query.snippet_sql).
_SNIPPET = f"newswatch_snippet(highlight(articles_fts, 1, {SNIPPET_MARKS}), 24, '[', ']') AS snippet"


def _literal(text: str) -> str:
    """A SQL string literal (the canned queries are SQL text, their values from the config)."""
    return "'" + str(text).replace("'", "''") + "'"


NEW_TODAY_SQL = (
    f"SELECT a.id, a.title, a.source, a.published, a.language, {_LINK}, a.fetched_at FROM articles a"
    f" WHERE a.fetched_at >= date('now') AND {NOT_FORGOTTEN} ORDER BY a.fetched_at DESC, a.id DESC"
)  # index articles_fetched_at

# The home's picture of the last 30 days (flows/reading_room/charts.py): by the day an article
# was archived (a source's activity, whatever the dates its pages give), and the day a rule matched.
ARTICLES_PER_DAY_SQL = (
    "SELECT substr(fetched_at, 1, 10) AS day, source, count(*) AS articles FROM articles a"
    f" WHERE fetched_at >= date('now', '-29 days') AND {NOT_FORGOTTEN} GROUP BY day, source"
)  # index articles_fetched_at
MATCHES_PER_DAY_SQL = (
    "SELECT substr(matched_at, 1, 10) AS day, rule, count(DISTINCT article_id) AS matches FROM alert_matches"
    " WHERE matched_at >= date('now', '-29 days') AND article_id NOT IN (SELECT article_id FROM forgotten)"
    " GROUP BY day, rule"
)

SEARCH_SQL = (
    f"SELECT a.id, a.title, a.source, a.published, {_LINK}, {_SNIPPET}"
    " FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid"
    " WHERE articles_fts MATCH newswatch_query(:q)"
    " AND newswatch_admits(:q, a.source, coalesce(a.canonical_url, a.url))"
    f" AND {NOT_FORGOTTEN} {_NEWEST} LIMIT 500"
)

NEAR_DUPLICATES_SQL = (  # driven by the partial index sightings_folded (schema v9)
    f"SELECT a.id, a.title, a.source, {_LINK}, g.copies, g.folded_copies, g.last_seen FROM"
    " (SELECT article_id, count(*) AS copies,"
    "   group_concat(source || ' (' || replace(kind, '_', ' ')"
    "     || coalesce(' ' || round(similarity, 2), '') || ')', ', ') AS folded_copies,"
    "   max(last_seen) AS last_seen"
    "   FROM sightings WHERE kind != 'original' GROUP BY article_id) g"
    f" JOIN articles a ON a.id = g.article_id WHERE {NOT_FORGOTTEN} ORDER BY g.last_seen DESC, a.id DESC LIMIT 200"
)

# Every URL fetched that did not become an article is in `pages` with its `reason`
# (storage/fetchstate.py REASONS: not-article, unreadable, too-large, not-html, gone,
# client-error, robots, redirect, bad-url, failing) and its outcome (not_article and gave_up:
# never asked for again; failed: retried later).
REJECTED_PAGES_SQL = (
    "SELECT p.reason, p.source, count(*) AS pages, sum(p.outcome = 'failed') AS retried_later,"
    " max(p.last_attempt) AS last_attempt,"
    " (SELECT q.url FROM pages q WHERE q.source = p.source AND q.reason IS p.reason"
    "   ORDER BY q.last_attempt DESC LIMIT 1) AS latest_url,"
    " (SELECT q.status FROM pages q WHERE q.source = p.source AND q.reason IS p.reason"
    "   ORDER BY q.last_attempt DESC LIMIT 1) AS latest_status,"
    " (SELECT q.error FROM pages q WHERE q.source = p.source AND q.reason IS p.reason"
    "   ORDER BY q.last_attempt DESC LIMIT 1) AS latest_error"
    " FROM pages p GROUP BY p.reason, p.source ORDER BY pages DESC, p.reason, p.source"
)


# A story's title: its title article's, else (that one forgotten) its first version's not forgotten.
_KEPT_TITLE_ARTICLE = "t.id NOT IN (SELECT article_id FROM forgotten)"
_KEPT_TITLE = (
    "(SELECT a.title FROM story_members m JOIN articles a ON a.id = m.article_id"
    f" WHERE m.story_id = s.id AND {_KEPT} AND a.title IS NOT NULL ORDER BY m.day, m.article_id LIMIT 1)"
)

# Stories (storage/stories.py): one row per story, latest first, its versions inside (a JSON
# list of [article id, language, source, title] the plugin renders as links); a story's page
# lists its versions. A story's day is a day number (days since 1970-01-01).
STORIES_SQL = (
    f"SELECT s.id AS story, coalesce(t.title, {_KEPT_TITLE}, '(untitled)') AS title,"
    f" (SELECT count(*) FROM story_members m WHERE m.story_id = s.id AND {_KEPT}) AS size,"
    " (SELECT json_group_array(json_array(v.id, v.language, v.source, v.title)) FROM"
    "   (SELECT a.id, a.language, a.source, a.title FROM story_members m JOIN articles a ON a.id = m.article_id"
    f"     WHERE m.story_id = s.id AND {NOT_FORGOTTEN} ORDER BY m.day, m.article_id) v) AS versions,"
    " (SELECT group_concat(DISTINCT a.language) FROM story_members m JOIN articles a ON a.id = m.article_id"
    f"   WHERE m.story_id = s.id AND {_KEPT}) AS languages,"
    " (SELECT group_concat(DISTINCT g.source) FROM story_members m JOIN sightings g ON g.article_id = m.article_id"
    f"   WHERE m.story_id = s.id AND {_KEPT}) AS outlets,"
    " date(s.first_day * 86400, 'unixepoch') AS first_day, date(s.last_day * 86400, 'unixepoch') AS last_day"
    f" FROM stories s LEFT JOIN articles t ON t.id = s.title_article_id AND {_KEPT_TITLE_ARTICLE}"
    f" WHERE EXISTS (SELECT 1 FROM story_members m WHERE m.story_id = s.id AND {_KEPT})"
    " ORDER BY s.last_day DESC, s.id DESC LIMIT 200"
)  # index stories_last_day

STORY_SQL = (
    "SELECT a.id AS article, a.title, a.language, a.source, a.published, coalesce(a.canonical_url, a.url) AS link,"
    " m.how AS joined, m.pinned AS by_hand,"
    " (SELECT group_concat(coalesce(g.canonical_url, g.url) || ' (' || g.source || ')', ' · ') FROM sightings g"
    "   WHERE g.article_id = a.id AND g.kind != 'original') AS also_seen_at"
    " FROM story_members m JOIN articles a ON a.id = m.article_id"
    " WHERE m.story_id = (SELECT coalesce((SELECT id FROM stories WHERE id = :id),"
    f"   (SELECT story_id FROM story_members WHERE article_id = :id))) AND {NOT_FORGOTTEN}"
    " ORDER BY m.day, m.article_id"
)

ARTICLE_STORY_SQL = (
    f"SELECT s.id AS story, (SELECT count(*) FROM story_members m WHERE m.story_id = s.id AND {_KEPT}) AS size,"
    f" coalesce(t.title, {_KEPT_TITLE}, '(untitled)') AS title"
    " FROM story_members me JOIN stories s ON s.id = me.story_id"
    f" LEFT JOIN articles t ON t.id = s.title_article_id AND {_KEPT_TITLE_ARTICLE} WHERE me.article_id = :id"
)


def rule_matches_sql(rule: str, query: str, sources) -> str:
    """The archived articles an alert rule's query matches (whether or not they were alerted:
    `alerted` says), newest first."""
    where = (
        f"articles_fts MATCH newswatch_query({_literal(query)})"
        f" AND newswatch_admits({_literal(query)}, a.source, coalesce(a.canonical_url, a.url))"
    )
    where += f" AND {NOT_FORGOTTEN}"
    if sources:
        where += f" AND a.source IN ({', '.join(_literal(s) for s in sources)})"
    return (
        f"SELECT a.id, a.title, a.source, a.published, {_LINK}, {_SNIPPET},"
        f" EXISTS (SELECT 1 FROM alert_matches m WHERE m.article_id = a.id AND m.rule = {_literal(rule)}) AS alerted"
        f" FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid WHERE {where} {_NEWEST}"
    )


def source_health_sql(sources) -> str:
    """Per source: runs, last success, last new article, articles, failing and rejected pages,
    last error, and a state (never run, SILENT beyond its expected interval, FAILING when its
    last `storage.health.FAILING_RUNS` runs or more failed in a row, ok): the silent and failing
    checks of `storage.health`, which `newswatch sources` runs with the others (empty pages,
    tiny bodies). `sources`: (name, expected_interval_seconds or None) from the config; empty:
    every source that ever ran."""
    from storage.health import FAILING_RUNS

    if sources:
        rows = ", ".join(f"({_literal(name)}, {'NULL' if s is None else float(s)})" for name, s in sources)
        configured = f"configured(source, expected_seconds) AS (VALUES {rows})"
    else:
        configured = "configured(source, expected_seconds) AS (SELECT DISTINCT source, NULL FROM source_runs)"
    return (
        f"WITH {configured},"
        " runs AS (SELECT source, count(*) AS runs, min(started_at) AS first_run, max(finished_at) AS last_run,"
        "   max(CASE WHEN ok THEN finished_at END) AS last_success,"
        "   max(CASE WHEN json_extract(counts, '$.new') > 0 THEN finished_at END) AS last_new"
        "   FROM source_runs GROUP BY source),"
        " failing AS (SELECT s.source, count(*) AS failed_in_a_row FROM source_runs s"
        "   JOIN runs r ON r.source = s.source WHERE NOT s.ok AND s.finished_at > coalesce(r.last_success, '')"
        "   GROUP BY s.source)"
        " SELECT c.source,"
        " CASE WHEN r.runs IS NULL THEN 'never run'"
        "   WHEN c.expected_seconds IS NOT NULL AND (julianday('now') - julianday(coalesce(r.last_new, r.first_run)))"
        "     * 86400 > c.expected_seconds THEN 'SILENT'"
        f"   WHEN coalesce(f.failed_in_a_row, 0) >= {int(FAILING_RUNS)} THEN 'FAILING' ELSE 'ok' END AS state,"
        " r.runs, coalesce(f.failed_in_a_row, 0) AS failed_in_a_row, r.last_run, r.last_success, r.last_new,"
        " round(c.expected_seconds / 3600.0, 1) AS expected_every_hours,"
        f" (SELECT count(*) FROM articles a WHERE a.source = c.source AND {NOT_FORGOTTEN}) AS articles,"
        " (SELECT count(*) FROM pages p WHERE p.source = c.source AND p.outcome = 'failed') AS failing_pages,"
        " (SELECT count(*) FROM pages p WHERE p.source = c.source AND p.outcome != 'failed') AS rejected_pages,"
        " (SELECT error FROM source_runs s WHERE s.source = c.source AND s.error IS NOT NULL"
        "   ORDER BY finished_at DESC, id DESC LIMIT 1) AS last_error"
        " FROM configured c LEFT JOIN runs r ON r.source = c.source LEFT JOIN failing f ON f.source = c.source"
        " ORDER BY state = 'ok', c.source"
    )


def rule_query_name(rule: str) -> str:
    """The canned query's name (its URL path segment) for an alert rule."""
    return "rule_" + re.sub(r"[^A-Za-z0-9_]+", "_", rule).strip("_")


def canned_queries(rules, sources) -> dict:
    """Datasette canned queries; `rules`: (name, query, sources or None) of the valid alert rules."""
    queries = {
        "new_today": {
            "title": "New today",
            "sql": NEW_TODAY_SQL,
            "description": "Articles archived since midnight (UTC), newest first.",
        },
        "search": {
            "title": "Search (newswatch query language)",
            "sql": SEARCH_SQL,
            "description": 'The language of `newswatch search` and alert rules: words, "phrases", '
            "OR, NOT or -word, prefix*, NEAR(a b, 10), title:word, site:host, source:name; "
            "accents and case ignored.",
        },
    }
    for name, query, only in rules:
        queries[rule_query_name(name)] = {
            "title": f"Alert rule: {name}",
            "sql": rule_matches_sql(name, query, only),
            "description": f"What the rule {name!r} ({query}) matches in the archive, newest first; "
            "`alerted`: it was recorded for alerting (it came after the rule was set).",
        }
    queries["stories"] = {
        "title": "Stories",
        "sql": STORIES_SQL,
        "description": "One row per story (the versions of one event across outlets and languages), latest "
        "first, its versions inside; open a story to see where each version was seen "
        "(`newswatch stories` lists them too, and says why two articles are or are not one story).",
    }
    queries["story"] = {
        "title": "Story",
        "sql": STORY_SQL,
        "description": "The versions of one story (its id, or the id of one of its articles), earliest first: "
        "how each joined it (first, facts, translation, or by hand: split, merge) and the other URLs "
        "it was seen at.",
    }
    queries["near_duplicates"] = {
        "title": "Near-duplicate groups",
        "sql": NEAR_DUPLICATES_SQL,
        "description": "Stories with the copies folded into them (same URL, exact text, near text with its "
        "similarity), latest sighting first.",
    }
    queries["rejected_pages"] = {
        "title": "Rejected pages by reason",
        "sql": REJECTED_PAGES_SQL,
        "description": "Pages fetched that did not become an article, grouped by reason (not-article, gone, "
        "too-large...) and source, with the latest one of each group; `newswatch rejected` lists "
        "them one by one, `newswatch recheck` tries them again.",
    }
    queries["source_health"] = {
        "title": "Source health",
        "sql": source_health_sql(sources),
        "description": "Per source: runs, last success, last new article, failing and rejected pages; SILENT "
        "when nothing new for longer than its expected_interval, FAILING when its last runs "
        "failed (failed_in_a_row).",
    }
    return queries
