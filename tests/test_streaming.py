"""flows/pipeline/cleaner.py: bounded channels between stages, and the cleaning pool (real worker
processes, a real killed run)."""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from processes import children

from errors import CleanCrashed
from flows.pipeline.channels import Aborted, Channel
from flows.pipeline.cleaner import MAX_POOL_STARTS, PAGES_PER_WORKER, Cleaner
from storage.outcomes import PageOutcome

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------- channels ---


def test_channel_keeps_order_and_ends_at_close():
    channel: Channel[int] = Channel(3)

    def produce():
        for i in range(20):
            channel.put(i)
        channel.close()

    producer = threading.Thread(target=produce)
    producer.start()
    assert list(channel) == list(range(20))
    producer.join()


def test_a_full_channel_holds_the_producer_back():
    channel: Channel[int] = Channel(2)
    put = []

    def produce():
        try:
            for i in range(5):
                channel.put(i)
                put.append(i)
        except Aborted:
            pass

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    deadline = time.monotonic() + 30
    while len(put) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    assert put == [0, 1]  # the third waits for room
    assert channel.get() == 0
    while len(put) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert put == [0, 1, 2]
    channel.abort()
    producer.join(timeout=30)
    assert not producer.is_alive()


def test_abort_wakes_both_sides():
    full: Channel[int] = Channel(1)
    full.put(0)
    empty: Channel[int] = Channel(1)
    raised = []

    def blocked(call):
        try:
            call()
        except Aborted:
            raised.append(call)

    threads = [
        threading.Thread(target=blocked, args=(lambda: full.put(1),)),
        threading.Thread(target=blocked, args=(empty.get,)),
    ]
    for t in threads:
        t.start()
    full.abort()
    empty.abort()
    for t in threads:
        t.join(timeout=30)
    assert len(raised) == 2


def test_get_with_a_timeout_says_when_nothing_came():
    channel: Channel[int] = Channel(1)
    with pytest.raises(queue.Empty):
        channel.get(timeout=0.05)
    channel.put(7)
    assert channel.get(timeout=0.05) == 7


# ----------------------------------------------------------------------------- cleaner ---


def square_and_pid(page: int, offset: int) -> tuple[int, int]:
    """A cleaning function for the tests (module level: the workers import it)."""
    return page * page + offset, os.getpid()


def die_from_150(page: int) -> int:
    if page >= 150 and multiprocessing.parent_process() is not None:
        os._exit(3)  # a worker dying as a segfault in a C library would make it die
    return page


def test_small_work_stays_in_one_process_of_the_cleaners_own():
    """Too little work for the pool: one process cleans it (one that can be stopped, unlike
    this thread)."""
    with Cleaner(2) as cleaner:
        cleaner.expect(10)
        out = list(cleaner.clean(range(10), square_and_pid, (1,)))
    assert [page for page, _ in out] == list(range(10))
    assert [r for _, (r, _) in out] == [i * i + 1 for i in range(10)]
    assert len({pid for _, (_, pid) in out} - {os.getpid()}) == 1
    assert not cleaner.started


def test_the_process_started_before_the_run_cleans_its_first_pages():
    """`newswatch run` starts a cleaning process as the command starts (`prestart`): the run's
    cleaner takes that one, already warm, instead of starting another after discovery."""
    from flows.pipeline.clean_process import parked_pid, prestart

    prestart()
    started = parked_pid()
    assert started is not None
    with Cleaner(2) as cleaner:
        cleaner.expect(3)
        out = list(cleaner.clean(range(3), square_and_pid, (1,)))
    assert [r for _, (r, _) in out] == [1, 2, 5]
    assert {pid for _, (_, pid) in out} == {started} and cleaner.own_starts == 0
    prestart()  # one kept at most: the run's, parked again as it ended
    assert parked_pid() == started


def test_a_process_started_for_a_command_that_ended_at_once_ends_quietly():
    """A command that stops as it starts (no Prefect server) leaves its prestarted cleaning
    process warming up: ready, it finds nobody reading its replies. It ends with exit 0 and
    nothing on the run's stderr (it printed a BrokenPipeError traceback under the command's
    one-line error, in CI)."""
    from flows.pipeline.clean_process import _BOOT, _ROOT
    from flows.pipeline.clean_worker import send

    to_child, requests = os.pipe()
    replies, from_child = os.pipe()
    child = subprocess.Popen(
        [sys.executable, "-c", _BOOT, _ROOT, str(to_child), str(from_child)],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        pass_fds=(to_child, from_child),
    )
    os.close(to_child)
    os.close(from_child)
    os.close(replies)  # the run is gone before its child is ready
    with os.fdopen(requests, "wb") as pipe:
        send(pipe, ("path", list(sys.path)))
        _, stderr = child.communicate(timeout=120)
    assert (child.returncode, stderr.decode()) == (0, "")


