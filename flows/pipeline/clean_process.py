"""The cleaner's own process: the pages a run used to clean in its own thread (`Cleaner`'s pages
before its worker pool is up, all of them with `clean_processes: 1` and on a Dask worker),
cleaned in a child process that can be killed when a page takes too long.

A thread cannot be stopped: a page that makes the cleaner loop (a regex backtracking for
ever, a tree too deep) in the run's own thread hung the run for good. In a child process it
costs that page: past its deadline the child is killed (`stop`), and the next page starts
another. An idle child outlives its `Cleaner` (`park`): the next run of the same interpreter
(a test session, a Dask worker's next task) takes it instead of paying a start.

The child is a plain `subprocess` talking through two pipes of its own (its stdout and stderr
stay the run's, for what a library prints). Not `multiprocessing`: a Dask worker process is
daemonic (distributed's `distributed.worker.daemon`, true by default), and multiprocessing
refuses children to a daemonic process (so does `ProcessPoolExecutor`, whatever the start
method); `subprocess` has no such check. The child imports what the parent's `sys.path`
reaches, cleans the pages in the order sent, and exits when the run's process is gone: its
request pipe reads end-of-file (after a SIGKILL of the run too). Stuck on a page with nobody
left to kill it, the interpreter's own watchdog (`faulthandler.dump_traceback_later`, a C
thread that needs no GIL, which a looping regex holds) ends it a little after the page's
deadline.
"""

from __future__ import annotations

import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from flows.pipeline.clean_worker import HEADER, own_process, receive

START_SECONDS = 60.0  # for a child to import the cleaner and warm up (0.25 s on an idle machine)
_ROOT = str(Path(__file__).resolve().parents[2])  # where `flows` is, for the child's first import
_BOOT = f"import sys; sys.path.insert(0, sys.argv[1]); import {own_process.__module__} as w; w.{own_process.__name__}()"


class ProcessGone(Exception):
    """The cleaning process died, was stopped, or could not start: the message says which.
    `blamed`: the page is the one it was stopped for, or died on (else it was only queued)."""

    def __init__(self, message: str, *, blamed: bool = True) -> None:
        super().__init__(message)
        self.blamed = blamed


