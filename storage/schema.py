"""The archive's schema version: the ordered list of migrations, and the checks on open.

`MIGRATIONS` is an ordered list; `migrate(db)` applies every step newer than the archive's
`schema_version`. The steps themselves (every table's DDL) are in `storage.migrations`. To
change the schema, append a `Migration(version=N+1, ...)` — never edit a step that has
shipped: archives made by it exist. A step runs inside one transaction with the version bump
(`transactional=True`), so a crash leaves the archive at the previous version; the one
exception is v1, whose FTS setup goes through sqlite-utils (which commits on its own): it is
written to be re-runnable instead.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import sqlite_utils

from storage.db import Database, utc_iso
from storage.migrations import (
    V3_DDL,
    V4_DDL,
    V5_DDL,
    V6_DDL,
    V8_DDL,
    V9_DDL,
    V10_DDL,
    V11_DDL,
    V12_DDL,
    V13_DDL,
    V14_DDL,
    V15_DDL,
    V16_DDL,
    V17_DDL,
    V18_DDL,
    V19_DDL,
    V20_DDL,
    _script,
    _url_keys_v7,
    _v1,
    _v2,
)


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[sqlite_utils.Database], None]
    transactional: bool = True
    # What the step costs on a large archive (seconds per million articles, measured on the
    # 2-core machine): a step that rebuilds an index over every article is announced, since
    # the command that opens the archive says nothing else meanwhile.
    seconds_per_million: float = 0.0


MIGRATIONS: list[Migration] = [
    Migration(1, "articles, sightings, full-text search", _v1, transactional=False),
    Migration(2, "near-duplicate index, translations, archive settings", _v2),
    Migration(3, "alert outbox: alert_matches, sent_emails", _script(V3_DDL)),
    Migration(4, "ingestion state: discovery_documents, pages, source_runs", _script(V4_DDL)),
    Migration(5, "alert claims record their holder (host, pid)", _script(V5_DDL)),
    Migration(6, "health notices: unhealthy sources already emailed", _script(V6_DDL)),
    Migration(7, "url_key: scheme-free dedup key; canonical_url keeps the served scheme", _url_keys_v7),
    Migration(8, "learned templates: paragraph keys of each source's recent pages", _script(V8_DDL)),
    Migration(9, "indexes for the reading room: fetched_at, language, folded sightings", _script(V9_DDL)),
    Migration(10, "rejected pages: reason, HTTP status, how discovery found them", _script(V10_DDL)),
    Migration(11, "source runs: the state and the warning of each source run", _script(V11_DDL)),
    Migration(12, "waiting pages: candidates beyond max_new_per_run, for the next runs", _script(V12_DDL)),
    Migration(13, "alert emails recorded before sending: prepared_emails", _script(V13_DDL)),
    Migration(14, "health emails recorded before sending: prepared_health_emails", _script(V14_DDL)),
    Migration(15, "articles: author (byline or signature, out of the body)", _script(V15_DDL)),
    Migration(16, "stories: one event across outlets and languages, facts index, splits, merges", _script(V16_DDL)),
    Migration(17, "alerts once per story: later versions also_in the story's alert", _script(V17_DDL)),
    Migration(18, "forgotten articles: taken out of alerts, feeds, search by hand", _script(V18_DDL)),
    Migration(
        19,
        "full-text index: prefix indexes of 2 to 5 characters (prefix* searches)",
        _script(V19_DDL),
        seconds_per_million=356.0,
    ),
    Migration(20, "search newest first: index articles_newest", _script(V20_DDL), seconds_per_million=3.0),
]

LATEST = MIGRATIONS[-1].version


def current_version(db: Database) -> int:
    if not db.utils["schema_version"].exists():
        return 0
    return db.conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]


def newer_than_this_version(db: Database) -> int | None:
    """The archive's schema version when a newer newswatch wrote it (None: this one can)."""
    if not db.utils["schema_version"].exists():
        return None
    found = current_version(db)
    return found if found > LATEST else None


def newer_archive_message(path, found: int) -> str:
    return f"the archive {path} was written by a newer newswatch (schema {found} > {LATEST}): upgrade newswatch"


def migrate(db: Database) -> list[int]:
    """Bring the archive to the latest version; returns the versions applied (oldest first).

    Each step gets the connection through sqlite-utils (`db.utils`), inside the step's
    transaction when it is `transactional`. An archive from a newer newswatch is refused
    (ArchiveError): this version does not know what the newer tables and columns mean, so
    writing could break them.
    """
    found = newer_than_this_version(db)
    if found is not None:
        from errors import ArchiveError

        raise ArchiveError(newer_archive_message(db.path, found) + " before writing to it")
    db.conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        "version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    _announce_slow_steps(db)
    applied = []
    for migration in MIGRATIONS:
        if migration.version <= current_version(db):
            continue
        if migration.transactional:
            with db.transaction():
                # Another process may have migrated between our check and our lock.
                if migration.version <= current_version(db):
                    continue
                migration.apply(db.utils)
                _record(db, migration)
        else:
            migration.apply(db.utils)
            _record(db, migration)
        applied.append(migration.version)
    return applied


ANNOUNCE_FROM_SECONDS = 10.0  # an upgrade expected to take longer is announced on stderr


def _announce_slow_steps(db: Database) -> None:
    """One line on stderr before an upgrade that rebuilds an index over a large archive: how
    long it is expected to take, and that stopping it loses nothing."""
    found = current_version(db)
    steps = [m for m in MIGRATIONS if m.version > found and m.seconds_per_million]
    if not found or not steps or not db.utils["articles"].exists():
        return
    articles = db.conn.execute("SELECT coalesce(max(rowid), 0) FROM articles").fetchone()[0]
    expected = articles / 1_000_000 * sum(m.seconds_per_million for m in steps)
    if expected < ANNOUNCE_FROM_SECONDS:
        return
    print(
        f"newswatch: upgrading the archive {db.path} from schema {found} to {LATEST} "
        f"({'; '.join(m.description for m in steps)}): about {max(1, round(expected / 60))} min for its "
        f"{articles:,} articles on a 2-core machine. Each step is one transaction: stopped, the "
        "archive stays as it was and the next command upgrades it again",
        file=sys.stderr,
        flush=True,
    )


def _record(db: Database, migration: Migration) -> None:
    db.conn.execute(
        "INSERT OR IGNORE INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
        (migration.version, migration.description, utc_iso()),
    )
