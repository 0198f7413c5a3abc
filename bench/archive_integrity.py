"""What the integrity check on opening an archive for writing costs as the archive grows.

    .venv/bin/python bench/archive_integrity.py                       # 100k articles
    .venv/bin/python bench/archive_integrity.py --sizes 100000,1000000 --keep /tmp/bench
    .venv/bin/python bench/archive_integrity.py --archive PATH     # an archive already built

Builds a real archive of N synthetic articles (bench/reading_room.py's `build`: the real
schema, FTS triggers on), then times, cold page cache not forced (the file was just written):
`PRAGMA quick_check` (what a dirty or changed archive costs on open), `PRAGMA integrity_check`
for reference, and `Archive.open` after a clean close (the marker matches: no check) and
after the marker is removed (a crash: quick_check runs).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from reading_room import build

from storage.archive import Archive
from storage.integrity import marker_path


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def build_one(size: int, keep: Path | None) -> Path:
    directory = Path(tempfile.mkdtemp(dir=keep))
    path = directory / "archive.db"
    built = seconds(lambda: build(directory, size, random.Random(1)))
    print(f"{size:>9,} articles: built in {built:.0f} s, {path.stat().st_size / 1e6:,.0f} MB", flush=True)
    return path


def measure(path: Path) -> None:
    conn = sqlite3.connect(path)
    size = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
    quick = seconds(lambda: conn.execute("PRAGMA quick_check").fetchall())
    full = seconds(lambda: conn.execute("PRAGMA integrity_check").fetchall())
    conn.close()
    Archive.open(path).close()  # a clean close: the marker is written
    clean = seconds(lambda: Archive.open(path).close())
    marker_path(path).unlink()
    dirty = seconds(lambda: Archive.open(path).close())
    print(
        f"{size:>9,} articles, {path.stat().st_size / 1e6:,.0f} MB: quick_check {quick:.2f} s, "
        f"integrity_check {full:.2f} s; Archive.open clean {clean * 1000:.0f} ms, after a crash {dirty:.2f} s",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000")
    parser.add_argument("--keep", type=Path, default=None, help="build the archives under this directory")
    parser.add_argument("--archive", type=Path, help="measure this archive instead of building one")
    args = parser.parse_args()
    if args.archive:
        measure(args.archive)
        return
    for size in (int(s) for s in args.sizes.split(",")):
        measure(build_one(size, args.keep))


if __name__ == "__main__":
    main()
