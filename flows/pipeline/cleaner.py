"""The clean stage's processes: `Cleaner` cleans a run's pages in a process of its own and, once
worth it, in a pool of worker processes (the stages and their channels: `flows/pipeline/channels.py`).

Every page has a deadline (`PAGE_SECONDS` of cleaning): a page that makes the cleaner loop (a
regex backtracking for ever, a tree too deep) costs that page, recorded as
`errors.CleanCrashed` (tried again on a later run), and its process is killed; the run goes
on. So no page is cleaned in the run's own thread, which nobody can stop, but the cheap ones
(`local`: a fetch error) and with `clean_processes: 0` (asked for: a profiler sees the
cleaning).

`Cleaner` sends pages to its own process (`flows/pipeline/clean_process.py`: a plain
subprocess, so a daemonic Dask worker may start it too), started when the run has sources or
pages to come, until worker processes are worth their start (a fresh interpreter each,
importing the cleaner and warming its caches), then to the workers only, one per CPU,
results still in page order; the own process is let go once idle (`clean_process.park`: kept
for the next run of this interpreter, a Dask worker's next task). The workers start when the
run's pages still to clean are estimated at `POOL_MIN_SECONDS` or more of cleaning (from the
time the pages cleaned so far took; the sources yet to start counted at the pages per source
so far) and the cleaner is the bottleneck, not a polite fetch: pages are waiting for it, or
pages are still in the own process when the next comes (a thousand one-page sources never
have a page waiting, yet all of them queue for it). The own process goes on cleaning while
the workers start. With `clean_processes: 1` (a 1-CPU machine, a Dask worker) the own
process cleans every page: the run's thread fetches and stores meanwhile.
bench/ingest.py --real measured the threshold (docs/benchmarks.md, "Ingestion end to end").

The workers are forked from a fork server that imported and warmed the cleaner once
(`clean_worker.worker_context`; `spawn` where there is none: never a `fork` of the run's
process, whose threads, Prefect's among them, a fork would copy in whatever state they are
in), started in the background as soon as the run has pages to come. They exit by themselves
when the run's process is gone, even killed; Ctrl-C is the run's to handle.
A worker that dies (a crash in a C library, the kernel's out-of-memory killer) fails only
the pages the pool had in hand (a dead worker breaks its pool: `PAGES_PER_WORKER` a worker
at most), as `errors.CleanCrashed`; the pool is started again for the rest of the run (at
most `MAX_POOL_STARTS` times, then the own process cleans). A page a worker has not cleaned
within `PAGE_SECONDS` of its sending is given up the same way, its pool killed; the own
process's watchdog stops it when a page takes `PAGE_SECONDS` from its start. The pages
only queued behind the one given up are innocent: sent again, once.
"""

from __future__ import annotations

import logging
import os
import pickle
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
from flows.pipeline.clean_process import START_SECONDS, CleanProcess, ProcessGone, park, unpark
from flows.pipeline.clean_worker import in_worker, start_fork_server, warm_up, worker_context, worker_start

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger(__name__)
Pending = tuple[Any, Future | None, Any, float]  # a page, its future, where it went (or its result), its deadline

POOL_MIN_SECONDS = 2.0  # estimated cleaning left in the run that starts the pool
COLD_PAGES = 2  # a process's first pages load what the cleaner loads lazily: not in the estimate
MIN_SAMPLE = 6  # pages timed after those before the estimate is trusted
MAX_POOL_STARTS = 3
PAGES_PER_WORKER = 8  # pages a worker holds: it never waits while a page goes to another
# A page not cleaned this long after it was sent to a worker, or after the own process
# started it, is given up: its process is stopped. The slowest of the 487 pages of the varied
# corpus cleans in 0.27 s on the 2-core machine, and a worker has at most PAGES_PER_WORKER
# pages ahead of the one sent.
PAGE_SECONDS = 120.0
ROOM_WAIT = 1.0  # seconds between looks at a process while waiting for room (one gone wakes it)


def default_processes() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# ----------------------------------------------------------------------------- cleaner ---


