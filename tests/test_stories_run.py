"""Stories through real runs: the pages of tests/fixtures/story_pages/ served by a local HTTP
server (one sitemap per outlet), ingested by `ingest_run` (what `newswatch run` runs, without
Prefect) into a real archive, alert emails to a real SMTP server (aiosmtpd).

- IOM's release in English, French and Spanish, then two press rewrites: one story. A rule
  `per: story` alerts it once, listing the other versions "also in" (outlet and language);
  the rewrites, which come in a later run, send no email of their own and are listed by the
  rule's next email. A rule `per: article` alerts each version.
- Two days later, a second centre opened by the same chief with the same donor and amount,
  repeating the same background figures: another story, another alert, in an archive of six
  articles (too young to tell background figures by their frequency).
- A weekly update of one template: three stories, three alerts.
- A split and a merge made with `newswatch stories` survive the next runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import feedparser
import pytest
from httpserver import LocalServer, Reply, html

from flows.cli.main import main
from flows.config.loader import load_config
from flows.pipeline.ingest import ingest_run
from flows.pipeline.runner import Delivery
from storage import stories, story_assignment
from storage.archive import Archive

PAGES = Path(__file__).resolve().parent / "fixtures" / "story_pages"
MANIFEST = json.loads((PAGES / "manifest.json").read_text(encoding="utf-8"))["pages"]
OUTLETS = ("iom-en", "iom-fr", "iom-es", "courier", "sahel")
CANONICAL = {
    "iom-en": "https://iom.example.org/en/news/",
    "iom-fr": "https://iom.example.org/fr/news/",
    "iom-es": "https://iom.example.org/es/news/",
    "courier": "https://atlantic-courier.example.com/world/",
    "sahel": "https://journal-du-sahel.example.net/societe/",
}
LANGUAGE = {"iom-en": "en", "iom-fr": "fr", "iom-es": "es", "courier": "en", "sahel": "fr"}


def pages(*events: str) -> list[dict]:
    return [p for p in MANIFEST if p["event"] in events]


def link(page: dict) -> str:
    return CANONICAL[page["outlet"]] + Path(page["path"]).stem


class Site:
    """The outlets on one local server: each lists what it has published so far in its sitemap."""

    def __init__(self, server: LocalServer) -> None:
        self.server = server
        self.published: dict[str, list[str]] = {outlet: [] for outlet in OUTLETS}
        self._sitemaps()

    def publish(self, *documents: dict) -> None:
        for page in documents:
            path = "/" + page["path"]
            self.server.routes[path] = html((PAGES / page["path"]).read_text(encoding="utf-8"))
            self.published[page["outlet"]].append(path)
        self._sitemaps()

    def _sitemaps(self) -> None:
        for outlet, paths in self.published.items():
            urls = "".join(f"<url><loc>{self.server.url(p)}</loc></url>" for p in paths)
            self.server.routes[f"/{outlet}/sitemap.xml"] = Reply(
                body='<?xml version="1.0" encoding="UTF-8"?>\n'
                f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>\n',
                content_type="application/xml",
            )


RULES = """
alerts:
  - {name: mauritania, query: 'Mauritania OR Mauritanie', to: ana@example.org}
  - {name: mauritania-each, query: 'Mauritania OR Mauritanie', to: ben@example.org, per: article}
  - {name: mauritania-digest, query: 'Mauritania OR Mauritanie', to: cat@example.org, mode: digest}
