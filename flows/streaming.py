"""Stages that overlap: bounded channels between them, and a process pool for cleaning.

A source's fetch, clean and store stages run at the same time (`flows.pipeline.run_source`),
each in a thread of its own, joined by `Channel`s: bounded FIFOs, so a slow stage holds the
ones before it back instead of letting pages pile up in memory. A stage that fails aborts
the channels; the other stages stop at their next `put` or `get` (`Aborted`).

`Cleaner` cleans pages in the clean stage's thread until worker processes are worth their
start (a fresh interpreter each, importing the cleaner and warming its caches), then in the
workers and in the thread together, one CPU each (the thread takes a page whenever the
workers have `PAGES_PER_WORKER` in hand each), results still in page order. The workers start when the
run's pages still to clean are estimated at `POOL_MIN_SECONDS` or more of cleaning (from the
time the pages cleaned so far took) and pages are waiting for the cleaner (it is the
bottleneck, not a polite fetch); the thread goes on cleaning while they start.
bench/ingest.py --real measured the threshold (README, "Ingestion end to end").

The workers are started with `spawn` (a fresh interpreter: the run's process has threads,
Prefect's among them, which `fork` would copy in whatever state they are in). They exit by
themselves when the run's process is gone, even killed; Ctrl-C is the run's to handle.
A worker that dies (a crash in a C library, the kernel's out-of-memory killer) fails only
the pages it had in hand, as `errors.CleanCrashed` (retried on a later run); the pool is
started again for the rest of the run (at most `MAX_POOL_STARTS` times, then the thread
cleans).
"""

from __future__ import annotations

import contextvars
import multiprocessing
import os
import pickle
import queue
import signal
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from errors import CleanCrashed

T = TypeVar("T")
R = TypeVar("R")

POOL_MIN_SECONDS = 2.0  # estimated cleaning left in the run that starts the pool
COLD_PAGES = 2  # a process's first pages load what the cleaner loads lazily: not in the estimate
MIN_SAMPLE = 6  # pages timed after those before the estimate is trusted
MAX_POOL_STARTS = 3
PAGES_PER_WORKER = 8  # pages a worker holds: it never waits while the thread cleans a long page
_POLL = 0.1  # seconds between two looks at the abort flag while waiting


def default_processes() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# ---------------------------------------------------------------------------- channels ---


class Aborted(Exception):
    """Another stage of the same source failed: this one stops where it is."""

    def __init__(self, message: str = "stopped: another stage of this source failed") -> None:
        super().__init__(message)


class Closed(Exception):
    """The stage before has put its last item and every item has been taken."""


_END = object()


class Channel(Generic[T]):
    """A bounded FIFO from one stage to the next (one producer, one consumer)."""

    def __init__(self, capacity: int) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, capacity))
        self._aborted = threading.Event()
        self._closed = False

    def put(self, item: T) -> None:
        """Add an item; waits while the channel is full."""
        self._put(item)

    def close(self) -> None:
        """No more items: the consumer stops once it has taken those already put."""
        self._put(_END)

    def _put(self, item: object) -> None:
        while not self._aborted.is_set():
            try:
                self._queue.put(item, timeout=_POLL)
                return
            except queue.Full:
                continue
        raise Aborted

    def abort(self) -> None:
        self._aborted.set()

    @property
    def waiting(self) -> int:
        """Items put and not taken yet (roughly: the other side may be at it)."""
        return self._queue.qsize()

    def get(self, timeout: float | None = None) -> T:
        """The next item. Raises `Closed` at the end, `queue.Empty` when `timeout` seconds
        pass without one, `Aborted` when a stage failed."""
        if self._closed:
            raise Closed
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._aborted.is_set():
            wait = _POLL if deadline is None else min(_POLL, max(0.0, deadline - time.monotonic()))
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise
                continue
            if item is _END:
                self._closed = True
                raise Closed
            return item
        raise Aborted

    def __iter__(self) -> Iterator[T]:
        while True:
            try:
                yield self.get()
            except Closed:
                return

    def batches(self, size: int, wait: float) -> Iterator[list[T]]:
        """The items in lists of `size`, a list going out early when `wait` seconds have
        passed since its first item (a slow source still commits as it goes)."""
        batch: list[T] = []
        deadline = 0.0
        while True:
            try:
                batch.append(self.get(timeout=max(0.0, deadline - time.monotonic()) if batch else None))
            except queue.Empty:
                yield batch
                batch = []
                continue
            except Closed:
                if batch:
                    yield batch
                return
            if len(batch) == 1:
                deadline = time.monotonic() + wait
            if len(batch) >= size:
                yield batch
                batch = []


@dataclass(frozen=True)
class Stage:
    """One of the stages `overlap` runs: `fn(*args)`; `done`: the checkpoint its end is."""

    name: str
    fn: Callable[..., Any]
    args: tuple = ()
    done: str | None = None


class StageFailed(Exception):
    """A stage of an overlapping set raised `error` (the others were stopped)."""

    def __init__(self, stage: str, error: BaseException) -> None:
        super().__init__(f"{stage}: {error}")
        self.stage = stage
        self.error = error


