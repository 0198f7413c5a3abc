"""Match the new articles of one ingest batch against every alert rule.

The batch goes into one in-memory FTS5 table (title and cleaned body only: menus and sidebars
never reach an Article), then each rule's compiled query is one MATCH over it. FTS5's
`unicode61 remove_diacritics 2` tokenizer makes matching case- and accent-insensitive and
splits on apostrophes and NBSP; the query compiler adds French singular/plural variants.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Iterable, Sequence

from storage.query import FTS_TOKENIZE, QuerySyntaxError, parse

# Private-use characters: they cannot occur in cleaned text, so they mark highlights
# unambiguously until rendering turns them into <mark> or *…*.
HIGHLIGHT_START = "\ue000"
HIGHLIGHT_END = "\ue001"
SNIPPET_TOKENS = 32


@dataclass(frozen=True)
class Candidate:
    """A new article of the batch, as the archive stored it.

    `story_id` is the story the article belongs to (its own id unless the archive folded it into
    an earlier story as a near-duplicate): alerts are unique per story.
    """

    article_id: int
    story_id: int
    title: str | None
    body: str
    source: str | None = None
    published: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class RuleMatch:
    rule: str
    article_id: int
    snippet: str  # highlights between HIGHLIGHT_START and HIGHLIGHT_END


def check_query(query: str) -> tuple[str, int] | None:
    """None if `query` compiles, else (what is wrong, 1-based column in the query)."""
    try:
        parse(query)
    except QuerySyntaxError as e:
        return str(e), e.position
    return None


def _strip_markers(text: str | None) -> str:
    return (text or "").replace(HIGHLIGHT_START, "").replace(HIGHLIGHT_END, "")


def match_batch(rules: Iterable, candidates: Sequence[Candidate], *, snippets: bool = True) -> list[RuleMatch]:
    """Every (rule, article) pair where the rule's query matches the article's title or body.

    `rules` are `AlertRule`s (name, query, sources); a rule whose query does not compile is
    skipped here: `alerts.config.load_alert_rules` has already reported it.
    """
    rules = list(rules)
    if not rules or not candidates:
        return []
    conn = sqlite3.connect(":memory:")
    try:
        # Not storage.query.BatchMatcher: alerts also need the snippet and a source filter.
        conn.execute(
            "CREATE VIRTUAL TABLE batch USING fts5("
            f"title, body, source UNINDEXED, tokenize = '{FTS_TOKENIZE}')"
        )
        conn.executemany(
            "INSERT INTO batch (rowid, title, body, source) VALUES (?, ?, ?, ?)",
            [(i, _strip_markers(c.title), _strip_markers(c.body), c.source)
             for i, c in enumerate(candidates)],
        )
        matches: list[RuleMatch] = []
        for rule in rules:
            try:
                expression = parse(rule.query).fts
            except QuerySyntaxError:
                continue
            # snippet() costs ~40 µs per match, more than the MATCH itself: skippable.
            sql = ("SELECT rowid, snippet(batch, 1, ?, ?, '…', ?) FROM batch" if snippets
                   else "SELECT rowid, ? || ? || ? FROM batch") + " WHERE batch MATCH ?"
            params: list = [HIGHLIGHT_START, HIGHLIGHT_END, SNIPPET_TOKENS, expression]
            if not snippets:
                params[:3] = ["", "", ""]
            if rule.sources is not None:
                sql += f" AND source IN ({', '.join('?' * len(rule.sources))})"
                params += list(rule.sources)
            for rowid, snippet in conn.execute(sql + " ORDER BY rowid", params):
                matches.append(RuleMatch(rule.name, candidates[rowid].article_id, snippet or ""))
        return matches
    finally:
        conn.close()
