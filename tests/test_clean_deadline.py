"""Every page cleaned has a deadline, wherever it is cleaned (flows/pipeline/cleaner.py,
clean_process.py): the pages a run cleaned in its own thread (before its worker pool is up, or
all of them with `clean_processes: 1`, or on a Dask worker) now go to a process of the
cleaner's own, killed when a page takes longer than `page_seconds`. One page that makes the
cleaner loop costs that page (recorded, tried again on a later run), never the run; no
process is left behind.

The page that loops: `loop_on_hang` spins on the CPU (as a regex backtracking would) for
`HANG_SECONDS` on the page marked "hang". Bounded, so that a cleaner without a deadline (a
thread cleaning it) makes these tests fail, not hang."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import pytest
from httpserver import LocalServer, html
from processes import alive, children
from test_pipeline_stream import site_config

import flows.pipeline.clean_saved
import flows.pipeline.cleaner
import flows.pipeline.runner
import flows.pipeline.stages
from errors import CleanCrashed
from flows.config.loader import load_config
from flows.pipeline.clean_process import parked_pid
from flows.pipeline.clean_saved import clean_saved, clean_shown
from flows.pipeline.clean_stage import clean_result
from flows.pipeline.cleaner import Cleaner
from flows.pipeline.ingest import ingest_run
from flows.pipeline.summary import format_summary
from storage.outcomes import PageOutcome

# Long enough that a run ending well before it (HANG_SECONDS / 2) was not held by the loop,
# even on a loaded machine where these tests run at the lowest priority.
HANG_SECONDS = 60.0
PAGE_SECONDS = 6.0  # a normal page, the first in a cold process on a loaded machine included, takes far less


def _spin() -> None:
    until = time.monotonic() + HANG_SECONDS
    while time.monotonic() < until:
        pass


def loop_on_hang(page: int, offset: int) -> tuple[int, int]:
    """A cleaning function (module level: a cleaning process imports it) that loops on page 3."""
    if page == 3:
        _spin()
    return page + offset, os.getpid()


def hanging_clean_result(result, *args):
    """The run's real cleaning, but for the page whose URL ends in /hang."""
    if result.url.endswith("/hang"):
        _spin()
    return clean_result(result, *args)


def hanging_clean_saved(page, *args):
    """`newswatch import`'s real cleaning, but for the file named hang.html."""
    if page.path.name == "hang.html":
        _spin()
    return clean_saved(page, *args)


