"""Stories: one event across outlets and languages is one story.

Every archived article belongs to one story (`story_members`). A new article joins the story
whose facts it shares (`storage.facts`: figures, dates, names), or starts one; a declared
translation (hreflang) joins its original's story whatever its facts. The decision:

- Candidates come from an inverted index (`story_postings`: fact -> day -> article), read for
  the article's facts within `WINDOW_DAYS` of its day, never a scan; the facts found in more
  than `LOOKUP_MAX_DF` articles are not looked up (they would list thousands of rows and
  weigh almost nothing).
- Each fact weighs by its kind (`KIND_WEIGHT`) and its rarity in the archive (`story_fact_df`,
  document frequency kept as articles arrive): a figure no other article has weighs most, a
  name in every article nothing.
- A candidate story is joined when the facts the article shares with it (with any of its
  versions) weigh at least `JOIN_SCORE`, include at least `MIN_STRONG` strong facts (a rare
  figure, percentage, day or pair of names), and are at least `MIN_SHARE` of the weight of
  the article's figures when both have figures of their own (a weekly release of the same
  template shares the names, not the figures). A story spans at most `SPAN_DAYS`: the
  versions of an event arrive within days, so a weekly series stays apart.
- A story's id is the id of the article that started it (so an `alert_matches.story_id`,
  which references `articles(id)`, can name a story).

Human decisions: `split(db, article_id)` takes an article out of its story, `merge(db, a, b)`
makes two stories one. Both pin the articles they move (`story_members.pinned`): an
assignment, `reassign` included, never moves a pinned article, and a split article is kept
apart from the story it left (`story_apart`). `story_overrides` logs them.

Existing archives: migration 16 creates the tables and records the articles to backfill;
`backfill(db, limit)` gives them their stories oldest first, `limit` at a time, resumable
(every new article added also backfills `BACKFILL_PER_ARTICLE` of them first).
"""

from __future__ import annotations

import json
import math
import sqlite3
from array import array
from collections import defaultdict
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field
from datetime import date

from core.urls import url_key
from storage import facts as factlib
from storage.db import Database, utc_iso
from storage.facts import Fact
from storage.forget import MEMBER_NOT_FORGOTTEN as _KEPT  # readers leave a forgotten version out

WINDOW_DAYS = 4  # a version joins a story with a version at most this many days apart
SPAN_DAYS = 10  # the first and last versions of a story are at most this many days apart
MIN_ARCHIVE = 1000  # rarity is counted as in an archive of at least this many articles
STORY_DF = 10  # a fact in more articles than a story has versions is less and less specific
KIND_WEIGHT = {"num": 1.0, "pct": 1.0, "approx": 0.3, "date": 0.6, "name": 0.35, "pair": 0.8}
STRONG_KINDS = frozenset({"num", "pct", "date", "pair"})
STRONG_RARITY = 0.5  # a fact of a strong kind this rare (0..1) counts as a strong shared fact
JOIN_SCORE = 2.5
MIN_STRONG = 2
MIN_SHARE = 0.4
LOOKUP_KINDS = frozenset({"num", "pct", "date", "pair", "name"})
LOOKUP_MAX_DF = 5000
MAX_POSTINGS = 48  # facts of an article put in the inverted index (figures and pairs first)
POSTING_ORDER = ("num", "pct", "pair", "date", "name", "approx")
MAX_CANDIDATE_ROWS = 2000
MAX_CANDIDATES = 8  # stories compared in full per new article
MAX_MEMBERS_COMPARED = 64
BACKFILL_PER_ARTICLE = 20
META_BACKFILL = "stories_backfill"  # "NEXT LAST": article ids still to give a story
META_COUNT = "stories_articles"  # articles in the fact index (the N of document frequency)
# When a list, every candidate judged is appended to it as (article, story, Verdict): what
# bench/stories_eval.py --decisions reads to show where the rule decides right and wrong.
TRACE: list[tuple[int, int, Verdict]] | None = None


