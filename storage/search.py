"""The archive's full-text search, newest first: `search(conn, query, ...)`, what
`Archive.search` (`newswatch search`) runs.

Newest first is by the published date, else the day the article was fetched (the
`articles_newest` index, schema v20). Two ways to get there, chosen by the number of matches:
- few (up to `DENSE_MATCHES`): every match is looked up and the newest sorted out, which costs
  what the matches number;
- many: the archive is walked newest first along the index, keeping the matches, until the
  limit is reached. Sorting a million matches took 1.3 s at a million articles (`mot12*`,
  bench/million.py); the walk stops after the first 20. Its cost is bounded by the archive's
  size (75 ms for the whole index at a million) plus one evaluation of the query; the
  highlighted snippets of the hits kept are then made in a second evaluation, read in the
  hits' range of ids only.
Counting up to `DENSE_MATCHES` matches costs a millisecond, except for a one-character prefix
(`m*`): FTS5 has no index for it (prefix indexes of 2 to 5 characters, schema v19) and merges
every word's list, so such a query is taken as many without counting.
"""

from __future__ import annotations

import re
import sqlite3

from errors import QuerySyntaxError
from storage.forget import NOT_FORGOTTEN
from storage.query import SNIPPET_MARKS, Query, parse, register_functions
from storage.records import SearchHit

DENSE_MATCHES = 20_000
# The walk serves a page of hits, not an export: past this limit, matches are sorted.
_WALK_LIMIT = 1_000
NEWEST = "coalesce(a.published, substr(a.fetched_at, 1, 10))"  # the expression of index articles_newest
_UNINDEXED_PREFIX = re.compile(r'"[^"]" \*')  # a one-character prefix in an FTS5 expression
_COLUMNS = "a.id, a.title, a.published, a.source, coalesce(a.canonical_url, a.url)"


def search(
    conn: sqlite3.Connection,
    query: str | Query,
    *,
    since: str | None = None,
    source: str | None = None,
    limit: int | None = 20,
    highlight: tuple[str, str] = ("[", "]"),
) -> list[SearchHit]:
    """Full-text search, newest first (published date, else fetch date)."""
    q = query if isinstance(query, Query) else parse(query)
    register_functions(conn)  # newswatch_snippet, and site: and source: (storage.query.Restriction)
    where, params = f" AND {NOT_FORGOTTEN}", []
    if q.restriction:
        where += " AND newswatch_admits(?, a.source, coalesce(a.canonical_url, a.url))"
        params.append(q.text)
    if since:
        where += f" AND {NEWEST} >= ?"
        params.append(since)
    if source:
        where += " AND a.source = ?"
        params.append(source)
    snippet = f"newswatch_snippet(highlight(articles_fts, 1, {SNIPPET_MARKS}), 16, ?, ?)"
    try:
        if limit and int(limit) <= _WALK_LIMIT and _many_matches(conn, q):
            return _walk_newest(conn, q, where, params, int(limit), snippet, highlight)
        sql = (
            f"SELECT {_COLUMNS}, {snippet} FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid"
            f" WHERE articles_fts MATCH ?{where} ORDER BY {NEWEST} DESC, a.id DESC"
        )
        args: list = [*highlight, q.fts, *params]
        if limit:
            sql += " LIMIT ?"
            args.append(int(limit))
        return [SearchHit(*row) for row in conn.execute(sql, args)]
    except sqlite3.OperationalError as e:
        raise QuerySyntaxError(f"the search engine refused it ({e})", q.text, 1) from None


def _many_matches(conn: sqlite3.Connection, q: Query) -> bool:
    if _UNINDEXED_PREFIX.search(q.fts):
        return True
    sql = "SELECT count(*) FROM (SELECT 1 FROM articles_fts WHERE articles_fts MATCH ? LIMIT ?)"
    return conn.execute(sql, (q.fts, DENSE_MATCHES)).fetchone()[0] >= DENSE_MATCHES


def _walk_newest(conn, q: Query, where: str, params: list, limit: int, snippet: str, highlight) -> list[SearchHit]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM articles a INDEXED BY articles_newest"
        f" WHERE a.id IN (SELECT rowid FROM articles_fts WHERE articles_fts MATCH ?){where}"
        f" ORDER BY {NEWEST} DESC, a.id DESC LIMIT ?",
        [q.fts, *params, limit],
    ).fetchall()
    if not rows:
        return []
    ids = [row[0] for row in rows]
    # `+rowid`: one pass over the query's matches in the hits' range, not a lookup per hit (a
    # lookup evaluates the whole query again: 0.45 s each for `m*` at a million articles).
    snippets = dict(
        conn.execute(
            f"SELECT rowid, {snippet} FROM articles_fts WHERE articles_fts MATCH ? AND rowid BETWEEN ? AND ?"
            f" AND +rowid IN ({', '.join('?' * len(ids))})",
            [*highlight, q.fts, min(ids), max(ids), *ids],
        )
    )
    return [
        SearchHit(i, title, published, source, url, snippets.get(i, "")) for i, title, published, source, url in rows
    ]