"""


@pytest.fixture
def site(http_server: LocalServer) -> Site:
    return Site(http_server)


@pytest.fixture
def config(tmp_path: Path, site: Site, smtp_server) -> Path:
    path = tmp_path / "newswatch.yaml"
    sources = "".join(
        f"  - {{name: {o}, url: '{site.server.url(f'/{o}/sitemap.xml')}', kind: sitemap, delay: 0}}\n" for o in OUTLETS
    )
    path.write_text(
        f"archive: {tmp_path / 'archive.db'}\n"
        "feeds_dir: feeds\n"
        'user_agent: "newswatch-test/0.1"\n'
        "retries: {attempts: 1}\n"
        f"smtp: {{host: 127.0.0.1, port: {smtp_server.port}, sender: newswatch@test.example, timeout: 5}}\n"
        f"sources:\n{sources}{RULES}",
        encoding="utf-8",
    )
    return path


def run(config: Path, site: Site):
    """A run of the outlets that have published something (an empty sitemap is a warning)."""
    names = [outlet for outlet, paths in site.published.items() if paths]
    summary = ingest_run(load_config(config), names, delivery=Delivery(retry_delay=0))
    assert all(s.ok and not s.errors for s in summary.sources), [
        (s.source, s.failed, s.errors) for s in summary.sources
    ]
    return summary


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def test_one_story_in_five_versions_alerts_once_and_lists_the_others_also_in(config, site, smtp_server, tmp_path):
    """The alert goes out as soon as the first version is stored (the run sends immediate
    alerts as their matches are committed, flows/pipeline/early_alerts.py): which release that
    is depends on which outlet's page is stored first, and the releases stored before the
    email is sent are listed in it, the others by the rule's next email."""
    versions = pages("nouadhibou")
    releases = [p for p in versions if p["outlet"].startswith("iom-")]
    rewrites = [p for p in versions if not p["outlet"].startswith("iom-")]

    site.publish(*releases)
    run(config, site)
    [ana] = smtp_server.to("ana@example.org")
    body = text_of(ana)
    assert ana["Subject"].startswith("[newswatch] 1 new article for mauritania: ")
    assert "== mauritania (1) ==" in body and "Stories already sent" not in body
    head, _, also_in = body.partition("Also in:\n")
    (alerted,) = [p for p in releases if link(p) in head]  # the alert is one version...
    listed_first = [p for p in releases if link(p) in also_in]  # ...the others stored by then inside
    for page in listed_first:
        assert f"  {page['outlet']} ({page['language']}): " in also_in
    if listed_first:
        html_part = ana.get_body(("html",)).get_content()
        assert "<p><small>Also in:</small></p>" in html_part and f'<a href="{link(listed_first[0])}">' in html_part
    # per: article alerts every version
    ben = smtp_server.to("ben@example.org")
    assert sum(text_of(m).count("\n== mauritania-each (") for m in ben) == len(ben)
    assert sum(link(p) in text_of(m) for m in ben for p in releases) == 3
    assert not any("Also in" in text_of(m) for m in ben)

    site.publish(*rewrites)
    run(config, site)
    assert len(smtp_server.to("ana@example.org")) == 1  # later versions make no email of their own
    with Archive.open(tmp_path / "archive.db", read_only=True) as archive:
        (story,) = {stories.story_of(archive, a) for (a,) in archive.conn.execute("SELECT id FROM articles")}
        waiting = archive.conn.execute(
            "SELECT count(*) FROM alert_matches WHERE rule = 'mauritania' AND also_in IS NOT NULL AND email_id IS NULL"
        ).fetchone()[0]
    assert waiting == 4 - len(listed_first)

    # The rule's next alert (the second centre, another story) lists them under the story already sent.
    site.publish(*pages("rosso"))
    run(config, site)
    first, second = smtp_server.to("ana@example.org")
    body = text_of(second)
    assert (
        second["Subject"]
        == "[newswatch] 1 new article for mauritania: IOM Opens Second Migrant Response Centre in Mauritania, in Rosso"
    )
    assert "== mauritania (1) ==" in body and "Also in:" not in body
    earlier = body[body.index("Stories already sent, now also in:\n") :]
    others = [p for p in versions if p is not alerted and p not in listed_first]
    for page in others:
        assert f"    {page['outlet']} ({LANGUAGE[page['outlet']]}): " in earlier and link(page) in earlier
    assert not [p for p in listed_first if link(p) in earlier]  # each version listed once
    assert "Rosso" not in earlier
    with Archive.open(tmp_path / "archive.db", read_only=True) as archive:
        rosso = archive.conn.execute("SELECT id FROM articles WHERE title LIKE '%Rosso%'").fetchone()[0]
        assert stories.story_of(archive, rosso) == rosso != story  # a story of its own
        assert (
            archive.conn.execute("SELECT count(*) FROM alert_matches WHERE email_id IS NULL AND mode = 'immediate'")
        ).fetchone()[0] == 0

    # The digest lists each story once, its versions inside.
    from alerts.deliver import deliver_digest

    with Archive.open(tmp_path / "archive.db") as archive:
        report = deliver_digest(archive, load_config(config).smtp, retry_delay=0)
    assert report.ok and report.sent[0].match_count == 2 and report.sent[0].versions == 4
    [digest] = smtp_server.to("cat@example.org")
    assert "== mauritania-digest (2) ==" in text_of(digest)
    assert text_of(digest).count("Also in:") == 1 and "Stories already sent" not in text_of(digest)
    assert all(link(p) in text_of(digest) for p in versions)

    # The rule's feed: one entry per story, its versions inside.
    feed = feedparser.parse((tmp_path / "feeds" / "rule-mauritania.atom").read_bytes())
    assert not feed.bozo and len(feed.entries) == 2
    nouadhibou = next(e for e in feed.entries if e.link != link(pages("rosso")[0]))
    assert nouadhibou.link == link(alerted)
    assert all(link(p) in nouadhibou.summary for p in versions if p is not alerted)
    each = feedparser.parse((tmp_path / "feeds" / "rule-mauritania-each.atom").read_bytes())
    assert len(each.entries) == 6 and not any("Also in" in e.summary for e in each.entries)