@dataclass
class Shared:
    """A fact two articles (or an article and a story) share, and what it weighs."""

    fact: Fact
    weight: float
    rarity: float  # 0 (in every article) .. 1 (in none but these)

    @property
    def strong(self) -> bool:
        return self.fact.kind in STRONG_KINDS and self.rarity >= STRONG_RARITY


@dataclass
class Verdict:
    """Whether an article joins a story (or another article), and why."""

    joins: bool
    score: float
    strong: int
    share: float | None  # the weight of the figures shared / of the article's own figures
    shared: list[Shared]
    days_apart: int
    reason: str

    def evidence(self) -> str:
        """The facts that decided, strongest first (stored with the assignment)."""
        top = sorted(self.shared, key=lambda s: -s.weight)[:12]
        return json.dumps(
            {
                "score": round(self.score, 3),
                "strong": self.strong,
                "share": None if self.share is None else round(self.share, 3),
                "facts": [[s.fact.kind, s.fact.key, s.fact.text, round(s.weight, 3)] for s in top],
            },
            ensure_ascii=False,
        )


@dataclass
class Assignment:
    article_id: int
    story_id: int
    how: str  # first, facts, translation, split, merge
    score: float | None = None


@dataclass
class Member:
    article_id: int
    story_id: int
    title: str | None
    url: str
    canonical_url: str | None
    source: str
    language: str | None
    published: str | None
    fetched_at: str
    how: str
    score: float | None
    pinned: bool
    evidence: dict | None
    sightings: list[str] = field(default_factory=list)  # every URL it was seen at
    seen: list[Seen] = field(default_factory=list)  # the same, with the source and when

    @property
    def link(self) -> str:
        return self.canonical_url or self.url


@dataclass(frozen=True)
class Seen:
    """One place a version was seen: a sighting (its own page, or a copy folded into it)."""

    url: str
    source: str
    first_seen: str
    last_seen: str


@dataclass
class StorySummary:
    id: int
    title: str | None
    first_day: str
    last_day: str
    size: int
    languages: list[str]
    sources: list[str]
    article_ids: list[int]
    outlets: list[str] = field(default_factory=list)  # the sources of the versions and of their copies
    first_seen: str | None = None  # when newswatch first saw a version (sightings)
    last_seen: str | None = None


@dataclass
class Explanation:
    a: int
    b: int
    story_a: int | None
    story_b: int | None
    same_story: bool
    verdict: Verdict | None  # what the facts alone say of the pair
    overrides: list[str]  # the human decisions that apply, in words
    translation: bool  # one declares the other as its translation
    # How each of the two came into its story: (article, how, the facts that decided then)
    joined: list[tuple[int, str, dict | None]] = field(default_factory=list)

    def lines(self) -> list[str]:
        head = (
            f"articles {self.a} and {self.b} are one story ({self.story_a})"
            if self.same_story
            else f"articles {self.a} and {self.b} are in different stories ({self.story_a}, {self.story_b})"
        )
        out = [head]
        out += self.overrides
        if self.translation:
            out.append("one declares the other as its translation (hreflang)")
        for article_id, how, evidence in self.joined:
            if how == "facts" and evidence:
                facts_text = ", ".join(f"{kind} {text!r} ({weight:.2f})" for kind, _, text, weight in evidence["facts"])
                out.append(
                    f"article {article_id} joined its story on shared facts weighing {evidence['score']}: {facts_text}"
                )
            elif how == "translation":
                out.append(f"article {article_id} joined its story as a declared translation")
        if self.verdict:
            v = self.verdict
            out.append(f"facts of the two alone: {v.reason}")
            for s in sorted(v.shared, key=lambda s: -s.weight):
                mark = "*" if s.strong else " "
                out.append(f"  {mark} {s.fact.kind:<6} {s.fact.text!r} weight {s.weight:.2f}")
        return out


# ------------------------------------------------------------------------------ helpers ---


