"""Ingestion end to end: new articles from local servers through the real `ingest` flow.

    .venv/bin/python bench/ingest.py [--articles 1000]     # small seed-modelled pages, 4 sources
    .venv/bin/python bench/ingest.py --articles 400 --prefect none --clean-processes 1   # the plain run
    .venv/bin/python bench/ingest.py --real --corpus DIR [--repeat 3]   # the varied corpus, one source

`--real`: the 487 pages of `extraction-corpus-trafilatura/` (real pages of every size, many
languages; read from `pages.tar.xz` at bench time, never copied; outside the repository, given
with --corpus DIR) served by one local server behind
a sitemap: one source, generic profile, delay 0. The run is `newswatch run`'s own
(`flows.orchestration.ingest_flow.run_ingest_flow`) against a `prefect server start` the bench starts on
a free port with a temporary PREFECT_HOME (`--prefect none`: `flows.pipeline.ingest.ingest_run`
without Prefect). The reference, in the same session on the same bytes: bare
`trafilatura.extract(page, url=url)` over every page, one after the other in this process.
Each repetition is a fresh archive; runs and references alternate, the best of each is
compared (the machine is shared).

Default mode:

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
import re
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
sys.path.insert(2, str(REPO / "bench"))  # extraction: the corpus loader


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
    return [
        f"{prefix}{source}-article-{i:04d}" + (f"-1180{i % 100:02d}" if source == "lexis" else "") for i in range(count)
    ]


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
    for (source, _t, _p, _k, _d, prefix), routes in zip(SOURCES, build_sites(per_source).values(), strict=True):
        server = servers[source] = LocalServer(routes).start()
        paths = article_paths(source, prefix, per_source)
        teasers = [(p, p.rsplit("/", 1)[1].replace("-", " ")) for p in paths]
        if source == "iom-fr":
            size = -(-len(paths) // LISTING_PAGES)
            for page in range(LISTING_PAGES):
                route = "/fr/news" + (f"?page={page}" if page else "")
                server.routes[route] = html(iom_listing_page(teasers[page * size : (page + 1) * size]))
        elif source == "apr":
            server.routes["/rss.xml"] = Reply(body=rss_feed(server.base, teasers), content_type="application/rss+xml")
        elif source == "lexis":
            server.routes["/feed.atom"] = Reply(
                body=atom_feed(server.base, teasers), content_type="application/atom+xml"
            )
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
    import flows.pipeline.clean_stage
    import flows.pipeline.stages
    import scrapers.fetch

    patches = [
        (flows.pipeline.stages, "discover", "discover"),
        (flows.pipeline.clean_stage, "clean_page", "clean_page"),
        (scrapers.fetch.Fetcher, "fetch", "fetch pages"),
        (flows.pipeline.stages, "store_batch", "dedup + store"),
    ]
    originals = [(owner, attr, getattr(owner, attr)) for owner, attr, _ in patches]
    for owner, attr, name in patches:
        setattr(owner, attr, times.wrap(name, getattr(owner, attr)))
    try:
        yield
    finally:
        for owner, attr, original in originals:
            setattr(owner, attr, original)


def write_config(directory: Path, bases: dict[str, str], clean_processes: int | None = None) -> Path:
    lines = [
        f"archive: {directory / 'archive.db'}",
        'user_agent: "newswatch-bench/0.1"',
        "max_parallel_hosts: 8",
        *([] if clean_processes is None else [f"clean_processes: {clean_processes}"]),
        "sources:",
    ]
    for source, _template, profile, kind, discovery, _prefix in SOURCES:
        lines += [
            f"  - name: {source}",
            f"    url: {bases[source]}{discovery}",
            f"    kind: {kind}",
            f"    profile: {profile}",
            "    delay: 0",
            f"    max_pages: {LISTING_PAGES}",
            "    max_new_per_run: 100000",
        ]  # every article in this one run
    path = directory / "newswatch.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def children_cpu() -> float:
    """CPU seconds of this process's cleaning processes: those reaped (the pool's workers, one
    killed), and the one kept for the next run, still running (`clean_process.park`)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds = usage.ru_utime + usage.ru_stime
    try:
        from flows.pipeline.clean_process import parked_pid
    except ImportError:  # a layout before it (a base commit measured for comparison)
        return seconds
    pid = parked_pid()
    if pid is not None:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            seconds += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
        except (OSError, IndexError, ValueError):  # gone meanwhile
            pass
    return seconds


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# ------------------------------------------------------------------ --real: the corpus ---


