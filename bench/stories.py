"""Giving a new article its story as the archive grows: 10k, 100k, 1M archived articles.

    .venv/bin/python bench/stories.py                      # 10k, 100k, 1M
    .venv/bin/python bench/stories.py --sizes 10000,100000

Archived articles are synthetic entries of the story index, in a real archive made by
storage.schema: each has a day (1,000 articles a day, as a busy archive gets), 60 facts
drawn from skewed vocabularies (a few facts in a large share of the articles, most in a
handful: `--skew`), its fact set, its postings (`story_decision.MAX_POSTINGS`), its story, and the
document frequencies are counted from them. The assignment reads only these tables.

The new articles are the invented events of tests/fixtures/stories/dev (text dumps cleaned
by clean_page): each event's first version is planted (added through the real path,
`story_assignment.add_article`) in the middle of the synthetic days, then every later version is
timed as it is added (must join the planted story: "joined"), and the first versions of the
other events, added on a day of their own, must start stories ("apart"). Per article:
`story_assignment.add_article` in full (fact extraction, index writes, candidate lookup, decision;
inside the transaction, whose commit a batch shares) and, apart, the fact extraction alone.
Reference in the same run: one primary-key lookup. The archive goes to a temporary
directory and is deleted; its size is reported.
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scrapers.clean import clean_page  # noqa: E402
from storage import facts, story_assignment, story_decision  # noqa: E402
from storage.archive import Archive  # noqa: E402
from storage.db import utc_iso  # noqa: E402

FIXTURES = REPO / "tests" / "fixtures" / "stories"
PER_DAY = 1000
FACTS = 60
# kind -> (share of an article's facts, vocabulary size)
VOCABULARY = {"num": (0.25, 2_000_000), "pct": (0.03, 2_000), "approx": (0.08, 200_000), "date": (0.05, 366),
              "name": (0.42, 500_000), "pair": (0.17, 3_000_000)}  # fmt: skip
FIRST_DAY = 19_000


def synthetic_facts(rng: np.random.Generator, n: int, skew: float) -> np.ndarray:
    """n x FACTS fact ids: per kind, ranks from a Zipf law cut to the vocabulary, hashed."""
    columns = []
    for kind, (share, size) in VOCABULARY.items():
        count = max(1, round(share * FACTS))
        ranks = np.minimum(rng.zipf(skew, size=(n, count)), size).astype(np.uint64)
        hashed = (ranks * np.uint64(2654435761) + np.uint64(facts.KINDS.index(kind))) & np.uint64(0x0FFFFFFF)
        columns.append((hashed | np.uint64(facts.KINDS.index(kind) << 28)).astype(np.int64))
    return np.concatenate(columns, axis=1)[:, :FACTS]


def build(path: Path, size: int, skew: float, seed: int) -> None:
    Archive.open(path).close()  # the real schema
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = OFF")  # index entries without article rows: bodies are never read
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -2000000")
    conn.execute("BEGIN")
    conn.execute("CREATE TEMP TABLE postings_load (fact INTEGER, day INTEGER, article_id INTEGER)")
    rng = np.random.default_rng(seed)
    now = utc_iso()
    chunk = 50_000
    posted = story_decision.MAX_POSTINGS
    for start in range(1, size + 1, chunk):
        ids = np.arange(start, min(start + chunk, size + 1))
        days = FIRST_DAY + (ids - 1) // PER_DAY
        table = synthetic_facts(rng, len(ids), skew)
        conn.executemany(
            "INSERT INTO story_article_facts (article_id, day, facts) VALUES (?, ?, ?)",
            (
                (int(i), int(d), np.unique(row).astype("<i4").tobytes())
                for i, d, row in zip(ids, days, table, strict=True)
            ),
        )
        conn.executemany(
            "INSERT INTO postings_load VALUES (?, ?, ?)",
            ((int(f), int(d), int(i)) for i, d, row in zip(ids, days, table, strict=True) for f in row[:posted]),
        )
        conn.executemany(
            "INSERT INTO stories (id, first_day, last_day, title_article_id, size, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, 1, ?, ?)",
            ((int(i), int(d), int(d), int(i), now, now) for i, d in zip(ids, days, strict=True)),
        )
        conn.executemany(
            "INSERT INTO story_members (article_id, story_id, day, how, pinned, assigned_at) "
            "VALUES (?, ?, ?, 'first', 0, ?)",
            ((int(i), int(i), int(d), now) for i, d in zip(ids, days, strict=True)),
        )
    conn.execute(
        "INSERT OR IGNORE INTO story_postings SELECT fact, day, article_id FROM postings_load "
        "ORDER BY fact, day, article_id"
    )
    # Document frequencies from the fact sets would need every set read back; the posted
    # facts are most of them, and the rest are the rarer kinds: counted from the postings.
    conn.execute("INSERT INTO story_fact_df (fact, df) SELECT fact, count(*) FROM postings_load GROUP BY fact")
    conn.execute(
        "INSERT OR REPLACE INTO archive_meta (key, value) VALUES (?, ?)", (story_decision.META_COUNT, str(size))
    )
    conn.execute("COMMIT")
    conn.close()


def events() -> dict[str, list[tuple[int, str | None, str]]]:
    """Dev events with 2+ versions: (days after the first, title, body) per version."""
    manifest = json.loads((FIXTURES / "manifest.json").read_text(encoding="utf-8"))
    by_event: dict[str, list[dict]] = {}
    for doc in manifest["documents"]:
        if doc["part"] == "dev":
            by_event.setdefault(doc["event"], []).append(doc)
    out = {}
    for event, docs in by_event.items():
        docs.sort(key=lambda d: d["published"])
        first = docs[0]["published"]
        versions = []
        for doc in docs:
            article = clean_page((FIXTURES / doc["file"]).read_bytes())
            offset = (np.datetime64(doc["published"]) - np.datetime64(first)).astype(int)
            versions.append((int(offset), article.title, article.body))
        out[event] = versions
    return out


def add(
    conn: sqlite3.Connection, article_id: int, day: int, title: str | None, body: str
) -> tuple[story_assignment.Assignment, float]:
    """An article row and its story, in one transaction, as Archive.insert does; and the
    seconds `story_assignment.add_article` took (the commit is the batch's, shared by its articles)."""
    published = story_decision.day_text(day)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "INSERT INTO articles (id, url, source, title, published, body, fetched_at, content_hash) "
        "VALUES (?, ?, 'bench', ?, ?, ?, ?, ?)",
        (article_id, f"https://bench.example.org/{article_id}", title, published, body, published, f"h{article_id}"),
    )
    started = time.perf_counter()
    result = story_assignment.add_article(
        conn, article_id, title=title, body=body, published=published, fetched_at=None
    )
    spent = time.perf_counter() - started
    conn.execute("COMMIT")
    return result, spent


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--skew", type=float, default=1.3, help="Zipf exponent of the fact vocabularies")
    args = parser.parse_args()
    stories_of = events()
    multi = {e: v for e, v in stories_of.items() if len(v) >= 2}
    print(
        f"{'archived':>10} {'build s':>8} {'db MB':>7} {'p50 ms':>7} {'p95 ms':>7} {'extract':>8} {'pk ms':>7} "
        f"{'ratio':>6} {'joined':>8} {'apart':>7} {'maxrss MB':>9}",
        flush=True,
    )
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="nw-bench-") as tmp:
            path = Path(tmp) / "archive.db"
            started = time.perf_counter()
            build(path, size, args.skew, seed=size)
            build_s = time.perf_counter() - started
            archive = Archive.open(path)
            conn = archive.conn
            conn.execute("PRAGMA foreign_keys = OFF")
            middle = FIRST_DAY + size // PER_DAY // 2
            next_id = size + 1
            planted: dict[str, int] = {}
            for n, (event, versions) in enumerate(sorted(multi.items())):
                day = middle + 20 * n - 10 * len(multi)
                _, title, body = versions[0]
                planted[event] = add(conn, next_id, day, title, body)[0].story_id
                next_id += 1
            times, joined, total = [], 0, 0
            for n, (event, versions) in enumerate(sorted(multi.items())):
                day = middle + 20 * n - 10 * len(multi)
                for offset, title, body in versions[1:]:
                    result, spent = add(conn, next_id, day + offset, title, body)
                    times.append(spent)
                    next_id += 1
                    total += 1
                    joined += result.story_id == planted[event]
            apart = 0
            singles = sorted(stories_of.items())
            for n, (_event, versions) in enumerate(singles):
                _, title, body = versions[0]
                result, spent = add(conn, next_id, middle + 20 * len(multi) + 20 * n, title, body)
                times.append(spent)
                apart += result.how == "first"
                next_id += 1
            bodies = [(t, b) for versions in stories_of.values() for _, t, b in versions]
            extract_times = []
            for title, body in bodies:
                started = time.perf_counter()
                facts.extract(body, title)
                extract_times.append(time.perf_counter() - started)
            pk = []
            for _ in range(1000):
                started = time.perf_counter()
                conn.execute("SELECT * FROM story_members WHERE article_id = ?", (size // 2,)).fetchone()
                pk.append(time.perf_counter() - started)
            archive.close()
            mb = path.stat().st_size / 1e6
        p50, p95 = statistics.median(times) * 1000, percentile(times, 0.95) * 1000
        pk_ms = statistics.median(pk) * 1000
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"{size:>10} {build_s:8.1f} {mb:7.0f} {p50:7.2f} {p95:7.2f} {statistics.median(extract_times) * 1000:8.2f} "
            f"{pk_ms:7.4f} {p50 / pk_ms:6.0f} {joined:>3}/{total:<4} {apart:>3}/{len(singles):<3} {rss:9.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
