"""The archive's migration steps: every table's DDL is in this file, one step per version.

`storage.schema` lists the steps (`MIGRATIONS`) and applies those newer than an archive's
version. To change the schema, add a step here (its DDL, and a function when DDL is not
enough) and append its `Migration(version=N+1, ...)` to `storage.schema.MIGRATIONS` — never
edit a step that has shipped: archives made by it exist.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils

from core.urls import canonical_url, url_key
from storage import dedup
from storage.db import run_script
from storage.query import FTS_TOKENIZE

FTS_COLUMNS = ("title", "body")


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
    run_script(db.conn, V1_DDL)
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
    run_script(db.conn, V2_DDL)
    db.conn.executemany(
        "INSERT INTO archive_meta (key, value) VALUES (?, ?)",
        [
            ("near_num_perm", str(dedup.NUM_PERM)),
            ("near_bands", str(dedup.BANDS)),
            ("near_shingle", str(dedup.SHINGLE)),
        ],
    )
    # Articles archived by v1 join the near-duplicate index, so detection spans the upgrade.
    for article_id, body in db.execute("SELECT id, body FROM articles").fetchall():
        dedup.index_signature(db.conn, article_id, dedup.minhash(body))


# v3: the alert outbox (storage/outbox.py): one row per (rule, recipient, story), pending until
# the email listing it is accepted, and the emails sent.
V3_DDL = """
CREATE TABLE sent_emails (
    id INTEGER PRIMARY KEY,
    recipient TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('immediate', 'digest')),
    subject TEXT NOT NULL,
    message_id TEXT NOT NULL UNIQUE,
    match_count INTEGER NOT NULL,
    sent_at TEXT NOT NULL
);
CREATE TABLE alert_matches (
    id INTEGER PRIMARY KEY,
    rule TEXT NOT NULL,
    recipient TEXT NOT NULL,
    story_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    mode TEXT NOT NULL CHECK (mode IN ('immediate', 'digest')),
    title TEXT,
    source TEXT,
    published TEXT,
    url TEXT,
    snippet TEXT,
    matched_at TEXT NOT NULL,
    email_id INTEGER REFERENCES sent_emails(id),
    claim TEXT,
    claimed_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    UNIQUE (rule, recipient, story_id)
);
CREATE INDEX alert_matches_pending ON alert_matches (mode, recipient) WHERE email_id IS NULL;
CREATE INDEX alert_matches_email ON alert_matches (email_id);
"""

# v4: what ingestion remembers between runs (storage/fetchstate.py).
V4_DDL = """
CREATE TABLE discovery_documents (
    url TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    checked_at TEXT NOT NULL
);
CREATE TABLE pages (
    url TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('not_article', 'failed', 'gave_up')),
    error_kind TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 1,
    first_seen TEXT NOT NULL,
    last_attempt TEXT NOT NULL,
    next_attempt TEXT
);
CREATE INDEX pages_source ON pages(source, outcome);
CREATE TABLE source_runs (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    flow_run TEXT,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    ok INTEGER NOT NULL,
    counts TEXT NOT NULL DEFAULT '{}',
    error TEXT
);
CREATE INDEX source_runs_source ON source_runs(source, finished_at);
CREATE TABLE source_leases (
    source TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    acquired_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
"""

# v5: who holds an outbox claim (host + pid), so a claim left by a killed delivery on this
# host is taken over at once.
V5_DDL = """
ALTER TABLE alert_matches ADD COLUMN claim_host TEXT;
ALTER TABLE alert_matches ADD COLUMN claim_pid INTEGER
"""

# v6: unhealthy sources already emailed (storage/health.py), so one problem emails once.
V6_DDL = """
CREATE TABLE health_notices (
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    problem TEXT NOT NULL,
    message_id TEXT NOT NULL,
    notified_at TEXT NOT NULL,
    PRIMARY KEY (source, kind, recipient)
)
"""


def _script(ddl: str) -> Callable[[sqlite_utils.Database], None]:
    """A migration step that only runs DDL."""
    return lambda db: run_script(db.conn, ddl)


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
    run_script(db.conn, V7_DDL)
    # Storage knows no site profiles: when this step shipped, every profile's tracking
    # parameters were among those `core.urls.canonical_url` always drops, so none is passed.
    for table, key in (("articles", "id"), ("sightings", "id"), ("translations", "rowid")):
        rows = db.execute(f"SELECT {key}, url, canonical_url FROM {table}").fetchall()
        updates = []
        for row_id, url, stored in rows:
            canonical = stored
            fresh = canonical_url(url)
            if stored and fresh and url_key(fresh) == url_key(stored):
                canonical = fresh
            updates.append((canonical, url_key(canonical), row_id))
        db.conn.executemany(f"UPDATE {table} SET canonical_url = ?, url_key = ? WHERE {key} = ?", updates)


# v8: each source's recent pages as paragraph keys, from which its learned template is counted
# (storage/learned_templates.py, scrapers/template.py).
V8_DDL = """
CREATE TABLE source_template_pages (
    source TEXT NOT NULL,
    seq INTEGER NOT NULL,
    keys BLOB NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (source, seq)
) WITHOUT ROWID
"""


# v9: what the reading room asks a large archive (bench/reading_room.py: 100k articles): the
# articles fetched today (home page, "New today"), the language facet, and the stories that
# have folded copies ("Near-duplicate groups") without scanning every sighting.
V9_DDL = """
CREATE INDEX articles_fetched_at ON articles(fetched_at);
CREATE INDEX articles_language ON articles(language);
CREATE INDEX sightings_folded ON sightings(article_id, last_seen) WHERE kind != 'original'
"""


# v10: every page that did not become an article says why (storage/fetchstate.py): `reason` (the
# class of the rejection: not-article, unreadable, too-large, not-html, gone, ...), the HTTP
# `status`, and how discovery found it (`found_via`: a re-check cleans it the same way). Rows of
# older archives get their reason from what they recorded.
V10_DDL = """
ALTER TABLE pages ADD COLUMN reason TEXT;
ALTER TABLE pages ADD COLUMN status INTEGER;
ALTER TABLE pages ADD COLUMN found_via TEXT;
UPDATE pages SET reason = CASE
    WHEN outcome = 'failed' THEN 'failing'
    WHEN error_kind = 'not_article' THEN 'not-article'
    WHEN error_kind = 'clean' THEN 'unreadable'
    WHEN error_kind = 'http_status' AND (error LIKE '%HTTP 404 %' OR error LIKE '%HTTP 410 %') THEN 'gone'
    WHEN error_kind = 'http_status' THEN 'client-error'
    WHEN error_kind IN ('redirect_loop', 'too_many_redirects') THEN 'redirect'
    WHEN error_kind = 'robots_disallowed' THEN 'robots'
    WHEN error_kind IN ('timeout', 'connect', 'dns', 'protocol', 'server_error', 'rate_limited', 'unexpected')
        THEN 'failing'
    ELSE replace(coalesce(error_kind, 'unknown'), '_', '-') END;
CREATE INDEX pages_reason ON pages(reason, source)
"""


# v11: a source's state after each run (flows/pipeline/summary.py: ok, unchanged, warning, failed) and,
# for a warning, why it yields nothing; `newswatch sources` and health checks read them.
V11_DDL = """
ALTER TABLE source_runs ADD COLUMN state TEXT;
ALTER TABLE source_runs ADD COLUMN warning TEXT;
UPDATE source_runs SET state = CASE WHEN ok THEN 'ok' ELSE 'failed' END
"""


# v12: candidates found beyond a source's `max_new_per_run`, kept for its next runs (taken
# newest first: `position` is the order they were kept in).
V12_DDL = """
CREATE TABLE waiting_pages (
    source TEXT NOT NULL,
    url TEXT NOT NULL,
    lastmod TEXT,
    title TEXT,
    position INTEGER NOT NULL,
    first_seen TEXT NOT NULL,
    PRIMARY KEY (source, url)
)
"""


# v13: an alert email is recorded before its SMTP transaction (storage/outbox.py): its bytes,
# its Message-ID and the rows it lists (`prepared_id`). A crash between the server's acceptance
# and the commit of "sent" makes the next delivery send exactly that message again, which mail
# systems collapse by Message-ID. `archive_id` keeps derived Message-IDs apart across archives.
V13_DDL = """
CREATE TABLE prepared_emails (
    id INTEGER PRIMARY KEY,
    recipient TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('immediate', 'digest')),
    subject TEXT NOT NULL,
    message_id TEXT NOT NULL UNIQUE,
    message BLOB NOT NULL,
    prepared_at TEXT NOT NULL
);
ALTER TABLE alert_matches ADD COLUMN prepared_id INTEGER REFERENCES prepared_emails(id);
CREATE INDEX alert_matches_prepared ON alert_matches (prepared_id) WHERE prepared_id IS NOT NULL;
INSERT OR IGNORE INTO archive_meta (key, value) VALUES ('archive_id', lower(hex(randomblob(16))))
"""

# v14: a health email is recorded before its SMTP transaction too (storage/outbox.py), with the
# (source, problem) pairs it tells: a crash between the server's acceptance and the commit of
# its notices sends exactly that message again, which mail systems collapse by Message-ID.
V14_DDL = """
CREATE TABLE prepared_health_emails (
    id INTEGER PRIMARY KEY,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    message_id TEXT NOT NULL UNIQUE,
    message BLOB NOT NULL,
    problems TEXT NOT NULL,
    prepared_at TEXT NOT NULL
)
"""

# v15: who wrote the article, from its metadata, byline or signature (scrapers/byline.py);
# NULL for articles archived before, and for pages that name nobody.
V15_DDL = """
ALTER TABLE articles ADD COLUMN author TEXT
"""


# v16: stories (storage/stories.py): every article in one story, the facts index it is found
# by (postings: fact -> day -> article; document frequencies), and the human decisions
# (splits keep articles apart, merges pin them). A story's id is the id of the article that
# started it. Articles already archived get their stories by `story_assignment.backfill`, oldest first
# and resumable: the step only records which ids are to do.
V16_DDL = """
CREATE TABLE stories (
    id INTEGER PRIMARY KEY,
    first_day INTEGER NOT NULL,
    last_day INTEGER NOT NULL,
    title_article_id INTEGER,
    size INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX stories_last_day ON stories(last_day);
CREATE TABLE story_members (
    article_id INTEGER PRIMARY KEY REFERENCES articles(id) ON DELETE CASCADE,
    story_id INTEGER NOT NULL,
    day INTEGER NOT NULL,
    how TEXT NOT NULL CHECK (how IN ('first', 'facts', 'translation', 'split', 'merge')),
    score REAL,
    evidence TEXT,
    pinned INTEGER NOT NULL DEFAULT 0,
    assigned_at TEXT NOT NULL
);
CREATE INDEX story_members_story ON story_members(story_id, day);
CREATE TABLE story_article_facts (
    article_id INTEGER PRIMARY KEY REFERENCES articles(id) ON DELETE CASCADE,
    day INTEGER NOT NULL,
    facts BLOB NOT NULL
);
CREATE TABLE story_postings (
    fact INTEGER NOT NULL,
    day INTEGER NOT NULL,
    article_id INTEGER NOT NULL,
    PRIMARY KEY (fact, day, article_id)
) WITHOUT ROWID;
CREATE TABLE story_fact_df (fact INTEGER PRIMARY KEY, df INTEGER NOT NULL);
CREATE TABLE story_apart (
    article_id INTEGER NOT NULL,
    other_id INTEGER NOT NULL,
    PRIMARY KEY (article_id, other_id)
) WITHOUT ROWID;
CREATE TABLE story_overrides (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('split', 'merge')),
    article_id INTEGER,
    from_story INTEGER,
    to_story INTEGER,
    at TEXT NOT NULL
);
INSERT INTO archive_meta (key, value)
    SELECT 'stories_backfill', min(id) || ' ' || max(id) FROM articles HAVING count(*) > 0
