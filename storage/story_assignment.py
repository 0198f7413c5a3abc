"""Stories: the assignment, every archived article into one story (`storage.stories` has the overview).

`add_article` is the hook `Archive` calls for every new row: the article's facts go into the
index (`storage.story_decision`), then it joins the best story it joins (`assign`), or starts
one. A declared translation (hreflang) joins its original's story whatever its facts. A
story's id is the id of the article that started it (so an `alert_matches.story_id`, which
references `articles(id)`, can name a story). An assignment, `reassign` included, never moves
a pinned article (a split or a merge by hand: `storage.stories`).

Existing archives: migration 16 creates the tables and records the articles to backfill;
`backfill(db, limit)` gives them their stories oldest first, `limit` at a time, resumable
(every new article added also backfills `BACKFILL_PER_ARTICLE` of them first).
"""

from __future__ import annotations

import sqlite3
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from storage import facts as factlib
from storage.db import Database, utc_iso
from storage.facts import Fact
from storage.story_decision import (
    SPAN_DAYS,
    Verdict,
    _facts_of,
    _meta,
    _neighbourhood,
    day_of,
    facts_of_text,
    index_article,
    judge,
)

BACKFILL_PER_ARTICLE = 20
META_BACKFILL = "stories_backfill"  # "NEXT LAST": article ids still to give a story


# When a list, every candidate judged is appended to it as (article, story, Verdict): what
# bench/stories_eval.py --decisions reads to show where the rule decides right and wrong.
TRACE: list[tuple[int, int, Verdict]] | None = None


@dataclass
class Assignment:
    article_id: int
    story_id: int
    how: str  # first, facts, translation, split, merge
    score: float | None = None


# ------------------------------------------------------------------------------ assigning ---


def add_article(
    conn: sqlite3.Connection,
    article_id: int,
    *,
    title: str | None,
    body: str,
    published: str | None,
    fetched_at: str | None,
    facts: tuple[int, Mapping[int, Fact], Mapping[int, Fact]] | None = None,
) -> Assignment:
    """Give a newly archived article its story: the hook `Archive` calls for every new row,
    inside the transaction that inserts it. Backfills a few older articles first. `facts`:
    `(day, facts_of_text(...), lead_figures(...))` already computed for this article
    (`storage.derived.derive`)."""
    if _meta(conn, META_BACKFILL) is not None:
        _backfill_step(conn, BACKFILL_PER_ARTICLE)
    if facts is None:
        day = day_of(published, fetched_at)
        facts = (day, facts_of_text(title, body, day), factlib.lead_figures(body, title))
    day, found, lead = facts
    index_article(conn, article_id, found, day)
    return assign(conn, article_id, found, day, lead)


def assign(
    conn: sqlite3.Connection,
    article_id: int,
    found: Mapping[int, Fact],
    day: int,
    lead: Mapping[int, Fact] | None = None,
) -> Assignment:
    """Put an indexed article without a story into the best story it joins, or a new one
    (`lead`: the figures it leads with, `facts.lead_figures`)."""
    linked = _translation_story(conn, article_id)
    if linked is not None:
        _join(conn, article_id, linked, day, "translation", None, None)
        return Assignment(article_id, linked, "translation")
    best: tuple[float, int, Verdict] | None = None
    around = _neighbourhood(conn, article_id, found, day)
    weights = around.weights
    apart = {r[0] for r in conn.execute("SELECT other_id FROM story_apart WHERE article_id = ?", (article_id,))}
    for story_id, members in around.candidates:
        if apart and any(m in apart for m, _ in members):
            continue
        union: set[int] = set()
        nearest = min(abs(d - day) for _, d in members)
        for (blob,) in conn.execute(
            f"SELECT facts FROM story_article_facts WHERE article_id IN ({','.join('?' * len(members))})",
            [m for m, _ in members],
        ):
            union.update(array("i", blob))
        verdict = judge(found, weights, union, nearest, around.elsewhere - union, lead)
        if TRACE is not None:
            TRACE.append((article_id, story_id, verdict))
        if verdict.joins and _span_ok(conn, story_id, day) and (best is None or verdict.score > best[0]):
            best = (verdict.score, story_id, verdict)
    if best is None:
        _start(conn, article_id, day)
        return Assignment(article_id, article_id, "first")
    score, story_id, verdict = best
    _join(conn, article_id, story_id, day, "facts", score, verdict.evidence())
    return Assignment(article_id, story_id, "facts", score)


def _translation_story(conn: sqlite3.Connection, article_id: int) -> int | None:
    """The story of an archived article that this one declares as a translation, or that
    declares this one (hreflang), if any."""
    row = conn.execute(
        """
        SELECT m.story_id FROM translations t
          JOIN articles a ON a.url_key = t.url_key
          JOIN story_members m ON m.article_id = a.id
         WHERE t.article_id = :id AND a.id != :id
        UNION ALL
        SELECT m.story_id FROM articles me
          JOIN translations t ON t.url_key = me.url_key
          JOIN story_members m ON m.article_id = t.article_id
         WHERE me.id = :id AND t.article_id != :id
        LIMIT 1
        """,
        {"id": article_id},
    ).fetchone()
    return row[0] if row else None


def _span_ok(conn: sqlite3.Connection, story_id: int, day: int) -> bool:
    first, last = conn.execute("SELECT first_day, last_day FROM stories WHERE id = ?", (story_id,)).fetchone()
    return max(last, day) - min(first, day) <= SPAN_DAYS