def day_of(published: str | None, fetched_at: str | None) -> int:
    """The article's day (days since 1970-01-01): its publication date, else when it was
    fetched (a page fetched late keeps the day it was published)."""
    for value in (published, fetched_at):
        if value:
            try:
                return date.fromisoformat(value[:10]).toordinal() - _EPOCH
            except ValueError:
                continue
    return date.today().toordinal() - _EPOCH


_EPOCH = date(1970, 1, 1).toordinal()


def day_text(day: int) -> str:
    return date.fromordinal(day + _EPOCH).isoformat()


def _rarity(df: int, articles: int) -> float:
    """1 for a fact no other article has, 0 for one every article has (log scale), and less
    for a fact in more articles than one story has versions (boilerplate: "175 member
    states" in every release), which a small archive cannot yet tell by its share."""
    n = max(articles, MIN_ARCHIVE)
    df = max(df, 1)
    return max(0.0, 1.0 - math.log(df) / math.log(n + 1)) * min(1.0, STORY_DF / df)


def _meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM archive_meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def _article_count(conn: sqlite3.Connection) -> int:
    return int(_meta(conn, META_COUNT) or 0)


def _dfs(conn: sqlite3.Connection, ids: Iterable[int]) -> dict[int, int]:
    ids = list(ids)
    found: dict[int, int] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found.update(
            conn.execute(f"SELECT fact, df FROM story_fact_df WHERE fact IN ({','.join('?' * len(chunk))})", chunk)
        )
    return found


def _facts_of(conn: sqlite3.Connection, article_id: int) -> tuple[dict[int, Fact], int, dict[int, Fact]] | None:
    """An archived article's facts, its day, and the figures it leads with."""
    row = conn.execute("SELECT title, body, published, fetched_at FROM articles WHERE id = ?", (article_id,)).fetchone()
    if row is None:
        return None
    title, body, published, fetched_at = row
    day = day_of(published, fetched_at)
    return facts_of_text(title, body, day), day, factlib.lead_figures(body, title)


# ------------------------------------------------------------------------------ the index ---


def index_article(conn: sqlite3.Connection, article_id: int, found: Mapping[int, Fact], day: int) -> None:
    """Add an article's facts to the index: its fact set, its postings, the document
    frequencies. Inside the caller's transaction; an article already indexed is left as is."""
    ids = sorted(found)
    cursor = conn.execute(
        "INSERT OR IGNORE INTO story_article_facts (article_id, day, facts) VALUES (?, ?, ?)",
        (article_id, day, array("i", ids).tobytes()),
    )
    if not cursor.rowcount:
        return
    ranked = sorted(found.values(), key=lambda f: POSTING_ORDER.index(f.kind))[:MAX_POSTINGS]
    conn.executemany(
        "INSERT OR IGNORE INTO story_postings (fact, day, article_id) VALUES (?, ?, ?)",
        [(f.id, day, article_id) for f in ranked],
    )
    conn.executemany(
        "INSERT INTO story_fact_df (fact, df) VALUES (?, 1) ON CONFLICT(fact) DO UPDATE SET df = df + 1",
        [(i,) for i in ids],
    )
    conn.execute(
        "INSERT INTO archive_meta (key, value) VALUES (?, '1') "
        "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
        (META_COUNT,),
    )


def _weights(
    conn: sqlite3.Connection, found: Mapping[int, Fact], spread: Mapping[int, int] | None = None
) -> dict[int, tuple[float, float]]:
    """fact id -> (weight, rarity): rarity from the document frequencies (the article itself
    counted), the weight divided by the number of stories of the time window that have the
    fact (`spread`): a figure of one event is in one story, a figure every release repeats
    ("175 member states") in all of them, however young the archive."""
    dfs = _dfs(conn, found)
    articles = _article_count(conn)
    spread = spread or {}
    out = {}
    for fact_id, fact in found.items():
        rarity = _rarity(dfs.get(fact_id, 1), articles)
        out[fact_id] = (KIND_WEIGHT[fact.kind] * rarity / max(1, spread.get(fact_id, 1)), rarity)
    return out


