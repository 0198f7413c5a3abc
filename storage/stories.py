"""Stories: one event across outlets and languages is one story.

Every archived article belongs to one story (`story_members`). A new article joins the story
whose facts it shares (`storage.facts`: figures, dates, names), or starts one; a declared
translation (hreflang) joins its original's story whatever its facts. Three modules:

- `storage.story_decision`: the rule, whether an article joins a story (the facts index,
  each fact's weight, `judge`), and its thresholds.
- `storage.story_assignment`: every new article into its story (`add_article`, `assign`),
  `reassign`, and the backfill of the archives made before stories (migration 16).
- this module: reading the stories (`list_stories`, `members`, `story_of`, `find_story`,
  `member_at`), why two articles are or are not one story (`explain`), and the human
  decisions (`split`, `merge`).

Human decisions: `split(db, article_id)` takes an article out of its story, `merge(db, a, b)`
makes two stories one. Both pin the articles they move (`story_members.pinned`): an
assignment, `reassign` included, never moves a pinned article, and a split article is kept
apart from the story it left (`story_apart`). `story_overrides` logs them.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field

from core.urls import url_key
from storage.db import Database, utc_iso
from storage.forget import MEMBER_NOT_FORGOTTEN as _KEPT  # readers leave a forgotten version out
from storage.story_assignment import _refresh, _start
from storage.story_decision import Verdict, _facts_of, _neighbourhood, day_of, day_text, judge


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