def corpus_pages(corpus: Path, count: int | None = None) -> list[tuple[str, bytes]]:
    """(URL path, bytes as saved) of the corpus pages (the first `count`), in file-name order."""
    from extraction import load_trafilatura_corpus

    return [
        ("/news/" + re.sub(r"[^A-Za-z0-9._-]+", "-", page.page_id), page.data)
        for page in load_trafilatura_corpus(corpus)
    ][:count]


def serve_corpus(corpus: Path, count: int | None) -> None:
    """Child process: the corpus pages behind /sitemap.xml on one server; prints its base URL."""
    from fake_sites import sitemap
    from httpserver import LocalServer, Reply

    pages = corpus_pages(corpus, count)
    # No charset: the pages declare theirs (or not), as saved.
    server = LocalServer({path: Reply(body=data, content_type="text/html") for path, data in pages}).start()
    server.routes["/sitemap.xml"] = Reply(
        body=sitemap(server.base, [path for path, _ in pages]), content_type="application/xml"
    )
    print(json.dumps({"base": server.base}), flush=True)
    sys.stdin.read()
    server.stop()


def start_prefect_server(home: Path):
    """`prefect server start` on a free port, its own PREFECT_HOME; the server, once healthy."""
    from core.ports import free_port
    from errors import ServeError
    from flows.orchestration.server import LocalPrefectServer

    server = LocalPrefectServer.start(free_port(), home / "server.log", home=home)
    try:
        server.wait_healthy()
    except ServeError as e:
        server.stop()
        raise SystemExit(str(e)) from None
    return server


def real_config(directory: Path, base: str, name: str, clean_processes: int | None = None) -> Path:
    path = directory / f"{name}.yaml"
    processes = "" if clean_processes is None else f"clean_processes: {clean_processes}\n"
    path.write_text(
        f'archive: {directory / name}.db\nuser_agent: "newswatch-bench/0.1"\n{processes}sources:\n'
        f"  - name: corpus\n    url: {base}/sitemap.xml\n    kind: sitemap\n    delay: 0\n"
        "    max_new_per_run: 100000\n"
    )  # every page in this one run
    return path