def judge(
    found: Mapping[int, Fact],
    weights: Mapping[int, tuple[float, float]],
    other: set[int],
    days_apart: int,
    elsewhere: Set[int] = frozenset(),
    lead: Mapping[int, Fact] | None = None,
) -> Verdict:
    """Does an article with facts `found` belong with the facts `other` (another article's, or
    the union of a story's versions) `days_apart` days away? The one rule, shared by the
    assignment and `explain`. `elsewhere`: the facts two other stories of the window have
    too (a background paragraph's figures): the article's figures that are neither shared
    nor elsewhere are its own news, which a version of the same event would share. `lead`: the
    figures of the article's title and lede (`facts.lead_figures`): a version of the same event
    tells at least one of them, whatever background the two repeat."""
    shared = [Shared(f, *weights[i]) for i, f in found.items() if i in other]
    score = sum(s.weight for s in shared)
    strong = _independent(s.fact for s in shared if s.strong)
    own_figures = sum(
        weights[i][0] for i, f in found.items() if f.kind in ("num", "pct") and (i in other or i not in elsewhere)
    )
    other_figures = sum(1 for i in other if factlib.kind_of(i) in ("num", "pct"))
    shared_figures = sum(s.weight for s in shared if s.fact.kind in ("num", "pct"))
    share = shared_figures / own_figures if own_figures >= 1.0 and other_figures >= 2 else None
    if days_apart > WINDOW_DAYS:
        reason = f"{days_apart} days apart (at most {WINDOW_DAYS})"
        joins = False
    elif score < JOIN_SCORE:
        reason = f"shared facts weigh {score:.2f} (at least {JOIN_SCORE} joins)"
        joins = False
    elif strong < MIN_STRONG:
        reason = f"{strong} strong shared fact(s) (at least {MIN_STRONG} join)"
        joins = False
    elif share is not None and share < MIN_SHARE:
        reason = f"only {share:.0%} of the article's figures are shared (at least {MIN_SHARE:.0%} join)"
        joins = False
    elif lead and any(f.kind in factlib.FIGURE_KINDS for f in lead.values()) and not set(lead) & other:
        written = ", ".join(sorted({f.text for f in lead.values() if f.kind in factlib.FIGURE_KINDS}))
        reason = f"none of the figures it leads with ({written}) is in the other"
        joins = False
    else:
        reason = f"shared facts weigh {score:.2f}, {strong} strong" + (
            f", {share:.0%} of its figures" if share is not None else ""
        )
        joins = True
    return Verdict(joins, score, strong, share, shared, days_apart, reason)


def _independent(strong: Iterable[Fact]) -> int:
    """How many strong facts, counting once the pairs of one name ("Proyecto Migrantes" and
    "Migrantes Desaparecidos" are one name, one sentence)."""
    count = 0
    seen_words: set[str] = set()
    for fact in sorted(strong, key=lambda f: (f.kind, f.key)):
        if fact.kind != "pair":
            count += 1
            continue
        words = set(fact.key.split())
        if not words & seen_words:
            count += 1
        seen_words |= words
    return count


# ------------------------------------------------------------------------------ assigning ---


def add_article(
    conn: sqlite3.Connection,
    article_id: int,
    *,
    title: str | None,
    body: str,
    published: str | None,
    fetched_at: str | None,
) -> Assignment:
    """Give a newly archived article its story: the hook `Archive` calls for every new row,
    inside the transaction that inserts it. Backfills a few older articles first."""
    if _meta(conn, META_BACKFILL) is not None:
        _backfill_step(conn, BACKFILL_PER_ARTICLE)
    day = day_of(published, fetched_at)
    found = facts_of_text(title, body, day)
    index_article(conn, article_id, found, day)
    return assign(conn, article_id, found, day, factlib.lead_figures(body, title))


def facts_of_text(title: str | None, body: str, day: int) -> dict[int, Fact]:
    """The article's facts, less its own publication date (a dateline says when it was
    published, not what happened: every article of that day has it)."""
    found = factlib.extract(body, title)
    published = date.fromordinal(day + _EPOCH)
    own = factlib.fact_id("date", f"{published.month:02d}-{published.day:02d}")
    found.pop(own, None)
    return found


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


