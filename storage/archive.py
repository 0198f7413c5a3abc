"""The SQLite archive: every article once, where and when it was seen, searchable.

    with Archive.open("data/archive.db") as archive:
        result = archive.add_batch([Incoming(article, source="iom-fr", url=url)])
        result.new_ids, result.counts

`add_batch` writes a whole batch in one transaction (BEGIN IMMEDIATE ... COMMIT): a crash or
an exception leaves either all of it or none of it. Unique constraints (content_hash,
canonical_url, one sighting per article/url/source) make re-running a batch a no-op.
To write more in the same transaction (the alert outbox), split it:

    batch = archive.prepare(items)        # dedup keys and MinHash, before the write lock
    with archive.transaction():
        result = archive.insert(batch)
        ...                                # outbox rows, kept or lost with the articles

An incoming article is a `core.article.Article` (the type every layer shares); the records
in and out are in `storage/records.py`. This module opens the archive (creating, upgrading,
checking it); the writes are in `storage/archive_writes.py`, the reads in
`storage/archive_reads.py` (`Archive` has both).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from urllib.parse import quote

from errors import ArchiveError
from storage import dedup, integrity, schema
from storage.archive_reads import ArchiveReads
from storage.archive_writes import ArchiveWrites


class Archive(ArchiveWrites, ArchiveReads):
    def __init__(self, conn: sqlite3.Connection, path: Path, near: dedup.NearConfig):
        super().__init__(conn, path)
        self.near = near
        self.newer_schema: int | None = None  # the version of a newer newswatch that wrote it
        self._writing = False  # a writing connection (`open`, `reopen`): counted in integrity.Writers
        self.busy_timeout_ms = 30_000

    def close(self) -> None:
        super().close()
        if self._writing:
            self._writing = False
            integrity.WRITERS.closed(self.path)  # the last one leaves the clean marker

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        near: dedup.NearConfig = dedup.NearConfig(),
        busy_timeout_ms: int = 30_000,
        read_only: bool = False,
        damaged_ok: bool = False,
    ) -> Archive:
        """Open (creating and upgrading if needed) the archive at `path`. An archive written by
        a newer newswatch is refused (ArchiveError), and so is a damaged one (ArchiveDamaged:
        `storage.integrity` says when it is checked).

        `read_only`: for the commands that only read (search, show, sources, browse...): an
        existing newswatch archive of this version or a newer one (`newer_schema`), opened
        read-only; nothing is created or upgraded, anything else is an ArchiveError.
        `damaged_ok` (read-only): no integrity check, for `export` to salvage what it can.
        """
        path = Path(path)
        if read_only:
            return cls._open_read_only(path, near, busy_timeout_ms, check=not damaged_ok)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:  # a file in the way, no permission, read-only file system
            raise ArchiveError(
                f"cannot create the archive {path}: its directory cannot be created ({e.strerror}: {e.filename})"
            ) from None
        existed = path.exists() and path.stat().st_size > 0
        try:
            archive = cls(_connect(path, busy_timeout_ms), path, near)
        except sqlite3.DatabaseError as e:
            raise integrity.archive_error(path, e, waited=busy_timeout_ms / 1000) from None
        archive.busy_timeout_ms = busy_timeout_ms
        try:
            if existed and integrity.check_before_writing(path):
                integrity.quick_check(archive.conn, path)
            integrity.WRITERS.opened(path)
            archive._writing = True
            schema.migrate(archive)
            archive._check_near_settings()
        except sqlite3.DatabaseError as e:
            archive.close()
            raise integrity.archive_error(path, e, waited=busy_timeout_ms / 1000) from None
        except BaseException:
            archive.close()
            raise
        return archive

    @classmethod
    def reopen(
        cls,
        path: str | Path,
        *,
        near: dedup.NearConfig = dedup.NearConfig(),
        busy_timeout_ms: int = 30_000,
        shared: bool = False,
    ) -> Archive:
        """Another connection to an archive this process has opened with `open` (migrated, its
        settings checked): the same pragmas, no migration nor checks again (a run's writer,
        its readers). `shared`: usable from one thread at a time, whichever (a pool's)."""
        path = Path(path)
        try:
            conn = sqlite3.connect(
                path, isolation_level=None, timeout=busy_timeout_ms / 1000, check_same_thread=not shared
            )
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as e:
            raise ArchiveError(f"cannot open the archive {path}: {e}") from None
        archive = cls(conn, path, near)
        integrity.WRITERS.opened(path)
        archive._writing = True
        return archive

    @classmethod
    def _open_read_only(cls, path: Path, near: dedup.NearConfig, busy_timeout_ms: int, check: bool = True) -> Archive:
        if path.is_dir():
            raise ArchiveError(f"{path} is a directory, not a newswatch archive: give the archive file (--archive)")
        if not path.exists():
            raise ArchiveError(
                f"no archive at {path}: `newswatch run` (or `newswatch import PATH`) makes it; or give --archive"
            )
        try:
            try:
                archive, version = cls._read_only_connection(path, near, busy_timeout_ms, check, "mode=ro")
            except sqlite3.OperationalError as e:
                # A read-only folder: SQLite cannot make the -shm file WAL readers share. With no
                # -wal file there is nothing uncommitted and no writer can start (it would need
                # to create one): the file is read as it is (immutable).
                wal = path.with_name(path.name + "-wal")
                if "unable to open" not in str(e) or not integrity.folder_read_only(path.parent):
                    raise
                if wal.exists():
                    raise integrity.archive_error(path, e) from None
                archive, version = cls._read_only_connection(path, near, busy_timeout_ms, check, "mode=ro&immutable=1")
        except sqlite3.DatabaseError as e:
            if integrity.is_damage(e, path):
                raise integrity.archive_error(path, e) from None
            raise ArchiveError(f"{path} is not a newswatch archive ({e})") from None
        if version < schema.LATEST:
            archive.close()
            if version == 0:
                raise ArchiveError(f"{path} is not a newswatch archive (it has no newswatch tables)")
            raise ArchiveError(
                f"the archive {path} is from an older newswatch (schema {version}, this one reads {schema.LATEST}): "
                "the next `newswatch run` (or import) upgrades it; a command that only reads does not"
            )
        if version > schema.LATEST:
            archive.newer_schema = version
        else:
            archive._check_near_settings()
        return archive

    @classmethod
    def _read_only_connection(
        cls, path: Path, near: dedup.NearConfig, busy_timeout_ms: int, check: bool, mode: str
    ) -> tuple[Archive, int]:
        uri = f"file:{quote(str(path.resolve()))}?{mode}"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=busy_timeout_ms / 1000)
        archive = cls(conn, path, near)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            if check and integrity.check_before_reading(path):
                integrity.quick_check(conn, path)
            return archive, schema.current_version(archive)
        except BaseException:
            archive.close()
            raise

    def _check_near_settings(self) -> None:
        stored = dict(self.conn.execute("SELECT key, value FROM archive_meta WHERE key LIKE 'near_%'"))
        expected = {
            "near_num_perm": str(dedup.NUM_PERM),
            "near_bands": str(dedup.BANDS),
            "near_shingle": str(dedup.SHINGLE),
        }
        if stored != expected:
            raise ArchiveError(
                f"{self.path} was indexed with near-duplicate settings {stored}, "
                f"this version uses {expected}: the near-duplicate index needs a rebuild"
            )

    def ensure_writable(self, *, wait: float = 30.0, waiting=None) -> None:
        """Raise ArchiveError, naming the file, if the archive cannot be written (a read-only
        file or folder, a full disk): opening succeeds on such a file, the first write would
        not. Locked by another process: `waiting(message)` is told who holds it and how long
        this waits (`wait` seconds at most), then an ArchiveError names the holders."""
        started = time.monotonic()
        try:
            try:
                self._probe_write(0)
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) and "busy" not in str(e):
                    raise
                if waiting is not None:
                    waiting(integrity.waiting_message(self.path, wait))
                self._probe_write(wait)
        except sqlite3.OperationalError as e:
            raise integrity.archive_error(self.path, e, waited=round(time.monotonic() - started)) from None

    def _probe_write(self, wait: float) -> None:
        self.conn.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                self.conn.execute("INSERT OR REPLACE INTO archive_meta (key, value) VALUES ('write_probe', '')")
            finally:
                self.conn.execute("ROLLBACK")  # a probe: never kept, so not `transaction()`
        finally:
            self.conn.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")

    def check(self) -> list[str]:
        """Consistency problems (empty list: none): SQLite integrity, FTS index, foreign keys."""
        problems = [r[0] for r in self.conn.execute("PRAGMA integrity_check") if r[0] != "ok"]
        try:
            self.conn.execute("INSERT INTO articles_fts(articles_fts, rank) VALUES ('integrity-check', 1)")
        except sqlite3.DatabaseError as e:
            problems.append(f"full-text index out of sync: {e}")
        problems += [f"dangling reference in {r[0]}" for r in self.conn.execute("PRAGMA foreign_key_check")]
        return problems


def _connect(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    """A writing connection: autocommit (this package owns every transaction), WAL, full sync,
    foreign keys enforced, waiting up to `busy_timeout_ms` for another writer."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout_ms / 1000)
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn
