"""`newswatch forget ID|URL [--reason TEXT]` and `forget --undo` (issue 21, item 4), on a real
archive filled by real runs (ingest_run against a local HTTP server), a real SMTP server for the
digest, the Atom feeds written, and the reading room's article page in Datasette.
"""

from __future__ import annotations

import asyncio
import textwrap

import pytest
from test_hostile import zorblax_site

from alerts.atom import write_feeds
from alerts.deliver import deliver_digest
from flows.cli.main import main
from flows.config.loader import load_config
from flows.demo.servers import Reply
from flows.pipeline.ingest import ingest_run
from storage.archive import Archive


@pytest.fixture
def desk(tmp_path, make_http_server, smtp_server):
    site = zorblax_site(make_http_server(), 3)
    config = tmp_path / "newswatch.yaml"
    config.write_text(
        textwrap.dedent(f"""\
        archive: archive.db
        user_agent: forget-test
        feeds_dir: feeds
        sources:
          - {{name: good, url: '{site.url("/feed.xml")}', kind: feed, profile: aprnews, delay: 0}}
        smtp: {{host: 127.0.0.1, port: {smtp_server.port}, sender: nw@test.example, password_env: null}}
        alerts:
          - {{name: zorblax, query: zorblax, to: [a@test.example], mode: digest}}
        """)
    )
    first = ingest_run(load_config(config))
    assert first.sources[0].new == 3
    return site, config, tmp_path / "archive.db", smtp_server


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def article_page(archive, config, article_id: int | str) -> str:
    """The reading room's page of an article (or another path of the archive's, or a path from /)."""
    from flows.reading_room import make_datasette

    ds = make_datasette(archive, load_config(config))
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(ds.invoke_startup())
        path = f"/archive/articles/{article_id}" if isinstance(article_id, int) else f"/archive/{article_id}"
        if str(article_id).startswith("/"):
            path = str(article_id)
        response = loop.run_until_complete(ds.client.get(path, follow_redirects=True))
    finally:
        loop.close()
    assert response.status_code == 200
    return response.text


def ids(archive_path) -> dict[str, int]:
    """url -> article id."""
    with Archive.open(archive_path, read_only=True) as archive:
        return {url: i for i, url in archive.conn.execute("SELECT id, url FROM articles")}


def test_forget_takes_an_article_out_everywhere_and_undo_brings_it_back(desk, capsys):
    site, config, archive, smtp = desk
    url = site.url("/news/z0")
    article_id = ids(archive)[url]
    with Archive.open(archive, read_only=True) as opened:
        title = opened.get(article_id).title

    # the reading room's article page shows the command
    assert f"newswatch forget {article_id} --reason" in article_page(archive, config, article_id)

    code, out, _ = cli(capsys, "forget", url, "--reason", "the site's about page", "--archive", str(archive))
    assert code == 0
    assert out.strip() == (
        f"forgot #{article_id} ({title}): out of alerts, digests, feeds, search and the reading room; "
        "1 pending alert(s) held back; kept in the archive, and its page is not ingested again "
        f"(`newswatch rejected --reason forgotten` lists it); `newswatch forget --undo {article_id}` brings it back"
    )
    code, out, _ = cli(capsys, "show", str(article_id), "--archive", str(archive))
    assert "FORGOTTEN on " in out and f"`newswatch forget --undo {article_id}` brings it back" in out
    code, out, _ = cli(capsys, "forget", str(article_id), "--archive", str(archive))
    assert out.startswith(f"#{article_id} was forgotten already, on ") and "(the site's about page)" in out

    # search
    code, out, _ = cli(capsys, "search", "zorblax", "--archive", str(archive))
    assert code == 0 and f"#{article_id} " not in out and out.count("\n#") + out.startswith("#") == 2
    # rejected lists it, with the reason
    code, out, _ = cli(capsys, "rejected", "--reason", "forgotten", "--archive", str(archive))
    assert url in out and f"forgotten by hand (#{article_id}: the site's about page)" in out
    # feeds
    with Archive.open(archive) as opened:
        written = write_feeds(opened, load_config(config).alerts, archive.parent / "feeds")
    feeds = "".join(p.read_text() for p in written)
    assert url not in feeds and site.url("/news/z1") in feeds
    # the reading room: the page says so, the search and rule lists leave it out
    page = article_page(archive, config, article_id)
    assert "Forgotten" in page and f"newswatch forget --undo {article_id}" in page
    listed = article_page(archive, config, "search.json?q=zorblax&_shape=array")
    assert f'"id": {article_id},' not in listed and listed.count('"id": ') == 2
    # the digest: the two others, not it
    with Archive.open(archive) as opened:
        report = deliver_digest(opened, load_config(config).smtp)
    assert len(report.sent) == 1 and report.sent[0].match_count == 2
    body = smtp.messages[0].get_body(("plain",)).get_content()
    assert title not in body

    # the next run: the page is still in the feed, and not fetched nor ingested again
    before = len(site.requests("/news/z0"))
    site.routes["/feed.xml"] = Reply(  # the feed changed: every entry is read again
        body=site.routes["/feed.xml"].data + b"\n", content_type="application/rss+xml"
    )
    second = ingest_run(load_config(config))
    assert len(site.requests("/news/z0")) == before
    assert second.sources[0].new == 0 and ids(archive)[url] == article_id

    # undo: back in search and rejected no more; its held-back match goes out with the next digest
    code, out, _ = cli(capsys, "forget", "--undo", str(article_id), "--archive", str(archive))
    assert out.strip() == (
        f"brought back #{article_id} ({title}): in alerts, digests, feeds, search and the reading room again; "
        "its 1 pending alert(s) go out with the next delivery"
    )
    code, out, _ = cli(capsys, "search", "zorblax", "--archive", str(archive))
    assert f"#{article_id} " in out
    code, out, _ = cli(capsys, "rejected", "--reason", "forgotten", "--archive", str(archive))
    assert url not in out
    with Archive.open(archive) as opened:
        report = deliver_digest(opened, load_config(config).smtp)
    assert len(report.sent) == 1 and report.sent[0].match_count == 1
    assert title in smtp.messages[-1].get_body(("plain",)).get_content()