@dataclass
class _Neighbourhood:
    """What the index says around a new article: each fact's weight, and the stories worth
    comparing in full with their versions (id, day)."""

    weights: dict[int, tuple[float, float]]
    candidates: list[tuple[int, list[tuple[int, int]]]]
    elsewhere: set[int]  # the facts two stories or more of the window have (background)


def _neighbourhood(conn: sqlite3.Connection, article_id: int, found: Mapping[int, Fact], day: int) -> _Neighbourhood:
    """Read the postings of the article's facts within `WINDOW_DAYS` of its day (rarest facts
    first, at most `MAX_CANDIDATE_ROWS` rows; the facts in more than `LOOKUP_MAX_DF` articles
    are not looked up), weigh each fact, and rank the stories by the weight they share."""
    dfs = _dfs(conn, found)
    lookup = sorted(
        (i for i, f in found.items() if f.kind in LOOKUP_KINDS and dfs.get(i, 1) <= LOOKUP_MAX_DF),
        key=lambda i: dfs.get(i, 1),
    )
    hits: dict[int, set[int]] = defaultdict(set)
    rows = 0
    for start in range(0, len(lookup), 64):
        chunk = lookup[start : start + 64]
        found_rows = conn.execute(
            f"SELECT fact, article_id FROM story_postings WHERE fact IN ({','.join('?' * len(chunk))}) "
            f"AND day BETWEEN ? AND ? LIMIT {MAX_CANDIDATE_ROWS - rows}",
            [*chunk, day - WINDOW_DAYS, day + WINDOW_DAYS],
        ).fetchall()
        rows += len(found_rows)
        for fact, other in found_rows:
            if other != article_id:
                hits[other].add(fact)
        if rows >= MAX_CANDIDATE_ROWS:
            break
    by_story: dict[int, set[int]] = defaultdict(set)
    spread: dict[int, set[int]] = defaultdict(set)
    others = list(hits)
    for start in range(0, len(others), 500):
        chunk = others[start : start + 500]
        for other, story_id in conn.execute(
            f"SELECT article_id, story_id FROM story_members WHERE article_id IN ({','.join('?' * len(chunk))})",
            chunk,
        ):
            by_story[story_id] |= hits[other]
            for fact in hits[other]:
                spread[fact].add(story_id)
    weights = _weights(conn, found, {f: len(s) for f, s in spread.items()})
    ranked = sorted(by_story.items(), key=lambda kv: -sum(weights[f][0] for f in kv[1]))
    candidates = []
    for story_id, shared in ranked[:MAX_CANDIDATES]:
        if sum(weights[f][0] for f in shared) < JOIN_SCORE / 3:
            break
        members = conn.execute(
            "SELECT article_id, day FROM story_members WHERE story_id = ? ORDER BY abs(day - ?) LIMIT ?",
            (story_id, day, MAX_MEMBERS_COMPARED),
        ).fetchall()
        if members:
            candidates.append((story_id, [(m, d) for m, d in members]))
    return _Neighbourhood(weights, candidates, {f for f, found_in in spread.items() if len(found_in) >= 2})


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


def same_figures(conn: sqlite3.Connection, article_id: int, body: str, title: str | None = None) -> bool:
    """Whether a text that the near-duplicate layer would fold into `article_id` reports the
    same figures: a weekly release of one template with other figures is a new article (and
    a story of its own), not a copy. Figures differ when each text has one the other lacks
    and at least two differ in all. An article not yet in the facts index agrees."""
    row = conn.execute("SELECT facts FROM story_article_facts WHERE article_id = ?", (article_id,)).fetchone()
    if row is None:
        return True
    figures = {"num", "pct"}
    theirs = {f for f in array("i", row[0]) if factlib.kind_of(f) in figures}
    ours = {i for i, f in factlib.extract(body, title).items() if f.kind in figures}
    only_ours, only_theirs = ours - theirs, theirs - ours
    return not (only_ours and only_theirs and len(only_ours) + len(only_theirs) >= 2)


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


