"""The clean stage's process pool: `Cleaner` cleans a run's pages in the stage's thread and, once
worth it, in worker processes too (the stages and their channels: `flows/pipeline/channels.py`).

`Cleaner` cleans pages in the clean stage's thread until worker processes are worth their
start (a fresh interpreter each, importing the cleaner and warming its caches), then in the
workers only, one per CPU, results still in page order: the thread shares its process's one
interpreter with the run's fetching, storing and Prefect, so once the workers are up it
waits for one to have room (`PAGES_PER_WORKER` in hand each) rather than clean (1,000
one-page sources, 8 hosts at a time, never filled one worker fewer than CPUs: a CPU idled). The workers start when the
run's pages still to clean are estimated at `POOL_MIN_SECONDS` or more of cleaning (from the
time the pages cleaned so far took; the sources yet to start counted at the pages per source
so far) and the cleaner is the bottleneck, not a polite fetch: pages are waiting for it, or
other sources' threads are cleaning at the same time (a thousand one-page sources never have
a page waiting, yet all of them queue for this process's one interpreter). The thread goes
on cleaning while the workers start.
bench/ingest.py --real measured the threshold (docs/benchmarks.md, "Ingestion end to end").

The workers are started with `spawn` (a fresh interpreter: the run's process has threads,
Prefect's among them, which `fork` would copy in whatever state they are in). They exit by
themselves when the run's process is gone, even killed; Ctrl-C is the run's to handle.
A worker that dies (a crash in a C library, the kernel's out-of-memory killer) fails only
the pages the pool had in hand (a dead worker breaks its pool: `PAGES_PER_WORKER` a worker
at most), as `errors.CleanCrashed` (retried on a later run); the pool is
started again for the rest of the run (at most `MAX_POOL_STARTS` times, then the thread
cleans). A page a worker has not cleaned within `PAGE_SECONDS` is given up the same way, its
worker killed: the wait for a worker's page has a deadline (the thread's own pages have none:
a thread cannot be stopped).
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from errors import CleanCrashed

T = TypeVar("T")
R = TypeVar("R")

POOL_MIN_SECONDS = 2.0  # estimated cleaning left in the run that starts the pool
COLD_PAGES = 2  # a process's first pages load what the cleaner loads lazily: not in the estimate
MIN_SAMPLE = 6  # pages timed after those before the estimate is trusted
MAX_POOL_STARTS = 3
PAGES_PER_WORKER = 8  # pages a worker holds: it never waits while a page goes to another
# A worker's page not done this long after it was sent is given up: its worker is stopped.
# The slowest of the 487 pages of the varied corpus cleans in 0.27 s on the 2-core machine,
# and a worker has at most PAGES_PER_WORKER pages ahead of the one sent.
PAGE_SECONDS = 120.0
ROOM_WAIT = 1.0  # seconds between looks at the pool while waiting for room (a pool gone wakes it)


def default_processes() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# ----------------------------------------------------------------------------- cleaner ---


class Cleaner:
    """Applies a cleaning function to pages, in the calling thread and in worker processes.

    One per run, shared by its sources: `clean(pages, fn, args)` yields `(page, fn(page,
    *args))` in page order. `fn` must be a module-level function and `args` picklable (they
    are sent once per worker, not once per page). `expect(n)`: a source announces n pages,
    for the estimate of the work left; `expect_sources(n)`: n more sources will.
    `processes`: the worker processes (the thread cleans while they start): one per CPU by
    default; 1 or less: no worker, the thread cleans every page.
    """

    def __init__(
        self, processes: int | None = None, *, min_pool_seconds: float | None = None, page_seconds: float = PAGE_SECONDS
    ) -> None:
        self.processes = default_processes() if processes is None else processes
        self.page_seconds = page_seconds
        self.workers = self.processes if self.processes > 1 else 0
        self.min_pool_seconds = POOL_MIN_SECONDS if min_pool_seconds is None else min_pool_seconds
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)  # a worker has room for one more page
        self._expected = 0  # pages announced by the sources
        self._announced = 0  # sources that announced their pages
        self._sources_to_come = 0  # sources yet to announce theirs (`expect_sources`)
        self._taken = 0  # pages cleaned in a thread or sent to the pool
        self._cleaned_here = 0  # timed pages cleaned in a thread, the cold ones included
        self._sampled = 0
        self._spent = 0.0  # thread CPU seconds of the sampled pages
        self._pool: ProcessPoolExecutor | None = None
        self._warming: list[Future] = []
        self._starts = 0
        self._in_pool = 0  # pages sent to the workers and not done yet
        self._busy_here = 0  # threads cleaning a page in this process now
        self.pool_pages = 0  # pages the workers cleaned (for the bench and the log)

    def __enter__(self) -> Cleaner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._room:
            pool, self._pool = self._pool, None
            self._room.notify_all()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def expect(self, pages: int) -> None:
        with self._lock:
            self._expected += pages
            self._announced += 1
            self._sources_to_come = max(0, self._sources_to_come - 1)

    def expect_sources(self, sources: int) -> None:
        """`sources` will each `expect` their pages later (a run's sources, a few hosts at a
        time): the estimate counts them at the pages per source announced so far."""
        with self._lock:
            self._sources_to_come += sources

    @property
    def started(self) -> bool:
        """A pool was started in this run."""
        return self._starts > 0

    @property
    def pool_ready(self) -> bool:
        """The pool's workers are up: the next pages go to them."""
        with self._lock:
            return self._pool is not None and all(f.done() for f in self._warming)

    def clean(
        self,
        pages: Iterable[T],
        fn: Callable[..., R],
        args: tuple = (),
        local: Callable[[T], bool] = lambda page: False,
        backlog: Callable[[], int] = lambda: 1,
    ) -> Iterator[tuple[T, R]]:
        """`(page, fn(page, *args))` for each page, in order. A page goes to a worker once they
        are up (as soon as one has room), else this thread cleans it. `local(page)`: a page
        too cheap to send anywhere (a fetch error). `backlog()`: how many pages wait to be
        cleaned; none waiting means the pages come slower than this thread cleans them (a
        polite delay), and workers would only wait with it."""
        key, blob = uuid.uuid4().hex, b""
        pending: deque[tuple[T, Future | None, Any, float]] = deque()
        for page in pages:
            cheap = local(page)
            pool = None if cheap else self._pool_with_room()
            if pool is not None:
                blob = blob or pickle.dumps(args, protocol=pickle.HIGHEST_PROTOCOL)
                try:
                    future = pool.submit(_in_worker, fn, key, blob, page)
                except BrokenProcessPool:  # another source's page broke it: this one is innocent
                    self._lost(pool)
                    pool = None
                else:
                    future.add_done_callback(self._left_pool)
                    pending.append((page, future, pool, time.monotonic() + self.page_seconds))
            if pool is None:
                pending.append((page, None, self._here(fn, page, args, timed=not cheap, backlog=backlog), 0.0))
            # In order: what is done goes on; a worker's page holds the later ones back (a few).
            while pending and (_done(pending[0][1]) or len(pending) > PAGES_PER_WORKER * self.workers + 8):
                yield self._resolve(*pending.popleft())
        while pending:
            yield self._resolve(*pending.popleft())

    # ---- in this thread

    def _here(self, fn: Callable[..., R], page: T, args: tuple, *, timed: bool, backlog: Callable[[], int]) -> R:
        with self._lock:
            self._busy_here += 1
        started = time.thread_time()
        try:
            result = fn(page, *args)
        finally:
            with self._lock:
                # Other sources' threads cleaning meanwhile: they wait for this process's one
                # interpreter, however few pages each source has waiting.
                crowded = self._busy_here > 1
                self._busy_here -= 1
        with self._lock:
            self._taken += 1
            if timed:
                self._cleaned_here += 1
                if self._cleaned_here > COLD_PAGES:
                    self._spent += time.thread_time() - started
                    self._sampled += 1
            worth = timed and self._worth_a_pool()
        if worth and (crowded or backlog() > 0):
            self._start_pool()
        return result

    def _worth_a_pool(self) -> bool:
        if not self.workers or self._pool is not None or self._starts >= MAX_POOL_STARTS:
            return False
        if self._sampled < MIN_SAMPLE:
            return False
        pages: float = self._expected - self._taken
        if self._announced:
            pages += self._sources_to_come * self._expected / self._announced
        left = pages * self._spent / self._sampled
        return left >= self.min_pool_seconds

    # ---- in the pool

    def _start_pool(self) -> None:
        with self._lock:
            if self._pool is not None or self._starts >= MAX_POOL_STARTS:
                return
            self._starts += 1
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_start,
                initargs=(os.getpid(),),
            )
            # Workers start (and import the cleaner) while this thread goes on cleaning.
            self._warming = [self._pool.submit(_warm_up) for _ in range(self.workers)]

    def _pool_with_room(self) -> ProcessPoolExecutor | None:
        """The pool, once its workers are up, as soon as one of them has room for a page
        (counted as sent); None while there is no pool, or it is starting. The thread waits
        for room rather than clean: a worker on every CPU, it would only take a CPU from them
        and the interpreter from the run's fetching and storing (487 pages: 13.5 s -> 12.7 s)."""
        with self._room:
            while True:
                pool = self._pool
                if pool is None or not all(f.done() for f in self._warming):
                    return None
                if any(f.exception() is not None for f in self._warming):
                    # The workers cannot start here (no `spawn`, no memory): the thread cleans.
                    self._pool, self._starts = None, MAX_POOL_STARTS
                    pool.shutdown(wait=False, cancel_futures=True)
                    return None
                if self._in_pool < PAGES_PER_WORKER * self.workers:
                    break
                self._room.wait(ROOM_WAIT)  # a page done, or the pool gone (`_left_pool`, `_lost`)
            self._taken += 1
            self._in_pool += 1
            self.pool_pages += 1
            return pool

    def _left_pool(self, future: Future) -> None:
        with self._room:
            self._in_pool -= 1
            self._room.notify()

    def _resolve(self, page: T, future: Future | None, result: Any, deadline: float = 0.0) -> tuple[T, R]:
        if future is None:
            return page, result
        try:
            return page, future.result(timeout=max(0.0, deadline - time.monotonic()))
        except BrokenProcessPool as e:
            # A worker died: the pages the pool had fail; a new pool may start for the rest.
            self._lost(result)
            return page, _crashed(page, e)
        except FutureTimeout:
            # A page no cleaner should take that long on (a pathological page, a loop in a C
            # library): its worker is stopped, the pool's other pages fail with it and are
            # tried again on a later run, and a new pool may start for the rest.
            self._lost(result, kill=True)
            return page, _crashed(
                page, f"cleaning it took more than {self.page_seconds:.0f} s, and the process cleaning it was stopped"
            )

    def _lost(self, pool: ProcessPoolExecutor, *, kill: bool = False) -> None:
        with self._room:
            if self._pool is pool:
                self._pool = None
            self._room.notify_all()
        if kill:
            # ProcessPoolExecutor cannot stop a worker busy on a task before Python 3.14
            # (`kill_workers`): its processes are killed, which breaks the pool.
            for process in list((pool._processes or {}).values()):
                process.kill()
        pool.shutdown(wait=False, cancel_futures=True)


