"""Is the archive file sound, and what to tell when SQLite says it is not (or cannot write it).

A damaged archive is refused, never written to. Checking a large archive on every open would
cost seconds (`PRAGMA quick_check` reads every page: bench/archive_integrity.py), so the check
runs only when the file may have changed outside newswatch's writers:

- closing an archive opened for writing leaves a marker beside it (`ARCHIVE.clean`: the file's
  size, modification time and inode as the close left them);
- opening it for writing removes the marker (the archive is in use), after checking: when the
  marker is missing (a writer was killed, another one is at work, or an archive from before
  the marker) or no longer matches the file (something else wrote to it), `PRAGMA
  quick_check` runs, and a damaged file is refused (`ArchiveDamaged`);
- opening it read-only checks it when the marker no longer matches the file, or is missing
  while no other process has the file open (`check_before_reading`).

Whatever SQLite reports later (a damaged page met by a query, a lock, a read-only folder, a
full disk) becomes one line naming the file and what to do (`archive_error`).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from pathlib import Path

from errors import ArchiveError

DEFAULT_BUSY_SECONDS = 30  # Archive.open's busy timeout: how long a write waits for the lock


class ArchiveDamaged(ArchiveError):
    """The archive file is damaged: nothing more may be written to it."""


def marker_path(path: Path) -> Path:
    return path.with_name(path.name + ".clean")


def _fingerprint(path: Path) -> dict | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}


def _marker(path: Path) -> dict | None:
    try:
        return json.loads(marker_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def check_before_writing(path: Path) -> bool:
    """Whether a writer's open checks the file: not when this process has it open for writing
    already (checked then), nor when the last clean close left it as it is."""
    return not WRITERS.active(path) and not closed_cleanly(path)


def closed_cleanly(path: Path) -> bool:
    """The marker is there and the file is as the last clean close left it."""
    marker = _marker(path)
    return marker is not None and marker == _fingerprint(path)


def check_before_reading(path: Path) -> bool:
    """Whether a read-only open checks the file: the marker is there but the file changed since
    (something other than newswatch wrote it), or there is no marker and no other process has
    the file open (its last writer did not close it: killed, or an archive from before the
    marker). No marker while a writer works on it: no check (the writer checked it)."""
    marker = _marker(path)
    if marker is None:
        return not WRITERS.active(path) and not holders(path)
    return marker != _fingerprint(path)


class Writers:
    """The archive's writing connections open in this process (`Archive.open`, `reopen`): the
    marker goes when the first opens, and is left when the last one closes (the close that
    checkpoints the write-ahead log into the file, so the marker sees the file as it stays)."""

    def __init__(self) -> None:
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def active(self, path: Path) -> bool:
        """This process has a writing connection open on it (so it was checked on that open)."""
        with self._lock:
            return self._open.get(str(Path(path).resolve()), 0) > 0

    def opened(self, path: Path) -> None:
        key = str(Path(path).resolve())
        with self._lock:
            self._open[key] = self._open.get(key, 0) + 1
            if self._open[key] == 1:
                mark_in_use(Path(path))

    def closed(self, path: Path) -> None:
        key = str(Path(path).resolve())
        with self._lock:
            self._open[key] = self._open.get(key, 1) - 1
            if self._open[key] > 0:
                return
            del self._open[key]
            mark_clean(Path(path))


WRITERS = Writers()


def mark_in_use(path: Path) -> None:
    """A writer opened the archive: no marker until a clean close."""
    with contextlib.suppress(OSError):
        marker_path(path).unlink()


def mark_clean(path: Path) -> None:
    """The archive was closed by a writer: the file as it is now is sound. Best effort (a
    read-only folder keeps no marker: the next open checks)."""
    fingerprint = _fingerprint(path)
    if fingerprint is None:
        return
    marker = marker_path(path)
    partial = marker.with_name(marker.name + ".tmp")
    try:
        partial.write_text(json.dumps(fingerprint), encoding="utf-8")
        os.replace(partial, marker)
    except OSError:
        with contextlib.suppress(OSError):
            partial.unlink()


def quick_check(conn: sqlite3.Connection, path: Path) -> None:
    """`PRAGMA quick_check`: raise ArchiveDamaged, naming the file and the first problem."""
    try:
        rows = conn.execute("PRAGMA quick_check(5)").fetchall()
    except sqlite3.DatabaseError as e:
        raise archive_error(path, e) from None
    problems = [r[0] for r in rows if r[0] != "ok"]
    if problems:
        first = " ".join(problems[0].replace("*** in database main ***", "").split())
        raise ArchiveDamaged(damaged_message(path, f"PRAGMA quick_check: {first[:200]}"))


SALVAGE = (
    "nothing more is written to it: salvage what can still be read with "
    "`newswatch export --archive {path} > salvage.jsonl`, then restore your last copy "
    "(made by `newswatch backup DEST`) in its place, or move it aside to start a new archive"
)


def damaged_message(path: Path, what: str) -> str:
    return f"the archive {path} is damaged ({what}); " + SALVAGE.format(path=path)


def is_damage(e: sqlite3.Error, path: Path) -> bool:
    """SQLite found the file damaged (a file that is no SQLite database at all is not damage:
    not an archive)."""
    text = str(e).lower()
    if "file is not a database" in text:
        return looks_like_sqlite(path)
    return isinstance(e, sqlite3.DatabaseError) and ("malformed" in text or "corrupt" in text)


def looks_like_sqlite(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(16) == b"SQLite format 3\0"
    except OSError:
        return False


def holders(path: Path) -> list[str]:
    """The processes that have the archive (or its -wal/-shm) open, "pid N (command line)":
    Linux's /proc; empty elsewhere or when nothing can be read."""
    names = {str(path.resolve()), f"{path.resolve()}-wal", f"{path.resolve()}-shm"}
    found = []
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            fds = list((entry / "fd").iterdir())
            if not any(os.readlink(fd) in names for fd in fds):
                continue
            command = " ".join((entry / "cmdline").read_bytes().decode("utf-8", "replace").replace("\0", " ").split())
        except OSError:
            continue
        found.append(f"pid {entry.name} ({command[:120] or '?'})")
    return found