class Cleaner:
    """Applies a cleaning function to pages, in its own process and in worker processes.

    One per run, shared by its sources: `clean(pages, fn, args)` yields `(page, fn(page,
    *args))` in page order, or a `PageOutcome` with `CleanCrashed` for a page given up (past
    `page_seconds`, default `PAGE_SECONDS`, or its process dead). `fn` must be a module-level
    function and `args` picklable (unpickled once per process, not once per page).
    `expect(n)`: a source announces n pages, for the estimate of the work left;
    `expect_sources(n)`: n more sources will. `processes`: the worker processes (the own
    process cleans while they start): one per CPU by default; 1: no worker, the own process
    cleans every page; 0: the calling thread cleans every page, without a deadline.
    `given_up`: what the message of a page given up says follows (a run tries it again later).
    """

    def __init__(
        self,
        processes: int | None = None,
        *,
        min_pool_seconds: float | None = None,
        page_seconds: float | None = None,
        given_up: str = "the page is tried again on a later run",
    ) -> None:
        self.given_up = given_up  # what follows for a page given up (CleanCrashed's message)
        self.processes = default_processes() if processes is None else processes
        self.page_seconds = PAGE_SECONDS if page_seconds is None else page_seconds
        self.workers = self.processes if self.processes > 1 else 0
        # clean_processes: 0 keeps the cleaning in the run's own thread (for a profiler): no
        # deadline. Otherwise the pages the pool does not take go to the cleaner's own process.
        self._in_thread = self.processes < 1
        self._own: CleanProcess | None = None
        self._in_own = 0  # pages sent to it and not done yet
        self._pressed = False  # pages were waiting for it at the last send
        self.own_starts = 0  # processes started as the cleaner's own (for the tests)
        self.min_pool_seconds = POOL_MIN_SECONDS if min_pool_seconds is None else min_pool_seconds
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)  # a worker has room for one more page
        self._own_room = threading.Condition(self._lock)  # the own process has room
        self._expected = 0  # pages announced by the sources
        self._announced = 0  # sources that announced their pages
        self._sources_to_come = 0  # sources yet to announce theirs (`expect_sources`)
        self._taken = 0  # pages cleaned in a thread or sent to a process
        self._cleaned_here = 0  # timed pages cleaned outside the pool, the cold ones included
        self._sampled = 0
        self._spent = 0.0  # CPU seconds of the sampled pages
        self._pool: ProcessPoolExecutor | None = None
        self._stopped_pools: list[ProcessPoolExecutor] = []  # killed for a page past its deadline
        self._warming: list[Future] = []
        self._starts = 0
        self._fork_server = False  # asked to start (`start_fork_server`)
        self._in_pool = 0  # pages sent to the workers and not done yet
        self._busy_here = 0  # threads cleaning a page in this thread now
        self.pool_pages = 0  # pages the workers cleaned (for the bench and the log)

    def __enter__(self) -> Cleaner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._room:
            pool, self._pool = self._pool, None
            own, self._own = self._own, None
            self._in_thread = True  # nothing starts after the end
            self._room.notify_all()
            self._own_room.notify_all()
        if own is not None:
            park(own)  # idle: kept for the next run of this interpreter; else stopped
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def expect(self, pages: int) -> None:
        with self._lock:
            self._expected += pages
            self._announced += 1
            self._sources_to_come = max(0, self._sources_to_come - 1)
            if pages > 0 and self._pool is None:
                self._start_own()  # it starts while the source's first pages are fetched
                if self._expected > COLD_PAGES + MIN_SAMPLE or self._sources_to_come:
                    self._start_fork_server()  # else no pool can start (`_worth_a_pool`): a page or two

    def expect_sources(self, sources: int) -> None:
        """`sources` will each `expect` their pages later (a run's sources, a few hosts at a
        time): the estimate counts them at the pages per source announced so far."""
        with self._lock:
            self._sources_to_come += sources
            if sources > 0 and self._pool is None:
                self._start_own()  # it starts while the sources discover their pages
                self._start_fork_server()

    def _start_fork_server(self) -> None:
        if self.workers and not self._in_thread and not self._fork_server:
            self._fork_server = True
            start_fork_server()  # in the background: a pool, if one is needed, then starts at once

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
        are up (as soon as one has room), else to the cleaner's own process. `local(page)`: a
        page too cheap to send anywhere (a fetch error), cleaned in this thread. `backlog()`:
        how many pages wait to be cleaned; none waiting means the pages come slower than one
        process cleans them (a polite delay), and workers would only wait with it."""
        key, blob = uuid.uuid4().hex, b""

        def place(page: T, cheap: bool = False) -> Pending:
            nonlocal blob
            if not cheap and not self._in_thread:
                blob = blob or pickle.dumps(args, protocol=pickle.HIGHEST_PROTOCOL)
                future, target = self._send(fn, key, blob, page, backlog)
                if future is not None and target is not None:
                    return page, future, target, time.monotonic() + self._patience(target)
            return page, None, self._here(fn, page, args, timed=not cheap, backlog=backlog), 0.0

        pending: deque[Pending] = deque()
        for page in pages:
            pending.append(place(page, local(page)))
            # In order: what is done goes on; a page in a process holds the later ones back (a
            # few), and is waited for when no page is: the next one may wait for it to be stored.
            ahead = PAGES_PER_WORKER * max(1, self.workers) + 8
            while pending and (_done(pending[0][1]) or len(pending) > ahead or not backlog()):
                yield self._resolve(*pending.popleft(), again=place)
        while pending:
            yield self._resolve(*pending.popleft(), again=place)

    def _send(
        self, fn: Callable[..., R], key: str, blob: bytes, page: T, backlog: Callable[[], int]
    ) -> tuple[Future | None, ProcessPoolExecutor | CleanProcess | None]:
        """The page sent to the pool or the own process: (its future, where it went); (None,
        None): this thread cleans it (clean_processes: 0, or no process starts here)."""
        for _ in range(3):  # what broke between the look for room and the send: another try
            target: ProcessPoolExecutor | CleanProcess | None = self._pool_with_room()
            if target is None:
                target = self._own_with_room(backlog)
            if target is None:
                return None, None
            try:
                if isinstance(target, CleanProcess):
                    future = target.submit(fn, key, blob, page, self.page_seconds, _label(page))
                else:
                    self._retire_own()
                    future = target.submit(in_worker, fn, key, blob, page)
                    future.add_done_callback(self._left_pool)
                return future, target
            except (BrokenProcessPool, ProcessGone):  # another page broke it: this one is innocent
                self._lost(target, sent=False)
        return None, None

    def _patience(self, target: ProcessPoolExecutor | CleanProcess) -> float:
        """How long a page sent to `target` may take, from now. The own process stops a page
        `page_seconds` after it started it (its watchdog), with at most `PAGES_PER_WORKER`
        ahead: this wait is the guard behind that one. A pool's worker may have as many pages
        ahead of it, each quick: `page_seconds` from the send."""
        if isinstance(target, CleanProcess):
            return START_SECONDS + (PAGES_PER_WORKER + 1) * self.page_seconds
        return self.page_seconds

    # ---- in this thread

    def _here(self, fn: Callable[..., R], page: T, args: tuple, *, timed: bool, backlog: Callable[[], int]) -> R:
        """A page cleaned in this thread: a cheap one, or any with clean_processes: 0 (or no
        process starting here): it has no deadline, a thread cannot be stopped."""
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
                self._count_cpu(time.thread_time() - started)
            worth = timed and self._worth_a_pool()
        if worth and (crowded or backlog() > 0):
            self._start_pool()
        return result

    def _count_cpu(self, seconds: float) -> None:
        """A page cleaned outside the pool, for the estimate (the lock held)."""
        self._cleaned_here += 1
        if self._cleaned_here > COLD_PAGES:
            self._spent += seconds
            self._sampled += 1

    # ---- in the cleaner's own process

    def _own_with_room(self, backlog: Callable[[], int]) -> CleanProcess | None:
        """The cleaner's own process (started if need be), once it is up, as soon as it has
        room for a page (counted as sent); None: this thread cleans (no process starts here).
        Its room frees within `page_seconds` of a stuck page: its watchdog stops it."""
        while True:
            with self._lock:
                own = self._start_own()
            if own is None:
                return None
            if not own.ready.wait(START_SECONDS) or not own.up:
                own.stop(f"the cleaning process was not ready within {START_SECONDS:g} s")
                with self._lock:
                    self._thread_from_now(own.failed or "the cleaning process did not start")
                return None
            waiting = backlog() > 0
            with self._own_room:
                while self._own is own and self._in_own >= PAGES_PER_WORKER:
                    self._own_room.wait(ROOM_WAIT)
                if self._own is not own:
                    continue  # it was stopped, or died, meanwhile: another one
                # Pages still in it when the next comes: it, not the fetching, is what they wait for.
                self._pressed = self._in_own > 0 or waiting
                self._in_own += 1
                self._taken += 1
                worth = self._pressed and self._worth_a_pool()
            if worth:
                self._start_pool()
            return own

    def _start_own(self) -> CleanProcess | None:
        """The own process, started if there is none (the lock held); None: this thread cleans."""
        if self._own is None and not self._in_thread:
            self._own = unpark(self._own_done)
        if self._own is None and not self._in_thread:
            try:
                self._own = CleanProcess(on_done=self._own_done)
            except OSError as e:
                self._thread_from_now(f"the cleaning process could not be started ({e})")
            else:
                self.own_starts += 1
        return self._own

    def _own_done(self, own: CleanProcess, cpu: float | None) -> None:
        """A page done in the own process (`cpu` None: failed), told before its caller is: its
        room is free for the caller's next page. Its time comes after the next pages were
        sent: the estimate is made again with it (the last send said whether pages waited)."""
        with self._own_room:
            if cpu is not None:
                self._count_cpu(cpu)
            worth = self._pressed and self._worth_a_pool()
            if self._own is not own:
                return
            full = self._in_own >= PAGES_PER_WORKER  # only then is anyone waiting for its room
            self._in_own -= 1
            if own.failed is not None:  # stopped or dead: the next page starts another
                self._own, self._in_own, full = None, 0, True
            if full:
                self._own_room.notify_all()
        if worth:
            self._start_pool()

    def _thread_from_now(self, why: str) -> None:
        # A machine where no process starts (no memory, no more PIDs): the run's thread cleans,
        # without a deadline, rather than fail every page; said once (the lock held).
        if not self._in_thread:
            self._in_thread = True
            log.warning("%s: the run's own thread cleans its pages from now on, without a deadline per page", why)

    def _retire_own(self) -> None:
        """The own process let go once the pool's workers take the pages and it has none: kept
        for the next run (`park`: one at most), else stopped."""
        with self._lock:
            own = self._own if self._own is not None and self._in_own == 0 else None
            if own is not None:
                self._own = None
        if own is not None:
            park(own)

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
            self._pool = ProcessPoolExecutor(self.workers, mp_context=worker_context(), initializer=worker_start)
            # Workers start (and import the cleaner) while this thread goes on cleaning.
            self._warming = [self._pool.submit(warm_up) for _ in range(self.workers)]

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
                    # The workers cannot start here (no `spawn`, no memory): the own process cleans.
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

    def _resolve(
        self, page: T, future: Future | None, result: Any, deadline: float, again: Callable[[T], Pending] | None = None
    ) -> tuple[T, R]:
        """The page's result, waited for until `deadline`. A page that was only queued in a
        process stopped for another page's sake is sent `again` (once)."""
        if future is None:
            return page, result
        try:
            return page, future.result(timeout=max(0.0, deadline - time.monotonic()))
        except ProcessGone as e:  # the own process, stopped past a page's deadline or dead: it says which
            if not e.blamed and again is not None:
                return self._resolve(*again(page))
            return page, _crashed(page, str(e), self.given_up)
        except BrokenProcessPool as e:
            # A worker died: the pages the pool had fail (which one it died on, nobody knows); a
            # new pool may start for the rest. A pool stopped for a page past its deadline: the
            # others are innocent.
            self._lost(result)
            if result in self._stopped_pools and again is not None:
                return self._resolve(*again(page))
            return page, _crashed(page, f"the process cleaning it died ({e})", self.given_up)
        except FutureTimeout:
            # A page no cleaner should take that long on (a pathological page, a loop in a C
            # library): its process is stopped, the other pages it had fail with it and are
            # tried again on a later run, and a new one may start for the rest.
            self._lost(result, kill=True)
            return page, _crashed(page, f"cleaning it took more than {self.page_seconds:g} s, {STOPPED}", self.given_up)

    def _lost(self, target: ProcessPoolExecutor | CleanProcess, *, kill: bool = False, sent: bool = True) -> None:
        """`target` is of no more use (broken, or `kill`: stuck); `sent` False: a page counted
        as sent to it never was."""
        with self._room:
            if isinstance(target, CleanProcess):
                if self._own is target:
                    self._own, self._in_own = None, 0
                self._own_room.notify_all()
            else:
                if self._pool is target:
                    self._pool = None
                self._in_pool -= not sent
                self._room.notify_all()
        if isinstance(target, CleanProcess):
            target.stop(f"cleaning it took more than {self.page_seconds:g} s, {STOPPED}")
            return
        if kill:
            # ProcessPoolExecutor cannot stop a worker busy on a task before Python 3.14
            # (`kill_workers`): its processes are killed, which breaks the pool.
            self._stopped_pools.append(target)
            for process in list((target._processes or {}).values()):
                process.kill()
        target.shutdown(wait=False, cancel_futures=True)


STOPPED = "and the process cleaning it was stopped"


def _label(page: Any) -> str:
    return str(getattr(page, "url", page))


def _done(future: Future | None) -> bool:
    return future is None or future.done()


def _crashed(page: Any, error: str, given_up: str) -> Any:
    """What a page a dead (or stopped) worker had becomes: an outcome saying so, and what
    follows (`given_up`: for a run's page, it is tried again on a later run)."""
    from storage.outcomes import PageOutcome

    return PageOutcome(_label(page), CleanCrashed(f"{error}; {given_up}"))