"""


# v17: alerts once per story (alerts/match.py). A rule with `per: story` alerts the first version
# of a story it matches; each later version it matches is recorded as a row `also_in` the story's
# alert (the id of that row), listed as "also in" by the next email of the rule, never an email
# of its own. So a story has several rows per rule and recipient: the unique key becomes the
# article (a rule matches an article once per recipient), and a partial unique index keeps one
# alert per story (`story_id` is the story for `per: story`, the article for `per: article`).
# SQLite cannot drop a table's UNIQUE constraint: the table is rebuilt (nothing references it).
V17_DDL = """
CREATE TABLE alert_matches_v17 (
    id INTEGER PRIMARY KEY,
    rule TEXT NOT NULL,
    recipient TEXT NOT NULL,
    story_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    mode TEXT NOT NULL CHECK (mode IN ('immediate', 'digest')),
    title TEXT,
    source TEXT,
    published TEXT,
    url TEXT,
    snippet TEXT,
    matched_at TEXT NOT NULL,
    email_id INTEGER REFERENCES sent_emails(id),
    claim TEXT,
    claimed_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    claim_host TEXT,
    claim_pid INTEGER,
    prepared_id INTEGER REFERENCES prepared_emails(id),
    also_in INTEGER,
    UNIQUE (rule, recipient, article_id)
);
INSERT INTO alert_matches_v17 (id, rule, recipient, story_id, article_id, mode, title, source, published, url,
    snippet, matched_at, email_id, claim, claimed_at, attempts, last_error, claim_host, claim_pid, prepared_id)