class CleanProcess:
    """A child process cleaning pages in the order they are sent, like a one-worker process
    pool: `submit(fn, key, blob, page, seconds, label)` -> a Future of `fn(page,
    *pickle.loads(blob))` (`blob` unpickled once per `key`). A page not cleaned `seconds`
    after the child started it stops the child (a watchdog thread): its future, and those of
    the pages sent after it, fail with `ProcessGone` saying so, as they do if the child dies.
    `ready` is set once the child can clean, or is gone (`up`: which); `on_done(self, cpu)` is
    told of each page before its future is (its CPU seconds; None: it failed). Nothing here
    waits on the child without a deadline."""

    def __init__(self, on_done: Callable[[CleanProcess, float | None], None] = lambda own, cpu: None) -> None:
        to_child, self._to_child = os.pipe()
        self._from_child, from_child = os.pipe()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _BOOT, _ROOT, str(to_child), str(from_child)],
                stdin=subprocess.DEVNULL,
                pass_fds=(to_child, from_child),
                # Its own session: a Ctrl-C at the terminal is the run's to handle, not the child's.
                start_new_session=True,
            )
        except BaseException:
            os.close(self._to_child)
            os.close(self._from_child)
            raise
        finally:
            os.close(to_child)
            os.close(from_child)
        self.on_done = on_done
        self.ready = threading.Event()
        self.up = False  # it said it was ready
        self.failed: str | None = None  # why it is gone (for the page it had), once it is
        self._others: str | None = None  # why, for the pages sent after that one
        self._culprit: Future | None = None  # that page
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        # Sent and not answered, in order (the child answers in that order): (future, seconds, label).
        self._waiting: deque[tuple[Future, float, str]] = deque()
        self._head_since: float | None = None  # when the child started the first of them
        self._outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._path: list[str] = []
        self.follow_path()
        # Threads of their own for the pipes: a page bigger than the pipe's buffer blocks its
        # writer until the child reads it, and a submit must not.
        for target, name in ((self._write, "writer"), (self._read, "reader"), (self._watch, "watchdog")):
            threading.Thread(target=target, name=f"newswatch-clean-process-{name}", daemon=True).start()

    def submit(self, fn: Callable[..., Any], key: str, blob: bytes, page: Any, seconds: float, label: str) -> Future:
        future: Future = Future()
        request = pickle.dumps(("page", fn, key, blob, page, seconds), protocol=pickle.HIGHEST_PROTOCOL)
        with self._changed:
            if self.failed is not None:
                raise ProcessGone(self.failed)
            if not self._waiting and self.up:
                self._head_since = time.monotonic()
            self._waiting.append((future, seconds, label))
            self._outbox.put(request)
        return future

    def follow_path(self) -> None:
        """The child imports what this process's `sys.path` reaches now (a test may add to it)."""
        if sys.path != self._path:
            self._path = list(sys.path)
            self._outbox.put(pickle.dumps(("path", self._path)))

    def stop(self, why: str = "the process cleaning it was stopped", others: str | None = None) -> None:
        """Kills the child at once (it may be stuck on a page) and reaps it: the page it has
        fails with `why`, the pages sent after it with `others`. Any thread may."""
        with self._changed:
            if self.failed is None:
                self.failed, self._others = why, others
            self._changed.notify_all()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._outbox.put(None)  # the writer closes its end

    def _watch(self) -> None:
        """Stops the child when the page it has takes longer than its `seconds`. Not woken by
        each page (two thread switches a page): it looks each second, and at the deadline of
        the page the child has when that comes sooner."""
        with self._changed:
            while self.failed is None:
                if not self._waiting or self._head_since is None:
                    self._changed.wait(1.0)
                    continue
                self._culprit, seconds, label = self._waiting[0]
                left = self._head_since + seconds - time.monotonic()
                if left > 0:
                    self._changed.wait(min(left, 1.0))
                    continue
                # Said under the lock: a page answered from now on is not the one blamed.
                self.failed = f"cleaning it took more than {seconds:g} s, and the process cleaning it was stopped"
                self._others = (
                    f"the process cleaning it was stopped: another page ({label}) took more than {seconds:g} s"
                )
                break
            else:
                return
        self.stop()

    # ---- the pipes' threads

    def _write(self) -> None:
        try:
            with open(self._to_child, "wb") as pipe:
                while (data := self._outbox.get()) is not None:
                    pipe.write(HEADER.pack(len(data)) + data)
                    pipe.flush()
        except OSError:  # the child is gone: the reader tells the pages why
            pass

    def _read(self) -> None:
        with open(self._from_child, "rb") as pipe:
            if receive(pipe) is not None:
                with self._changed:
                    self.up = True
                    self._head_since = time.monotonic() if self._waiting else None
                    self._changed.notify_all()
                self.ready.set()
                while (message := receive(pipe)) is not None:
                    status, value, cpu = message
                    with self._changed:
                        # "started": a page whose unpickling took a while (its function's module
                        # imported): its time starts now, and the import's was bounded by the
                        # deadline already.
                        if status != "started":
                            future, _, _ = self._waiting.popleft()
                        self._head_since = time.monotonic() if self._waiting else None
                    if status == "ok":
                        self.on_done(self, cpu)
                        future.set_result(value)
                    elif status == "raised":
                        self.on_done(self, None)
                        future.set_exception(value)
        self._gone()

    def _gone(self) -> None:
        try:
            code = self.process.wait(timeout=5)  # its pipe closes as it exits
        except subprocess.TimeoutExpired:  # it closed the pipe yet lives: of no more use
            self.process.kill()
            code = self.process.wait()
        with self._changed:
            if self.failed is None:
                how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
                if not self.up:
                    self.failed = f"the cleaning process did not start ({how})"
                else:
                    self.failed = f"the process cleaning it died ({how})"
                    if self._waiting:  # the child cleans in order: the first page is the one it died on
                        self._culprit, _, head = self._waiting[0]
                        self._others = f"the process cleaning it died on another page ({head}; {how})"
            waiting, self._waiting = self._waiting, deque()
            self._changed.notify_all()
        self.ready.set()
        self._outbox.put(None)
        for future, _, _ in waiting:
            blamed = future is self._culprit or self._others is None
            self.on_done(self, None)
            future.set_exception(ProcessGone(self.failed if blamed else str(self._others), blamed=blamed))


# ------------------------------------------------------------ one kept for the next run ---

_parked_lock = threading.Lock()
_parked: CleanProcess | None = None


def park(own: CleanProcess) -> None:
    """An idle cleaning process kept for the next `Cleaner` of this interpreter (tests, a Dask
    worker's next shard): its 0.33 s start is paid once. It ends with the interpreter (its pipe
    reads end-of-file). One at most; one busy, dead or surplus is stopped instead."""
    global _parked
    with own._changed:
        keep = own.failed is None and not own._waiting and own.process.poll() is None
    if keep:
        with _parked_lock:
            keep = _parked is None
            if keep:
                _parked = own
    if keep:
        own.on_done = _ignore
    else:
        own.stop()


def prestart() -> None:
    """A cleaning process started now and parked for this interpreter's first `Cleaner`: its
    start (a fresh interpreter importing the cleaner, 0.3-0.4 s of a CPU) overlaps the run's
    own start-up (Prefect's imports, the flow run's creation) instead of coming after
    discovery, in the way of the first page. Nothing if one is parked already or none starts."""
    with _parked_lock:
        if _parked is not None:
            return
    try:
        own = CleanProcess()
    except OSError:
        return  # the run's cleaner tries again, and says so if it cannot
    park(own)


def unpark(on_done: Callable[[CleanProcess, float | None], None]) -> CleanProcess | None:
    """The process `park` kept, if it still lives, now telling `on_done`."""
    global _parked
    with _parked_lock:
        own, _parked = _parked, None
    if own is None or own.failed is not None or own.process.poll() is not None:
        return None
    own.on_done = on_done
    own.follow_path()
    return own


def parked_pid() -> int | None:
    """The process kept for the next run, if any."""
    own = _parked
    return None if own is None else own.process.pid


def _ignore(own: CleanProcess, cpu: float | None) -> None:
    pass
