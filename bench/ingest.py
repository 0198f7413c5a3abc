"""Ingestion end to end: N new articles from local servers through the real `ingest` flow.

    .venv/bin/python bench/ingest.py [--articles 1000]

Four sources, one local server (host) each, no politeness delay: an IOM-like listing
(5 pages of teasers), an RSS feed, an Atom feed and a sitemap, N/4 articles each. The
articles are the seed-modelled fixture pages of `tests/fixtures/html/` with distinct
generated text (`tests/fake_sites.py`), so none is folded as a near-duplicate.
The servers run in a child process so their work does not share this process's GIL.

The flow runs against Prefect's temporary local server, started before the clock (its
start-up is reported apart). Reported:
- articles/s over the flow run (discover, fetch, clean, dedup, store, orchestration);
- extraction: `clean_page` alone over the same N pages, sequentially, in this process (the
  reference), and `clean_page`'s CPU time inside the flow; "everything else" is the flow's
  wall time minus the reference extraction time. Goal of issue 4: everything else < extraction;
- time summed per stage over the four sources (they run in parallel, so the sum can exceed
  the wall time);
- peak memory: this process's max RSS (`resource.getrusage`), the flow and its results.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(1, str(REPO / "tests"))  # fake_sites, httpserver

# (source name, fake_sites template, site profile, kind, discovery path, article path prefix)
SOURCES = [
    ("iom-fr", "iom-fr", "iom", "listing", "/fr/news", "/fr/news/"),
    ("apr", "aprnews", "aprnews", "feed", "/rss.xml", "/actualites/"),
    ("lexis", "lexisveille", "lexisveille", "feed", "/feed.atom", "/"),
    ("iom-en", "iom-en", "iom", "sitemap", "/sitemap.xml", "/news/"),
]
LISTING_PAGES = 5


def article_paths(source: str, prefix: str, count: int) -> list[str]:
    # lexisveille's article paths end in -<number>; the others take any slug.
    return [f"{prefix}{source}-article-{i:04d}" + ("-1180%02d" % (i % 100) if source == "lexis" else "")
            for i in range(count)]


def build_sites(per_source: int) -> dict[str, dict]:
    """source name -> {path: Reply}, base-URL-independent except the feeds (done in serve)."""
    from fake_sites import article_page
    from httpserver import html

    sites: dict[str, dict] = {}
    for source, template, _profile, _kind, _discovery, prefix in SOURCES:
        sites[source] = {p: html(article_page(template, p)) for p in article_paths(source, prefix, per_source)}
    return sites


# ----------------------------------------------------------------------- server process ---


def serve(per_source: int) -> None:
    """Child process: start one server per source, print their base URLs, serve until stdin closes."""
    from fake_sites import atom_feed, iom_listing_page, rss_feed, sitemap
    from httpserver import LocalServer, Reply, html

    servers = {}
    for (source, _t, _p, _k, _d, prefix), routes in zip(SOURCES, build_sites(per_source).values()):
        server = servers[source] = LocalServer(routes).start()
        paths = article_paths(source, prefix, per_source)
        teasers = [(p, p.rsplit("/", 1)[1].replace("-", " ")) for p in paths]
        if source == "iom-fr":
            size = -(-len(paths) // LISTING_PAGES)
            for page in range(LISTING_PAGES):
                route = "/fr/news" + (f"?page={page}" if page else "")
                server.routes[route] = html(iom_listing_page(teasers[page * size:(page + 1) * size]))
        elif source == "apr":
            server.routes["/rss.xml"] = Reply(body=rss_feed(server.base, teasers),
                                              content_type="application/rss+xml")
        elif source == "lexis":
            server.routes["/feed.atom"] = Reply(body=atom_feed(server.base, teasers),
                                                content_type="application/atom+xml")
        else:
            server.routes["/sitemap.xml"] = Reply(body=sitemap(server.base, paths), content_type="application/xml")
    print(json.dumps({name: s.base for name, s in servers.items()}), flush=True)
    sys.stdin.read()
    for s in servers.values():
        s.stop()


# ----------------------------------------------------------------------- measuring ---


class StageTimes:
    """Wall and thread-CPU seconds summed per wrapped function, across threads."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()

    def wrap(self, name: str, fn):
        def timed(*args, **kwargs):
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                with self._lock:
                    self.wall[name] += time.perf_counter() - wall
                    self.cpu[name] += time.thread_time() - cpu
        return timed


