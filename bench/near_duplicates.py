"""Near-duplicate lookup cost as the archive grows: 10k, 100k, 1M archived articles.

    .venv/bin/python bench/near_duplicates.py                 # 10k, 100k, 1M
    .venv/bin/python bench/near_duplicates.py --sizes 10000,100000

Archived articles are synthetic entries of the near-duplicate index (a random MinHash
signature and its 16 band keys each, in a real archive made by storage.schema): the lookup
reads only `near_keys` and `near_signatures`, never bodies, and real band keys are uniform
hashes like these. 200 real texts are planted among them; each size measures, per new
article, (a) `near_duplicates` for an edited copy of a planted text (must be found) and for
an unrelated text (must find nothing), (b) the MinHash signature (independent of size).
Reference measured in the same run: one indexed primary-key lookup on `articles`, and, at
10k, brute force (comparing against every stored signature). Peak memory: ru_maxrss.
The archive goes to a temporary directory and is deleted.
"""

from __future__ import annotations

import argparse
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from array import array
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage import dedup
from storage.archive import Archive

VOCAB = [f"w{i}" for i in range(20000)]
PLANTED = 200
QUERIES = 200


def text(rng: random.Random, n=300) -> str:
    return " ".join(rng.choice(VOCAB) for _ in range(n))


def edited(body: str, rng: random.Random) -> str:
    words = body.split()
    start = rng.randrange(0, len(words) - 20)
    words[start : start + 15] = [rng.choice(VOCAB) for _ in range(15)]
    return "Reprise : " + " ".join(words)


def build(path: Path, size: int, rng: random.Random) -> list[str]:
    Archive.open(path).close()  # the real schema
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = OFF")  # index entries without article rows: bodies are never read
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    planted = [text(rng) for _ in range(PLANTED)]
    planted_ids = set(rng.sample(range(1, size + 1), PLANTED))
    planted_iter = iter(planted)
    chunk_sig, chunk_keys = [], []
    for article_id in range(1, size + 1):
        if article_id in planted_ids:
            sig = dedup.minhash(next(planted_iter))
        else:
            sig = array("I", (rng.getrandbits(32) for _ in range(dedup.NUM_PERM))).tobytes()
        chunk_sig.append((article_id, sig))
        chunk_keys.extend((k, article_id) for k in dedup.band_keys(sig))
        if len(chunk_sig) >= 20000:
            conn.executemany("INSERT INTO near_signatures VALUES (?, ?)", chunk_sig)
            conn.executemany("INSERT INTO near_keys VALUES (?, ?)", chunk_keys)
            chunk_sig, chunk_keys = [], []
    conn.executemany("INSERT INTO near_signatures VALUES (?, ?)", chunk_sig)
    conn.executemany("INSERT INTO near_keys VALUES (?, ?)", chunk_keys)
    conn.execute(
        "INSERT INTO articles (id, url, source, body, fetched_at, content_hash) VALUES (?, 'u', 's', '', '', 'h')",
        (size // 2,),
    )
    conn.execute("COMMIT")
    conn.close()
    return planted


def primary_key_lookup(conn: sqlite3.Connection, article_id: int) -> tuple:
    return conn.execute("SELECT * FROM articles WHERE id = ?", (article_id,)).fetchone()


def brute_force(conn: sqlite3.Connection, sig) -> list[int]:
    """The near-duplicates of `sig` by comparing it with every signature (the reference)."""
    return [
        i
        for i, other in conn.execute("SELECT article_id, signature FROM near_signatures")
        if dedup.similarity(sig, other) >= 0.7
    ]


def per_call_ms(fn, args_list) -> float:
    times = []
    for args in args_list:
        t = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    args = parser.parse_args()
    print(
        f"{'archived':>10} {'build s':>8} {'db MB':>7} {'copy ms':>8} {'new ms':>7} {'pk ms':>7} "
        f"{'ratio':>6} {'found':>6} {'false':>6} {'sig ms':>7} {'brute ms':>9} {'maxrss MB':>9}"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        rng = random.Random(size)
        with tempfile.TemporaryDirectory(prefix="nw-bench-") as tmp:
            path = Path(tmp) / "archive.db"
            t = time.perf_counter()
            planted = build(path, size, rng)
            build_s = time.perf_counter() - t
            archive = Archive.open(path)
            conn = archive.conn
            copies = [dedup.minhash(edited(b, rng)) for b in planted[:QUERIES]]
            fresh = [dedup.minhash(text(rng)) for _ in range(QUERIES)]
            for sig in copies[:20]:  # warm the page cache like a long-running archive
                dedup.near_duplicates(conn, sig)
            found = sum(bool(dedup.near_duplicates(conn, s)) for s in copies)
            false = sum(bool(dedup.near_duplicates(conn, s)) for s in fresh)
            copy_ms = per_call_ms(dedup.near_duplicates, [(conn, s) for s in copies])
            new_ms = per_call_ms(dedup.near_duplicates, [(conn, s) for s in fresh])
            pk_ms = per_call_ms(primary_key_lookup, [(conn, size // 2)] * 1000)
            bodies = [edited(b, rng) for b in planted[:50]]
            sig_ms = per_call_ms(dedup.minhash, [(b,) for b in bodies])
            brute = ""
            if size <= 10000:
                brute = f"{per_call_ms(brute_force, [(conn, s) for s in copies[:10]]):9.1f}"
            mb = path.stat().st_size / 1e6
            archive.close()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"{size:>10} {build_s:8.1f} {mb:7.0f} {copy_ms:8.3f} {new_ms:7.3f} {pk_ms:7.4f} "
            f"{copy_ms / pk_ms:6.0f} {found:>3}/{QUERIES} {false:>3}/{QUERIES} {sig_ms:7.2f} {brute:>9} {rss:9.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
