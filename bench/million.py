"""The archive at a million articles: what a reader and a run wait for.

    .venv/bin/python bench/million.py --keep /tmp/nw-million          # builds once, then measures
    .venv/bin/python bench/million.py --size 100000 --keep /tmp/nw-100k

The archive is bench/reading_room.py's (real schema and FTS triggers, ~150 words an article
from a 20,000-word vocabulary, 8 sources, 3 languages, stories of three versions), built in
`--keep DIR` if it is not there yet (kept for the next call). Measured, each `--repeat` times:
- `search`: rule-like queries through `Archive.search` (what `newswatch search` and the rules
  run), p50 and p95 over all queries and repetitions;
- `stats`: `Archive.stats()` (`newswatch stats`);
- the reading room's home page and a rule's page (Datasette's in-process client);
- one run's store stage: a batch of 50 new articles (real pages cleaned by `clean_page`)
  through `store_batch` (dedup against the archive, stories, alert matches) in one transaction;
- the file's size.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(1, str(REPO / "bench"))
sys.path.insert(2, str(REPO / "tests"))

QUERIES = [
    'passeurs OR "réseaux de passeurs"',
    "migrants AND Méditerranée",
    "asile -frontière",
    "title:migrants",
    "NEAR(passeurs frontière, 10)",
    "mot12*",
    '"mot1 mot2" OR mot3',
    "source:source-3 asile",
]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, required=True, help="directory of the archive (built if missing)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from reading_room import build

    args.keep.mkdir(parents=True, exist_ok=True)
    path = args.keep / "archive.db"
    if not path.exists():
        started = time.perf_counter()
        build(args.keep, args.size, random.Random(args.size))
        print(f"built {args.size:,} articles in {time.perf_counter() - started:.0f} s")
    size = sum(p.stat().st_size for p in args.keep.glob("archive.db*"))
    print(f"archive: {path}, {size / 2**30:.2f} GiB")

    from storage.archive import Archive

    with Archive.open(path) as archive:
        count = archive.conn.execute("SELECT count(*) FROM articles").fetchone()[0]
        print(f"{count:,} articles")
        times: list[float] = []
        per_query = {}
        for query in QUERIES:
            mine = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                hits = archive.search(query, limit=20)
                mine.append(time.perf_counter() - started)
            per_query[query] = (statistics.median(mine), len(hits))
            times += mine
        print(f"search: p50 {percentile(times, 0.5) * 1000:.0f} ms, p95 {percentile(times, 0.95) * 1000:.0f} ms")
        for query, (median, hits) in per_query.items():
            print(f"   {median * 1000:8.0f} ms  {hits:3d} hit(s)  {query}")
        stats = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            archive.stats()
            stats.append(time.perf_counter() - started)
        print(f"stats: median {statistics.median(stats) * 1000:.0f} ms")
        store_ms = store_stage(archive)
        print(f"store stage, 50 new articles in one transaction: {store_ms:.0f} ms")
    for name, ms in reading_room_pages(args.keep, args.size, args.repeat):
        print(f"reading room {name}: median {ms:.0f} ms")
    return 0


def store_stage(archive) -> float:
    from fake_sites import article_page

    from flows.config.loader import load_config
    from flows.pipeline.stages import store_batch
    from scrapers.clean import clean_page
    from storage.records import Incoming

    rules = list(load_config(archive.path.parent / "newswatch.yaml").alerts)
    stamp = time.strftime("%Y%m%d%H%M%S")
    items = []
    for i in range(50):
        url = f"https://bench.example.org/news/{stamp}-{i}"
        article = clean_page(article_page("aprnews", f"/news/{stamp}-{i}").encode(), url=url)
        items.append(Incoming(article=article, source="source-1", url=url, fetched_at="2026-01-01T08:00:00+00:00"))
    started = time.perf_counter()
    store_batch(archive, items, rules)
    return (time.perf_counter() - started) * 1000


def reading_room_pages(directory: Path, size: int, repeat: int) -> list[tuple[str, float]]:
    from reading_room import timed

    from flows.config.loader import load_config
    from flows.reading_room import make_datasette

    ds = make_datasette(directory / "archive.db", load_config(directory / "newswatch.yaml"))

    async def run() -> list[tuple[str, float]]:
        await ds.invoke_startup()
        out = []
        for name, page in (
            ("home", "/"),
            ("rule page", "/archive/rule_passeurs"),
            ("story", f"/archive/story?id={size // 2}"),
        ):
            seconds, _, _ = await timed(ds.client, page, repeat)
            out.append((name, seconds * 1000))
        return out

    return asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
