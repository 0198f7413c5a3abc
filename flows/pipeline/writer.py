"""The run's one writer of the archive (`ArchiveWriter`): every source's writes go through it.

SQLite has one writer at a time. When each source's store stage wrote through its own
connection, a thousand sources queued on the write lock and those that waited longer than
the busy timeout failed with "database is locked": their pages, fetched and cleaned, were
dropped for that run (519 sources of 1,000). Now the sources hand their writes to one thread
that owns the run's writing connection:

    writer = ArchiveWriter(path)                    # at the start of the run's sources
    result = writer.call(store_batch, batch, rules) # fn(archive, *args) in the writer's thread
    writer.close()                                  # the queue drained, the thread stopped

- **Bounded queue.** `call` waits while the queue is full (`QUEUE_SIZE` writes), and then for
  its write to be committed: a slow writer holds the stages before it back (the store stage
  waits, the cleaner's channel fills, the fetcher waits), it never drops a write.
- **Batched commits.** The writer takes every write waiting (up to `GROUP_WRITES`, or
  `GROUP_SECONDS` of work) into one transaction, each write in a savepoint of its own
  (`Database.transaction` nests): one write that raises is undone alone and raises in its
  caller's thread; the others are committed together. A caller's result comes back only once
  its transaction is committed, so what it does next (alert events, early alert emails,
  checkpoints) never follows a write a rollback undid.
- **Another process holding the lock** (a second run, `newswatch alerts retry`) makes the
  writer wait and try again, up to `LOCKED_FOR` seconds in all, then the waiting writes fail
  with what to do; a source never fails because another source writes. A write is a
  function of the archive alone (no other side effect): a transaction the lock made roll
  back runs it again.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from errors import ArchiveError
from scrapers import transport
from storage import integrity
from storage.archive import Archive

T = TypeVar("T")

QUEUE_SIZE = 64  # writes waiting for the writer (each a batch of at most 50 pages)
GROUP_WRITES = 64  # writes per transaction, at most
GROUP_SECONDS = 1.0  # work in one transaction, at most: other writers (alert delivery) wait that long
LOCKED_FOR = 600.0  # seconds another process may hold the write lock before waiting writes fail
_POLL = 0.1


@dataclass
class _Write:
    fn: Callable[..., Any]
    args: tuple
    future: Future = field(default_factory=Future)


class ArchiveWriter:
    """One thread writing the archive for a whole run (see the module's doc)."""

    def __init__(self, path: Path, *, busy_timeout_ms: int = 30_000) -> None:
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self.transactions = 0  # committed, for the log and the bench
        self.writes = 0
        self._queue: queue.Queue[_Write | None] = queue.Queue(maxsize=QUEUE_SIZE)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="newswatch-archive-writer", daemon=True)
        self._started = False
        self._lock = threading.Lock()

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the sources' side

    def submit(self, fn: Callable[..., T], *args: Any) -> Future:
        """Queue `fn(archive, *args)` (waiting while the queue is full); its future is set once
        the transaction holding it is committed, or with what it raised."""
        with self._lock:
            if self._closed.is_set():
                raise RuntimeError("the run's archive writer is closed")
            if not self._started:
                self._thread.start()
                self._started = True
        write = _Write(fn, args)
        while True:
            try:
                self._queue.put(write, timeout=_POLL)
                return write.future
            except queue.Full:
                transport.check_stop()  # a stopping process does not wait for the writer
                if not self._thread.is_alive():
                    raise ArchiveError("the run's archive writer stopped: see the error before this one") from None

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(archive, *args)`, written and committed by the writer; what it returns or raises."""
        future = self.submit(fn, *args)
        while True:
            try:
                return future.result(timeout=_POLL)
            except TimeoutError:
                transport.check_stop()

    def close(self) -> None:
        """Write what is queued, then stop the thread."""
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
            started = self._started
        if started:
            self._queue.put(None)
            self._thread.join()

    # ---- the writer's thread

    def _run(self) -> None:
        archive = Archive.reopen(self.path, busy_timeout_ms=self.busy_timeout_ms)
        try:
            carry: list[_Write] = []  # taken, not written yet: first in the next transaction
            ending = False
            while carry or not ending:
                group = carry
                if not ending:
                    group, ending = self._gather(carry)
                carry = self._write(archive, group) if group else []
        finally:
            archive.close()

    def _gather(self, group: list[_Write]) -> tuple[list[_Write], bool]:
        """The next writes: `group`, else the first one waited for, then every one already
        waiting; and whether the run closed the writer."""
        group = list(group)
        if not group:
            first = self._queue.get()
            if first is None:
                return [], True
            group.append(first)
        while len(group) < GROUP_WRITES:
            try:
                write = self._queue.get_nowait()
            except queue.Empty:
                break
            if write is None:
                return group, True
            group.append(write)
        return group, False

    def _write(self, archive: Archive, group: list[_Write]) -> list[_Write]:
        """Write `group` in one transaction (tried again while another process holds the
        lock); each write's future set once it is committed. Returns the writes left for the
        next transaction (past `GROUP_SECONDS` of work)."""
        deadline = time.monotonic() + LOCKED_FOR
        while True:
            try:
                outcomes = self._transaction(archive, group)
                break
            except sqlite3.OperationalError as e:
                if "locked" in str(e) and time.monotonic() < deadline:
                    continue  # BEGIN waited busy_timeout for another process; wait again
                failure: BaseException = integrity.archive_error(
                    self.path, e, waited=round(time.monotonic() - deadline + LOCKED_FOR)
                )
            except sqlite3.DatabaseError as e:  # damaged, disk full on COMMIT: one line naming the file
                failure = integrity.archive_error(self.path, e)
            except Exception as e:  # noqa: BLE001 - the commit itself failed (disk full...): every write of it
                failure = e
            for write in group:
                write.future.set_exception(failure)
            return []
        self.transactions += 1
        self.writes += len(outcomes)
        for write, (ok, value) in zip(group, outcomes, strict=False):
            if ok:
                write.future.set_result(value)
            else:
                write.future.set_exception(value)
        return group[len(outcomes) :]

    @staticmethod
    def _transaction(archive: Archive, group: list[_Write]) -> list[tuple[bool, Any]]:
        """One transaction, each write in a savepoint: (True, result) or (False, error) per
        write done, in order; it stops after `GROUP_SECONDS` of work."""
        outcomes: list[tuple[bool, Any]] = []
        started = time.monotonic()
        with archive.transaction():
            for write in group:
                try:
                    with archive.transaction():  # a savepoint: this write alone is undone if it raises
                        outcomes.append((True, write.fn(archive, *write.args)))
                except Exception as e:  # noqa: BLE001 - raised again in the caller's thread
                    outcomes.append((False, e))
                if time.monotonic() - started > GROUP_SECONDS:
                    break
        return outcomes
