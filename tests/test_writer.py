"""The run's one writer of the archive (`flows.pipeline.writer.ArchiveWriter`), on a real file:
many threads' writes committed together, a failing write undone alone, a slow writer holding
its callers back, another process's lock waited out instead of failing."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

import flows.pipeline.writer
from flows.pipeline.writer import ArchiveWriter
from storage.archive import Archive


def _archive(tmp_path: Path) -> Path:
    path = tmp_path / "archive.db"
    Archive.open(path).close()
    return path


def _put(archive: Archive, key: str) -> str:
    archive.conn.execute("INSERT INTO archive_meta (key, value) VALUES (?, 'x')", (key,))
    if key == "bad":
        raise ValueError("this write fails")
    return key


def _keys(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {k for (k,) in conn.execute("SELECT key FROM archive_meta WHERE value = 'x'")}


def test_many_threads_writes_share_transactions_and_a_failing_write_is_undone_alone(tmp_path: Path) -> None:
    path = _archive(tmp_path)
    names = [f"k{i}" for i in range(40)] + ["bad"]
    results: dict[str, object] = {}
    with ArchiveWriter(path) as writer:

        def write(name: str) -> None:
            try:
                results[name] = writer.call(_put, name)
            except ValueError as e:
                results[name] = e

        threads = [threading.Thread(target=write, args=(n,)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert isinstance(results.pop("bad"), ValueError)
    assert results == {n: n for n in names if n != "bad"}
    assert _keys(path) == {n for n in names if n != "bad"}  # the failing write's row was undone
    assert writer.writes == len(names) and writer.transactions < len(names)


def test_a_slow_writer_makes_its_callers_wait_and_drops_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(flows.pipeline.writer, "QUEUE_SIZE", 2)
    path = _archive(tmp_path)
    release = threading.Event()
    returned: list[str] = []

    def slow(archive: Archive) -> None:
        release.wait(10)

    with ArchiveWriter(path) as writer:
        writer.submit(slow)
        time.sleep(0.2)  # the writer holds `slow`; the queue (2) fills
        writer.submit(_put, "a")
        writer.submit(_put, "b")
        producer = threading.Thread(target=lambda: (writer.submit(_put, "c"), returned.append("c")))
        producer.start()
        time.sleep(0.5)
        assert returned == []  # waiting for room: the writer is slow, nothing is dropped
        release.set()
        producer.join(10)
        assert returned == ["c"]
    assert _keys(path) == {"a", "b", "c"}


@pytest.mark.slow  # waits out a lock, a delay or a retry
def test_another_process_holding_the_lock_is_waited_out(tmp_path: Path) -> None:
    path = _archive(tmp_path)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another newswatch command writing
    threading.Timer(2.0, lambda: other.execute("COMMIT")).start()
    with ArchiveWriter(path, busy_timeout_ms=300) as writer:  # gives up BEGIN after 0.3 s: tried again
        started = time.monotonic()
        assert writer.call(_put, "after") == "after"
        assert time.monotonic() - started >= 1.5
    other.close()
    assert _keys(path) == {"after"}