def left_behind(before: set[int]) -> dict[int, str]:
    """This process's children started since `before` and still alive, a few seconds given:
    their command lines. Three are the interpreter's, not the run's: multiprocessing's resource
    tracker and the pool's fork server, started with the first pool, and the idle cleaning
    process kept for the next run (`clean_process.park`); all end with the interpreter. The
    fork server's children, the pool's workers, count."""

    def living() -> dict[int, str]:
        found = children(os.getpid())
        for pid, command in list(found.items()):
            if "multiprocessing.forkserver" in command:
                del found[pid]
                found.update(children(pid))
        kept = {parked_pid()}
        return {p: c for p, c in found.items() if p not in before | kept and alive(p) and "resource_tracker" not in c}

    deadline = time.monotonic() + 10
    while (left := living()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


# ------------------------------------------------------- case 1: before the pool is up ---


@pytest.mark.slow  # waits out a deadline
def test_a_page_that_loops_before_the_workers_are_up_is_given_up_and_the_run_goes_on():
    """Pages 0 to 7 are cleaned before the pool can start (its estimate needs them): page 3
    loops. Its process is killed at the deadline, page 3 recorded, the pages queued behind it
    cleaned again in a new process, the pool started for the rest; nothing left running."""
    before = set(children(os.getpid()))
    started = time.monotonic()
    with Cleaner(2, min_pool_seconds=0.0, page_seconds=PAGE_SECONDS) as cleaner:
        cleaner.expect(200)
        out = list(cleaner.clean(range(200), loop_on_hang, (1000,)))
    elapsed = time.monotonic() - started
    assert elapsed < HANG_SECONDS / 2, f"{elapsed:.1f} s: the loop was waited out"
    assert [page for page, _ in out] == list(range(200))
    given_up = {page: r for page, r in out if isinstance(r, PageOutcome)}
    assert list(given_up) == [3]
    assert isinstance(given_up[3].error, CleanCrashed)
    assert given_up[3].message == (
        "3: cleaning it took more than 6 s, and the process cleaning it was stopped; "
        "the page is tried again on a later run"
    )
    assert all(r[0] == page + 1000 for page, r in out if page != 3)
    assert {r[1] for _, r in out if not isinstance(r, PageOutcome)}.isdisjoint({os.getpid()})
    # Page 4 was queued behind page 3: cleaned again, by a new process; then the pool took over.
    assert out[4][1][1] != out[0][1][1] and cleaner.own_starts >= 1 and cleaner.started
    assert left_behind(before) == {}


# ------------------------------------------------------ case 2: clean_processes: 1 ---


@pytest.mark.slow  # waits out a deadline
def test_a_run_with_one_cleaning_process_gives_up_the_page_that_loops_and_retries_it_next_run(
    tmp_path: Path, http_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real run, `clean_processes: 1`: the page that loops is in the summary with its URL
    and reason, every other page is stored, the run ends soon after the deadline, its
    cleaning process is gone; a recheck gives it up the same way; the next run (the page
    cleaned as it should) stores it."""
    paths = [f"/news/article-{i:02d}" for i in range(12)]
    paths.insert(5, "/news/hang")
    from fake_sites import article_page

    http_server.routes.update({p: html(article_page("iom-en", p)) for p in paths})
    config = load_config(site_config(tmp_path, http_server, paths, clean_processes=1))
    monkeypatch.setattr(flows.pipeline.cleaner, "PAGE_SECONDS", PAGE_SECONDS)
    monkeypatch.setattr(flows.pipeline.stages, "clean_result", hanging_clean_result)
    before = set(children(os.getpid()))
    started = time.monotonic()
    summary = ingest_run(config)
    elapsed = time.monotonic() - started
    assert elapsed < HANG_SECONDS / 2, f"{elapsed:.1f} s: the loop was waited out"
    source = summary.sources[0]
    hang = http_server.url("/news/hang")
    assert source.new == len(paths) - 1
    assert source.errors == [
        f"{hang}: cleaning it took more than 6 s, and the process cleaning it was stopped; "
        "the page is tried again on a later run"
    ]
    shown = format_summary(json.loads(json.dumps(summary.to_dict())))
    assert f"site: {hang}: cleaning it took more than 6 s" in shown
    assert left_behind(before) == {}

    archive = sqlite3.connect(tmp_path / "archive.db")
    try:
        row = archive.execute("SELECT outcome, error_kind, next_attempt FROM pages WHERE url = ?", (hang,)).fetchone()
        assert row[:2] == ("failed", "clean_crashed") and row[2]
        # `newswatch recheck` cleans through the same cleaner: the page given up again, in time.
        from flows.pipeline.recheck_pages import recheck

        started = time.monotonic()
        report = recheck(config, urls=[hang])
        assert time.monotonic() - started < HANG_SECONDS / 2
        assert report.checked == 1 and report.recovered == [] and list(report.still) == ["failing"]
        kind, error = archive.execute("SELECT error_kind, error FROM pages WHERE url = ?", (hang,)).fetchone()
        assert kind == "clean_crashed" and "cleaning it took more than 6 s" in error
        assert left_behind(before) == {}
        with archive:  # its retry is due: a later run
            archive.execute("UPDATE pages SET next_attempt = '2000-01-01T00:00:00+00:00' WHERE url = ?", (hang,))
        monkeypatch.setattr(flows.pipeline.stages, "clean_result", clean_result)
        again = ingest_run(config)
        assert again.sources[0].new == 1 and again.sources[0].errors == []
        assert archive.execute("SELECT count(*) FROM articles WHERE url = ?", (hang,)).fetchone()[0] == 1
    finally:
        archive.close()


# ---------------------------------------------------------------- case 3: a Dask worker ---


def work_with_a_hang(work, desk: str, page_seconds: float) -> tuple[list, dict]:  # work: a ShardWork
    """On the Dask worker: its shard, as `flows/orchestration/dask_runner.py` works it, with the
    page that loops; what the worker process is (daemonic: multiprocessing refuses it
    children) and which of its children outlive the shard."""
    import logging
    import multiprocessing

    from flows.orchestration.dask_runner import work_on_worker

    flows.pipeline.cleaner.PAGE_SECONDS = page_seconds
    flows.pipeline.stages.clean_result = hanging_clean_result
    try:
        multiprocessing.get_context("spawn").Process(target=os.getpid).start()
        refused = ""
    except AssertionError as e:
        refused = str(e)
    before = set(children(os.getpid()))
    started = time.monotonic()
    worked = work_on_worker(work, desk, logging.getLogger("newswatch.test"))
    facts = {
        "daemon": multiprocessing.current_process().daemon,
        "refused": refused,
        "seconds": time.monotonic() - started,
        "left": left_behind(before),
    }
    return worked, facts


class OnDask(flows.pipeline.runner.Runner):
    """The remote path on a real Dask cluster without Prefect: the shards submitted with a
    plain client, the workers' questions answered by the run's desk, as the Prefect runner does."""

    def __init__(self) -> None:
        self.facts: list[dict] = []  # what each shard's task said of its worker

    def on_cluster(self, address: str, remote) -> list:  # remote: a RemoteRun
        import uuid

        from distributed import Client

        from flows.orchestration.dask_runner import _DeskServer

        reports = []
        with Client(address, timeout=60) as client:
            desk = f"newswatch-desk-{uuid.uuid4().hex}"
            with _DeskServer(client, desk, remote.desk.answer, self.logger()):
                for work in remote.shards(1, remote.fetch.max_parallel_hosts):
                    worked, facts = client.submit(work_with_a_hang, work, desk, PAGE_SECONDS, pure=False).result(
                        timeout=120
                    )
                    self.facts.append(facts)
                    reports += remote.store(worked)
        return reports


@pytest.mark.slow  # starts a Dask cluster, waits out a deadline
def test_on_a_dask_worker_the_page_that_loops_is_given_up_and_its_process_killed(
    tmp_path: Path, http_server: LocalServer
) -> None:
    """A real `dask worker` (with its nanny: the worker process is daemonic) works the shard:
    its cleaning process is a plain subprocess, killed at the deadline; the page is in the
    run's summary, the others stored, nothing left running on the worker."""
    from dask_cluster import Cluster
    from fake_sites import article_page

    paths = [f"/news/article-{i:02d}" for i in range(8)]
    paths.insert(3, "/news/hang")
    http_server.routes.update({p: html(article_page("iom-en", p)) for p in paths})
    root = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(root.parent)])}
    cluster = Cluster(tmp_path / "dask", env, workers=1, threads=1)
    (tmp_path / "dask").mkdir()
    try:
        cluster.start()
        config = site_config(tmp_path, http_server, paths, execution=f"{{dask: '{cluster.address}'}}")
        runner = OnDask()
        started = time.monotonic()
        summary = ingest_run(load_config(config), runner=runner)
        elapsed = time.monotonic() - started
    finally:
        cluster.stop()
    [facts] = runner.facts
    assert facts["daemon"] and "daemonic processes are not allowed to have children" in facts["refused"]
    assert facts["seconds"] < HANG_SECONDS / 2, (elapsed, facts)
    hang = http_server.url("/news/hang")
    source = summary.sources[0]
    assert source.new == len(paths) - 1
    assert source.errors == [
        f"{hang}: cleaning it took more than 6 s, and the process cleaning it was stopped; "
        "the page is tried again on a later run"
    ]
    assert facts["left"] == {}