# ------------------------------------------------------------------------------ overrides ---


def split(db: Database, article_id: int) -> int:
    """Take `article_id` out of its story into a story of its own, for good: it is pinned
    there, and kept apart from the versions it left (a later assignment never puts them
    together again). Returns its new story's id. Raises KeyError if it has no story."""
    with db.transaction() as conn:
        row = conn.execute("SELECT story_id, day FROM story_members WHERE article_id = ?", (article_id,)).fetchone()
        if row is None:
            raise KeyError(article_id)
        old, day = row
        others = [
            r[0]
            for r in conn.execute(
                "SELECT article_id FROM story_members WHERE story_id = ? AND article_id != ?", (old, article_id)
            )
        ]
        conn.execute("DELETE FROM story_members WHERE article_id = ?", (article_id,))
        if old == article_id and others:
            # The story was named after this article: the versions left keep one story,
            # named after the earliest of them.
            _rename(conn, old, _earliest(conn, old))
        else:
            _refresh(conn, old)
        if old == article_id and not others:
            conn.execute("DELETE FROM stories WHERE id = ?", (old,))
        _start(conn, article_id, day, how="split", pinned=True)
        conn.executemany(
            "INSERT OR IGNORE INTO story_apart (article_id, other_id) VALUES (?, ?)",
            [pair for other in others for pair in ((article_id, other), (other, article_id))],
        )
        conn.execute(
            "INSERT INTO story_overrides (kind, article_id, from_story, to_story, at) VALUES ('split', ?, ?, ?, ?)",
            (article_id, old, article_id, utc_iso()),
        )
        return article_id


def _earliest(conn: sqlite3.Connection, story_id: int) -> int:
    return conn.execute(
        "SELECT article_id FROM story_members WHERE story_id = ? ORDER BY day, article_id LIMIT 1", (story_id,)
    ).fetchone()[0]


def _rename(conn: sqlite3.Connection, old: int, new: int) -> None:
    now = utc_iso()
    conn.execute(
        "INSERT INTO stories (id, first_day, last_day, title_article_id, size, created_at, updated_at) "
        "SELECT ?, first_day, last_day, title_article_id, size, created_at, ? FROM stories WHERE id = ?",
        (new, now, old),
    )
    conn.execute("UPDATE story_members SET story_id = ? WHERE story_id = ?", (new, old))
    conn.execute("DELETE FROM stories WHERE id = ?", (old,))
    _refresh(conn, new)


def merge(db: Database, keep: int, other: int) -> int:
    """Make stories `keep` and `other` one (`keep`), for good: every version of both is pinned
    there, and any split that kept them apart is forgotten. Returns `keep`. Raises KeyError
    for a story that does not exist."""
    with db.transaction() as conn:
        for story_id in (keep, other):
            if not conn.execute("SELECT 1 FROM stories WHERE id = ?", (story_id,)).fetchone():
                raise KeyError(story_id)
        if keep == other:
            return keep
        ours = [r[0] for r in conn.execute("SELECT article_id FROM story_members WHERE story_id = ?", (keep,))]
        theirs = [r[0] for r in conn.execute("SELECT article_id FROM story_members WHERE story_id = ?", (other,))]
        conn.execute(
            "UPDATE story_members SET story_id = ?, pinned = 1, how = 'merge' WHERE story_id IN (?, ?)",
            (keep, keep, other),
        )
        conn.execute("UPDATE story_members SET how = 'first' WHERE article_id = ?", (keep,))
        conn.execute("DELETE FROM stories WHERE id = ?", (other,))
        _refresh(conn, keep)
        conn.executemany(
            "DELETE FROM story_apart WHERE article_id = ? AND other_id = ?",
            [pair for a in ours for b in theirs for pair in ((a, b), (b, a))],
        )
        conn.execute(
            "INSERT INTO story_overrides (kind, article_id, from_story, to_story, at) VALUES ('merge', NULL, ?, ?, ?)",
            (other, keep, utc_iso()),
        )
        return keep


# ------------------------------------------------------------------------------ reading ---


