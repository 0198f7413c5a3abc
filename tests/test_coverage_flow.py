"""Coverage end to end (issue 11): real `ingest` flow runs against a local web modelled on the
real sites, each site at the root of its own host (a server on its own port):

- apr: an RSS feed of `/fr/depeches-breves/<slug>` articles (apr-news.fr's real shape), with a
  tag page (never fetched) and a dispatch withdrawn from the site (404: gone, no error);
- lexis: a sitemap of `/<slug>` articles (lexisveille.fr's real shape), one of them a page
  the cleaner rejects until the site fixes it (then `newswatch recheck` recovers it);
- menus: a generic listing crowded with menus, a sidebar and a footer, whose pager says
  "Page suivante": only the article links are fetched;
- moved: an IOM listing whose articles moved out of the profile's path: generic scoring;
- changed: a listing that now links only to contact, legal-notice and tag pages; empty: an
  RSS feed with no items: both `warning` with the reason, in the run's summary table, the
  `ingest-summary` artifact, `newswatch sources` and a health email;
- iom-fr and iom-rss: IOM's French listing and its RSS feed, on one host, both listing the same
  release: one GET, and a sighting by each source (the sources run in parallel: whichever
  comes second records its sighting without waiting for the other's batch).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fake_sites import article_page, iom_listing_page
from httpserver import LocalServer, Reply, html
from smtpserver import SmtpServer

APR = [
    "/fr/depeches-breves/le-mexique-et-les-etats-unis-renforcent-leur-cooperation",
    "/fr/depeches-breves/naufrage-au-large-de-lampedusa-des-dizaines-de-disparus",
]
APR_GONE = "/fr/depeches-breves/depeche-retiree-du-site-par-la-redaction"
APR_TAG = "/fr/tags/migrations"
LEXIS = [
    "/les-enjeux-migratoires-et-la-cooperation-policiere-dans-la-manche",
    "/reforme-du-droit-d-asile-le-conseil-constitutionnel-saisi",
]
LEXIS_BROKEN = "/titre-de-sejour-pluriannuel-les-conditions-precisees"
MENUS_1 = [
    "/actualites/2024/03/12/des-centaines-de-migrants-secourus-en-mediterranee",
    "/actualites/le-gouvernement-presente-son-projet-de-loi-sur-limmigration",
]
MENUS_2 = ["/actualites/2024/03/01/frontex-publie-son-rapport-annuel-sur-les-frontieres"]
MOVED = [
    "/fr/articles/2024/loim-appelle-a-proteger-les-migrants-au-sahel",
    "/fr/articles/2024/retours-volontaires-depuis-la-libye-vers-le-niger",
]
IOM_SHARED = "/fr/news/loim-et-le-niger-lancent-un-programme-daide-au-retour-volontaire"
IOM_LISTED = ["/fr/news/au-tchad-loim-ouvre-trois-centres-daccueil-pour-les-deplaces", IOM_SHARED]
IOM_IN_FEED = [IOM_SHARED, "/fr/news/loim-appelle-a-proteger-les-migrants-exposes-aux-passeurs"]
MENU_PATHS = [
    "/",
    "/dossiers/",
    "/chiffres/",
    "/contact/",
    "/qui-sommes-nous",
    "/mentions-legales",
    "/politique-de-confidentialite",
    "/plan-du-site",
    "/tag/migrations",
    "/dossiers/asile/",
    "/dossiers/frontieres/",
    "/dossiers/travail/",
]


def rss(base: str, paths: list[str]) -> Reply:
    items = "".join(f"<item><title>T {i}</title><link>{base}{p}</link></item>" for i, p in enumerate(paths))
    return Reply(
        body=f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>{base}/</link>'
        f"{items}</channel></rss>",
        content_type="application/rss+xml",
    )


def urlset(base: str, paths: list[str]) -> Reply:
    urls = "".join(f"<url><loc>{base}{p}</loc></url>" for p in paths)
    return Reply(
        body=f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>',
        content_type="application/xml",
    )


def listing(main: str, pager: str = "") -> Reply:
    """A news site's listing page: a header menu, a row of sections, a sidebar, a footer."""
    menu = "".join(
        f'<li><a href="{p}">{p.strip("/").split("/")[-1].replace("-", " ").title() or "Accueil"}</a></li>'
        for p in MENU_PATHS[:5]
    )
    sections = "".join(f'<a href="{p}">{p.strip("/").split("/")[-1].title()}</a> ' for p in MENU_PATHS[9:])
    footer = "".join(
        f'<li><a href="{p}">{p.strip("/").split("/")[-1].replace("-", " ")}</a></li>' for p in MENU_PATHS[5:9]
    )
    return html(
        f'<!DOCTYPE html><html lang="fr"><head><title>Actualités</title></head><body>'
        f'<header class="site-header"><nav><ul>{menu}</ul></nav></header>'
        f'<div class="rubriques">{sections}</div>'
        f'<main id="content"><h1>Actualités</h1>{main}{pager}</main>'
        f'<aside class="sidebar"><a href="/dossiers/asile/">Le dossier asile</a></aside>'
        f"<footer><ul>{footer}</ul></footer></body></html>"
    )


