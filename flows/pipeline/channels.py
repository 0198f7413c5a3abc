"""Stages that overlap: bounded channels between them (`Channel`), each stage in a thread of its
own (`overlap`). A slow stage holds the ones before it back instead of letting pages pile up in
memory; a stage that fails aborts the channels, and the other stages stop at their next `put`
or `get` (`Aborted`)."""

from __future__ import annotations

import contextvars
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_POLL = 0.1  # seconds between two looks at the abort flag while waiting


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
