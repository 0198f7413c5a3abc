"""The archive's SQLite handle, and the helpers every storage module shares.

- `Database`: an open archive file (its `sqlite3` connection in autocommit mode, and the same
  connection seen through sqlite-utils as `.utils`). Every storage function takes one; an
  `storage.archive.Archive` is one.
- `Database.transaction()`: the one way to write several statements atomically.
- `utc_iso(moment)`: the one clock format stored in the archive (ISO 8601, UTC, seconds).
- `holder_gone(host, pid)`: the one test that a lease or claim was left by a dead process.
- `run_script(conn, ddl)`: DDL statement by statement, inside the caller's transaction.
"""

from __future__ import annotations

import os
import socket
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils


class Database:
    """An open archive: `conn` (autocommit: this package owns every transaction) and `path`."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self.utils = sqlite_utils.Database(conn)
        self._savepoints = 0  # savepoints opened, for their names

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, ROLLBACK on any error: all of it is written, or none.

        IMMEDIATE takes the write lock at once, so two writers queue (busy timeout) instead
        of failing halfway on a lock upgrade. Inside a transaction already (the run's writer
        groups several sources' writes in one: `flows/pipeline/writer.py`), it is a savepoint:
        an error undoes this block only, and the outer transaction decides the commit.
        """
        if self.conn.in_transaction:
            with self._savepoint():
                yield self.conn
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:  # SQLite already rolled back on some errors (disk full)
                self.conn.execute("ROLLBACK")
            raise

    @contextmanager
    def _savepoint(self) -> Iterator[None]:
        self._savepoints += 1
        name = f"nested_{self._savepoints}"
        self.conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute(f"ROLLBACK TO {name}")
                self.conn.execute(f"RELEASE {name}")
            raise
        self.conn.execute(f"RELEASE {name}")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


MESSAGE_MAX = 2_000  # characters of an error or warning message the archive keeps


def stored_message(message: str | None) -> str | None:
    """A message as the archive keeps it: at most `MESSAGE_MAX` characters (one stored error
    quoted a 2 MB link twice)."""
    from core.text import shorten

    return shorten(message, MESSAGE_MAX) if message else message


def utc_iso(moment: datetime | None = None) -> str:
    """`moment` (default: now) as stored in the archive: ISO 8601 in UTC, to the second."""
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")


def holder_gone(host: str | None, pid: int | None) -> bool:
    """True when a lease or claim was taken by a process of this host that no longer exists.

    A holder on another host cannot be checked (its lease expires instead); our own process
    is alive by definition.
    """
    if host != socket.gethostname() or pid is None or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The rowid of the row that `cursor`'s INSERT just added."""
    # sqlite3 types lastrowid as optional: it is None only on a cursor that never inserted.
    if cursor.lastrowid is None:
        raise RuntimeError("the statement inserted no row")
    return cursor.lastrowid


def in_chunks(values: Iterable[str], size: int = 500) -> Iterator[tuple[list[str], str]]:
    """`values` in lists of at most `size` (SQLite's parameter limit), each with its `?,?,...`
    placeholders for an `IN (...)`."""
    values = list(values)
    for start in range(0, len(values), size):
        chunk = values[start : start + size]
        yield chunk, ",".join("?" * len(chunk))


def run_script(conn: sqlite3.Connection, ddl: str) -> None:
    """Run `;`-separated DDL inside the caller's transaction (`executescript` would commit)."""
    for statement in ddl.split(";"):
        if statement.strip():
            conn.execute(statement)