def teasers(paths: list[str]) -> str:
    return "".join(
        f'<div class="teaser"><article><h2><a href="{p}">Titre de l’article {i} sur les migrations en '
        f"Europe</a></h2><p>Un résumé de quelques mots sur cet article.</p></article></div>"
        for i, p in enumerate(paths)
    )


@dataclass
class Web:
    servers: dict[str, LocalServer] = field(default_factory=dict)

    def start(self, name: str, routes: dict) -> LocalServer:
        self.servers[name] = LocalServer(routes).start()
        return self.servers[name]

    def url(self, name: str, path: str) -> str:
        return self.servers[name].url(path)

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()


def start_web() -> Web:
    web = Web()
    apr = web.start("apr", {p: html(article_page("aprnews", p)) for p in APR})
    apr.routes["/fr/rss.xml"] = rss(apr.base, [*APR, APR_TAG, APR_GONE])
    apr.routes[APR_TAG] = listing(teasers(APR))
    lexis = web.start("lexis", {p: html(article_page("lexisveille", p)) for p in LEXIS})
    lexis.routes[LEXIS_BROKEN] = html(article_page("lexisveille", LEXIS_BROKEN, body=[]))  # an empty shell
    lexis.routes["/sitemap.xml"] = urlset(lexis.base, [*LEXIS, LEXIS_BROKEN])
    menus = web.start("menus", {p: html(article_page("aprnews", p)) for p in MENUS_1 + MENUS_2})
    menus.routes["/actualites/"] = listing(
        teasers(MENUS_1), '<p class="nav-links"><a href="/actualites/?p=2">Page suivante</a></p>'
    )
    menus.routes["/actualites/?p=2"] = listing(teasers(MENUS_2))
    moved = web.start("moved", {p: html(article_page("iom-fr", p)) for p in MOVED})
    moved.routes["/fr/news"] = listing(teasers(MOVED))
    changed = web.start("changed", {})
    changed.routes["/fr/depeches-breves"] = listing(
        '<p>Cette rubrique a changé d’adresse. <a href="/contact/">Contactez-nous</a>, lisez nos '
        '<a href="/mentions-legales">mentions légales</a> ou le <a href="/tag/migrations">fil migrations</a>.</p>'
    )
    empty = web.start("empty", {})
    empty.routes["/rss.xml"] = rss(empty.base, [])
    iom = web.start("iom", {p: html(article_page("iom-fr", p)) for p in set(IOM_LISTED + IOM_IN_FEED)})
    iom.routes["/fr/news"] = html(iom_listing_page([(p, p.rsplit("/", 1)[1]) for p in IOM_LISTED]))
    iom.routes["/fr/rss.xml"] = rss(iom.base, IOM_IN_FEED)
    return web


