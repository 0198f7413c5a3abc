"""An online, consistent copy of the archive (`backup`), taken while a run writes.

`VACUUM INTO` copies the archive as one read transaction sees it: in WAL mode a reader never
blocks the writer, so a run goes on writing while the copy is made, and the copy is the
archive at one instant (every batch whole or absent, like after a crash). The copy is written
beside its destination under a temporary name, checked (`PRAGMA quick_check`), then renamed:
a backup that stopped half-way never passes for one. It is compact (no free pages) and
independent (no -wal file).
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from errors import ArchiveError


@dataclass(frozen=True)
class Backup:
    path: Path
    bytes: int
    seconds: float
    articles: int
    schema_version: int


def backup(archive: Path, dest: Path, *, busy_timeout_ms: int = 30_000) -> Backup:
    """Copy `archive` to `dest` (a file that does not exist yet, or a directory: then a file
    `archive-YYYYMMDDTHHMMSSZ.db` in it); the copy checked before it takes its name."""
    archive = Path(archive)
    if not archive.is_file():
        raise ArchiveError(f"no archive at {archive}: nothing to back up (give --archive or --config)")
    dest = Path(dest)
    if dest.is_dir():
        dest = dest / f"{archive.stem}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.db"
    if dest.exists():
        raise ArchiveError(f"{dest} exists: give a new file name (or a directory), a backup never overwrites one")
    if not dest.parent.is_dir():
        raise ArchiveError(f"cannot back up to {dest}: its directory {dest.parent} does not exist")
    partial = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    started = time.monotonic()
    try:
        uri = f"file:{quote(str(archive.resolve()))}?mode=ro"
        source = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=busy_timeout_ms / 1000)
        try:
            source.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            source.execute("VACUUM INTO ?", (str(partial),))
        finally:
            source.close()
        copy = sqlite3.connect(partial, isolation_level=None)
        try:
            problems = [row[0] for row in copy.execute("PRAGMA quick_check") if row[0] != "ok"]
            articles = copy.execute("SELECT count(*) FROM articles").fetchone()[0]
            version = copy.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0
        finally:
            copy.close()
        if problems:
            raise ArchiveError(f"the copy of {archive} does not check: {problems[0]}; it was not kept")
        os.replace(partial, dest)
    except sqlite3.DatabaseError as e:
        raise ArchiveError(f"cannot back up {archive} to {dest}: {e}") from None
    except OSError as e:
        raise ArchiveError(f"cannot back up {archive} to {dest}: {e.strerror or e}") from None
    finally:
        if partial.exists():
            partial.unlink()
    return Backup(dest, dest.stat().st_size, time.monotonic() - started, articles, version)