def test_a_weekly_series_is_a_story_and_an_alert_a_week(config, site, smtp_server, tmp_path):
    for week, page in enumerate(pages("weekly-1", "weekly-2", "weekly-3"), start=1):
        site.publish(page)
        run(config, site)
        emails = smtp_server.to("ana@example.org")
        assert len(emails) == week
        assert "Also in" not in text_of(emails[-1]) and "Stories already sent" not in text_of(emails[-1])
    with Archive.open(tmp_path / "archive.db", read_only=True) as archive:
        ids = [a for (a,) in archive.conn.execute("SELECT id FROM articles ORDER BY id")]
        assert len(ids) == 3  # the same template each week: three articles, not copies of one
        assert [stories.story_of(archive, a) for a in ids] == ids


def test_a_split_and_a_merge_survive_the_next_runs(config, site, smtp_server, tmp_path, capsys):
    site.publish(*pages("nouadhibou", "rosso"))
    run(config, site)
    archive_path = str(tmp_path / "archive.db")
    with Archive.open(tmp_path / "archive.db", read_only=True) as archive:
        by_link = {row[1]: row[0] for row in archive.conn.execute("SELECT id, canonical_url FROM articles").fetchall()}
    sahel = next(p for p in pages("nouadhibou") if p["outlet"] == "sahel")
    english = next(p for p in pages("nouadhibou") if p["outlet"] == "iom-en")
    rosso = pages("rosso")[0]
    with Archive.open(tmp_path / "archive.db", read_only=True) as archive:
        story = stories.story_of(archive, by_link[link(english)])

    assert main(["stories", "split", str(story), link(sahel), "--archive", archive_path]) == 0
    assert main(["stories", "merge", str(story), str(by_link[link(rosso)]), "--archive", archive_path]) == 0
    capsys.readouterr()

    def assignment() -> dict[int, int | None]:
        with Archive.open(tmp_path / "archive.db", read_only=True) as archive:
            return {a: stories.story_of(archive, a) for a in by_link.values()}

    decided = assignment()
    assert decided[by_link[link(sahel)]] == by_link[link(sahel)]
    assert decided[by_link[link(rosso)]] == story

    run(config, site)  # the same pages again: nothing new, nothing moved
    site.publish(*pages("weekly-1"))
    run(config, site)  # a new article arrives
    with Archive.open(tmp_path / "archive.db") as archive:
        story_assignment.reassign(archive)  # every decision not made by hand taken again
    assert assignment() == decided

    assert main(["stories", "--archive", archive_path, "--json"]) == 0
    listed = {s["id"]: s for s in json.loads(capsys.readouterr().out)["stories"]}
    assert set(listed[story]["urls"]) == {link(p) for p in pages("nouadhibou", "rosso") if p is not sahel}
    assert listed[story]["outlets"] == ["courier", "iom-en", "iom-es", "iom-fr"]
    assert listed[by_link[link(sahel)]]["urls"] == [link(sahel)]
