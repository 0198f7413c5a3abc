"""The archive's tables and their forward migrations.

`MIGRATIONS` is an ordered list; `migrate(db)` applies every step newer than the archive's
`schema_version`. To change the schema, append a `Migration(version=N+1, ...)` — never edit a
step that has shipped: archives made by it exist. A step runs inside one transaction with the
version bump (`transactional=True`), so a crash leaves the archive at the previous version;
the one exception is v1, whose FTS setup goes through sqlite-utils (which commits on its own):
it is written to be re-runnable instead.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

import sqlite_utils

from storage import dedup

FTS_TOKENIZE = "unicode61 remove_diacritics 2"
FTS_COLUMNS = ("title", "body")


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[sqlite_utils.Database], None]
    transactional: bool = True


# v1: the first archive layout (articles, sightings, full-text search).
V1_DDL = """
CREATE TABLE IF NOT EXISTS articles (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL,
    canonical_url TEXT,
    source TEXT NOT NULL,
    title TEXT,
    published TEXT,
    body TEXT NOT NULL,
    language TEXT,
    contacts TEXT NOT NULL DEFAULT '[]',
    fetched_at TEXT NOT NULL,
    content_hash TEXT NOT NULL UNIQUE,
    profile TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS articles_canonical_url ON articles(canonical_url)
    WHERE canonical_url IS NOT NULL;
CREATE INDEX IF NOT EXISTS articles_published ON articles(published);
CREATE INDEX IF NOT EXISTS articles_source ON articles(source);
CREATE TABLE IF NOT EXISTS sightings (
    id INTEGER PRIMARY KEY,
    article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    canonical_url TEXT,
    source TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('original', 'same_url', 'exact', 'near')),
    similarity REAL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    UNIQUE (article_id, url, source)
);
CREATE INDEX IF NOT EXISTS sightings_canonical_url ON sightings(canonical_url);
CREATE INDEX IF NOT EXISTS sightings_source ON sightings(source, last_seen);
"""


def _v1(db: sqlite_utils.Database) -> None:
    for statement in V1_DDL.split(";"):
        if statement.strip():
            db.execute(statement)
    db["articles"].enable_fts(list(FTS_COLUMNS), create_triggers=True, tokenize=FTS_TOKENIZE, replace=True)


# v2: near-duplicate index (MinHash signatures + LSH band keys), translation links, settings.
V2_DDL = """
CREATE TABLE archive_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE near_signatures (
    article_id INTEGER PRIMARY KEY REFERENCES articles(id) ON DELETE CASCADE,
    signature BLOB NOT NULL
);
CREATE TABLE near_keys (
    band_key INTEGER NOT NULL,
    article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    PRIMARY KEY (band_key, article_id)
) WITHOUT ROWID;
CREATE INDEX near_keys_article ON near_keys(article_id);
CREATE TABLE translations (
    article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    language TEXT NOT NULL,
    url TEXT NOT NULL,
    canonical_url TEXT,
    PRIMARY KEY (article_id, language)
);
CREATE INDEX translations_canonical_url ON translations(canonical_url);
"""


def _v2(db: sqlite_utils.Database) -> None:
    for statement in V2_DDL.split(";"):
        if statement.strip():
            db.execute(statement)
    db.conn.executemany(
        "INSERT INTO archive_meta (key, value) VALUES (?, ?)",
        [("near_num_perm", str(dedup.NUM_PERM)), ("near_bands", str(dedup.BANDS)),
         ("near_shingle", str(dedup.SHINGLE))],
    )
    # Articles archived by v1 join the near-duplicate index, so detection spans the upgrade.
    for article_id, body in db.execute("SELECT id, body FROM articles").fetchall():
        index_near(db.conn, article_id, body)


def index_near(conn: sqlite3.Connection, article_id: int, body: str,
               min_words: int = dedup.NearConfig.min_words) -> bytes | None:
    signature = dedup.minhash(body, min_words=min_words)
    if signature is not None:
        conn.execute("INSERT OR REPLACE INTO near_signatures (article_id, signature) VALUES (?, ?)",
                     (article_id, signature))
        conn.executemany("INSERT OR IGNORE INTO near_keys (band_key, article_id) VALUES (?, ?)",
                         [(key, article_id) for key in dedup.band_keys(signature)])
    return signature


def _alerts_v3(db: sqlite_utils.Database) -> None:
    # The alerts work owns these tables' DDL; imported here only when an archive is upgraded.
    from alerts.outbox import create_alert_tables

    create_alert_tables(db)


def _fetchstate_v4(db: sqlite_utils.Database) -> None:
    # The ingestion work owns these tables' DDL (storage/fetchstate.py).
    from storage.fetchstate import create_tables

    create_tables(db)


def _alert_claim_holder_v5(db: sqlite_utils.Database) -> None:
    from alerts.outbox import add_claim_holder

    add_claim_holder(db)


def _health_notices_v6(db: sqlite_utils.Database) -> None:
    # The health alerts own this table's DDL (alerts/health_notices.py).
    from alerts.health_notices import create_tables

    create_tables(db)


# v7: deduplication compares `url_key` (scheme-free), so `canonical_url` can keep the scheme and
# host the site serves (earlier versions forced https and dropped `www.`, which gave dead links
# on http-only sites). Existing rows get their key from the stored canonical URL, which is the
# same key a new spelling of the page gets: old archives keep deduplicating. A stored
# canonical URL that was derived from the seen URL (not declared by the page) is re-derived
# with the new rules, so it links to the scheme the site served.
V7_DDL = """
ALTER TABLE articles ADD COLUMN url_key TEXT;
ALTER TABLE sightings ADD COLUMN url_key TEXT;
ALTER TABLE translations ADD COLUMN url_key TEXT;
CREATE UNIQUE INDEX articles_url_key ON articles(url_key) WHERE url_key IS NOT NULL;
CREATE INDEX sightings_url_key ON sightings(url_key);
CREATE INDEX translations_url_key ON translations(url_key)
"""


def _url_keys_v7(db: sqlite_utils.Database) -> None:
    from scrapers.profiles import profile_for_url

    for statement in V7_DDL.split(";"):
        if statement.strip():
            db.execute(statement)
    for table, key in (("articles", "id"), ("sightings", "id"), ("translations", "rowid")):
        rows = db.execute(f"SELECT {key}, url, canonical_url FROM {table}").fetchall()
        updates = []
        for row_id, url, stored in rows:
            canonical = stored
            fresh = dedup.canonical_url(url, tracking_params=profile_for_url(url).tracking_params)
            if stored and fresh and dedup.url_key(fresh) == dedup.url_key(stored):
                canonical = fresh
            updates.append((canonical, dedup.url_key(canonical), row_id))
        db.conn.executemany(f"UPDATE {table} SET canonical_url = ?, url_key = ? WHERE {key} = ?", updates)


MIGRATIONS: list[Migration] = [
    Migration(1, "articles, sightings, full-text search", _v1, transactional=False),
    Migration(2, "near-duplicate index, translations, archive settings", _v2),
    Migration(3, "alert outbox: alert_matches, sent_emails", _alerts_v3),
    Migration(4, "ingestion state: discovery_documents, pages, source_runs", _fetchstate_v4),
    Migration(5, "alert claims record their holder (host, pid)", _alert_claim_holder_v5),
    Migration(6, "health notices: unhealthy sources already emailed", _health_notices_v6),
    Migration(7, "url_key: scheme-free dedup key; canonical_url keeps the served scheme", _url_keys_v7),
]

LATEST = MIGRATIONS[-1].version


def current_version(db: sqlite_utils.Database) -> int:
    if not db["schema_version"].exists():
        return 0
    return db.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]


def migrate(db: sqlite_utils.Database) -> list[int]:
    """Bring the archive to the latest version; returns the versions applied (oldest first).

    `db.conn` must be in autocommit mode (isolation_level=None): this function owns the
    transactions.
    """
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        "version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    applied = []
    for migration in MIGRATIONS:
        if migration.version <= current_version(db):
            continue
        if migration.transactional:
            db.execute("BEGIN IMMEDIATE")
            try:
                # Another process may have migrated between our check and our lock.
                if migration.version <= current_version(db):
                    db.execute("ROLLBACK")
                    continue
                migration.apply(db)
                _record(db, migration)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        else:
            migration.apply(db)
            _record(db, migration)
        applied.append(migration.version)
    return applied


def _record(db: sqlite_utils.Database, migration: Migration) -> None:
    db.execute(
        "INSERT OR IGNORE INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
        (migration.version, migration.description, datetime.now(timezone.utc).isoformat(timespec="seconds")),
    )
