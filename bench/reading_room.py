"""The reading room's pages as the archive grows: how long each takes in Datasette.

    .venv/bin/python bench/reading_room.py                       # 10k and 100k articles
    .venv/bin/python bench/reading_room.py --sizes 10000,100000,1000000

Builds a real archive (storage.schema, FTS triggers on) in a temporary directory with N
synthetic articles (~150 words from a 20,000-word vocabulary, 8 sources, 3 languages,
published over 3 years, one sighting each and a near-duplicate copy for 1 in 50, stories of
three versions), plus rejected pages and source runs; then serves it with `flows.reading_room.make_datasette` (the
`newswatch browse` instance) and times each page through Datasette's in-process client, HTML
as a reader gets it (median of 5 after one warm-up). Reference in the same run: the trivial
page `/-/versions.json` (Datasette's own overhead), so `ratio` = page / reference. Datasette's
time limits (`sql_time_limit_ms`, `facet_time_limit_ms` in flows/reading_room) apply: a page
that hits one still answers, without that query or facet (`timed out` is reported).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage.archive import Archive

VOCAB = [f"mot{i}" for i in range(20000)] + ["migrants", "passeurs", "Méditerranée", "frontière", "asile"]
SOURCES = [f"source-{i}" for i in range(8)]
PAGES = [
    ("home", "/"),
    ("articles (facets)", "/archive/articles?_col=title&_col=source&_col=published&_col=language&_col=canonical_url"),
    ("search box", "/archive/articles?_search=mediterranee&_col=title&_col=source&_col=published"),
    ("article page", "/archive/articles/{mid}"),
    ("new today", "/archive/new_today"),
    ("search query", "/archive/search?q=passeurs%20OR%20asile%20-frontiere"),
    ("rule query", "/archive/rule_passeurs"),
    ("near duplicates", "/archive/near_duplicates"),
    ("rejected pages", "/archive/rejected_pages"),
    ("source health", "/archive/source_health"),
    ("stories", "/archive/stories"),
    ("story", "/archive/story?id={mid}"),
]
CONFIG = (
    """archive: archive.db
sources:
"""
    + "".join(
        f"  - {{name: {s}, url: 'https://{s}.example.org/rss', kind: feed, expected_interval: 1d}}\n" for s in SOURCES
    )
    + """alerts:
  - {name: passeurs, query: 'passeurs OR "réseaux de passeurs"', to: a@example.org}
"""
)


def build(directory: Path, size: int, rng: random.Random) -> Path:
    path = directory / "archive.db"
    Archive.open(path).close()  # the real schema, FTS triggers included
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    start = date(2022, 1, 1)
    today = date.today().isoformat()
    for i in range(1, size + 1):
        source = SOURCES[i % len(SOURCES)]
        url = f"https://{source}.example.org/news/{i}"
        body = "\n\n".join(" ".join(rng.choice(VOCAB) for _ in range(50)) for _ in range(3))
        fetched = today if i > size - 50 else (start + timedelta(days=i % 1000)).isoformat()
        conn.execute(
            "INSERT INTO articles (id, url, canonical_url, url_key, source, title, published, body, language,"
            " contacts, fetched_at, content_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '[]', ?, ?)",
            (
                i,
                url,
                url,
                url.split("://", 1)[1],
                source,
                " ".join(rng.choice(VOCAB) for _ in range(8)),
                (start + timedelta(days=i % 1000)).isoformat(),
                body,
                ("fr", "en", "es")[i % 3],
                fetched + "T08:00:00+00:00",
                f"{i:064x}",
            ),
        )
        conn.execute(
            "INSERT INTO sightings (article_id, url, canonical_url, url_key, source, kind, first_seen,"
            " last_seen) VALUES (?, ?, ?, ?, ?, 'original', ?, ?)",
            (i, url, url, url.split("://", 1)[1], source, fetched, fetched),
        )
        # stories of three versions: articles i, i+1, i+2 (the first one's id names it)
        conn.execute(
            "INSERT INTO story_members (article_id, story_id, day, how, assigned_at) VALUES (?, ?, ?, ?, ?)",
            (i, i - (i - 1) % 3, (start + timedelta(days=i % 1000) - date(1970, 1, 1)).days, "facts", fetched),
        )
        if i % 50 == 0:
            copy = f"https://copy.example.net/{i}"
            conn.execute(
                "INSERT INTO sightings (article_id, url, canonical_url, url_key, source, kind, similarity,"
                " first_seen, last_seen) VALUES (?, ?, ?, ?, 'copies', 'near', 0.81, ?, ?)",
                (i, copy, copy, copy.split("://", 1)[1], fetched, fetched),
            )
        if i % 20 == 0:
            conn.execute(
                "INSERT INTO pages (url, source, outcome, error_kind, error, first_seen, last_attempt)"
                " VALUES (?, ?, 'not_article', 'not_article', 'a listing', ?, ?)",
                (f"https://{source}.example.org/list/{i}", source, fetched, fetched),
            )
    conn.execute(
        "INSERT INTO stories (id, first_day, last_day, title_article_id, size, created_at, updated_at)"
        " SELECT story_id, min(day), max(day), min(article_id), count(*), '', '' FROM story_members GROUP BY story_id"
    )
    for s in SOURCES:
        for day in range(30):
            moment = (date.today() - timedelta(days=day)).isoformat() + "T08:00:00+00:00"
            conn.execute(
                "INSERT INTO source_runs (source, started_at, finished_at, ok, counts) VALUES (?, ?, ?, 1, ?)",
                (s, moment, moment, json.dumps({"new": 3})),
            )
    conn.execute("COMMIT")
    conn.close()
    (directory / "newswatch.yaml").write_text(CONFIG, encoding="utf-8")
    return path


async def timed(client, path: str, repeat: int) -> tuple[float, int, bool]:
    await client.get(path)  # warm-up: Datasette's schema cache, SQLite's page cache
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = await client.get(path)
        times.append(time.perf_counter() - started)
    text = response.text
    return statistics.median(times), response.status_code, "timed out" in text or "Timed out" in text


def measure(size: int, repeat: int) -> None:
    from flows.config.loader import load_config
    from flows.reading_room import make_datasette

    rng = random.Random(size)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        started = time.perf_counter()
        path = build(directory, size, rng)
        built = time.perf_counter() - started
        ds = make_datasette(path, load_config(directory / "newswatch.yaml"))

        async def run() -> list[tuple[str, float, int, bool]]:
            await ds.invoke_startup()
            reference, _, _ = await timed(ds.client, "/-/versions.json", repeat * 4)
            rows = [("reference /-/versions.json", reference, 200, False)]
            for name, page in PAGES:
                seconds, status, timed_out = await timed(ds.client, page.format(mid=size // 2), repeat)
                rows.append((name, seconds, status, timed_out))
            return rows

        rows = asyncio.run(run())
    reference = rows[0][1]
    print(f"\n{size:,} articles (archive built in {built:.0f} s)")
    print(f"{'page':<28}{'ms':>9}{'ratio':>8}  status")
    for name, seconds, status, timed_out in rows:
        note = "  timed out (a query or facet left out)" if timed_out else ""
        print(f"{name:<28}{seconds * 1000:9.1f}{seconds / reference:8.1f}  {status}{note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        measure(size, args.repeat)


if __name__ == "__main__":
    main()