# ------------------------------------------------------------------ the run killed ---


def backtrack_on_3(page: int) -> int:
    """A regex that backtracks for hours on page 3, holding the GIL all along (no Python
    thread of its process runs meanwhile)."""
    import re

    if page == 3:
        re.match(r"(a+)+$", "a" * 34 + "b")
    return page


@pytest.mark.slow  # waits for the child's own watchdog
def test_a_cleaning_process_stuck_on_a_page_ends_itself_when_the_run_is_killed(tmp_path: Path) -> None:
    """The run SIGKILLed while its own process is stuck in a regex: nobody is left to stop it
    at the deadline, so it ends itself a little after (the interpreter's C watchdog)."""
    import signal
    import subprocess
    import sys
    import textwrap

    from flows.pipeline.clean_worker import BACKSTOP_SECONDS

    script = tmp_path / "run.py"
    script.write_text(
        textwrap.dedent(f"""
        import sys, time
        sys.path[:0] = [{str(Path(__file__).parent.parent)!r}, {str(Path(__file__).parent)!r}]
        from flows.pipeline.cleaner import Cleaner
        from processes import children
        from test_clean_deadline import backtrack_on_3

        cleaner = Cleaner(1, page_seconds=5.0)
        cleaner.expect(5)
        for page, _ in cleaner.clean(range(5), backtrack_on_3, backlog=lambda: 1):
            if page == 2:
                # page 3 is sent when the loop asks for it: on a loaded machine, a moment after
                until = time.monotonic() + 30
                while not (own := children(__import__("os").getpid())) and time.monotonic() < until:
                    time.sleep(0.1)
                print(" ".join(map(str, own)), flush=True)
                time.sleep(600)
    """)
    )
    run = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        [own] = [int(p) for p in run.stdout.readline().split()]
        # Killed once its process is stuck on page 3 (spinning: its CPU time grows), within the
        # 5 s the run's own watchdog would give it: not while it is idle or between pages.
        spun = _cpu_ticks(own) + 20
        until = time.monotonic() + 4
        while _cpu_ticks(own) < spun and time.monotonic() < until:
            time.sleep(0.05)
        assert _cpu_ticks(own) >= spun, "the cleaning process never got stuck on page 3"
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=60)
    killed = time.monotonic()
    try:
        while alive(own) and time.monotonic() < killed + BACKSTOP_SECONDS + 20:
            time.sleep(0.2)
        assert not alive(own), "the cleaning process of a killed run still runs"
        # Stuck, not idle (the end of its pipe would have ended it at once): its watchdog did,
        # `page_seconds` + BACKSTOP_SECONDS after it started page 3.
        assert time.monotonic() - killed > BACKSTOP_SECONDS - 2
    finally:
        if alive(own):
            os.kill(own, signal.SIGKILL)


