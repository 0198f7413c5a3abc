"""The hostile web, measured (issue 14): a run under a stacked-gzip bomb, a run with a
trickling host, a 10,000-word query; each against a reference measured in the same session.

    .venv/bin/python bench/hostile.py                     # all three, this checkout
    .venv/bin/python bench/hostile.py bomb --root /work/main   # another checkout's code ("before")

Every run is `flows.pipeline.ingest.ingest_run` (the ingest run without Prefect) in a child process
that imports newswatch from `--root`, against local servers (tests/hostile_server.py,
tests/httpserver.py) started here:
- `bomb`: one feed source whose only article is 4 GiB of zeros gzipped twice
  (`Content-Encoding: gzip, gzip`, ~10 KB on the wire); reference: the same run where the
  article is an ordinary page. Reported: the child's peak RSS (ru_maxrss), and the ratio.
  The child runs under RLIMIT_AS (`--memory-limit`, default 12 GiB) so a "before" run
  cannot take the machine down: it then reports the MemoryError instead;
- `trickle`: two feed sources, one whose server sends its status line one byte every 5 s,
  with `timeouts: {total: 10}` (the default `read: 30`, `attempts: 3`); reference: the
  same run without the trickling source. Reported: wall times and what the summary says;
- `query`: `Archive.search` of a 10,000-word query (the words of an archived article, so it
  matches: the costly case) and of a 10,000-word NEAR, against a 10-word query on the same
  archive, in this process with `--root`'s code.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import string
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(1, str(REPO / "tests"))  # hostile_server, httpserver, fake_sites

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
limit = int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from flows.config.loader import load_config
from flows.pipeline.ingest import ingest_run
start = time.perf_counter()
try:
    summary = ingest_run(load_config(sys.argv[2]))
    out = {"sources": [{"source": s.source, "new": s.new, "failed": s.failed, "errors": s.errors}
                       for s in summary.sources]}
except MemoryError as e:
    out = {"error": "MemoryError"}
out["seconds"] = round(time.perf_counter() - start, 2)
out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print("RESULT " + json.dumps(out), flush=True)
"""


def run_child(root: Path, config: Path, memory_limit: int) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), str(config), str(memory_limit)],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=3600,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:
        return {"exit": proc.returncode, "stderr": proc.stderr[-1500:]}
    return json.loads(lines[-1][len("RESULT ") :])


def feed_site(make, name: str, body: bytes | None = None, headers: dict | None = None):
    """A server with robots.txt, an RSS feed listing /news/<name>-1, and that article."""
    from fake_sites import article_page, headline, paragraphs, rss_feed
    from httpserver import LocalServer, Reply, html

    server = LocalServer().start()
    path = f"/news/{name}-1"
    server.routes["/robots.txt"] = Reply(body="User-agent: *\nAllow: /\n", content_type="text/plain")
    server.routes["/feed.xml"] = Reply(
        body=rss_feed(server.base, [(path, headline(path))]), content_type="application/rss+xml"
    )
    if body is None:
        server.routes[path] = html(article_page("aprnews", server.base + path, body=paragraphs(path, count=4)))
    else:
        server.routes[path] = Reply(body=body, content_type="text/html", headers=headers or {})
    make.append(server)
    return server


def write_config(tmp: Path, name: str, sources: list[tuple[str, str]], total: float = 120) -> Path:
    lines = [
        f"archive: {tmp / (name + '.db')}",
        "user_agent: newswatch-bench",
        f"timeouts: {{connect: 10, read: 30, total: {total}}}",
        "sources:",
    ]
    lines += [f"  - {{name: {n}, url: '{u}', kind: feed, profile: aprnews, delay: 0}}" for n, u in sources]
    path = tmp / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def bench_bomb(root: Path, memory_limit: int) -> None:
    from hostile_server import stacked_gzip_bomb

    bomb = stacked_gzip_bomb(4 << 30, layers=2)
    servers: list = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        plain = feed_site(servers, "plain")
        bombed = feed_site(servers, "bomb", bomb, {"Content-Encoding": "gzip, gzip"})
        reference = run_child(root, write_config(tmp, "plain", [("plain", plain.url("/feed.xml"))]), memory_limit)
        result = run_child(root, write_config(tmp, "bomb", [("bomb", bombed.url("/feed.xml"))]), memory_limit)
    for s in servers:
        s.stop()
    print(f"bomb: {len(bomb):,} bytes on the wire, 4 GiB after two gzip layers (root {root})")
    print(
        f"  reference run (an ordinary page): peak RSS {reference.get('peak_rss_mb')} MB, {reference.get('seconds')} s"
    )
    print(f"  run under the bomb:               peak RSS {result.get('peak_rss_mb')} MB, {result.get('seconds')} s")
    if "peak_rss_mb" in result and "peak_rss_mb" in reference:
        print(f"  ratio: {result['peak_rss_mb'] / reference['peak_rss_mb']:.2f}")
    print("  summary: " + json.dumps(result.get("sources") or result, ensure_ascii=False)[:600])