def test_recheck_of_a_forgotten_page_brings_it_back_without_fetching_it(desk, capsys):
    site, config, archive, _ = desk
    url = site.url("/news/z2")
    cli(capsys, "forget", url, "--archive", str(archive))
    requests = len(site.requests("/news/z2"))
    code, out, _ = cli(capsys, "recheck", url, "--config", str(config))
    assert code == 0
    assert f"brought back #{ids(archive)[url]}" in out and "it was forgotten, not rejected" in out
    assert len(site.requests("/news/z2")) == requests
    code, out, _ = cli(capsys, "search", "zorblax", "--archive", str(archive))
    assert f"#{ids(archive)[url]} " in out


def test_forget_names_what_it_cannot_find(desk, capsys):
    _, _, archive, _ = desk
    code, _, err = cli(capsys, "forget", "999", "--archive", str(archive))
    assert code == 1
    assert err.strip() == (
        f"newswatch forget: no archived article #999 in {archive}: `newswatch search QUERY` shows the ids "
        "(or give its URL)"
    )
    code, _, err = cli(capsys, "forget", "https://nowhere.example/x", "--archive", str(archive))
    assert code == 1 and "no archived article at https://nowhere.example/x" in err


def reading_room_json(archive, config, path: str):
    """A reading-room path's JSON (the plugin and metadata of `newswatch browse`)."""
    import json

    return json.loads(article_page(archive, config, path))