def _cpu_ticks(pid: int) -> int:
    """The CPU time a process has used, in clock ticks (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of the line)


# ------------------------------------------------------------- case 5: newswatch import ---


@pytest.mark.slow  # waits out a deadline
def test_an_import_gives_up_the_file_that_loops_and_imports_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """`newswatch import` cleans through the run's cleaner: the saved page that makes the cleaner
    loop is an error line naming the file and what to do, every other file is imported, the
    command ends soon after the deadline and leaves no process behind."""
    from fake_sites import article_page

    from flows.cli.main import main

    folder = tmp_path / "saved"
    folder.mkdir()
    names = [f"page-{i}.html" for i in range(6)] + ["hang.html"]
    for name in names:
        path = f"https://www.iom.int/news/{name.removesuffix('.html')}"
        (folder / name).write_text(article_page("iom-en", path), encoding="utf-8")
    monkeypatch.setattr(flows.pipeline.cleaner, "PAGE_SECONDS", PAGE_SECONDS)
    monkeypatch.setattr(flows.pipeline.clean_saved, "clean_saved", hanging_clean_saved)
    before = set(children(os.getpid()))
    started = time.monotonic()
    status = main(["import", str(folder), "--archive", str(tmp_path / "archive.db")])
    elapsed = time.monotonic() - started
    assert elapsed < HANG_SECONDS / 2, f"{elapsed:.1f} s: the loop was waited out"
    out = capsys.readouterr().out
    assert status == 0
    assert out.splitlines() == [
        "7 files: 6 new, 0 duplicates (exact 0, near 0, same URL 0), 0 not articles, 1 errors",
        f"  error: {folder / 'hang.html'}: cleaning it took more than 6 s, and the process cleaning it was "
        "stopped; it was not imported: import the file again, and report the page if it happens again",
    ]
    archive = sqlite3.connect(tmp_path / "archive.db")
    try:
        urls = {url for (url,) in archive.execute("SELECT url FROM articles")}
    finally:
        archive.close()
    assert urls == {(folder / name).resolve().as_uri() for name in names[:-1]}
    assert left_behind(before) == {}


# -------------------------------------------------------------- case 6: newswatch clean ---


def hanging_clean_shown(page, *args):
    """`newswatch clean`'s real cleaning, but for the file named hang.html."""
    if page.path.name == "hang.html":
        _spin()
    return clean_shown(page, *args)


@pytest.mark.slow  # waits out a deadline
def test_clean_gives_up_the_file_that_loops_and_shows_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """`newswatch clean` cleans as a run does: the page that makes the cleaner loop is an error
    line naming the file and what to do, the files after it are still shown, in order, and the
    command ends soon after the deadline (a loop in a regex ignored Ctrl-C in its own thread)."""
    from fake_sites import article_page

    from flows.cli.main import main

    folder = tmp_path / "saved"
    folder.mkdir()
    names = ["a.html", "b.html", "hang.html", "z.html"]
    for name in names:
        (folder / name).write_text(article_page("iom-en", f"https://www.iom.int/news/{name}"), encoding="utf-8")
    monkeypatch.setattr(flows.pipeline.cleaner, "PAGE_SECONDS", PAGE_SECONDS)
    monkeypatch.setattr(flows.pipeline.clean_saved, "clean_shown", hanging_clean_shown)
    before = set(children(os.getpid()))
    started = time.monotonic()
    status = main(["clean", str(folder), "--json"])
    elapsed = time.monotonic() - started
    assert elapsed < HANG_SECONDS / 2, f"{elapsed:.1f} s: the loop was waited out"
    out, err = capsys.readouterr()
    assert status == 1
    shown = [json.loads(line) for line in out.splitlines()]
    assert [(Path(p["path"]).name, p["is_article"]) for p in shown] == [
        ("a.html", True),
        ("b.html", True),
        ("z.html", True),
    ]
    assert err.splitlines() == [
        f"newswatch clean: {folder / 'hang.html'}: cleaning it took more than 6 s, and the process cleaning "
        "it was stopped; it was not cleaned: clean the file again, and report the page if it happens again"
    ]
    assert left_behind(before) == {}
