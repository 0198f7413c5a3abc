"""The reading room (`newswatch browse`): Datasette with newswatch's metadata, plugin and
templates, tested through Datasette's JSON API and its HTML pages, in process."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

pytest.importorskip(
    "datasette", reason="Datasette is the optional extra newswatch[browse]; pip install -e '.[dev]' installs it"
)

from reading_room_archive import FRONTEX, IOM_EN, PASSEURS, PASSEURS_TITLE, build

from flows.config.loader import load_config
from flows.reading_room import make_datasette


def files_digest(archive: Path) -> tuple[str, int]:
    """The archive's bytes, and the size of its write-ahead log: what 'never writes' is
    checked against. (A reader of a WAL database has SQLite create the -shm index and an
    empty -wal; a write would put frames in the -wal or change the file.)"""
    wal = archive.with_name(archive.name + "-wal")
    return hashlib.sha256(archive.read_bytes()).hexdigest(), wal.stat().st_size if wal.exists() else 0


class Room:
    def __init__(self, directory: Path) -> None:
        self.config = build(directory)
        self.archive = directory / "archive.db"
        self.before = files_digest(self.archive)
        self.loop = asyncio.new_event_loop()
        self.ds = make_datasette(self.archive, load_config(self.config))
        self.loop.run_until_complete(self.ds.invoke_startup())

    def get(self, path: str, status: int = 200):
        response = self.loop.run_until_complete(self.ds.client.get(path))
        assert response.status_code == status, (path, response.status_code, response.text[:2000])
        return response

    def json(self, path: str):
        return self.get(path).json()

    def rows(self, path: str) -> list[dict]:
        sep = "&" if "?" in path else "?"
        return self.json(f"{path}{sep}_shape=array")


@pytest.fixture(scope="module")
def room(tmp_path_factory) -> Room:
    room = Room(tmp_path_factory.mktemp("reading-room"))
    yield room
    room.loop.close()


def test_articles_come_first_and_internal_tables_are_hidden(room):
    tables = room.json("/archive.json")["tables"]
    visible = [t["name"] for t in tables if not t["hidden"]]
    hidden = {t["name"] for t in tables if t["hidden"]}
    assert visible[0] == "articles"
    assert {
        "near_keys",
        "near_signatures",
        "alert_matches",
        "archive_meta",
        "schema_version",
        "source_leases",
        "sent_emails",
    } <= hidden
    assert {"sightings", "translations", "pages", "source_runs"} <= set(visible)
    assert not {"articles_fts", "articles_fts_data"} & set(visible)


def test_the_articles_page_opens_on_title_source_date_language_and_link(room):
    response = room.get("/archive/articles", status=302)
    location = response.headers["location"]
    assert location == ("/archive/articles?_col=title&_col=source&_col=published&_col=language&_col=canonical_url")
    page = room.get(location).text
    assert PASSEURS_TITLE in page and "utm_source" not in page
    assert 'href="/archive/articles/1">L’OIM appelle' in page  # the title opens the article page
    # a search keeps its words and gets the same columns
    assert (
        room.get("/archive/articles?_search=passeurs", status=302)
        .headers["location"]
        .startswith("/archive/articles?_search=passeurs&_col=title")
    )


def test_facets_by_source_language_and_date(room):
    data = room.json("/archive/articles.json?_col=title")
    facets = data["facet_results"]
    assert set(facets) >= {"source", "language", "published"}
    by_source = {f["value"]: f["count"] for f in facets["source"]["results"]}
    assert by_source == {"iom-fr": 1, "iom-en": 1, "apr": 1}  # the apr copy was folded into iom-fr's
    assert {f["value"] for f in facets["language"]["results"]} == {"fr", "en"}
    assert {f["value"] for f in facets["published"]["results"]} == {"2024-03-12", "2024-03-14"}


@pytest.mark.parametrize("words", ["mediterranee", "MÉDITERRANÉE", "Méditerranée centrale", "etats riverains"])
def test_full_text_search_folds_accents_and_case_like_newswatch_search(room, words):
    from storage.archive import Archive

    found = [r["id"] for r in room.rows(f"/archive/articles.json?_search={words}&_col=title")]
    with Archive.open(room.archive) as archive:
        expected = [h.id for h in archive.search(words.replace("é", "e"))]
    assert found == sorted(expected) and 1 in found


def test_search_query_speaks_the_newswatch_language(room):
    rows = room.rows("/archive/search.json?q=" + "(passeurs OR Frontex) -Rome")
    assert [r["title"] for r in rows] == ["Frontex : les franchissements irréguliers en baisse"]
    error = room.get("/archive/search.json?q=migrants%20OR", status=400).json()
    assert error["error"] == "bad query at column 12: OR needs a word on each side (e.g. Frontex OR Europol)"
    page = room.get("/archive/search?q=migrants%20OR").text
    assert "Search: bad query at column 12: OR needs a word on each side" in page
    assert "user-defined function raised exception" not in page


def test_the_saved_search_opens_empty_without_an_error(room, monkeypatch):
    """QA finding 8: the home page's Search link has an empty q: no error box, no row, and no
    exception raised inside SQLite (it was pytest's PytestUnraisableExceptionWarning)."""
    import sys

    raised = []  # what SQLite reports of an exception raised in a user function
    monkeypatch.setattr(sys, "unraisablehook", raised.append)
    for path in ("/archive/search?q=", "/archive/search", "/archive/search?q=%20%20", "/archive/search?q=a%20OR"):
        page = room.get(path).text
        assert "raised exception" not in page, path
        assert ("message-error" in page) == path.endswith("OR"), path
    assert room.rows("/archive/search.json?q=") == []
    assert raised == []


def test_one_canned_query_per_alert_rule_from_the_config(room):
    queries = room.json("/archive.json")["queries"]
    names = [q["name"] for q in queries]
    assert names == [
        "new_today",
        "search",
        "rule_passeurs",
        "rule_frontex_apr",
        "stories",
        "story",
        "near_duplicates",
        "rejected_pages",
        "source_health",
    ]
    passeurs = room.rows("/archive/rule_passeurs.json")
    assert [(r["id"], r["alerted"]) for r in passeurs] == [(1, 1)]
    assert "[réseaux de passeurs]" in passeurs[0]["snippet"]
    assert passeurs[0]["link"] == "http://www.iom.int/fr/news/loim-appelle-proteger-les-migrants"
    # sources: [apr] is part of the rule: Frontex from apr only
    assert [r["title"] for r in room.rows("/archive/rule_frontex_apr.json")] == [
        "Frontex : les franchissements irréguliers en baisse"
    ]


def test_new_today_near_duplicates_rejected_pages_and_source_health(room):
    assert {r["id"] for r in room.rows("/archive/new_today.json")} == {1, 2, 3}
    [group] = room.rows("/archive/near_duplicates.json")
    assert group["id"] == 1 and group["copies"] == 1 and group["folded_copies"].startswith("apr (near 0.")
    rejected = {
        (r["reason"], r["source"]): (r["pages"], r["retried_later"]) for r in room.rows("/archive/rejected_pages.json")
    }
    assert rejected == {("not-article", "apr"): (2, 0), ("failing", "apr"): (1, 1)}
    health = {r["source"]: r for r in room.rows("/archive/source_health.json")}
    assert health["iom-fr"]["state"] == "SILENT"  # nothing new for 2 days, expected every day
    assert health["iom-en"]["state"] == "ok" and health["apr"]["state"] == "FAILING"
    assert health["apr"]["failing_pages"] == 1 and health["apr"]["rejected_pages"] == 2


def test_article_page_renders_the_body_with_contacts_sightings_and_translations(room):
    page = room.get("/archive/articles/1").text
    for paragraph in PASSEURS:
        assert f"<p>{paragraph.replace('’', '’')}</p>" in page
    assert "Flavio Di Giacomo, OIM Rome" in page and 'href="mailto:fdigiacomo@iom.int"' in page
    assert "Also published by" in page and "apr (near, similarity 0." in page
    assert f'<a href="{IOM_EN}">{IOM_EN}</a> (archived: <a href="/archive/articles/2">#2</a>)' in page
    assert 'Original: <a href="http://www.iom.int/fr/news/loim-appelle-proteger-les-migrants">' in page
    assert "Matches alert rule: passeurs" in page
    assert "utm_source" not in page
    # other tables keep Datasette's own row page
    assert "<h1" in (other := room.get("/archive/sightings/1").text) and "sightings: 1" in other


def test_stories_one_row_per_story_with_its_versions_inside(room):
    rows = {r["story"]: r for r in room.rows("/archive/stories.json")}
    assert sorted(rows) == [1, 3]  # the French release with its English translation; Frontex
    story = rows[1]
    assert (story["title"], story["size"], story["first_day"], story["last_day"]) == (
        PASSEURS_TITLE,
        2,
        "2024-03-12",
        "2024-03-12",
    )
    assert sorted(story["languages"].split(",")) == ["en", "fr"]
    assert sorted(story["outlets"].split(",")) == ["apr", "iom-en", "iom-fr"]  # the folded copy's too
    assert [v[:3] for v in json.loads(story["versions"])] == [[1, "fr", "iom-fr"], [2, "en", "iom-en"]]
    page = room.get("/archive/stories").text
    assert '<a href="/archive/story?id=1">story 1</a>' in page
    assert '<li><a href="/archive/articles/2">IOM calls to protect migrants from smuggling networks</a>' in page

    versions = room.rows("/archive/story.json?id=1")
    assert [(v["article"], v["joined"], v["language"]) for v in versions] == [
        (1, "first", "fr"),
        (2, "translation", "en"),
    ]
    assert versions[0]["also_seen_at"] == "https://www.apr-news.fr/actualites/oim-passeurs (apr)"
    assert room.rows("/archive/story.json?id=2") == versions  # by the id of one of its articles too
    assert '<a href="/archive/articles/2">#2</a>' in room.get("/archive/story?id=1").text


def test_the_article_page_names_its_story_and_links_the_other_versions(room):
    page = room.get("/archive/articles/2").text
    assert 'One of 2 versions of <a href="/archive/story?id=1">story 1</a>: ' + PASSEURS_TITLE.replace("’", "’") in page
    assert '<li><a href="/archive/articles/1">' + PASSEURS_TITLE in page and "iom-fr · fr · 2024-03-12" in page
    assert "No other version so far." in room.get("/archive/articles/3").text


def test_page_text_is_escaped(room, tmp_path):
    from core.article import Article
    from storage.archive import Archive
    from storage.records import Incoming

    db = tmp_path / "hostile.db"
    with Archive.open(db) as archive:
        archive.add_batch(
            [
                Incoming(
                    Article(
                        title="<script>alert(1)</script>",
                        date=None,
                        language="fr",
                        paragraphs=["<img src=x onerror=alert(2)> " + FRONTEX[0]],
                        url="https://example.org/x",
                    ),
                    "s",
                )
            ]
        )
    other = make_datasette(db)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(other.invoke_startup())
        page = loop.run_until_complete(other.client.get("/hostile/articles/1")).text
    finally:
        loop.close()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page


def test_browsing_never_writes_to_the_archive(room):
    for path in (
        "/",
        "/archive",
        "/archive/articles?_col=title",
        "/archive/articles/1",
        "/archive/search?q=passeurs",
        "/archive/rule_passeurs",
        "/archive/source_health",
        "/archive/stories",
        "/archive/story?id=1",
        "/archive/articles.json?_search=frontex",
    ):
        room.get(path)
    assert files_digest(room.archive) == room.before
    # every connection is query_only: even Datasette's own write path is refused
    db = room.ds.get_database("archive")
    with pytest.raises(sqlite3.OperationalError, match="readonly|read-only|query_only"):
        room.loop.run_until_complete(db.execute_write("DELETE FROM articles"))
    assert room.rows("/archive.json?sql=select+count(*)+as+n+from+articles") == [{"n": 3}]


def test_home_page_has_the_search_box_and_the_saved_queries(room):
    page = room.get("/").text
    assert 'action="/archive/articles"' in page and 'name="_search"' in page
    assert "3 articles from 3 sources" in page
    assert 'href="/archive/rule_passeurs">Alert rule: passeurs</a>' in page
