import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.article import Article
from scrapers.clean import clean_page
from storage.archive import Archive
from storage.records import Incoming
from storage.schema import LATEST

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((Path(__file__).resolve().parent / "fixtures" / "pages").glob("*.txt"))


def page_batch():
    return [Incoming(clean_page(p.read_bytes()), source="import", url=p.resolve().as_uri()) for p in PAGES]


def counts(path):
    conn = sqlite3.connect(path)
    try:
        return {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("articles", "sightings", "near_keys", "near_signatures", "articles_fts")
        }
    finally:
        conn.close()


def test_importing_the_pages_twice_adds_nothing_the_second_time(tmp_path):
    db = tmp_path / "archive.db"
    with Archive.open(db) as archive:
        first = archive.add_batch(page_batch())
    after_first = counts(db)
    with Archive.open(db) as archive:
        second = archive.add_batch(page_batch())
        assert archive.check() == []
    assert len(PAGES) == 10 and first.counts["new"] == 10
    assert second.counts["new"] == 0 and second.counts["exact"] == 10
    assert counts(db) == after_first and after_first["articles"] == 10


def _synthetic(i: int) -> Article:
    words = " ".join(f"mot{(i * 7919 + k * 104729) % 1000003}" for k in range(40))
    return Article(
        title=f"Article {i}",
        date="2024-01-01",
        paragraphs=[f"Texte numéro {i}. {words}"],
        language="fr",
        url=f"https://example.org/news/{i}",
    )


def test_an_exception_mid_batch_writes_nothing(tmp_path):
    db = tmp_path / "archive.db"

    def items():
        for i in range(10):
            if i == 6:
                raise RuntimeError("disk on fire")
            yield Incoming(_synthetic(i), "test")

    with Archive.open(db) as archive:
        archive.add_batch([Incoming(_synthetic(100), "test")])
        before = counts(db)
        with pytest.raises(RuntimeError):
            archive.add_batch(items())
        assert counts(db) == before
        assert archive.check() == []
        assert archive.add_batch(Incoming(_synthetic(i), "test") for i in range(10)).counts["new"] == 10


KILL_SCRIPT = """
import sys
from storage.archive import Archive
from storage.records import Incoming
sys.path.insert(0, {tests!r})
from test_archive import _synthetic
BATCH = {batch}
with Archive.open(sys.argv[1]) as archive:
    for start in range(0, {total}, BATCH):
        archive.add_batch(Incoming(_synthetic(i), "test") for i in range(start, start + BATCH))
        print(start + BATCH, flush=True)
"""


