"""Throughput and scale as the user runs it: `newswatch run` as a process against a running
Prefect server, against bare `trafilatura.extract(fast=True)` on the same pages in one process.

    .venv/bin/python bench/run_command.py sitemap --corpus /work/shared/extraction-corpus-trafilatura
    .venv/bin/python bench/run_command.py sources --corpus /work/shared/extraction-corpus-trafilatura [--sources 1000]
    .venv/bin/python bench/run_command.py sources --corpus ... --dask-workers 2   # local, then on Dask

Cases:
  sitemap   the 487 real pages of `extraction-corpus-trafilatura/` behind one local sitemap:
            one source, generic profile, delay 0;
  sources   N sources (default 1,000), each an RSS feed of one real page on its own loopback
            address (127.0.x.y, one port): the corpus pages in turn (a page served twice is
            folded as a duplicate the second time, as a republication would be).
The servers run in a child process. The Prefect server is a `prefect server start` on a free
port with its own PREFECT_HOME, started before the clock, with one warm-up run of four
pages (the flow's registration; on Dask, the workers' imports); each measured run is a
fresh archive. Runs and references alternate (`--repeat`); each run's figures are printed, the best of each compared.

Per run: exit status, wall time of the command (start-up and imports included), peak RSS of
the `newswatch run` process (its own, from wait4) and of its process tree (the cleaning
workers included, sampled every 0.1 s), the flow run's final state read back from the Prefect
API, the counts of the summary (`run --json`). `--profile` writes the run's cProfile (the
command under `python -m cProfile`) and prints the top functions by cumulative time.

`--dask-workers N`: a `dask scheduler` and N `dask worker` processes (`--dask-threads` each)
on 127.0.0.1 are started before the clock (tests/dask_cluster.py), and each repetition runs
the same sources twice, locally then with `execution: {dask: ADDRESS}`, each on a fresh archive.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(1, str(REPO / "tests"))  # loopback_web, httpserver, fake_sites
sys.path.insert(2, str(REPO / "bench"))  # extraction: the corpus loader
NEWSWATCH = REPO / ".venv" / "bin" / "newswatch"


def corpus_pages(corpus: Path) -> list[tuple[str, bytes]]:
    """(a path for the page, its bytes as saved), in file-name order."""
    from extraction import load_trafilatura_corpus

    return [("/news/" + re.sub(r"[^A-Za-z0-9._-]+", "-", p.page_id), p.data) for p in load_trafilatura_corpus(corpus)]


# ------------------------------------------------------------------------ child: servers ---


def serve_sitemap(corpus: Path) -> None:
    from fake_sites import sitemap
    from httpserver import LocalServer, Reply

    pages = corpus_pages(corpus)
    server = LocalServer({path: Reply(body=data, content_type="text/html") for path, data in pages}).start()
    server.routes["/sitemap.xml"] = Reply(
        body=sitemap(server.base, [path for path, _ in pages]), content_type="application/xml"
    )
    # The warm-up run's: four pages, not the whole corpus.
    server.routes["/warm-up.xml"] = Reply(
        body=sitemap(server.base, [path for path, _ in pages[:4]]), content_type="application/xml"
    )
    print(json.dumps({"urls": [f"{server.base}/sitemap.xml"], "warm": [f"{server.base}/warm-up.xml"]}), flush=True)
    sys.stdin.read()
    server.stop()


def serve_sources(corpus: Path, count: int) -> None:
    from loopback_web import LoopbackWeb, fill_origins, one_page_feeds

    pages = corpus_pages(corpus)
    sites, addresses = one_page_feeds(count, lambda i: pages[i % len(pages)][1])
    web = LoopbackWeb(sites).start()
    fill_origins(web)
    print(json.dumps({"urls": [web.url(a, "/feed.xml") for a in addresses]}), flush=True)
    sys.stdin.read()
    web.stop()


# ------------------------------------------------------------------------------ measuring ---


class TreeRss(threading.Thread):
    """The largest summed RSS of a process and its descendants, sampled every 0.1 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self._done = pid, 0, threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.1):
            self.peak = max(self.peak, _tree_rss(self.pid))

    def stop(self) -> int:
        self._done.set()
        self.join()
        return self.peak


def _tree_rss(root: int) -> int:
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


def write_config(directory: Path, name: str, urls: list[str], kind: str, extra: str = "") -> Path:
    lines = [f"archive: {directory / name}.db", 'user_agent: "newswatch-bench/0.1"', extra, "sources:"]
    for i, url in enumerate(urls):
        lines += [
            f"  - name: s{i:04d}",
            f"    url: {url}",
            f"    kind: {kind}",
            "    delay: 0",
            "    max_new_per_run: 100000",
        ]
    path = directory / f"{name}.yaml"
    path.write_text("\n".join(line for line in lines if line) + "\n")
    return path