def overlap(calls: list[tuple[str, Callable[[], Any]]], channels: Iterable[Channel]) -> list[Any]:
    """Run `(name, call)`s at the same time, each in a thread of its own that starts with a
    copy of the caller's context (Prefect finds its flow and task runs there); their results
    in order. The first call to raise aborts `channels`, so the others stop at their next put
    or get, and is raised as `StageFailed` once all have stopped; a stop of the process
    (`errors.ProcessStopping`, KeyboardInterrupt: no Exception) is raised as it is, no failure
    of a stage."""
    channels = list(channels)
    results: list[Any] = [None] * len(calls)
    failures: list[tuple[str, BaseException]] = []
    lock = threading.Lock()

    def run(i: int, name: str, call: Callable[[], Any]) -> None:
        try:
            results[i] = call()
        except BaseException as e:  # noqa: BLE001 - handed to the caller below
            with lock:
                failures.append((name, e))
            for channel in channels:
                channel.abort()

    threads = [
        threading.Thread(target=contextvars.copy_context().run, args=(run, i, name, call), name=f"newswatch-{name}")
        for i, (name, call) in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except BaseException:  # Ctrl-C: stop the stages, and let it through
        for channel in channels:
            channel.abort()
        raise
    if failures:
        for _, error in failures:
            if not isinstance(error, Exception):
                raise error
        name, error = next(((n, e) for n, e in failures if not isinstance(e, Aborted)), failures[0])
        raise StageFailed(name, error)
    return results


# ----------------------------------------------------------------------------- cleaner ---


class Cleaner:
    """Applies a cleaning function to pages, in the calling thread and in worker processes.

    One per run, shared by its sources: `clean(pages, fn, args)` yields `(page, fn(page,
    *args))` in page order. `fn` must be a module-level function and `args` picklable (they
    are sent once per worker, not once per page). `expect(n)`: a source announces n pages,
    for the estimate of the work left. `processes`: the processes that clean, the run's own
    included (it keeps cleaning when the workers have enough in hand): one per CPU by default;
    1 or less: no worker.
    """

    def __init__(self, processes: int | None = None, *, min_pool_seconds: float | None = None) -> None:
        self.processes = default_processes() if processes is None else processes
        self.workers = max(0, self.processes - 1)
        self.min_pool_seconds = POOL_MIN_SECONDS if min_pool_seconds is None else min_pool_seconds
        self._lock = threading.Lock()
        self._expected = 0  # pages announced by the sources
        self._taken = 0  # pages cleaned in a thread or sent to the pool
        self._cleaned_here = 0  # timed pages cleaned in a thread, the cold ones included
        self._sampled = 0
        self._spent = 0.0  # thread CPU seconds of the sampled pages
        self._pool: ProcessPoolExecutor | None = None
        self._warming: list[Future] = []
        self._starts = 0
        self._in_pool = 0  # pages sent to the workers and not done yet
        self.pool_pages = 0  # pages the workers cleaned (for the bench and the log)

    def __enter__(self) -> Cleaner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def expect(self, pages: int) -> None:
        with self._lock:
            self._expected += pages

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
        """`(page, fn(page, *args))` for each page, in order. A page goes to a worker when one
        has room (`PAGES_PER_WORKER` in hand each), else this thread cleans it. `local(page)`: a page
        too cheap to send anywhere (a fetch error). `backlog()`: how many pages wait to be
        cleaned; none waiting means the pages come slower than this thread cleans them (a
        polite delay), and workers would only wait with it."""
        key, blob = uuid.uuid4().hex, b""
        pending: deque[tuple[T, Future | None, Any]] = deque()
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
                    pending.append((page, future, pool))
            if pool is None:
                pending.append((page, None, self._here(fn, page, args, timed=not cheap, backlog=backlog)))
            # In order: what is done goes on; a worker's page holds the later ones back (a few).
            while pending and (_done(pending[0][1]) or len(pending) > PAGES_PER_WORKER * self.workers + 8):
                yield self._resolve(*pending.popleft())
        while pending:
            yield self._resolve(*pending.popleft())

    # ---- in this thread

    def _here(self, fn: Callable[..., R], page: T, args: tuple, *, timed: bool, backlog: Callable[[], int]) -> R:
        started = time.thread_time()
        result = fn(page, *args)
        with self._lock:
            self._taken += 1
            if timed:
                self._cleaned_here += 1
                if self._cleaned_here > COLD_PAGES:
                    self._spent += time.thread_time() - started
                    self._sampled += 1
            worth = timed and self._worth_a_pool()
        if worth and backlog() > 0:
            self._start_pool()
        return result

    def _worth_a_pool(self) -> bool:
        if not self.workers or self._pool is not None or self._starts >= MAX_POOL_STARTS:
            return False
        if self._sampled < MIN_SAMPLE:
            return False
        left = (self._expected - self._taken) * self._spent / self._sampled
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
        """The pool, when its workers are up and one of them has room for a page (counted as
        sent); None otherwise."""
        with self._lock:
            pool = self._pool
            if (
                pool is None
                or not all(f.done() for f in self._warming)
                or self._in_pool >= PAGES_PER_WORKER * self.workers
            ):
                return None
            if any(f.exception() is not None for f in self._warming):
                # The workers cannot start here (no `spawn`, no memory): the thread cleans.
                self._pool, self._starts = None, MAX_POOL_STARTS
                pool.shutdown(wait=False, cancel_futures=True)
                return None
            self._taken += 1
            self._in_pool += 1
            self.pool_pages += 1
            return pool

    def _left_pool(self, future: Future) -> None:
        with self._lock:
            self._in_pool -= 1

    def _resolve(self, page: T, future: Future | None, result: Any) -> tuple[T, R]:
        if future is None:
            return page, result
        try:
            return page, future.result()
        except BrokenProcessPool as e:
            # A worker died: the pages the pool had fail; a new pool may start for the rest.
            self._lost(result)
            return page, _crashed(page, e)

    def _lost(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)


def _done(future: Future | None) -> bool:
    return future is None or future.done()


def _crashed(page: Any, error: BaseException) -> Any:
    """What a page a dead worker had becomes: an outcome that retries it on a later run."""
    from storage.fetchstate import PageOutcome

    url = getattr(page, "url", str(page))
    return PageOutcome(
        url, CleanCrashed(f"the process cleaning it died ({error}); the page is tried again on a later run")
    )


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
