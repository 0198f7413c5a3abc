"""The desk's rough edges (issue 21, item 6): snippets, the reading room's links and error
pages, the CSV export in a spreadsheet, the Atom feeds' rel="self", and `sources add`'s choice
of feed and its refusal of an address already configured."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from xml.etree import ElementTree

import feedparser
import pytest
from fake_sites import rss_feed
from httpserver import LocalServer, Reply, html

from alerts.atom import ATOM
from alerts.match import HIGHLIGHT_END, HIGHLIGHT_START, BatchArticle, BatchIndex
from alerts.settings import AlertRule
from core.article import Article
from core.text import snippet_around
from flows.cli.main import main
from flows.config.loader import load_config
from flows.pipeline.stages import store_batch
from storage.archive import Archive
from storage.records import Incoming

ROOT = Path(__file__).resolve().parent.parent
PHRASE_RULE = AlertRule(name="passeurs", query='passeurs OR "réseaux de passeurs"', to=["ana@example.org"])
# The phrase sits where a window of 32 words around the other matches ends, across a line break.
BODY = (
    " ".join(f"mot{i}" for i in range(30))
    + " les passeurs arrêtés.\n\nSelon la police, les réseaux de\npasseurs opèrent "
    + " ".join(f"suite{i}" for i in range(40))
)


# --------------------------------------------------------------------------- snippets ---


def test_a_snippet_keeps_a_matched_phrase_whole_and_is_one_line():
    text = "un deux trois quatre cinq six sept huit [réseaux de\npasseurs] neuf dix onze"
    assert snippet_around(text, 6, "[", "]") == "…sept huit [réseaux de passeurs] neuf…"
    # a phrase longer than the window is kept whole rather than cut
    assert snippet_around(text, 2, "[", "]") == "…[réseaux de passeurs]…"
    assert snippet_around("[a b c d e] f g", 2, "[", "]") == "[a b c d e]…"
    # no match: the opening words; nothing: nothing
    assert snippet_around("a\nb\n\nc d", 3, "[", "]") == "a b c…"
    assert snippet_around("", 3) == ""
    # the window holding the most distinct matched words wins
    many = "[x] " + " ".join(["w"] * 30) + " [x] w [y] w"
    assert snippet_around(many, 6, "[", "]") == "…w w [x] w [y] w"


def test_the_alert_and_digest_snippet_keeps_the_phrase_and_no_line_break():
    article = BatchArticle(article_id=1, story_id=1, title="Passeurs", body=BODY)
    with BatchIndex([article]) as index:
        assert index.match(PHRASE_RULE) == [0]
        snippet = index.snippet(PHRASE_RULE, 0)
    assert "\n" not in snippet
    assert f"{HIGHLIGHT_START}réseaux de passeurs{HIGHLIGHT_END}" in snippet
    assert f"{HIGHLIGHT_START}passeurs{HIGHLIGHT_END} arrêtés" in snippet


@pytest.fixture
def archive_path(tmp_path) -> Path:
    path = tmp_path / "archive.db"
    with Archive.open(path) as archive:
        article = Article(
            title="Démantèlement", date="2024-03-01", paragraphs=BODY.split("\n\n"), url=None, language="fr"
        )
        url = "https://www.iom.int/fr/news/passeurs"
        store_batch(archive, [Incoming(article, "iom-fr", url, "2024-03-01T08:00:00+00:00")], [PHRASE_RULE])
        other = Article(title="Été à Gênes", date="2024-03-02", paragraphs=["Un été à Gênes, « chaud »."], url=None)
        store_batch(archive, [Incoming(other, "iom-fr", "https://www.iom.int/fr/news/ete", "2024-03-02")], [])
    return path


def test_search_prints_one_line_snippets_with_the_phrase_whole(archive_path, capsys):
    assert main(["search", '"réseaux de passeurs"', "--archive", str(archive_path)]) == 0
    printed = capsys.readouterr()
    lines = printed.out.splitlines()
    assert len(lines) == 3, lines  # the hit's three lines (the count is on stderr)
    assert "[réseaux de passeurs]" in lines[2] and printed.err.strip() == "1 result"
    assert main(["search", "passeurs", "--json", "--archive", str(archive_path)]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    hit = json.loads(line)
    assert "\n" not in hit["snippet"] and "[passeurs] arrêtés. Selon" in hit["snippet"]


# ------------------------------------------------------------------------- CSV export ---


def test_the_csv_export_opens_in_a_spreadsheet(archive_path, capsysbinary):
    assert main(["export", "--format", "csv", "--archive", str(archive_path)]) == 0
    data = capsysbinary.readouterr().out
    # The UTF-8 byte order mark: Excel and LibreOffice then read é as é, not Ã©.
    assert data.startswith(b"\xef\xbb\xbfid,url,")
    assert "Été à Gênes".encode() in data and "Ã".encode() not in data
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert [r["title"] for r in rows] == ["Démantèlement", "Été à Gênes"]
    assert rows[0]["body"] == BODY  # line breaks stay inside the quoted cell
    assert b"\r\n" in data  # RFC 4180 rows
    assert main(["export", "--format", "csv", "--no-bom", "--archive", str(archive_path)]) == 0
    assert capsysbinary.readouterr().out.startswith(b"id,url,")


# ---------------------------------------------------------------------- Atom rel=self ---


def _self_links(path: Path) -> list[str]:
    data = path.read_bytes()
    parsed = feedparser.parse(data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert [link.rel for link in parsed.feed.links] == ["self"]
    feed = ElementTree.fromstring(data)  # the href as written (feedparser folds file:/// to file://)
    return [link.get("href") for link in feed.findall(f"{{{ATOM}}}link") if link.get("rel") == "self"]


def test_every_feed_written_carries_rel_self(archive_path, tmp_path, capsys):
    config = tmp_path / "newswatch.yaml"
    config.write_text(
        f"archive: {archive_path}\nfeeds_dir: feeds\n"
        "alerts:\n  - {name: passeurs, query: passeurs, to: ana@example.org}\n",
        encoding="utf-8",
    )
    assert main(["feed", "--write", "--config", str(config)]) == 0
    feeds = tmp_path / "feeds"
    # No feeds_url: the file itself.
    assert _self_links(feeds / "rule-passeurs.atom") == [(feeds / "rule-passeurs.atom").resolve().as_uri()]
    with config.open("a", encoding="utf-8") as f:
        f.write("feeds_url: https://feeds.example.org/newswatch/\n")
    assert main(["feed", "--write", "--config", str(config)]) == 0
    assert _self_links(feeds / "rule-passeurs.atom") == ["https://feeds.example.org/newswatch/rule-passeurs.atom"]
    assert _self_links(feeds / "new-articles.atom") == ["https://feeds.example.org/newswatch/new-articles.atom"]
    capsys.readouterr()
    assert main(["feed", "passeurs", "--config", str(config)]) == 0
    printed = capsys.readouterr().out
    assert 'rel="self"' in printed and "https://feeds.example.org/newswatch/rule-passeurs.atom" in printed


def test_feeds_url_must_be_a_web_address(tmp_path):
    config = tmp_path / "newswatch.yaml"
    config.write_text("archive: a.db\nfeeds_url: feeds/\n", encoding="utf-8")
    with pytest.raises(Exception, match="feeds_url"):
        load_config(config)


# --------------------------------------------------------------------- sources add ---


LISTING = """<!doctype html><html lang="en-GB"><head><title>News</title>
<link rel="alternate" type="application/rss+xml" title="Actualités" href="/fr/rss.xml">
<link rel="alternate" type="application/rss+xml" title="News" href="/en/rss.xml">
</head><body><a href="/en/news/a">A</a></body></html>"""


def test_sources_add_says_which_feed_it_took_and_why(tmp_path, http_server: LocalServer, capsys):
    base = http_server.base
    http_server.routes["/en/news"] = html(LISTING)
    for lang in ("fr", "en"):
        teasers = [(f"/{lang}/news/article-{i}", f"Article {lang} {i}") for i in range(2 if lang == "fr" else 3)]
        http_server.routes[f"/{lang}/rss.xml"] = Reply(
            body=rss_feed(base, teasers), content_type="application/rss+xml; charset=utf-8"
        )
    config = tmp_path / "newswatch.yaml"
    config.write_text("archive: archive.db\nallow_private_networks: true\n", encoding="utf-8")
    assert main(["sources", "add", "site-en", http_server.url("/en/news"), "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"checked {http_server.url('/en/news')}: feed, 3 article link(s)" in out
    assert (
        f"read through the feed {http_server.url('/en/rss.xml')}: the page advertises 2 feeds; "
        f"this one is in the page's language (en) (not {http_server.url('/fr/rss.xml')})"
    ) in out
    assert "--kind listing" in out
    assert [r.route for r in http_server.requests() if r.route.endswith(".xml")] == ["/en/rss.xml"]
    assert load_config(config).source("site-en").kind == "feed"


def test_sources_add_refuses_an_address_already_configured_under_another_name(tmp_path, http_server, capsys):
    config = tmp_path / "newswatch.yaml"
    text = "archive: archive.db\nsources:\n  - name: iom-fr\n    url: https://www.iom.int/fr/news\n"
    config.write_text(text, encoding="utf-8")
    # Another spelling of the same page: scheme, www., trailing slash, a tracking parameter.
    again = "http://iom.int/fr/news/?utm_source=rss"
    assert main(["sources", "add", "iom-fr-2", again, "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert f"{again} is already configured as source 'iom-fr'" in err
    assert config.read_text(encoding="utf-8") == text  # nothing written
    assert http_server.requests() == []  # refused before any request


# ------------------------------------------------------------------- the reading room ---

datasette = pytest.importorskip("datasette", reason="the reading room is the optional extra newswatch[browse]")


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    from test_reading_room import Room

    room = Room(tmp_path_factory.mktemp("desk-room"))
    yield room
    room.loop.close()


def test_saved_query_results_link_to_the_article_page(room):
    for path in ("/archive/search?q=passeurs", "/archive/rule_passeurs", "/archive/new_today"):
        page = room.get(path).text
        assert '<a href="/archive/articles/1">' in page, path  # the title
        assert '<a href="/archive/articles/1">#1</a>' in page, path  # the id
    stories = room.get("/archive/stories").text  # a story's row: no article id column, no such link
    assert 'href="/archive/story?id=' in stories


def test_reading_room_errors_are_pages_not_tracebacks(room, capfd):
    capfd.readouterr()
    for path, words in (
        ("/archive/articles/99999", "Record not found"),
        ("/archive/nosuch", "Table not found"),
        ("/nosuch", "Database not found"),
    ):
        page = room.get(path, status=404).text
        assert "<h1>Error 404</h1>" in page and words in page
        assert "The reading room&#39;s home" in page or "The reading room's home" in page
        assert 'href="/archive/articles"' in page
    assert room.get("/archive/articles/99999.json", status=404).json()["error"] == "Record not found"
    err = capfd.readouterr().err
    assert "Traceback" not in err and "locals" not in err
    assert err.count("reading room: 404 ") == 4, err


# ------------------------------------------------------ the picture of the archive (item 7) ---


def test_the_charts_cover_the_last_30_days_with_a_row_for_every_source():
    from datetime import date

    from flows.reading_room.charts import articles_chart

    rows = [
        {"day": "2026-12-07", "source": "iom-fr", "articles": 3},
        {"day": "2026-11-08", "source": "apr", "articles": 1},
        {"day": "2026-11-07", "source": "apr", "articles": 9},  # 31 days ago: outside
    ]
    spec = articles_chart(rows, ["iom-fr", "apr", "quiet"], {"apr": "FAILING"}, date(2026, 12, 7))
    days = spec["encoding"]["x"]["scale"]["domain"]
    assert len(days) == 30 and (days[0], days[-1]) == ("2026-11-08", "2026-12-07")
    assert spec["encoding"]["y"]["scale"]["domain"] == ["iom-fr", "apr", "quiet"]  # quiet: an empty row
    assert [r["articles"] for r in spec["data"]["values"]] == [3, 1]
    assert "FAILING" in spec["encoding"]["y"]["axis"]["labelExpr"]


def test_the_home_shows_the_last_30_days_and_the_sources_in_trouble(room):
    from datetime import UTC, datetime

    page = room.get("/").text
    today = datetime.now(UTC).date().isoformat()
    assert page.count('<figure class="nw-chart"><svg') == 2
    # every article of the fixture was archived today: one cell per source, one per rule
    for label in (f"day: {today}; source: iom-fr; articles: 1", f"day: {today}; source: apr; articles: 1"):
        assert f'aria-label="{label}"' in page
    assert f'aria-label="day: {today}; rule: passeurs; matches: 1"' in page
    trouble = page.split('<div class="nw-trouble"', 1)[1].split("</div>", 1)[0]
    assert "2 sources need attention" in trouble
    assert "<strong>apr</strong> FAILING" in trouble and "<strong>iom-fr</strong> SILENT" in trouble