def warm_before_and_pid(page: int) -> tuple[bool, int]:
    """Whether this process had the cleaner warm when the page came: trafilatura's cascade
    set up (the stop lists of every language justext reads, ~0.2 s to build)."""
    external = sys.modules.get("trafilatura.external")
    return bool(external is not None and external.JT_STOPLIST), os.getpid()


def test_the_workers_start_warm_forked_from_a_server_that_warmed_up_once():
    """The pool's workers come from a fork server that imported and warmed the cleaner once
    (flows/pipeline/clean_preload.py): each has the cascade's stop lists before its first page,
    which a worker that imported the cleaner itself only builds on its first short page."""
    with Cleaner(2, min_pool_seconds=0.0) as cleaner:
        cleaner.expect(200)
        out = list(cleaner.clean(wait_for_workers(cleaner, range(200), 50), warm_before_and_pid))
    workers = {pid for page, (_, pid) in out if page >= 50}
    assert len(workers) == 2 and os.getpid() not in workers
    assert all(warm for page, (warm, _) in out if page >= 50)


def wait_for_workers(cleaner: Cleaner, pages: range, at: int):
    """The pages, pausing before page `at` until the workers are up (the cleaning function
    of these tests is too fast to keep the thread busy while they start)."""
    for page in pages:
        if page == at:
            deadline = time.monotonic() + 120
            while not cleaner.pool_ready and time.monotonic() < deadline:
                time.sleep(0.05)
            assert cleaner.pool_ready
        yield page


def test_enough_work_goes_to_the_worker_processes_in_order():
    pages = list(range(400))
    with Cleaner(2, min_pool_seconds=0.0) as cleaner:
        cleaner.expect(len(pages))
        out = list(cleaner.clean(wait_for_workers(cleaner, range(400), 100), square_and_pid, (5,)))
    assert [page for page, _ in out] == pages
    assert [r for _, (r, _) in out] == [i * i + 5 for i in pages]
    # The first pages are done here while the workers start; then only the workers clean (this
    # thread waits for room in them: it would only take a CPU from them).
    assert cleaner.started and cleaner.pool_pages >= 300
    assert os.getpid() not in {pid for page, (_, pid) in out if page >= 100}


def busy_and_pid(page: int, seconds: float) -> tuple[int, int]:
    """A cleaning function that takes `seconds` of CPU, as a real page does."""
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass
    return page, os.getpid()


def one_page_sources(cleaner: Cleaner, count: int, *, at_once: int, wait_from: int | None = None) -> list:
    """`count` sources of one page each, `at_once` of them cleaning at a time (a run's hosts):
    no source ever has a page waiting. From source `wait_from` on, each waits (a while at most)
    for the workers to be up, so that the test does not depend on how fast they start."""
    from concurrent.futures import ThreadPoolExecutor

    cleaner.expect_sources(count)

    def source(i: int) -> list:
        if wait_from is not None and i >= wait_from:
            deadline = time.monotonic() + 120
            while cleaner.started and not cleaner.pool_ready and time.monotonic() < deadline:
                time.sleep(0.05)
        cleaner.expect(1)
        return list(cleaner.clean([i], busy_and_pid, (0.02,), backlog=lambda: 0))

    with ThreadPoolExecutor(at_once) as threads:
        return [r for results in threads.map(source, range(count)) for r in results]


def test_many_one_page_sources_cleaning_at_once_start_the_workers():
    """A thousand one-page sources never have a page waiting, yet their threads all wait for
    this process's one interpreter: the workers start, and the later pages go to them."""
    with Cleaner(2, min_pool_seconds=0.3) as cleaner:
        out = one_page_sources(cleaner, 64, at_once=8, wait_from=32)
    assert sorted(page for page, _ in out) == list(range(64))
    assert cleaner.started and cleaner.pool_pages > 0
    assert {pid for _, (_, pid) in out} - {os.getpid()}