def test_a_forgotten_article_is_out_of_stories_export_stats_and_the_reading_rooms_lists(desk, capsys):
    import json

    from storage.reading import ARTICLES_PER_DAY_SQL

    site, config, archive, _ = desk
    found = ids(archive)
    gone, kept = found[site.url("/news/z0")], found[site.url("/news/z1")]
    with Archive.open(archive, read_only=True) as opened:
        gone_title, kept_title = opened.get(gone).title, opened.get(kept).title
    assert gone_title != kept_title
    # one story of two versions, its title the one forgotten next
    code, out, _ = cli(capsys, "stories", "merge", str(gone), str(kept), "--archive", str(archive))
    assert code == 0 and "(2 versions)" in out
    code, out, _ = cli(capsys, "forget", str(gone), "--archive", str(archive))
    assert code == 0

    # newswatch stories: the story has one version, the other one's title; no story is its alone
    code, out, _ = cli(capsys, "stories", "--json", "--archive", str(archive))
    listed = json.loads(out)["stories"]
    versions = [v["id"] for s in listed for v in s["versions"]]
    assert sorted(versions) == sorted(i for i in found.values() if i != gone)
    story = next(s for s in listed if kept in [v["id"] for v in s["versions"]])
    assert story["size"] == 1 and story["title"] == kept_title
    assert site.url("/news/z0") not in story["urls"]
    code, out, err = cli(capsys, "stories", "--archive", str(archive))
    assert gone_title not in out and f"#{gone} " not in out and err.strip() == "2 stories"
    # newswatch show: another version's story leaves it out; its own page says FORGOTTEN, story and all
    code, out, _ = cli(capsys, "show", str(kept), "--archive", str(archive))
    assert "1 version " in out and ", no other so far" in out and gone_title not in out
    code, out, _ = cli(capsys, "show", str(gone), "--archive", str(archive))
    assert "FORGOTTEN on " in out and "2 versions" in out and kept_title in out
    # the corrections still see every version
    code, _, err = cli(capsys, "stories", "split", str(gone), str(gone), "--archive", str(archive))
    assert code == 0, err
    cli(capsys, "stories", "merge", str(gone), str(kept), "--archive", str(archive))

    # export: left out, and said so; --include-forgotten puts it in
    code, out, err = cli(capsys, "export", "--archive", str(archive))
    exported = [json.loads(line)["id"] for line in out.splitlines()]
    assert code == 0 and gone not in exported and len(exported) == 2
    assert err.strip() == (
        "newswatch export: 1 forgotten article(s) left out "
        "(`newswatch rejected --reason forgotten` lists them; --include-forgotten exports them too)"
    )
    code, out, err = cli(capsys, "export", "--format", "csv", "--archive", str(archive))
    assert code == 0 and gone_title not in out and kept_title in out and "1 forgotten" in err
    code, out, err = cli(capsys, "export", "--include-forgotten", "--archive", str(archive))
    assert code == 0 and gone in [json.loads(line)["id"] for line in out.splitlines()] and err == ""

    # stats: not counted, and said so
    code, out, _ = cli(capsys, "stats", "--json", "--archive", str(archive))
    stats = json.loads(out)
    assert stats["articles"] == 2 and stats["forgotten"] == 1 and stats["per_source"] == {"good": 2}
    assert sum(stats["per_day"].values()) == 2
    code, out, _ = cli(capsys, "stats", "--archive", str(archive))
    assert ": 2 articles, " in out and "; 1 forgotten article(s) not counted" in out
    code, out, _ = cli(capsys, "sources", "--config", str(config))
    assert ", 2 article(s), " in out

    # the reading room: the home's counts and 30-day chart, the articles and sightings tables (HTML,
    # JSON, search, facets), the saved queries Stories, Story, New today, Source health, the story
    # on the other version's page
    home = article_page(archive, config, "/")
    assert "2 articles from 1 source" in home and "2 new today" in home
    with Archive.open(archive, read_only=True) as opened:
        assert sum(r[2] for r in opened.conn.execute(ARTICLES_PER_DAY_SQL)) == 2
    table = reading_room_json(archive, config, "articles.json?_shape=objects&_facet=source")
    assert sorted(r["id"] for r in table["rows"]) == sorted(i for i in found.values() if i != gone)
    assert table["filtered_table_rows_count"] == 2
    assert table["facet_results"]["source"]["results"][0]["count"] == 2
    searched = reading_room_json(archive, config, "articles.json?_shape=array&_search=zorblax")
    assert gone not in [r["id"] for r in searched] and len(searched) == 2
    page = article_page(archive, config, "articles")
    assert gone_title not in page and kept_title in page and "not forgotten" in page
    seen = reading_room_json(archive, config, "sightings.json?_shape=array")
    assert gone not in [r["article_id"] for r in seen] and len(seen) == 2
    stories = reading_room_json(archive, config, "stories.json?_shape=array")
    row = next(r for r in stories if kept in [v[0] for v in json.loads(r["versions"])])
    assert row["size"] == 1 and row["title"] == kept_title and len(stories) == 2
    assert gone not in [v[0] for r in stories for v in json.loads(r["versions"])]
    one = reading_room_json(archive, config, f"story.json?_shape=array&id={kept}")
    assert [r["article"] for r in one] == [kept]
    today = reading_room_json(archive, config, "new_today.json?_shape=array")
    assert gone not in [r["id"] for r in today] and len(today) == 2
    health = reading_room_json(archive, config, "source_health.json?_shape=array")
    assert [r["articles"] for r in health] == [2]
    other = article_page(archive, config, kept)
    assert gone_title not in other
    assert "Forgotten" in article_page(archive, config, gone)  # its own page stays, and says so

    # undo: back everywhere
    cli(capsys, "forget", "--undo", str(gone), "--archive", str(archive))
    code, out, err = cli(capsys, "export", "--archive", str(archive))
    assert len(out.splitlines()) == 3 and err == ""
    assert reading_room_json(archive, config, "articles.json?_shape=objects")["filtered_table_rows_count"] == 3
    code, out, _ = cli(capsys, "stories", "--json", "--archive", str(archive))
    assert any(s["size"] == 2 for s in json.loads(out)["stories"])
