"""Match the new articles of one ingest batch against every alert rule.

The batch goes into one in-memory FTS5 table (title and cleaned body only: menus and sidebars
never reach an Article), then each rule's compiled query is one MATCH over it. FTS5's
`unicode61 remove_diacritics 2` tokenizer makes matching case- and accent-insensitive and
splits on apostrophes and NBSP; the query compiler adds French singular/plural variants.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass

from errors import QuerySyntaxError
from storage.query import parse
from storage.schema import FTS_TOKENIZE

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


def check_query(query: str) -> tuple[str, int | None] | None:
    """None if `query` compiles and FTS5 accepts it, else (what is wrong, 1-based column in
    the query, or None when the failure has no column). Never raises: a rule this says is
    usable is matched, any other is set aside."""
    try:
        expression = parse(query).fts
        with closing(sqlite3.connect(":memory:")) as conn:
            conn.execute(f"CREATE VIRTUAL TABLE q USING fts5(title, body, tokenize = '{FTS_TOKENIZE}')")
            conn.execute("SELECT rowid FROM q WHERE q MATCH ?", (expression,)).fetchall()
    except QuerySyntaxError as e:
        return str(e), e.position
    except sqlite3.Error as e:
        return f"the search engine refused it ({e})", None
    except Exception as e:  # noqa: BLE001 - whatever breaks, the rule alone is set aside
        return f"the query cannot be used ({type(e).__name__}: {str(e)[:200]})", None
    return None


def _strip_markers(text: str | None) -> str:
    return (text or "").replace(HIGHLIGHT_START, "").replace(HIGHLIGHT_END, "")


class BatchIndex:
    """The batch's new articles in an in-memory FTS5 table: match every rule against it, then
    build snippets for the matches worth keeping only (a snippet costs more than the MATCH
    itself, bench/alerts_match.py, and most matches of a re-run or a folded story are not new
    outbox rows)."""

    def __init__(self, candidates: Sequence[Candidate]) -> None:
        self.candidates = candidates
        self.conn = sqlite3.connect(":memory:")
        self.conn.execute(
            f"CREATE VIRTUAL TABLE batch USING fts5(title, body, source UNINDEXED, tokenize = '{FTS_TOKENIZE}')"
        )
        self.conn.executemany(
            "INSERT INTO batch (rowid, title, body, source) VALUES (?, ?, ?, ?)",
            [(i, _strip_markers(c.title), _strip_markers(c.body), c.source) for i, c in enumerate(candidates)],
        )

    def __enter__(self) -> BatchIndex:
        return self

    def __exit__(self, *exc) -> None:
        self.conn.close()

    @staticmethod
    def _where(rule) -> tuple[str, list] | None:
        try:
            expression = parse(rule.query).fts
        except QuerySyntaxError:
            return None  # alerts.config.load_alert_rules has reported it already
        sql, params = " WHERE batch MATCH ?", [expression]
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
            return []  # checked when the rules were loaded (check_query); never fails a batch

    def snippet(self, rule, position: int) -> str:
        """The article's body around what the rule matched, the terms between the markers."""
        where = self._where(rule)
        if where is None:
            return ""
        sql, params = where
        row = self.conn.execute(
            "SELECT snippet(batch, 1, ?, ?, '…', ?) FROM batch" + sql + " AND rowid = ?",
            [HIGHLIGHT_START, HIGHLIGHT_END, SNIPPET_TOKENS, *params, position],
        ).fetchone()
        return (row[0] or "") if row else ""