def write_config(directory: Path, web: Web, smtp: SmtpServer) -> Path:
    sources = [
        ("apr", web.url("apr", "/fr/rss.xml"), "feed", "aprnews"),
        ("lexis", web.url("lexis", "/sitemap.xml"), "sitemap", "lexisveille"),
        ("menus", web.url("menus", "/actualites/"), "listing", "generic"),
        ("moved", web.url("moved", "/fr/news"), "listing", "iom"),
        ("changed", web.url("changed", "/fr/depeches-breves"), "listing", "aprnews"),
        ("empty", web.url("empty", "/rss.xml"), "feed", "generic"),
        ("iom-fr", web.url("iom", "/fr/news"), "listing", "iom"),
        ("iom-rss", web.url("iom", "/fr/rss.xml"), "feed", "iom"),
    ]
    lines = [
        f"archive: {directory / 'archive.db'}",
        'user_agent: "newswatch-test/0.1"',
        "timeouts: {connect: 2, read: 5, total: 20}",
        "retries: {attempts: 1}",
        f"smtp: {{host: 127.0.0.1, port: {smtp.port}, security: none, sender: newswatch@test.example}}",
        "health_alerts: {to: [ops@example.org]}",
        "sources:",
    ]
    for name, url, kind, profile in sources:
        lines += [
            f"  - name: {name}",
            f"    url: {url}",
            f"    kind: {kind}",
            f"    profile: {profile}",
            "    delay: 0",
        ]
    path = directory / "newswatch.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@dataclass
class Coverage:
    web: Web
    smtp: SmtpServer
    config: Path
    summary: dict
    requests: dict[str, list[str]]  # server -> paths asked for during the run

    def source(self, name: str) -> dict:
        return next(s for s in self.summary["sources"] if s["source"] == name)

    def rows(self, sql: str, *params) -> list[tuple]:
        conn = sqlite3.connect(self.config.parent / "archive.db")
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def coverage(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coverage]:
    from flows.orchestration.ingest_flow import ingest, summary_of

    web, smtp = start_web(), SmtpServer().start()
    try:
        config = write_config(tmp_path_factory.mktemp("coverage"), web, smtp)
        summary = summary_of(ingest(config_path=str(config), return_state=True))
        assert summary is not None
        requests = {name: server.paths() for name, server in web.servers.items()}
        yield Coverage(web, smtp, config, summary, requests)
    finally:
        web.stop()
        smtp.stop()


def archived(coverage: Coverage, source: str) -> list[str]:
    return sorted(url for (url,) in coverage.rows("SELECT url FROM articles WHERE source = ?", source))


# ----------------------------------------------------------------------------- the tests ---


@pytest.mark.flow
def test_feed_and_sitemap_articles_of_the_real_url_shapes_are_archived(coverage: Coverage) -> None:
    assert archived(coverage, "apr") == sorted(coverage.web.url("apr", p) for p in APR)
    assert archived(coverage, "lexis") == sorted(coverage.web.url("lexis", p) for p in LEXIS)
    assert APR_TAG not in coverage.requests["apr"]  # a tag page: never fetched
    assert coverage.source("apr")["warning"] is None and coverage.source("lexis")["warning"] is None


@pytest.mark.flow
def test_a_page_gone_is_recorded_and_is_no_source_error(coverage: Coverage) -> None:
    apr = coverage.source("apr")
    assert apr["errors"] == [] and apr["rejected"] == {"gone": 1}
    [(reason, status, outcome)] = coverage.rows(
        "SELECT reason, status, outcome FROM pages WHERE url = ?", coverage.web.url("apr", APR_GONE)
    )
    assert (reason, status, outcome) == ("gone", 404, "gave_up")


@pytest.mark.flow
def test_menu_heavy_listing_fetches_only_its_articles_and_follows_page_suivante(coverage: Coverage) -> None:
    assert archived(coverage, "menus") == sorted(coverage.web.url("menus", p) for p in MENUS_1 + MENUS_2)
    fetched = [p for p in coverage.requests["menus"] if p not in ("/actualites/", "/actualites/?p=2")]
    assert sorted(fetched) == sorted(MENUS_1 + MENUS_2)  # not one menu, section or footer page


@pytest.mark.flow
def test_listing_the_profile_rejects_falls_back_to_scoring_and_says_so(coverage: Coverage) -> None:
    assert archived(coverage, "moved") == sorted(coverage.web.url("moved", p) for p in MOVED)
    [note] = coverage.source("moved")["notes"]
    assert "profile iom accepts none of its" in note and "generic link scoring took 2" in note