def test_sources_one_at_a_time_with_nothing_waiting_stay_in_one_process():
    """One source at a time and no page waiting: the pages come slower than one process
    cleans them (a polite delay), and more workers would only wait with it."""
    with Cleaner(2, min_pool_seconds=0.3) as cleaner:
        out = one_page_sources(cleaner, 40, at_once=1)
    assert sorted(page for page, _ in out) == list(range(40))
    assert not cleaner.started and len({pid for _, (_, pid) in out} - {os.getpid()}) == 1


def hang_on_150(page: int) -> int:
    if page == 150 and multiprocessing.parent_process() is not None:
        time.sleep(3600)  # a page a C library loops on
    return page


@pytest.mark.slow  # waits out a deadline
def test_a_page_a_worker_hangs_on_is_given_up_and_its_worker_stopped():
    """Every wait has a deadline: a worker stuck on one page costs that page (and the pool's
    others, tried again on a later run), never the run."""
    started = time.monotonic()
    with Cleaner(2, min_pool_seconds=0.0, page_seconds=3.0) as cleaner:
        cleaner.expect(300)
        out = list(cleaner.clean(wait_for_workers(cleaner, range(300), 100), hang_on_150))
        first_pool = cleaner.started
    assert time.monotonic() - started < 60
    assert first_pool and [page for page, _ in out] == list(range(300))
    given_up = {page: r for page, r in out if isinstance(r, PageOutcome)}
    assert 150 in given_up and "took more than 3 s" in given_up[150].message
    assert "tried again on a later run" in given_up[150].message
    assert len(given_up) <= 2 * PAGES_PER_WORKER  # the stuck pool's pages only
    assert all(r == page for page, r in out if page not in given_up)
    workers = ("SpawnProcess", "ForkServerProcess")
    assert not [p for p in multiprocessing.active_children() if p.is_alive() and p.name.startswith(workers)]


def test_local_pages_never_leave_this_process():
    with Cleaner(2, min_pool_seconds=0.0) as cleaner:
        cleaner.expect(300)
        out = list(
            cleaner.clean(
                wait_for_workers(cleaner, range(300), 100), square_and_pid, (0,), local=lambda page: page % 2 == 0
            )
        )
    assert {pid for page, (_, pid) in out if page % 2 == 0} == {os.getpid()}
    assert [page for page, _ in out] == list(range(300))


def test_a_dying_worker_fails_only_the_pages_it_had_and_the_run_goes_on():
    with Cleaner(2, min_pool_seconds=0.0) as cleaner:
        cleaner.expect(300)
        out = list(cleaner.clean(wait_for_workers(cleaner, range(300), 100), die_from_150))
    assert [page for page, _ in out] == list(range(300))  # one result per page, in order
    crashed = {page: r for page, r in out if isinstance(r, PageOutcome)}
    # The pages the pool had in hand when page 150 killed its worker: a loaded machine may not
    # have cleaned the few sent before it yet.
    assert crashed and min(crashed) >= 150 - PAGES_PER_WORKER * cleaner.workers
    assert all(
        isinstance(r.error, CleanCrashed) and "tried again on a later run" in r.message for r in crashed.values()
    )
    # A new pool starts after each death (3 at most), and each death costs only the pages
    # the pool had in hand; the thread cleans the rest.
    assert len(crashed) <= MAX_POOL_STARTS * PAGES_PER_WORKER * cleaner.workers
    assert all(r == page for page, r in out if page not in crashed)


def test_workers_exit_when_the_run_is_killed(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(
        textwrap.dedent(f"""
        import sys, time
        sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / "tests")!r}]
        from flows.pipeline.cleaner import Cleaner
        from test_streaming import square_and_pid, wait_for_workers

        if __name__ == "__main__":
            cleaner = Cleaner(3, min_pool_seconds=0.0)
            cleaner.expect(100000)
            pids = set()
            pages = wait_for_workers(cleaner, range(100000), 10)
            for page, (_, pid) in cleaner.clean(pages, square_and_pid, (0,)):
                pids.add(pid)
                if len(pids) == 3:  # the cleaner's own process and 2 workers of the pool
                    print(" ".join(map(str, sorted(pids))), flush=True)
                    time.sleep(600)
    """)
    )
    run = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in run.stdout.readline().split()]
        workers = [p for p in pids if p != run.pid]
        assert len(workers) == 3, pids
        workers = sorted(set(workers) | set(children(run.pid)))  # multiprocessing's resource tracker too
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=60)
    deadline = time.monotonic() + 60
    alive = workers
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [p for p in workers if _alive(p)]
    assert not alive, f"orphan workers {alive} of a killed run"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