def _done(future: Future | None) -> bool:
    return future is None or future.done()


def _crashed(page: Any, error: BaseException | str) -> Any:
    """What a page a dead (or stopped) worker had becomes: an outcome that retries it on a
    later run."""
    from storage.outcomes import PageOutcome

    url = getattr(page, "url", str(page))
    what = error if isinstance(error, str) else f"the process cleaning it died ({error})"
    return PageOutcome(url, CleanCrashed(f"{what}; the page is tried again on a later run"))


# ------------------------------------------------------------------ in the worker process ---


_ARGS: dict[str, tuple] = {}  # the last few argument sets sent, by key


def _worker_start(parent: int) -> None:
    """Worker initializer: Ctrl-C is the run's business; exit when the run's process is gone
    (a killed process cannot shut its pool down, and the workers would wait forever)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="newswatch-parent-watch", daemon=True).start()


def _warm_up() -> int:
    """The cleaner's imports and lazy set-up, before the first real page."""
    from scrapers.clean import clean_page

    clean_page(
        b"<html><head><title>warm-up</title></head><body><article><p>"
        + b"A sentence of the warm-up page. " * 20
        + b"</p></article></body></html>",
        url="http://warm-up.invalid/a",
    )
    return os.getpid()


def _in_worker(fn: Callable[..., R], key: str, blob: bytes, page: Any) -> R:
    args = _ARGS.get(key)
    if args is None:
        if len(_ARGS) >= 8:
            _ARGS.pop(next(iter(_ARGS)))
        args = _ARGS[key] = pickle.loads(blob)
    return fn(page, *args)
