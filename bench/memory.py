"""Peak memory of a run whose discovery document is huge: a sitemap, a feed or a listing page
of about 48 MB (under the 50 MB `max_document_bytes`), served from a local server.

    .venv/bin/python bench/memory.py sitemap|feed|listing [--mb 48] [--all-sources 4]

The run is `flows.pipeline.ingest.ingest_run` (no Prefect) in a child process, one source
(`--all-sources N`: N sources, each its own huge document of the case, as four such sitemaps
in one run), `max_new_per_run: 20`; every article page is the same small page. Printed: the
child's peak RSS (wait4), its wall time, and what the source's summary line says (discovered,
new, waiting, notes).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(1, str(REPO / "tests"))


def huge_document(case: str, base: str, size: int, salt: int = 0) -> bytes:
    """About `size` bytes of a sitemap, RSS feed or listing page of distinct article links,
    newest first (the dates count down)."""
    parts: list[bytes] = []
    total = 0
    i = 0
    while total < size:
        day = f"20{24 - (i // 200_000) % 20:02d}-{12 - (i // 20_000) % 12:02d}-{28 - (i // 1000) % 28:02d}"
        path = f"/news/{salt}/article-{i:07d}"
        if case == "sitemap":
            item = f"<url><loc>{base}{path}</loc><lastmod>{day}</lastmod></url>\n"
        elif case == "feed":
            item = (
                f"<item><title>Article number {i} of the huge feed</title><link>{base}{path}</link>"
                f"<pubDate>Mon, 02 Mar 2026 08:{i % 60:02d}:00 GMT</pubDate></item>\n"
            )
        else:
            item = f'<li class="teaser"><a href="{path}">Article number {i} of the huge listing page</a></li>\n'
        data = item.encode()
        parts.append(data)
        total += len(data)
        i += 1
    if case == "sitemap":
        head, tail = (
            b'<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n',
            b"</urlset>\n",
        )
    elif case == "feed":
        head = (
            '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>Huge</title><link>{base}/</link>\n"
        ).encode()
        tail = b"</channel></rss>\n"
    else:
        head, tail = (
            b"<!doctype html><html><head><title>News</title></head><body><main><ul>\n",
            b"</ul></main></body></html>\n",
        )
    return head + b"".join(parts) + tail


CHILD = """
import json, resource, sys, time
sys.path.insert(0, {repo!r})
from flows.config.loader import load_config
from flows.pipeline.ingest import ingest_run
started = time.perf_counter()
summary = ingest_run(load_config({config!r}))
print(json.dumps({{"wall": time.perf_counter() - started, "sources": [
    {{"source": r.source, "discovered": r.discovered, "new": r.new, "waiting": r.waiting,
      "failed": r.failed, "notes": r.notes[:3], "errors": r.errors[:3]}} for r in summary.sources]}}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("case", choices=("sitemap", "feed", "listing"))
    parser.add_argument("--mb", type=float, default=48.0, help="size of each document in MB (default 48)")
    parser.add_argument("--all-sources", type=int, default=1, help="sources, each with its own huge document")
    args = parser.parse_args()

    from fake_sites import article_page
    from httpserver import LocalServer, Reply

    page = Reply(body=article_page("aprnews", "/news/the-page").encode(), content_type="text/html")
    server = LocalServer(fallback=page).start()
    kind = {"sitemap": "application/xml", "feed": "application/rss+xml", "listing": "text/html"}[args.case]
    for n in range(args.all_sources):
        body = huge_document(args.case, server.base, int(args.mb * 1_000_000), salt=n)
        server.routes[f"/doc-{n}"] = Reply(body=body, content_type=kind)
    work = Path(tempfile.mkdtemp(prefix="newswatch-bench-memory-"))
    config = work / "newswatch.yaml"
    lines = [f"archive: {work / 'archive.db'}", "user_agent: newswatch-bench/0.1", "sources:"]
    lines += [
        f"  - {{name: s{n}, url: '{server.url(f'/doc-{n}')}', kind: {args.case}, delay: 0, max_new_per_run: 20}}"
        for n in range(args.all_sources)
    ]
    config.write_text("\n".join(lines) + "\n")
    code = CHILD.format(repo=str(REPO), config=str(config))
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    server.stop()
    result = json.loads(out) if out.strip() else {}
    exit_code = os.waitstatus_to_exitcode(status)
    print(
        f"{args.case}: {args.all_sources} source(s) of {args.mb:.0f} MB each: exit {exit_code}, "
        f"peak RSS {usage.ru_maxrss / 1024:.0f} MB, {wall:.1f} s (run {result.get('wall', 0):.1f} s)"
    )
    for source in result.get("sources", []):
        print("  ", json.dumps(source)[:600])
    return 0


if __name__ == "__main__":
    sys.exit(main())