def bench_trickle(root: Path, memory_limit: int) -> None:
    from hostile_server import HostileServer

    servers: list = []
    trickling = HostileServer().start()
    trickling.routes["/robots.txt"] = lambda conn, request: conn.sendall(
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    trickling.routes["/feed.xml"] = trickling.trickle(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: 10\r\n\r\n<rss/>    ", 5.0
    )
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        good = feed_site(servers, "good")
        reference = run_child(
            root, write_config(tmp, "alone", [("good", good.url("/feed.xml"))], total=10), memory_limit
        )
        result = run_child(
            root,
            write_config(
                tmp, "trickle", [("good", good.url("/feed.xml")), ("trickle", trickling.url("/feed.xml"))], total=10
            ),
            memory_limit,
        )
    trickling.stop()
    for s in servers:
        s.stop()
    print(f"trickle: status line 1 byte / 5 s, timeouts.total 10 (root {root})")
    print(f"  reference run (the good source alone): {reference.get('seconds')} s")
    print(f"  run with the trickling host:           {result.get('seconds')} s")
    print("  summary: " + json.dumps(result.get("sources") or result, ensure_ascii=False)[:800])


def bench_query(root: Path) -> None:
    sys.path.insert(0, str(root))
    from core.article import Article
    from storage.archive import Archive
    from storage.records import Incoming

    rng = random.Random(14)
    words = ["".join(rng.choice(string.ascii_lowercase) for _ in range(7)) for _ in range(10_000)]
    with tempfile.TemporaryDirectory() as tmp:
        with Archive.open(Path(tmp) / "q.db") as archive:
            archive.add_batch(
                [Incoming(Article("t", None, [" ".join(words) + "."], url="https://x.example/1"), "s")]
                + [
                    Incoming(
                        Article(f"t{i}", None, [" ".join(rng.sample(words, 300)) + "."], url=f"https://x.example/p{i}"),
                        "s",
                    )
                    for i in range(200)
                ]
            )
            cases = [
                ("10 words", " ".join(words[:10])),
                ("200 words", " ".join(words[:200])),
                ("NEAR of 8 words", "NEAR(" + " ".join(words[:8]) + ", 5)"),
                ("10,000 words", " ".join(words)),
                ("NEAR of 1,000 words", "NEAR(" + " ".join(words[:1000]) + ", 5)"),
                ("NEAR of 10,000 words", "NEAR(" + " ".join(words) + ", 5)"),
            ]
            print(f"query (root {root}): one archive of 201 articles, one holding all 10,000 words")
            for name, query in cases:
                start = time.perf_counter()
                try:
                    outcome = f"{len(archive.search(query))} hit(s)"
                except Exception as e:  # noqa: BLE001 - a refusal is an outcome here
                    outcome = textwrap.shorten(f"{type(e).__name__}: {e}", 110)
                print(f"  {name:>22}: {time.perf_counter() - start:8.3f} s  {outcome}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", nargs="*", default=["bomb", "trickle", "query"], choices=["bomb", "trickle", "query"])
    parser.add_argument("--root", type=Path, default=REPO, help="the checkout whose code runs (default: this one)")
    parser.add_argument("--memory-limit", type=int, default=12 << 30, help="RLIMIT_AS of each run (bytes)")
    args = parser.parse_args()
    for what in args.what:
        if what == "bomb":
            bench_bomb(args.root.resolve(), args.memory_limit)
        elif what == "trickle":
            bench_trickle(args.root.resolve(), args.memory_limit)
        else:
            bench_query(args.root.resolve())


if __name__ == "__main__":
    main()