def story_of(db: Database, article_id: int) -> int | None:
    row = db.conn.execute("SELECT story_id FROM story_members WHERE article_id = ?", (article_id,)).fetchone()
    return row[0] if row else None


def members(db: Database, story_id: int, *, forgotten: bool = False) -> list[Member]:
    """The versions of a story, earliest first, with every URL each was seen at; the forgotten
    ones (`newswatch forget`) too with `forgotten` only (the corrections, `show` of one)."""
    rows = db.conn.execute(
        """
        SELECT m.article_id, m.story_id, a.title, a.url, a.canonical_url, a.source, a.language, a.published,
               a.fetched_at, m.how, m.score, m.pinned, m.evidence
          FROM story_members m JOIN articles a ON a.id = m.article_id
         WHERE m.story_id = ? """
        + ("" if forgotten else f"AND {_KEPT} ")
        + "ORDER BY m.day, m.article_id",
        (story_id,),
    ).fetchall()
    out = []
    for r in rows:
        member = Member(
            article_id=r[0],
            story_id=r[1],
            title=r[2],
            url=r[3],
            canonical_url=r[4],
            source=r[5],
            language=r[6],
            published=r[7],
            fetched_at=r[8],
            how=r[9],
            score=r[10],
            pinned=bool(r[11]),
            evidence=json.loads(r[12]) if r[12] else None,
        )
        member.seen = [
            Seen(*s)
            for s in db.conn.execute(
                "SELECT coalesce(canonical_url, url), source, first_seen, last_seen FROM sightings"
                " WHERE article_id = ? ORDER BY first_seen, id",
                (member.article_id,),
            )
        ]
        member.sightings = [s.url for s in member.seen]
        out.append(member)
    return out


def list_stories(
    db: Database,
    *,
    since: str | None = None,
    source: str | None = None,
    limit: int | None = None,
    story_id: int | None = None,
    forgotten: bool = False,
) -> list[StorySummary]:
    """Stories, latest first: those with a version on or after `since` (ISO date) and, with
    `source`, a version from that source (an article or one of its sightings); `story_id`:
    that one only. A forgotten version (`newswatch forget`) is left out, and a story of
    forgotten versions only, unless `forgotten` (`show` of a forgotten article)."""
    kept = "" if forgotten else f" AND {_KEPT}"
    sql = (
        "SELECT s.id, s.first_day, s.last_day, s.size, s.title_article_id FROM stories s"
        f" WHERE EXISTS (SELECT 1 FROM story_members m WHERE m.story_id = s.id{kept})"
    )
    params: list = []
    if story_id is not None:
        sql += " AND s.id = ?"
        params.append(story_id)
    if since:
        sql += (
            " AND s.last_day >= ?"
            f" AND EXISTS (SELECT 1 FROM story_members m WHERE m.story_id = s.id{kept} AND m.day >= ?)"
        )
        params += [day_of(since, None)] * 2
    if source:
        sql += (
            " AND EXISTS (SELECT 1 FROM story_members m JOIN sightings g ON g.article_id = m.article_id "
            f"WHERE m.story_id = s.id AND g.source = ?{kept})"
        )
        params.append(source)
    sql += " ORDER BY s.last_day DESC, s.id DESC"
    if limit:
        sql += " LIMIT ?"
        params.append(int(limit))
    out = []
    for story_id, first, last, size, title_id in db.conn.execute(sql, params).fetchall():
        rows = db.conn.execute(
            "SELECT a.id, a.language, a.source, a.title, m.day FROM story_members m JOIN articles a"
            f" ON a.id = m.article_id WHERE m.story_id = ?{kept} ORDER BY m.day, m.article_id",
            (story_id,),
        ).fetchall()
        title = next((r[3] for r in rows if r[0] == title_id), None) or next((r[3] for r in rows if r[3]), None)
        seen = db.conn.execute(
            "SELECT g.source, g.first_seen, g.last_seen"
            f" FROM story_members m JOIN sightings g ON g.article_id = m.article_id WHERE m.story_id = ?{kept}",
            (story_id,),
        ).fetchall()
        if len(rows) < size:  # a forgotten version: the story as it reads without it
            first, last, size = rows[0][4], max(r[4] for r in rows), len(rows)
        out.append(
            StorySummary(
                story_id,
                title,
                day_text(first),
                day_text(last),
                size,
                sorted({r[1] for r in rows if r[1]}),
                sorted({r[2] for r in rows}),
                [r[0] for r in rows],
                sorted({g[0] for g in seen} | {r[2] for r in rows}),
                min((g[1] for g in seen), default=None),
                max((g[2] for g in seen), default=None),
            )
        )
    return out