def _start(conn: sqlite3.Connection, article_id: int, day: int, how: str = "first", pinned: bool = False) -> int:
    now = utc_iso()
    conn.execute(
        "INSERT INTO stories (id, first_day, last_day, title_article_id, size, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, 0, ?, ?)",
        (article_id, day, day, article_id, now, now),
    )
    _join(conn, article_id, article_id, day, how, None, None, pinned=pinned)
    return article_id


def _join(
    conn: sqlite3.Connection,
    article_id: int,
    story_id: int,
    day: int,
    how: str,
    score: float | None,
    evidence: str | None,
    *,
    pinned: bool = False,
) -> None:
    conn.execute(
        "INSERT INTO story_members (article_id, story_id, day, how, score, evidence, pinned, assigned_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (article_id, story_id, day, how, score, evidence, int(pinned), utc_iso()),
    )
    _refresh(conn, story_id)


def _refresh(conn: sqlite3.Connection, story_id: int) -> None:
    """A story's span, size and title version (its earliest) from its members; an empty
    story is deleted."""
    row = conn.execute(
        "SELECT min(day), max(day), count(*) FROM story_members WHERE story_id = ?", (story_id,)
    ).fetchone()
    if not row[2]:
        conn.execute("DELETE FROM stories WHERE id = ?", (story_id,))
        return
    title = conn.execute(
        "SELECT article_id FROM story_members WHERE story_id = ? ORDER BY day, article_id LIMIT 1", (story_id,)
    ).fetchone()[0]
    conn.execute(
        "UPDATE stories SET first_day = ?, last_day = ?, size = ?, title_article_id = ?, updated_at = ? WHERE id = ?",
        (row[0], row[1], row[2], title, utc_iso(), story_id),
    )


def _leave(conn: sqlite3.Connection, article_id: int) -> int | None:
    """Take an article out of its story (not pinned ones: the caller checks); returns the story."""
    row = conn.execute("SELECT story_id FROM story_members WHERE article_id = ?", (article_id,)).fetchone()
    if row is None:
        return None
    conn.execute("DELETE FROM story_members WHERE article_id = ?", (article_id,))
    _refresh(conn, row[0])
    return row[0]


# ------------------------------------------------------------------------------ backfill ---


def pending_backfill(db: Database) -> int:
    """How many archived articles may still be without a story (0: none)."""
    value = _meta(db.conn, META_BACKFILL)
    if value is None:
        return 0
    next_id, last = (int(x) for x in value.split())
    return max(0, last - next_id + 1)


def backfill(db: Database, limit: int = 500) -> int:
    """Give up to `limit` archived articles without a story theirs, oldest id first, in one
    transaction; returns how many may remain (call again until 0). Resumable: a crash loses
    only the chunk in hand."""
    with db.transaction() as conn:
        _backfill_step(conn, limit)
    return pending_backfill(db)


def _backfill_step(conn: sqlite3.Connection, limit: int) -> None:
    value = _meta(conn, META_BACKFILL)
    if value is None:
        return
    next_id, last = (int(x) for x in value.split())
    rows = conn.execute(
        "SELECT id FROM articles WHERE id BETWEEN ? AND ? ORDER BY id LIMIT ?", (next_id, last, limit)
    ).fetchall()
    for (article_id,) in rows:
        if conn.execute("SELECT 1 FROM story_members WHERE article_id = ?", (article_id,)).fetchone():
            continue
        extracted = _facts_of(conn, article_id)
        if extracted is None:
            continue
        found, day, lead = extracted
        index_article(conn, article_id, found, day)
        assign(conn, article_id, found, day, lead)
    if len(rows) < limit:
        conn.execute("DELETE FROM archive_meta WHERE key = ?", (META_BACKFILL,))
    else:
        conn.execute("UPDATE archive_meta SET value = ? WHERE key = ?", (f"{rows[-1][0] + 1} {last}", META_BACKFILL))


def reassign(db: Database, article_ids: Iterable[int] | None = None) -> list[Assignment]:
    """Run the assignment again over articles already in stories (all of them by default),
    oldest day first, in one transaction: what a re-run decides. Pinned articles (split or
    merged by hand) stay where they are; the others are taken out and assigned again."""
    with db.transaction() as conn:
        if article_ids is None:
            rows = conn.execute("SELECT article_id, day FROM story_members WHERE NOT pinned").fetchall()
        else:
            wanted = list(article_ids)
            rows = []
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                rows += conn.execute(
                    f"SELECT article_id, day FROM story_members WHERE NOT pinned "
                    f"AND article_id IN ({','.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
        rows.sort(key=lambda r: (r[1], r[0]))
        for article_id, _ in rows:
            _leave(conn, article_id)
        done = []
        for article_id, _ in rows:
            extracted = _facts_of(conn, article_id)
            if extracted is not None:
                done.append(assign(conn, article_id, *extracted))
        return done


def complete_backfill(db: Database, chunk: int = 500, progress=None) -> int:
    """Give every archived article still without a story its story (`backfill` until none is
    left), `chunk` per transaction; `progress(left)` after each. Returns how many were left."""
    left = pending_backfill(db)
    before = left
    while left:
        left = backfill(db, chunk)
        if progress is not None:
            progress(left)
    return before