@contextmanager
def instrumented(times: StageTimes):
    """Time the stage functions the flow's tasks call (the tasks themselves stay as they are)."""
    import flows.pipeline
    import scrapers.fetch

    patches = [(flows.pipeline, "discover", "discover"), (flows.pipeline, "clean_page", "clean_page"),
               (scrapers.fetch.Fetcher, "fetch_many", "fetch pages"),
               (flows.pipeline, "store_batch", "dedup + store")]
    originals = [(owner, attr, getattr(owner, attr)) for owner, attr, _ in patches]
    for owner, attr, name in patches:
        setattr(owner, attr, times.wrap(name, getattr(owner, attr)))
    try:
        yield
    finally:
        for owner, attr, original in originals:
            setattr(owner, attr, original)


def write_config(directory: Path, bases: dict[str, str]) -> Path:
    lines = [f"archive: {directory / 'archive.db'}", 'user_agent: "newswatch-bench/0.1"',
             "max_parallel_hosts: 8", "sources:"]
    for source, _template, profile, kind, discovery, _prefix in SOURCES:
        lines += [f"  - name: {source}", f"    url: {bases[source]}{discovery}", f"    kind: {kind}",
                  f"    profile: {profile}", "    delay: 0", f"    max_pages: {LISTING_PAGES}",
                  "    max_new_per_run: 100000"]  # every article in this one run
    path = directory / "newswatch.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=1000, help="new articles in all (split over 4 sources)")
    parser.add_argument("--serve", type=int, metavar="PER_SOURCE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0

    per_source = args.articles // len(SOURCES)
    total = per_source * len(SOURCES)
    work = Path(tempfile.mkdtemp(prefix="newswatch-bench-ingest-"))
    os.environ.pop("PREFECT_API_URL", None)
    os.environ.update(PREFECT_HOME=str(work / "prefect-home"), DO_NOT_TRACK="1",
                      PREFECT_SERVER_ANALYTICS_ENABLED="false")
    child = subprocess.Popen([sys.executable, __file__, "--serve", str(per_source)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        bases = json.loads(child.stdout.readline())
        config = write_config(work, bases)

        from flows.commands.run import prepare_prefect_environment
        prepare_prefect_environment()
        from prefect import flow

        from flows.ingest import ingest

        @flow(name="bench-warm-up")
        def warm_up() -> None:
            """Starts the temporary Prefect server, so its start-up is not in the figures."""

        started = time.perf_counter()
        warm_up()
        server_start = time.perf_counter() - started
        rss_before = max_rss_mb()

        times = StageTimes()
        with instrumented(times):
            wall, cpu = time.perf_counter(), time.process_time()
            summary = ingest(config_path=str(config))
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        rss_peak = max_rss_mb()
        new = sum(s["new"] for s in summary["sources"])
        problems = [(s["source"], s["failed"] or s["errors"][:3]) for s in summary["sources"]
                    if s["failed"] or s["errors"] or s["duplicates"]]

        # Reference: extraction alone over the same pages, sequentially, same arguments.
        from scrapers.clean import clean_page

        pages = [(f"{bases[source]}{path}", reply.data, profile)
                 for (source, _t, profile, *_), routes in zip(SOURCES, build_sites(per_source).values())
                 for path, reply in routes.items()]
        extraction = time.perf_counter()
        for url, data, profile in pages:
            clean_page(data, url=url, content_type="text/html; charset=utf-8", profile=profile)
        extraction = time.perf_counter() - extraction
    finally:
        child.stdin.close()
        child.wait(timeout=30)

    other = wall - extraction
    print(f"ingest flow, {total} new articles from {len(SOURCES)} local sources (one host each, no delay)")
    print(f"  temporary Prefect server start (before the clock): {server_start:.1f} s")
    print(f"  flow run: {wall:.2f} s wall, {cpu:.2f} s CPU in this process -> {total / wall:.1f} articles/s")
    print(f"  archived new: {new} of {total}" + (f"; problems: {problems}" if problems else ""))
    print(f"  extraction alone (clean_page x {len(pages)}, sequential): {extraction:.2f} s "
          f"({len(pages) / extraction:.1f} pages/s)")
    print(f"  everything else (flow wall - extraction): {other:.2f} s = {other / extraction:.2f} x extraction; "
          f"extraction share of the flow's wall time: {extraction / wall:.0%}")
    print("  time summed per stage over the 4 parallel sources (wall / thread CPU):")
    for name in ("discover", "fetch pages", "clean_page", "dedup + store"):
        print(f"    {name:<14} {times.wall[name]:6.2f} s / {times.cpu[name]:6.2f} s")
    print(f"  peak memory (max RSS of this process): {rss_peak:.0f} MB (before the flow: {rss_before:.0f} MB)")
    print(f"  goal (everything else < extraction): {'met' if other < extraction else 'NOT met'}")
    return 0 if new == total else 1


if __name__ == "__main__":
    sys.exit(main())