def _who(path: Path) -> str:
    held = holders(path)
    return "by " + ", ".join(held) if held else "by another process (none of this machine's could be named)"


def waiting_message(path: Path, wait: float) -> str:
    return f"the archive {path} is locked {_who(path)}: waiting up to {wait:g} s for its write lock"


def locked_message(path: Path, waited: float) -> str:
    return (
        f"the archive {path} is locked {_who(path)}: waited {waited:g} s for its write lock; "
        "try again once it is done (a run, `alerts retry`, `recheck`... hold it while they write)"
    )


def read_only_message(path: Path, detail: str) -> str:
    folder = path.parent
    if folder_read_only(folder):
        return (
            f"cannot write to the archive {path}: its folder {folder} is read-only ({detail}), and SQLite "
            f"needs to create {path.name}-wal and {path.name}-shm there: make the folder writable, or give "
            "an archive in a writable folder (archive: in the config, or --archive)"
        )
    return (
        f"cannot write to the archive {path} ({detail}): check that the file, its folder and its "
        "-wal/-shm files are writable"
    )


def folder_read_only(folder: Path) -> bool:
    return not os.access(folder, os.W_OK) or _immutable(folder)


def _immutable(folder: Path) -> bool:
    """Root ignores permissions but not a read-only mount or an immutable folder: try."""
    probe = folder / f".newswatch-probe-{os.getpid()}"
    try:
        probe.touch()
    except OSError:
        return True
    probe.unlink(missing_ok=True)
    return False


def full_message(path: Path) -> str:
    free = ""
    with contextlib.suppress(OSError):
        st = os.statvfs(path.parent)
        free = f", {st.f_bavail * st.f_frsize / 1e6:,.1f} MB free"
    return (
        f"the disk holding the archive {path} is full{free}: what was being written is rolled back, "
        "everything stored before is intact; free some space and run again"
    )


def archive_error(path: Path, e: sqlite3.Error, *, waited: float | None = None) -> ArchiveError:
    """One line for what SQLite said about the archive at `path`: damage, lock, read-only, full
    disk; anything else names the file and SQLite's words."""
    text = str(e)
    lower = text.lower()
    if is_damage(e, path):
        return ArchiveDamaged(damaged_message(path, text))
    if "file is not a database" in lower:
        return ArchiveError(f"{path} is not a newswatch archive (not an SQLite database): give the archive file")
    if "locked" in lower or "busy" in lower:
        # no wait given: the connection's busy timeout, storage.archive's default
        return ArchiveError(locked_message(path, waited if waited is not None else DEFAULT_BUSY_SECONDS))
    if "readonly" in lower or "read-only" in lower or "unable to open database file" in lower:
        return ArchiveError(read_only_message(path, text))
    if "disk is full" in lower or "disk full" in lower:
        return ArchiveError(full_message(path))
    return ArchiveError(f"the archive {path}: {text}")