@pytest.mark.fault
def test_sigkill_mid_import_leaves_whole_batches_and_a_rerun_completes(tmp_path):
    db, batch, total = tmp_path / "archive.db", 300, 3000
    script = tmp_path / "import_synthetic.py"
    script.write_text(KILL_SCRIPT.format(tests=str(Path(__file__).parent), batch=batch, total=total))
    proc = subprocess.Popen([sys.executable, str(script), str(db)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == str(batch)  # one batch committed, the next one being written
    time.sleep(0.15)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL

    with Archive.open(db) as archive:
        assert archive.check() == []
        n = counts(db)
        assert n["articles"] % batch == 0 and batch <= n["articles"] < total
        assert n["articles_fts"] == n["articles"] == n["near_signatures"] == n["sightings"]
    subprocess.run([sys.executable, str(script), str(db)], cwd=ROOT, check=True, capture_output=True)
    with Archive.open(db) as archive:
        assert archive.check() == []
        n = counts(db)
        assert n["articles"] == n["articles_fts"] == n["sightings"] == total
        assert archive.conn.execute("SELECT count(DISTINCT content_hash) FROM articles").fetchone()[0] == total


# The archive layout written by schema version 1, kept verbatim: archives made by it exist.
V1_ARCHIVE = """
CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL);
INSERT INTO schema_version VALUES (1, 'articles, sightings, full-text search', '2024-01-01T00:00:00+00:00');
CREATE TABLE articles (
    id INTEGER PRIMARY KEY, url TEXT NOT NULL, canonical_url TEXT, source TEXT NOT NULL, title TEXT,
    published TEXT, body TEXT NOT NULL, language TEXT, contacts TEXT NOT NULL DEFAULT '[]',
    fetched_at TEXT NOT NULL, content_hash TEXT NOT NULL UNIQUE, profile TEXT);
CREATE UNIQUE INDEX articles_canonical_url ON articles(canonical_url) WHERE canonical_url IS NOT NULL;
CREATE INDEX articles_published ON articles(published);
CREATE INDEX articles_source ON articles(source);
CREATE TABLE sightings (
    id INTEGER PRIMARY KEY, article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    url TEXT NOT NULL, canonical_url TEXT, source TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('original', 'same_url', 'exact', 'near')), similarity REAL,
    first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, UNIQUE (article_id, url, source));
CREATE INDEX sightings_canonical_url ON sightings(canonical_url);
CREATE INDEX sightings_source ON sightings(source, last_seen);
CREATE VIRTUAL TABLE [articles_fts] USING FTS5 ([title], [body], tokenize='unicode61 remove_diacritics 2', content=[articles]);
CREATE TRIGGER [articles_ai] AFTER INSERT ON [articles] BEGIN
  INSERT INTO [articles_fts] (rowid, [title], [body]) VALUES (new.rowid, new.[title], new.[body]);
END;
CREATE TRIGGER [articles_ad] AFTER DELETE ON [articles] BEGIN
  INSERT INTO [articles_fts] ([articles_fts], rowid, [title], [body]) VALUES('delete', old.rowid, old.[title], old.[body]);
END;
CREATE TRIGGER [articles_au] AFTER UPDATE ON [articles] BEGIN
  INSERT INTO [articles_fts] ([articles_fts], rowid, [title], [body]) VALUES('delete', old.rowid, old.[title], old.[body]);
  INSERT INTO [articles_fts] (rowid, [title], [body]) VALUES (new.rowid, new.[title], new.[body]);
END;
"""  # noqa: E501 (kept verbatim, as archives of schema version 1 hold it)


def test_a_version_1_archive_upgrades_itself(tmp_path):
    db = tmp_path / "old.db"
    old = _synthetic(1)
    conn = sqlite3.connect(db)
    conn.executescript(V1_ARCHIVE)
    conn.execute(
        "INSERT INTO articles (url, canonical_url, source, title, published, body, fetched_at, content_hash) "
        "VALUES ('https://example.org/news/1', 'https://example.org/news/1', 'old', 'Article 1', '2024-01-01', ?, "
        "'2024-01-01T00:00:00+00:00', 'h1')",
        (old.body,),
    )
    conn.execute(
        "INSERT INTO sightings (article_id, url, canonical_url, source, kind, first_seen, last_seen) "
        "VALUES (1, 'https://example.org/news/1', 'https://example.org/news/1', 'old', 'original',"
        " '2024-01-01', '2024-01-01')"
    )
    conn.commit()
    conn.close()

    with Archive.open(db) as archive:
        assert archive.schema_version == LATEST
        assert archive.check() == []
        assert [h.id for h in archive.search("numéro")] == [1]
        # the v1 article joined the near-duplicate index: a republished copy folds into it
        copy = Article(
            title="copie",
            date=None,
            paragraphs=old.paragraphs + ["Source : agence."],
            language="fr",
            url="https://mirror.example.net/copie",
        )
        assert archive.add_batch([Incoming(copy, "mirror")]).items[0].kind == "near"


def test_canonical_urls_of_an_old_archive_keep_deduplicating(tmp_path):
    """Archives written before v7 hold canonical URLs forced to https without www.: the upgrade
    keys them scheme-free, so every spelling of an archived page is still recognised, and
    re-derives the links that came from the seen URL with the scheme the site served."""
    db = tmp_path / "old.db"
    old, declared = _synthetic(1), _synthetic(2)
    conn = sqlite3.connect(db)
    conn.executescript(V1_ARCHIVE)
    rows = [  # (id, url seen, canonical as the old rules stored it, body)
        (1, "http://www.example.org/news/1?utm_source=rss", "https://example.org/news/1", old.body),
        (2, "http://mirror.example.net/copy", "https://example.org/news/2", declared.body),  # rel=canonical
    ]
    for article_id, url, canonical, body in rows:
        conn.execute(
            "INSERT INTO articles (id, url, canonical_url, source, title, body, fetched_at, content_hash) "
            "VALUES (?, ?, ?, 'old', 't', ?, '2024-01-01T00:00:00+00:00', ?)",
            (article_id, url, canonical, body, f"h{article_id}"),
        )
        conn.execute(
            "INSERT INTO sightings (article_id, url, canonical_url, source, kind, first_seen, last_seen) "
            "VALUES (?, ?, ?, 'old', 'original', '2024-01-01', '2024-01-01')",
            (article_id, url, canonical),
        )
    conn.commit()
    conn.close()

    with Archive.open(db) as archive:
        assert archive.schema_version == LATEST and archive.check() == []
        # the link re-derived from the http page it was seen on; the declared one left alone
        assert archive.get(1).canonical_url == "http://www.example.org/news/1"
        assert archive.get(2).canonical_url == "https://example.org/news/2"
        spellings = [
            "http://www.example.org/news/1",
            "https://example.org/news/1/",
            "http://example.org/news/1?utm_medium=feed",
            "http://www.example.org/news/2",
        ]
        assert archive.known_urls(spellings) == set(spellings)
        other = _synthetic(3)
        items = [
            Incoming(
                Article(title="t", date=None, paragraphs=other.paragraphs, language="fr", url=url),
                "new-source",
                url=url,
            )
            for url in ("https://example.org/news/1", "http://www.example.org/news/2/")
        ]
        result = archive.add_batch(items)
        assert [(r.status, r.kind, r.article_id) for r in result.items] == [
            ("duplicate", "same_url", 1),
            ("duplicate", "same_url", 2),
        ]
        assert archive.conn.execute("SELECT count(*) FROM articles").fetchone()[0] == 2


def test_new_articles_link_to_the_scheme_the_site_serves(tmp_path):
    with Archive.open(tmp_path / "a.db") as archive:
        a = _synthetic(1)
        a.url = "http://www.example.org/n/1?utm_source=rss&utm_medium=feed"
        result = archive.add_batch([Incoming(a, "s")])
        assert result.items[0].link == "http://www.example.org/n/1"
        [hit] = archive.search("numéro")
        assert hit.url == "http://www.example.org/n/1"
        assert archive.get(hit.id).link == "http://www.example.org/n/1"
        # the https spelling of the same page is a sighting, not a new article
        b = _synthetic(2)
        b.url = "https://example.org/n/1"
        assert archive.add_batch([Incoming(b, "t")]).items[0].kind == "same_url"


def test_pages_and_source_runs_of_an_older_archive_get_their_reason_and_state(tmp_path, monkeypatch):
    """Archives made before v10/v11: every rejected page gets the reason its error kind implies,
    every source run a state from its `ok`."""
    from storage import schema
    from storage.db import Database

    db = tmp_path / "v9.db"
    monkeypatch.setattr(schema, "MIGRATIONS", [m for m in schema.MIGRATIONS if m.version <= 9])
    conn = sqlite3.connect(db, isolation_level=None)
    schema.migrate(Database(conn, db))
    rows = [
        ("https://x/list", "not_article", "not_article", "looks like a listing"),
        ("https://x/gone", "gave_up", "http_status", "https://x/gone: answered HTTP 404 Not Found; check the URL"),
        ("https://x/403", "gave_up", "http_status", "https://x/403: answered HTTP 403 Forbidden; check the URL"),
        ("https://x/pdf", "gave_up", "not_html", "https://x/pdf: is application/pdf"),
        ("https://x/slow", "failed", "timeout", "https://x/slow: timed out"),
        ("https://x/empty", "gave_up", "clean", "the page is empty"),
    ]
    for url, outcome, kind, error in rows:
        conn.execute(
            "INSERT INTO pages (url, source, outcome, error_kind, error, attempts, first_seen, last_attempt) "
            "VALUES (?, 's', ?, ?, ?, 1, '2026-01-01', '2026-01-01')",
            (url, outcome, kind, error),
        )
    conn.execute("INSERT INTO source_runs (source, started_at, finished_at, ok) VALUES ('s', 'a', 'b', 0)")
    conn.close()
    monkeypatch.undo()

    with Archive.open(db) as archive:
        assert archive.schema_version == LATEST
        reasons = dict(archive.conn.execute("SELECT url, reason FROM pages"))
        assert archive.conn.execute("SELECT state FROM source_runs").fetchone() == ("failed",)
    assert reasons == {
        "https://x/list": "not-article",
        "https://x/gone": "gone",
        "https://x/403": "client-error",
        "https://x/pdf": "not-html",
        "https://x/slow": "failing",
        "https://x/empty": "unreadable",
    }


# Prefixes of every length around the prefix indexes (2 to 5 characters), accents folded, in a
# field, in NEAR, beside exclusions and phrases, and plain words.
SEARCHES = [
    "a*",
    "mi*",
    "mig*",
    "migr*",
    "migra*",
    "migrati*",
    "sej*",
    "hait*",
    "re* Calais",
    "title:migr*",
    "NEAR(migr* centre, 10)",
    "centr* -Agadez",
    '"centre d accueil"',
    "migrants",
]


def test_a_v18_archive_gets_prefix_indexes_and_searches_as_before(tmp_path, monkeypatch):
    """v19 makes the full-text table again with FTS5 prefix indexes and rebuilds it from the
    articles: every search finds what it found (forgotten articles still left out), and the
    triggers keep the new index in step on insert, update, delete."""
    from storage import forget, schema

    db = tmp_path / "v18.db"
    monkeypatch.setattr(schema, "MIGRATIONS", [m for m in schema.MIGRATIONS if m.version <= 18])
    with Archive.open(db) as archive:
        archive.add_batch(page_batch() + [Incoming(_synthetic(i), "synthetic") for i in range(5)])
        assert schema.current_version(archive) == 18
        assert "prefix" not in _fts_sql(archive)
        [gone] = [h.id for h in archive.search("title:Agadez")]
        forget.forget(archive, gone, "test")
        before = {q: archive.search(q, limit=None) for q in SEARCHES}
    monkeypatch.undo()

    with Archive.open(db) as archive:
        assert archive.schema_version == LATEST
        assert "prefix='2 3 4 5'" in _fts_sql(archive)
        assert archive.check() == []  # FTS5's integrity-check reads the prefix indexes against the articles
        after = {q: archive.search(q, limit=None) for q in SEARCHES}
        assert after == before
        assert all(after.values()), [q for q, hits in after.items() if not hits]
        assert gone not in {h.id for hits in after.values() for h in hits}
        assert len(after["a*"]) == 14 and len(after["migr*"]) > len(after["migrants"])  # all 15 but the forgotten

        # the article forgotten before the upgrade was indexed again: it comes back with undo
        forget.undo(archive, gone)
        assert gone in {h.id for h in archive.search("migr*", limit=None)}

        new = _synthetic(99)
        new.title, new.paragraphs = "Zanzibar", ["Les zanzibarites du port de Zanzibar. " + new.body]
        [added] = archive.add_batch([Incoming(new, "new")]).new_ids
        assert [h.id for h in archive.search("zanz*")] == [added]  # insert trigger
        archive.conn.execute("UPDATE articles SET title = 'Quokka' WHERE id = ?", (added,))
        assert [h.id for h in archive.search("title:quok*")] == [added]  # update trigger
        assert archive.search("title:zanz*") == []
        forget.forget(archive, added)
        assert archive.search("zanz*") == []
        forget.undo(archive, added)
        archive.conn.execute("DELETE FROM articles WHERE id = ?", (added,))  # delete trigger
        assert archive.search("zanz*") == [] and archive.search("quok*") == []
        assert archive.check() == []
        assert counts(db)["articles_fts"] == counts(db)["articles"] == 15


def test_an_upgrade_that_rebuilds_an_index_over_a_large_archive_says_so_first(tmp_path, monkeypatch, capsys):
    """The v19 rebuild took 356 s at a million articles: the command that opens such an
    archive says what it is doing, how long it should take, and that a stop loses nothing;
    a small archive is upgraded without a word."""
    from storage import schema

    db = tmp_path / "v18.db"
    monkeypatch.setattr(schema, "MIGRATIONS", [m for m in schema.MIGRATIONS if m.version <= 18])
    with Archive.open(db) as archive:
        archive.add_batch([Incoming(_synthetic(i), "synthetic") for i in range(3)])
    monkeypatch.undo()
    shutil.copy(db, tmp_path / "small.db")
    with Archive.open(tmp_path / "small.db") as archive:
        assert archive.schema_version == LATEST
    assert capsys.readouterr().err == ""

    # The same three articles, as a large archive's count (ids run to 2,000,000).
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE articles SET id = 2000000 WHERE id = (SELECT max(id) FROM articles)")
    with Archive.open(db) as archive:
        assert archive.schema_version == LATEST
    said = capsys.readouterr().err
    assert said.startswith(f"newswatch: upgrading the archive {db} from schema 18 to {LATEST} (full-text index")
    assert "about 12 min for its 2,000,000 articles" in said
    assert "stopped, the archive stays as it was and the next command upgrades it again" in said


def _fts_sql(archive) -> str:
    return archive.conn.execute("SELECT sql FROM sqlite_master WHERE name = 'articles_fts'").fetchone()[0]


def test_an_undated_article_is_counted_apart_never_as_today(tmp_path):
    """stats' per-day counts go by the publication date: an article without one is "undated",
    listed last, not counted on the day it was fetched."""
    dated, undated = _synthetic(1), _synthetic(2)
    undated.date = None
    with Archive.open(tmp_path / "archive.db") as archive:
        archive.add_batch([Incoming(dated, "test"), Incoming(undated, "test")])
        per_day = archive.stats().per_day
    assert per_day == {"2024-01-01": 1, "undated": 1}
    assert list(per_day)[-1] == "undated"


def test_the_author_is_stored_apart_from_the_body(tmp_path):
    article = _synthetic(3)
    article.author = "Marie D.\n<b>"
    with Archive.open(tmp_path / "archive.db") as archive:
        archive.add_batch([Incoming(article, "test")])
    with sqlite3.connect(tmp_path / "archive.db") as conn:
        author, body = conn.execute("SELECT author, body FROM articles").fetchone()
    assert author.startswith("Marie D.") and "\n" not in author
    assert "Marie" not in body