def flow_run_state(api: str, flow_run_id: str | None) -> str:
    import httpx

    if flow_run_id:
        data = httpx.get(f"{api}/flow_runs/{flow_run_id}", timeout=30).json()
    else:
        found = httpx.post(f"{api}/flow_runs/filter", json={"sort": "START_TIME_DESC", "limit": 1}, timeout=30).json()
        data = found[0] if found else {}
    state = data.get("state") or {}
    return f"{state.get('type')} ({state.get('name')}), {len(data.get('tags') or [])} tag(s)"


def one_run(config: Path, api: str, profile: Path | None = None, cluster: list[int] = ()) -> dict:
    env = {**os.environ, "PREFECT_API_URL": api}
    command = [str(NEWSWATCH), "run", "--config", str(config), "--json"]
    if profile is not None and profile.suffix == ".spy":  # py-spy: every thread, the cleaning workers too
        spy = [str(REPO / ".venv" / "bin" / "py-spy"), "record", "--subprocesses", "--gil", "--rate", "50"]
        command = [*spy, "--format", "raw", "--output", str(profile), "--", *command]
    elif profile is not None:
        command = [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "flows.cli", *command[1:]]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    sampler = TreeRss(process.pid)
    sampler.start()
    workers = [TreeRss(pid) for pid in cluster]  # the Dask processes (their peak during the run)
    for w in workers:
        w.start()
    out: list[str] = []
    err: list[str] = []
    stamps: list[tuple[float, str]] = []
    readers = [
        threading.Thread(target=lambda: out.append(process.stdout.read()), daemon=True),
        threading.Thread(target=lambda: err.extend(_stamped(process.stderr, started, stamps)), daemon=True),
    ]
    for reader in readers:
        reader.start()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join()
    tree = sampler.stop()
    cluster_rss = sum(w.stop() for w in workers)
    stdout, stderr = "".join(out), "".join(err)
    try:
        summary = json.loads(stdout)
    except json.JSONDecodeError:
        summary = None
    ui = re.search(r"flow-run/([0-9a-f-]{36})", json.dumps(summary.get("ui_url")) if summary else stdout)
    sources = (summary or {}).get("sources") or []
    return {
        "exit": process.returncode,
        "wall": wall,
        "rss": usage.ru_maxrss * 1024,
        "tree_rss": tree,
        "cluster_rss": cluster_rss,
        "state": flow_run_state(api, ui.group(1) if ui else None),
        "sources": len(sources),
        "new": sum(s["new"] for s in sources),
        "duplicates": sum(sum(s["duplicates"].values()) for s in sources),
        "not_articles": sum(s["not_articles"] for s in sources),
        "failed": sum(1 for s in sources if s.get("failed")),
        "errors": sum(len(s["errors"]) for s in sources),
        "attention": (summary or {}).get("attention", [])[:5],
        "stderr_lines": stderr.count("\n"),
        "tracebacks": stderr.count("Traceback"),
        "stderr_tail": stderr[-2000:] if summary is None else "",
        "timeline": [(t, line) for t, line in stamps if any(m in line for m in TIMELINE_MARKS)] + [(wall, "(exit)")],
    }


# The lines of a run's stderr that mark its phases (Prefect's own log lines).
TIMELINE_MARKS = ("Created flow run", "Beginning flow run", "newswatch run", "Finished in state", "View at")


def _stamped(stream, started: float, stamps: list) -> list[str]:
    """The stream's lines, each noted with the seconds since `started` it arrived at."""
    lines = []
    for line in stream:
        stamps.append((time.perf_counter() - started, line.rstrip()[:120]))
        lines.append(line)
    return lines


def print_spy(path: Path, top: int = 40) -> None:
    """py-spy's raw samples (one line per stack: frames separated by `;`, then a count) as the
    share of samples in which each newswatch function, and each library, is on the stack, by
    library (samples of the thread holding the GIL: where the Python CPU time goes)."""
    from collections import Counter

    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        seen = set()
        for frame in frames:
            name, _, where = frame.partition(" (")
            where = where.rstrip(")").split(":")[0]
            head = where.split("/", 1)[0]
            if "/" not in where and not where.endswith(".py"):
                continue  # the process line
            if head in ("flows", "scrapers", "storage", "alerts", "core"):
                key = f"{name} ({where})"
            elif "/" in where:
                key = f"lib {head}"
            else:
                key = f"stdlib {where}"
            if key not in seen:
                seen.add(key)
                inclusive[key] += n
    print(f"py-spy: {total} CPU samples (all threads and processes); on the stack in:")
    for key, n in inclusive.most_common(top):
        print(f"  {100 * n / total:5.1f}%  {key}")