SELECT id, rule, recipient, story_id, article_id, mode, title, source, published, url,
    snippet, matched_at, email_id, claim, claimed_at, attempts, last_error, claim_host, claim_pid, prepared_id
FROM alert_matches;
DROP TABLE alert_matches;
ALTER TABLE alert_matches_v17 RENAME TO alert_matches;
CREATE UNIQUE INDEX alert_matches_story ON alert_matches (rule, recipient, story_id) WHERE also_in IS NULL;
CREATE INDEX alert_matches_also_in ON alert_matches (also_in) WHERE also_in IS NOT NULL;
CREATE INDEX alert_matches_pending ON alert_matches (mode, recipient) WHERE email_id IS NULL;
CREATE INDEX alert_matches_email ON alert_matches (email_id);
CREATE INDEX alert_matches_prepared ON alert_matches (prepared_id) WHERE prepared_id IS NOT NULL
"""


# v18: articles taken out by hand (`newswatch forget`): kept in the archive, left out of alerts,
# digests, feeds, search and the reading room's lists; `forget --undo` (or `recheck`) deletes
# the row. The page is also recorded in `pages` (reason 'forgotten'), so `rejected` lists it.
V18_DDL = """
CREATE TABLE forgotten (
    article_id INTEGER PRIMARY KEY REFERENCES articles(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    reason TEXT,
    forgotten_at TEXT NOT NULL
)
"""


# v19: FTS5 answered `word*` by merging the postings of every word that starts with it: at a
# million articles (bench/million.py) counting the matches of `mot12*` took 2.3 s (its search
# 2.6-4.1 s; `mot1*` 19 s). On real pages (extraction corpora, extrapolated to a million articles)
# the slowest 2-, 3-, 4- and 5-character prefixes would take 2.1, 1.2, 0.55 and 0.25 s, and 6
# characters 0.05 s: prefix indexes of 2 to 5 characters read one list instead (`mot12*`
# counted in 53 ms). Their price, measured: the file 3.41 -> 4.28 GiB, a run's store stage of 50
# articles about 150 -> 300 ms, this step 356 s at a million articles (23 s at 100,000).
# FTS5 cannot change the `prefix` option of a table: it is made again and rebuilt from
# `articles`, its content table (forgotten articles stay in it, as before); the triggers name
# it and stay as they are.
V19_DDL = """
DROP TABLE articles_fts;
CREATE VIRTUAL TABLE [articles_fts] USING FTS5 (
    [title], [body],
    tokenize='unicode61 remove_diacritics 2',
    content=[articles],
    prefix='2 3 4 5'
);
INSERT INTO articles_fts (articles_fts) VALUES ('rebuild')
"""

# v20: a search is newest first (storage.search); this index lets a query matching most of the
# archive walk it newest first and stop at the page's hits, rather than sort every match
# (`mot12*` at a million articles: 1.3 s). Built in 2.9 s at a million articles.
V20_DDL = "CREATE INDEX IF NOT EXISTS articles_newest ON articles(coalesce(published, substr(fetched_at, 1, 10)), id)"