def real_pages(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="newswatch-bench-ingest-real-"))
    os.environ.update(
        DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_HOME=str(work / "prefect-home")
    )
    os.environ.pop("PREFECT_API_URL", None)
    pages = corpus_pages(args.corpus, args.pages)
    size = sum(len(data) for _, data in pages)
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve-corpus", str(args.corpus)]
        + (["--pages", str(args.pages)] if args.pages else []),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    prefect_server = None
    try:
        base = json.loads(child.stdout.readline())["base"]
        server_start = 0.0
        if args.prefect == "server":
            started = time.perf_counter()
            prefect_server = start_prefect_server(work / "prefect-home")
            os.environ["PREFECT_API_URL"] = prefect_server.api_url
            server_start = time.perf_counter() - started
        import trafilatura

        from flows.config.loader import load_config
        from flows.orchestration.ingest_flow import run_ingest_flow
        from flows.pipeline.ingest import ingest_run

        def one_run(n: int) -> tuple[float, float, float, dict, StageTimes]:
            config = real_config(work, base, f"run-{n}", args.clean_processes)
            times = StageTimes()
            with instrumented(times):
                wall, cpu, workers = time.perf_counter(), time.process_time(), children_cpu()
                if args.prefect == "server":
                    summary, _ = run_ingest_flow("run", str(config))
                else:
                    summary = ingest_run(load_config(config)).to_dict()
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                workers = children_cpu() - workers
            return wall, cpu, workers, summary, times

        def reference() -> tuple[float, float]:
            started, cpu = time.perf_counter(), time.process_time()
            for path, data in pages:
                trafilatura.extract(data, url=base + path)
            return time.perf_counter() - started, time.process_time() - cpu

        # Warm-up, outside the clock: imports, the first flow run's client set-up, and one
        # page each way.
        trafilatura.extract(pages[0][1], url=base + pages[0][0])
        warm = one_run(0)
        runs, references = [], []
        for n in range(1, args.repeat + 1):
            references.append(reference())
            runs.append(one_run(n))
    finally:
        child.stdin.close()
        child.wait(timeout=30)
        if prefect_server is not None:
            from prefect.logging.handlers import APILogWorker

            APILogWorker.drain_all(timeout=10)  # the run's last log lines, before the server goes
            prefect_server.stop()

    wall, cpu, workers, summary, times = min(runs, key=lambda r: r[0])
    traf, traf_cpu = min(references)
    source = (summary or {"sources": [{}]})["sources"][0]
    mode = (
        "newswatch run (run_ingest_flow) against prefect server start"
        if args.prefect == "server"
        else "flows.pipeline.ingest.ingest_run, no Prefect"
    )
    print(
        f"ingest of the real-page corpus: {len(pages)} pages ({size / 2**20:.0f} MB), one local source "
        f"behind a sitemap, delay 0; {mode}"
    )
    if args.prefect == "server":
        print(f"  Prefect server start (before the clock): {server_start:.1f} s")
    print(f"  warm-up run: {warm[0]:.2f} s")
    print(
        f"  one run: {', '.join(f'{r[0]:.2f}' for r in runs)} s wall -> best {wall:.2f} s "
        f"(CPU: {cpu:.2f} s in this process, {workers:.2f} s in cleaning workers)"
    )
    print(
        f"  bare trafilatura.extract, same pages, one process: {', '.join(f'{t[0]:.2f}' for t in references)} s "
        f"-> best {traf:.2f} s ({len(pages) / traf:.1f} pages/s; {traf_cpu:.2f} s CPU)"
    )
    print(f"  ratio run / trafilatura: {wall / traf:.2f} (goal <= 1.25)")
    print(
        f"  the run: discovered {source.get('discovered')}, fetched {source.get('fetched')}, "
        f"new {source.get('new')}, duplicates {source.get('duplicates')}, "
        f"not articles {source.get('not_articles')}, errors {len(source.get('errors') or [])}"
        + (f", FAILED: {source['failed']}" if source.get("failed") else "")
    )
    print(
        "  time summed per stage, in this process (wall / thread CPU; clean_page: the pages cleaned in this "
        "process, with --clean-processes 0 only):"
    )
    for name in ("discover", "fetch pages", "clean_page", "dedup + store"):
        print(f"    {name:<14} {times.wall[name]:6.2f} s / {times.cpu[name]:6.2f} s")
    print(
        f"  peak memory (max RSS of this process): {max_rss_mb():.0f} MB; load average at the end: "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    return 0 if summary and source.get("fetched") == len(pages) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=1000, help="new articles in all (split over 4 sources)")
    parser.add_argument(
        "--real", action="store_true", help="the varied real-page corpus behind a sitemap, against bare trafilatura"
    )
    parser.add_argument(
        "--corpus",
        type=Path,
        metavar="DIR",
        help="--real: the extraction-corpus-trafilatura directory (not in the repository)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="--real: runs and references, alternating")
    parser.add_argument(
        "--prefect",
        choices=("server", "none"),
        default="server",
        help="--real: against a `prefect server start` (default; else the temporary server), or the plain run",
    )
    parser.add_argument("--pages", type=int, help="--real: only the first N pages (in file-name order)")
    parser.add_argument(
        "--clean-processes",
        type=int,
        help="the config's clean_processes (default: one per CPU; 1: one process; 0: this process's thread)",
    )
    parser.add_argument(
        "--pool-min-seconds",
        type=float,
        help="the cleaning work that starts the worker processes (flows.pipeline.cleaner)",
    )
    parser.add_argument("--serve", type=int, metavar="PER_SOURCE", help=argparse.SUPPRESS)
    parser.add_argument("--serve-corpus", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    if args.serve_corpus:
        serve_corpus(args.serve_corpus, args.pages)
        return 0
    if args.pool_min_seconds is not None:
        import flows.pipeline.cleaner

        flows.pipeline.cleaner.POOL_MIN_SECONDS = args.pool_min_seconds
    if args.real:
        if args.corpus is None or not args.corpus.is_dir():
            parser.error("--real needs the extraction-corpus-trafilatura directory: --corpus DIR")
        return real_pages(args)
    return small_pages(args)


def small_pages(args: argparse.Namespace) -> int:
    per_source = args.articles // len(SOURCES)
    total = per_source * len(SOURCES)
    work = Path(tempfile.mkdtemp(prefix="newswatch-bench-ingest-"))
    os.environ.pop("PREFECT_API_URL", None)
    os.environ.update(
        PREFECT_HOME=str(work / "prefect-home"), DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false"
    )
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(per_source)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        bases = json.loads(child.stdout.readline())
        config = write_config(work, bases, args.clean_processes)
        server_start = 0.0
        if args.prefect == "server":
            from flows.orchestration.server import prepare_prefect_environment

            prepare_prefect_environment()
            from prefect import flow

            from flows.orchestration.ingest_flow import ingest, summary_of

            @flow(name="bench-warm-up")
            def warm_up() -> None:
                """Starts the temporary Prefect server, so its start-up is not in the figures."""

            started = time.perf_counter()
            warm_up()
            server_start = time.perf_counter() - started
        rss_before = max_rss_mb()

        times = StageTimes()
        with instrumented(times):
            wall, cpu, workers = time.perf_counter(), time.process_time(), children_cpu()
            if args.prefect == "server":
                summary = summary_of(ingest(config_path=str(config), return_state=True))
            else:  # the plain run: what the cleaner costs, without Prefect's noise
                from flows.config.loader import load_config
                from flows.pipeline.ingest import ingest_run

                summary = ingest_run(load_config(config)).to_dict()
            assert summary is not None, "the run could not complete"
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            workers = children_cpu() - workers
        rss_peak = max_rss_mb()
        new = sum(s["new"] for s in summary["sources"])
        problems = [
            (s["source"], s["failed"] or s["errors"][:3])
            for s in summary["sources"]
            if s["failed"] or s["errors"] or s["duplicates"]
        ]

        # Reference: extraction alone over the same pages, sequentially, same arguments.
        from scrapers.clean import clean_page

        pages = [
            (f"{bases[source]}{path}", reply.data, profile)
            for (source, _t, profile, *_), routes in zip(SOURCES, build_sites(per_source).values(), strict=True)
            for path, reply in routes.items()
        ]
        extraction = time.perf_counter()
        for url, data, profile in pages:
            clean_page(data, url=url, content_type="text/html; charset=utf-8", profile=profile)
        extraction = time.perf_counter() - extraction
    finally:
        child.stdin.close()
        child.wait(timeout=30)

    other = wall - extraction
    print(f"ingest flow, {total} new articles from {len(SOURCES)} local sources (one host each, no delay)")
    if args.prefect == "server":
        print(f"  temporary Prefect server start (before the clock): {server_start:.1f} s")
    print(
        f"  {'flow' if args.prefect == 'server' else 'plain'} run: {wall:.2f} s wall, {cpu:.2f} s CPU in this "
        f"process, {workers:.2f} s in cleaning processes -> {total / wall:.1f} articles/s"
    )
    print(f"  archived new: {new} of {total}" + (f"; problems: {problems}" if problems else ""))
    print(
        f"  extraction alone (clean_page x {len(pages)}, sequential): {extraction:.2f} s "
        f"({len(pages) / extraction:.1f} pages/s)"
    )
    print(
        f"  everything else (flow wall - extraction): {other:.2f} s = {other / extraction:.2f} x extraction; "
        f"extraction share of the flow's wall time: {extraction / wall:.0%}"
    )
    print("  time summed per stage over the 4 parallel sources (wall / thread CPU):")
    for name in ("discover", "fetch pages", "clean_page", "dedup + store"):
        print(f"    {name:<14} {times.wall[name]:6.2f} s / {times.cpu[name]:6.2f} s")
    print(f"  peak memory (max RSS of this process): {rss_peak:.0f} MB (before the flow: {rss_before:.0f} MB)")
    print(f"  goal (everything else < extraction): {'met' if other < extraction else 'NOT met'}")
    return 0 if new == total else 1


if __name__ == "__main__":
    sys.exit(main())