def reference(pages: list[tuple[str, bytes]]) -> float:
    import trafilatura

    started = time.perf_counter()
    for url, data in pages:
        trafilatura.extract(data, url=url, fast=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("case", choices=("sitemap", "sources"))
    parser.add_argument("--corpus", type=Path, required=True, help="the extraction-corpus-trafilatura directory")
    parser.add_argument("--sources", type=int, default=1000, help="sources: how many (default 1,000)")
    parser.add_argument("--repeat", type=int, default=1, help="runs and references, alternating")
    parser.add_argument("--profile", type=Path, metavar="FILE", help="cProfile the (last) run into FILE")
    parser.add_argument("--dask-workers", type=int, default=0, help="also run on a local Dask cluster of N workers")
    parser.add_argument("--dask-threads", type=int, default=2, help="threads per Dask worker (default 2)")
    parser.add_argument("--timeline", action="store_true", help="print when each run's phases began (stderr)")
    parser.add_argument(
        "--also",
        metavar="LINE",
        action="append",
        default=[],
        help="also run with this config line (e.g. 'max_parallel_hosts: 32'), alternating with the default",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_sitemap(args.corpus) if args.case == "sitemap" else serve_sources(args.corpus, args.sources)
        return 0

    work = Path(tempfile.mkdtemp(prefix=f"newswatch-bench-{args.case}-"))
    home = work / "prefect-home"
    os.environ.update(DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_HOME=str(home))
    os.environ.pop("PREFECT_API_URL", None)
    serve = [
        sys.executable,
        __file__,
        args.case,
        "--serve",
        "--corpus",
        str(args.corpus),
        "--sources",
        str(args.sources),
    ]
    child = subprocess.Popen(serve, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    prefect_server = cluster = None
    try:
        served_urls = json.loads(child.stdout.readline())
        urls = served_urls["urls"]
        warm_urls = served_urls.get("warm") or urls[:4]
        kind = "sitemap" if args.case == "sitemap" else "feed"
        from ingest import start_prefect_server

        prefect_server = start_prefect_server(home)
        api = prefect_server.api_url
        modes = {"local": ""}
        for line in args.also:
            modes[f"local, {line}"] = line
        if args.dask_workers:
            from dask_cluster import Cluster

            cluster = Cluster(
                work, {**os.environ, "PREFECT_API_URL": api}, workers=args.dask_workers, threads=args.dask_threads
            ).start()
            modes["dask"] = f'execution: {{dask: "{cluster.address}"}}'
            print(f"dask: scheduler {cluster.address}, {args.dask_workers} worker(s) of {args.dask_threads} thread(s)")
        for mode, setting in modes.items():  # the flow's registration; the workers' imports
            warm = one_run(write_config(work, f"warm-up-{mode}", warm_urls, kind, setting), api)
            print(f"warm-up run ({mode}, four pages): exit {warm['exit']}, {warm['wall']:.1f} s")
        pages = corpus_pages(args.corpus)
        if args.case == "sitemap":
            base = urls[0].rsplit("/", 1)[0]
            served = [(base + path, data) for path, data in pages]
        else:
            served = [
                (urls[i].replace("/feed.xml", f"/news/article-{i}"), pages[i % len(pages)][1]) for i in range(len(urls))
            ]
        runs: dict[str, list[dict]] = {mode: [] for mode in modes}
        references = []
        for n in range(args.repeat):
            references.append(reference(served))
            last = n == args.repeat - 1
            for mode, setting in modes.items():
                config = write_config(work, f"run-{list(modes).index(mode)}-{n}", urls, kind, setting)
                pids = [p.pid for p in cluster.processes] if cluster is not None and mode == "dask" else []
                runs[mode].append(one_run(config, api, args.profile if last and mode == "local" else None, pids))
                r = runs[mode][-1]
                print(
                    f"run {n + 1} ({mode}): exit {r['exit']}, {r['wall']:.2f} s, peak RSS {r['rss'] / 2**20:.0f} MB "
                    f"(process tree {r['tree_rss'] / 2**20:.0f} MB"
                    + (f"; Dask scheduler and workers {r['cluster_rss'] / 2**20:.0f} MB" if pids else "")
                    + f"), flow run {r['state']}; "
                    f"{r['sources']} source(s): {r['new']} new, {r['duplicates']} duplicate(s), "
                    f"{r['not_articles']} not article(s), {r['failed']} FAILED, {r['errors']} error(s); "
                    f"stderr {r['stderr_lines']} line(s), {r['tracebacks']} traceback(s); attention {r['attention']}"
                )
                if r["stderr_tail"]:
                    print(r["stderr_tail"])
                if args.timeline:
                    for t, line in r["timeline"]:
                        print(f"   {t:6.2f} s  {line}")
            print(f"reference {n + 1}: trafilatura.extract(fast=True) x {len(served)}: {references[-1]:.2f} s")
    finally:
        child.stdin.close()
        child.wait(timeout=60)
        if cluster is not None:
            cluster.stop()
        if prefect_server is not None:
            prefect_server.stop()
    ref = min(references)
    for mode, done in runs.items():
        best = min(r["wall"] for r in done)
        where = f"{args.dask_workers} Dask worker(s) on this machine" if mode == "dask" else "one process"
        where += mode.removeprefix("local")
        print(
            f"{args.case} ({len(served)} pages, {where}): best run {best:.2f} s, best reference {ref:.2f} s: "
            f"ratio x{best / ref:.2f} (goal <= x1.25); load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
        )
    if args.profile and args.profile.suffix == ".spy":
        print_spy(args.profile)
    elif args.profile:
        import pstats

        pstats.Stats(str(args.profile)).sort_stats("cumulative").print_stats(40)
    return 0


if __name__ == "__main__":
    sys.exit(main())
