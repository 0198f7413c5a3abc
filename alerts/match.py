"""Match the new articles of one ingest batch against every alert rule, and record the matches
in the archive's outbox.

The batch goes into one in-memory FTS5 table (title and cleaned body only: menus and sidebars
never reach an Article), then each rule's compiled query is one MATCH over it. FTS5's
`unicode61 remove_diacritics 2` tokenizer makes matching case- and accent-insensitive and
splits on apostrophes and NBSP; the query compiler adds French singular/plural variants.

`record_matches(db, rules, articles)` matches a batch's new articles against every rule
(`BatchIndex`) and adds one outbox row per (rule, recipient, article) through `storage.outbox`.
A rule alerts once per story (`per: story`, the default): the first version of a story it
matches is the alert; a later version (the French copy, a press rewrite) is recorded `also_in`
that alert, and the next email of the rule lists it ("also in …") without making one of its
own. With `per: article` every article is alerted on its own. Call it inside the transaction
that stores the articles, so that either both the articles and their alerts are stored, or
neither; rows already present are left alone, so a re-run or a folded republication alerts
nobody twice. `new_candidates(items, result)` turns a stored batch into what is matched.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from alerts.settings import AlertRule
from core.text import MARK_END, MARK_START, inert, inert_line, snippet_around
from errors import QuerySyntaxError
from storage.db import Database
from storage.outbox import NewMatch, OutboxEntry, add_match, has_match, story_alert
from storage.query import FTS_TOKENIZE, parse, register_functions
from storage.records import BatchResult, Incoming

# The match markers of core.text: rendering turns them into <mark> or *…*.
HIGHLIGHT_START = MARK_START
HIGHLIGHT_END = MARK_END
SNIPPET_TOKENS = 32


@dataclass(frozen=True)
class BatchArticle:
    """A new article of the batch, as the archive stored it.

    `story_id` is the story the archive put the article in (`storage.stories`: the versions of
    one event across outlets and languages): a `per: story` rule alerts it once.
    """

    article_id: int
    story_id: int
    title: str | None
    body: str
    source: str | None = None
    published: str | None = None
    url: str | None = None


def _strip_markers(text: str | None) -> str:
    return (text or "").replace(HIGHLIGHT_START, "").replace(HIGHLIGHT_END, "")


class BatchIndex:
    """The batch's new articles in an in-memory FTS5 table: match every rule against it, then
    build snippets for the matches worth keeping only (a snippet costs more than the MATCH
    itself, bench/alerts_match.py, and most matches of a re-run or a folded story are not new
    outbox rows)."""

    def __init__(self, candidates: Sequence[BatchArticle]) -> None:
        self.candidates = candidates
        self.conn = sqlite3.connect(":memory:")
        self.conn.execute(
            "CREATE VIRTUAL TABLE batch USING fts5(title, body, source UNINDEXED, url UNINDEXED,"
            f" tokenize = '{FTS_TOKENIZE}')"
        )
        register_functions(self.conn)  # site: and source: in a rule's query
        self.conn.executemany(
            "INSERT INTO batch (rowid, title, body, source, url) VALUES (?, ?, ?, ?, ?)",
            [(i, _strip_markers(c.title), _strip_markers(c.body), c.source, c.url) for i, c in enumerate(candidates)],
        )

    def __enter__(self) -> BatchIndex:
        return self

    def __exit__(self, *exc) -> None:
        self.conn.close()

    @staticmethod
    def _where(rule) -> tuple[str, list] | None:
        try:
            query = parse(rule.query)
        except QuerySyntaxError:
            return None  # alerts.settings.load_alert_rules has reported it already
        sql, params = " WHERE batch MATCH ?", [query.fts]
        if query.restriction:
            sql += " AND newswatch_admits(?, source, url)"
            params.append(query.text)
        if rule.sources is not None:
            sql += f" AND source IN ({', '.join('?' * len(rule.sources))})"
            params += list(rule.sources)
        return sql, params

    def match(self, rule) -> list[int]:
        """Positions (in `candidates`) of the articles the rule matches, in batch order."""
        where = self._where(rule)
        if where is None:
            return []
        sql, params = where
        try:
            return [row[0] for row in self.conn.execute("SELECT rowid FROM batch" + sql + " ORDER BY rowid", params)]
        except sqlite3.Error:
            return []  # checked when the rules were loaded (alerts.settings.check_query); never fails a batch

    def snippet(self, rule, position: int) -> str:
        """The article's body around what the rule matched, the terms between the markers: one
        line, a matched phrase never cut (core.text.snippet_around)."""
        where = self._where(rule)
        if where is None:
            return ""
        sql, params = where
        row = self.conn.execute(
            "SELECT highlight(batch, 1, ?, ?) FROM batch" + sql + " AND rowid = ?",
            [HIGHLIGHT_START, HIGHLIGHT_END, *params, position],
        ).fetchone()
        return snippet_around(row[0], SNIPPET_TOKENS) if row else ""


def new_candidates(items: Sequence[Incoming], result: BatchResult) -> list[BatchArticle]:
    """The articles of a stored batch that are new to the archive, as alerts match them.

    Only new articles are matched: a near-duplicate or republication is folded by the
    archive into an existing story, so it never alerts again.
    """
    return [
        BatchArticle(
            article_id=r.article_id,
            story_id=r.story_id if r.story_id is not None else r.article_id,
            title=inert_line(item.article.title) or None,
            body=inert(item.article.body),
            source=item.source,
            published=item.article.date,
            url=r.link or item.url or item.article.url,
        )
        for item, r in zip(items, result.items, strict=True)
        if r.status == "new" and r.article_id is not None
    ]


def record_matches(
    db: Database, rules: Iterable[AlertRule], candidates: list[BatchArticle], *, now: datetime | None = None
) -> list[OutboxEntry]:
    """Match the batch's new articles and add one outbox row per (rule, recipient, article):
    the story's alert, or (`per: story`) a later version `also_in` it.

    Never commits: call it inside the transaction that writes the articles. Only the rows
    added now are returned.
    """
    rules = list(rules)
    if not rules or not candidates:
        return []
    matched_at = now or datetime.now(UTC)  # one time for the whole batch
    recorded: list[OutboxEntry] = []
    with BatchIndex(candidates) as index:
        for rule in rules:
            for position in index.match(rule):
                c = candidates[position]
                story_id = c.story_id if rule.per == "story" else c.article_id
                snippet = None  # built once per (rule, article), only if a row is new
                for recipient in rule.to:
                    also_in = None
                    if rule.per == "story":
                        also_in = story_alert(db, rule.name, recipient, story_id)
                    elif has_match(db, rule.name, recipient, story_id):
                        continue
                    if snippet is None:
                        snippet = index.snippet(rule, position)
                    entry = add_match(
                        db,
                        NewMatch(
                            rule.name,
                            recipient,
                            rule.mode,
                            story_id,
                            c.article_id,
                            c.title,
                            c.source,
                            c.published,
                            c.url,
                            snippet,
                            also_in,
                        ),
                        now=matched_at,
                    )
                    if entry is not None:
                        recorded.append(entry)
    return recorded