def find_story(db: Database, ident: int) -> int | None:
    """The story `ident` names: the story of that id, else the story of the article of that id
    (a story's id is the id of the article that started it, which a split or a merge may
    have moved since)."""
    if db.conn.execute("SELECT 1 FROM stories WHERE id = ?", (ident,)).fetchone():
        return ident
    return story_of(db, ident)


def member_at(db: Database, story_id: int, url: str) -> int | None:
    """The version of story `story_id` seen at `url` (its own address, its canonical URL, or a
    copy folded into it; compared as the archive compares pages: `core.urls.url_key`)."""
    key = url_key(url.strip())
    row = db.conn.execute(
        "SELECT m.article_id FROM story_members m JOIN sightings g ON g.article_id = m.article_id"
        " WHERE m.story_id = :story AND (g.url = :url OR g.canonical_url = :url OR g.url_key = :key)"
        " UNION ALL SELECT m.article_id FROM story_members m JOIN articles a ON a.id = m.article_id"
        " WHERE m.story_id = :story AND (a.url = :url OR a.canonical_url = :url OR a.url_key = :key) LIMIT 1",
        {"story": story_id, "url": url.strip(), "key": key},
    ).fetchone()
    return row[0] if row else None


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


def explain(db: Database, a: int, b: int) -> Explanation:
    """Why articles `a` and `b` are, or are not, one story: the human decisions that apply, a
    declared translation, and what their facts say (each shared fact with its weight)."""
    conn = db.conn
    story_a, story_b = story_of(db, a), story_of(db, b)
    overrides = []
    for article_id, story_id in ((a, story_a), (b, story_b)):
        row = conn.execute("SELECT how FROM story_members WHERE article_id = ? AND pinned", (article_id,)).fetchone()
        if row:
            # Only a split or a merge pins (a merge's first version keeps how = 'first').
            by = "a split" if row[0] == "split" else "a merge"
            overrides.append(f"article {article_id} was put in story {story_id} by hand ({by})")
    if conn.execute("SELECT 1 FROM story_apart WHERE article_id = ? AND other_id = ?", (a, b)).fetchone():
        overrides.append(f"a split keeps articles {a} and {b} apart")
    translation = bool(
        conn.execute(
            "SELECT 1 FROM translations t JOIN articles x ON x.url_key = t.url_key "
            "WHERE (t.article_id = :a AND x.id = :b) OR (t.article_id = :b AND x.id = :a)",
            {"a": a, "b": b},
        ).fetchone()
    )
    verdict = None
    first, second = _facts_of(conn, a), _facts_of(conn, b)
    if first and second:
        # The later of the two is judged against the earlier, as the assignment did.
        (found, day, lead), (other, other_day, _) = (first, second) if first[1] >= second[1] else (second, first)
        later = a if first[1] >= second[1] else b
        around = _neighbourhood(conn, later, found, day)
        verdict = judge(found, around.weights, set(other), abs(day - other_day), around.elsewhere - set(other), lead)
    joined = []
    for article_id in (a, b):
        row = conn.execute("SELECT how, evidence FROM story_members WHERE article_id = ?", (article_id,)).fetchone()
        if row:
            joined.append((article_id, row[0], json.loads(row[1]) if row[1] else None))
    return Explanation(
        a, b, story_a, story_b, story_a is not None and story_a == story_b, verdict, overrides, translation, joined
    )
