"""Stories: the decision, whether an article joins a story (`storage.stories` has the overview).

A new article joins the story whose facts it shares (`storage.facts`: figures, dates, names),
or starts one (`storage.story_assignment`). The decision:

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
"""

from __future__ import annotations

import json
import math
import sqlite3
from array import array
from collections import defaultdict
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from datetime import date

from storage import facts as factlib
from storage.facts import Fact

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
META_COUNT = "stories_articles"  # articles in the fact index (the N of document frequency)


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


def facts_of_text(title: str | None, body: str, day: int) -> dict[int, Fact]:
    """The article's facts, less its own publication date (a dateline says when it was
    published, not what happened: every article of that day has it)."""
    found = factlib.extract(body, title)
    published = date.fromordinal(day + _EPOCH)
    own = factlib.fact_id("date", f"{published.month:02d}-{published.day:02d}")
    found.pop(own, None)
    return found


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