@pytest.mark.flow
def test_changed_layout_listing_and_empty_feed_are_warnings_with_their_reason(coverage: Coverage) -> None:
    from flows.cli.run import run_exit_status
    from flows.pipeline.summary import format_summary

    changed, empty = coverage.source("changed"), coverage.source("empty")
    assert changed["warning"].startswith("0 of ")
    assert changed["warning"].endswith(
        "links look like articles (profile aprnews, then generic link scoring): check the profile or the URL"
    )
    assert empty["warning"] == "the feed has no items"
    text = format_summary(coverage.summary).splitlines()
    table = {line.split()[0]: line.split()[-1] for line in text[1:9]}
    assert table == {
        "apr": "ok",
        "lexis": "ok",
        "menus": "ok",
        "moved": "ok",
        "changed": "WARNING",
        "empty": "WARNING",
        "iom-fr": "ok",
        "iom-rss": "ok",
    }
    assert f"changed: WARNING: {changed['warning']}" in text and "empty: WARNING: the feed has no items" in text
    assert run_exit_status(coverage.summary) == 3


@pytest.mark.flow
def test_warnings_are_in_the_ingest_summary_artifact(coverage: Coverage) -> None:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts()
    [markdown] = [a.data for a in artifacts if a.key == "ingest-summary" and "| empty |" in (a.data or "")][-1:]
    assert "| empty | 0 | 0 | 0 | 0 | 0 | WARNING: the feed has no items |" in markdown
    text = re.sub(r"\\(.)", r"\1", markdown)  # page-derived text is escaped markdown: compare what it shows
    assert "moved: note: " in text and "apr: 1 page(s) rejected (1 gone)" in text


@pytest.mark.flow
def test_warnings_are_in_newswatch_sources_and_in_a_health_email(
    coverage: Coverage, capsys: pytest.CaptureFixture[str]
) -> None:
    from flows.cli.main import main

    assert main(["sources", "--config", str(coverage.config)]) == 0
    out = capsys.readouterr().out
    assert "  state: WARNING: the feed has no items" in out
    assert f"  state: WARNING: {coverage.source('changed')['warning']}" in out
    assert out.count("  state: ok") == 6
    [email] = coverage.smtp.to("ops@example.org")
    body = email.get_body(("plain",)).get_content()
    assert "yields nothing: the feed has no items" in body and "== changed ==" in body


@pytest.mark.flow
def test_rejected_pages_are_listed_then_recovered_by_recheck_once_the_page_is_fixed(
    coverage: Coverage, capsys: pytest.CaptureFixture[str]
) -> None:
    from flows.cli.main import main

    broken = coverage.web.url("lexis", LEXIS_BROKEN)
    assert main(["rejected", "--archive", str(coverage.config.parent / "archive.db"), "--source", "lexis"]) == 0
    out = capsys.readouterr().out
    assert f"  lexis  not-article  200  {broken}" in out and "1 rejected page(s): 1 not-article" in out

    coverage.web.servers["lexis"].routes[LEXIS_BROKEN] = html(article_page("lexisveille", LEXIS_BROKEN))
    assert main(["recheck", "--config", str(coverage.config), "--source", "lexis", "--reason", "not-article"]) == 0
    out = capsys.readouterr().out
    assert "rechecked 1 page(s): 1 archived now, 0 folded into archived articles, 0 still rejected" in out
    assert broken in archived(coverage, "lexis")
    assert coverage.rows("SELECT count(*) FROM pages WHERE url = ?", broken) == [(0,)]
    # The sitemap found it: the re-check cleaned it as a sitemap page, as the run would have.
    assert main(["recheck", "--config", str(coverage.config), broken]) == 1
    assert "not a rejected page" in capsys.readouterr().out


@pytest.mark.flow
def test_a_release_listed_by_two_sources_is_fetched_once_and_sighted_by_both(coverage: Coverage) -> None:
    assert coverage.requests["iom"].count(IOM_SHARED) == 1
    assert sorted(
        coverage.rows(
            "SELECT s.source FROM sightings s JOIN articles a ON a.id = s.article_id WHERE a.url = ?",
            coverage.web.url("iom", IOM_SHARED),
        )
    ) == [("iom-fr",), ("iom-rss",)]
    shared = [coverage.source(name)["duplicates"].get("shared", 0) for name in ("iom-fr", "iom-rss")]
    assert sorted(shared) == [0, 1]  # the one that came second
    assert sorted(p for p in coverage.requests["iom"] if p.startswith("/fr/news/")) == sorted(
        set(IOM_LISTED + IOM_IN_FEED)
    )
