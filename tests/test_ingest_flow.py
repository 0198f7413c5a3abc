"""End to end: the real `ingest` flow through Prefect against real HTTP servers on 127.0.0.1.

Five sources, one per host (politeness is per host, so they run in parallel as in real use):
- iom-fr: an IOM-like listing (`/fr/news`, `?page=1`, an empty `?page=2`) whose teasers
  include every misbehaving page (500 twice then 200, 429 with Retry-After, a hanging page,
  a redirect loop, a 10 MB page, a PDF, a robots.txt-disallowed page, a windows-1252 page
  declared iso-8859-1);
- apr: an RSS 2.0 feed (kind detected) with ETag; lexis: an Atom feed with Last-Modified;
- iom-en: a sitemap; down: a feed on a port where nothing listens.
The `ingest_runs` fixture runs the flow three times on the same servers (first run, unchanged
re-run, re-run after one new listing teaser and one new feed item) and keeps, for each run,
the summary, the requests each server received and the archive's state; the tests below
each check one promise of issue 4 on those records. The `newswatch` command tests at the
end run the CLI as a user does, in a subprocess.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fake_sites import article_page, atom_feed, iom_listing_page, rss_feed, sitemap
from httpserver import LocalServer, Reply, Request, html, redirect

from core.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
NEWSWATCH = ROOT / ".venv" / "bin" / "newswatch"
USER_AGENT = "newswatch-test/0.1 (+mailto:tests@example.org)"
FEED_TYPE = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "sitemap": "application/xml; charset=utf-8",
}

# --------------------------------------------------------------------------- the sites ---

IOM_PAGE_0 = [
    "/fr/news/loim-ouvre-un-centre-daccueil-a-agadez",
    "/fr/news/loim-appelle-a-proteger-les-migrants-au-sahel",
    "/fr/news/retours-volontaires-depuis-la-libye",
]
IOM_PAGE_1 = ["/fr/news/recensement-des-deplaces-au-soudan", "/fr/news/formation-des-gardes-frontieres-au-niger"]
IOM_NEW = "/fr/news/nouvelle-route-migratoire-dans-latlantique"

FLAKY = "/fr/news/reponse-apres-deux-erreurs"  # 500, 500, then 200
RATE_LIMITED = "/fr/news/serveur-surcharge"  # 429 Retry-After: 1, then 200
HANGING = "/fr/news/page-qui-ne-repond-pas"
LOOP_A, LOOP_B = "/fr/news/boucle-a", "/fr/news/boucle-b"
HUGE = "/fr/news/page-de-dix-megaoctets"
PDF = "/fr/news/rapport-annuel"  # an article-like path serving a PDF
DISALLOWED = "/fr/news/interdit-aux-robots"
CP1252 = "/fr/news/accents-windows-1252"
NEVER_ARCHIVED = [HANGING, LOOP_A, HUGE, PDF, DISALLOWED]

APR = [
    "/actualites/accord-sur-la-cooperation-migratoire",
    "/actualites/hausse-des-arrivees-a-lampedusa",
    "/actualites/nouveau-pacte-europeen-sur-lasile",
]
APR_NEW = "/actualites/reunion-des-ministres-a-bruxelles"
LEXIS = [
    "/la-manche-au-menu-dune-reunion-intergouvernementale-118204",
    "/reforme-du-droit-dasile-au-parlement-118391",
    "/controle-des-frontieres-interieures-prolonge-118457",
]
IOM_EN = [
    "/news/iom-opens-migrant-resource-centre-in-agadez",
    "/news/iom-calls-for-protection-of-migrants-in-the-sahel",
    "/news/displacement-tracking-in-sudan",
]

CP1252_TITLE = "L’OIM s’inquiète des traversées « à haut risque » de la Manche"
CP1252_BODY = [
    "L’Organisation internationale pour les migrations (OIM) s’est déclarée préoccupée "
    "jeudi par la hausse des traversées de la Manche à bord d’embarcations de fortune.",
    "« Chaque départ met des vies en danger », a déclaré la cheffe de mission à Calais, "
    "qui œuvre depuis 2019 auprès des exilés du littoral… et de leurs familles.",
    "Selon l’OIM, les passeurs facturent désormais jusqu’à 3 000 € par personne, "
    "y compris aux mineurs non accompagnés, dont l’âge moyen baisse d’année en année.",
]

ROBOTS_TXT = f"User-agent: *\nDisallow: {DISALLOWED}\n"
TEN_MB_PAGE = b'<!DOCTYPE html><html lang="fr"><body><p>' + b"migration " * 1_000_000 + b"</p></body></html>"


def _teasers(paths: list[str]) -> list[tuple[str, str]]:
    return [(p, p.rsplit("/", 1)[1].replace("-", " ").capitalize()) for p in paths]


def _listing(paths: list[str], etag: str) -> Reply:
    return html(iom_listing_page(_teasers(paths)), etag=etag)


def _article(template: str, path: str) -> Reply:
    return html(article_page(template, path))


def _cp1252_page() -> Reply:
    page = article_page("iom-fr", CP1252, title=CP1252_TITLE, body=CP1252_BODY)
    page = page.replace('<meta charset="utf-8">', '<meta charset="iso-8859-1">')
    return Reply(body=page.encode("cp1252"), content_type="text/html; charset=iso-8859-1")


def iom_fr_routes() -> dict:
    routes: dict = {
        "/robots.txt": Reply(body=ROBOTS_TXT, content_type="text/plain"),
        "/fr/news": _listing(
            [*IOM_PAGE_0, FLAKY, RATE_LIMITED, HANGING, LOOP_A, HUGE, PDF, DISALLOWED], etag='"page0-v1"'
        ),
        "/fr/news?page=1": _listing([*IOM_PAGE_1, CP1252], etag='"page1-v1"'),
        "/fr/news?page=2": _listing([], etag='"page2-v1"'),  # past the last page: an empty view
        FLAKY: [Reply(status=500, body="Internal Server Error", content_type="text/plain")] * 2
        + [_article("iom-fr", FLAKY)],
        RATE_LIMITED: [
            Reply(status=429, body="Too Many Requests", content_type="text/plain", headers={"Retry-After": "1"}),
            _article("iom-fr", RATE_LIMITED),
        ],
        HANGING: Reply(delay=60, body="never sent"),
        LOOP_A: redirect(LOOP_B),
        LOOP_B: redirect(LOOP_A),
        HUGE: Reply(body=TEN_MB_PAGE, declare_length=False),  # chunked: only streaming can tell
        PDF: Reply(body=b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n", content_type="application/pdf"),
        DISALLOWED: _article("iom-fr", DISALLOWED),
        CP1252: _cp1252_page(),
        IOM_NEW: _article("iom-fr", IOM_NEW),
    }
    for path in IOM_PAGE_0 + IOM_PAGE_1:
        routes[path] = _article("iom-fr", path)
    return routes


@dataclass
class Sites:
    iom_fr: LocalServer
    apr: LocalServer
    lexis: LocalServer
    iom_en: LocalServer
    down_port: int

    @property
    def servers(self) -> dict[str, LocalServer]:
        return {"iom-fr": self.iom_fr, "apr": self.apr, "lexis": self.lexis, "iom-en": self.iom_en}

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()


def start_sites() -> Sites:
    apr = LocalServer().start()
    apr.routes.update({p: _article("aprnews", p) for p in APR + [APR_NEW]})
    apr.routes["/rss.xml"] = Reply(
        body=rss_feed(apr.base, _teasers(APR)), content_type=FEED_TYPE["rss"], etag='"rss-v1"'
    )
    lexis = LocalServer().start()
    lexis.routes.update({p: _article("lexisveille", p) for p in LEXIS})
    lexis.routes["/feed.atom"] = Reply(
        body=atom_feed(lexis.base, _teasers(LEXIS)),
        content_type=FEED_TYPE["atom"],
        last_modified="Thu, 09 Dec 2021 09:00:00 GMT",
    )
    iom_en = LocalServer().start()
    iom_en.routes.update({p: _article("iom-en", p) for p in IOM_EN})
    iom_en.routes["/sitemap.xml"] = Reply(
        body=sitemap(iom_en.base, IOM_EN), content_type=FEED_TYPE["sitemap"], etag='"sitemap-v1"'
    )
    return Sites(LocalServer(iom_fr_routes()).start(), apr, lexis, iom_en, free_port())


def add_one_listing_teaser_and_one_feed_item(sites: Sites) -> None:
    sites.iom_fr.routes["/fr/news"] = _listing(
        [IOM_NEW, *IOM_PAGE_0, FLAKY, RATE_LIMITED, HANGING, LOOP_A, HUGE, PDF, DISALLOWED], etag='"page0-v2"'
    )
    sites.apr.routes["/rss.xml"] = Reply(
        body=rss_feed(sites.apr.base, _teasers([APR_NEW, *APR])), content_type=FEED_TYPE["rss"], etag='"rss-v2"'
    )


def write_config(path: Path, archive: Path, sources: list[dict]) -> Path:
    lines = [
        f"archive: {archive}",
        f'user_agent: "{USER_AGENT}"',
        # Tiny waits keep the file fast; the hanging page costs attempts x read timeout.
        "timeouts: {connect: 1, read: 1, total: 10}",
        "retries: {attempts: 3, backoff: 0.05, max_backoff: 0.2, max_retry_after: 5}",
        "sources:",
    ]
    for source in sources:
        lines.append(f"  - name: {source['name']}")
        lines += [f"    {key}: {value}" for key, value in source.items() if key != "name"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def sites_config(path: Path, sites: Sites) -> Path:
    return write_config(
        path,
        path.parent / "archive.db",
        [
            dict(
                name="iom-fr", url=sites.iom_fr.url("/fr/news"), kind="listing", profile="iom", delay=0.02, max_pages=5
            ),
            dict(name="apr", url=sites.apr.url("/rss.xml"), profile="aprnews", delay=0.02),
            dict(name="lexis", url=sites.lexis.url("/feed.atom"), kind="feed", profile="lexisveille", delay=0.02),
            dict(name="iom-en", url=sites.iom_en.url("/sitemap.xml"), kind="sitemap", profile="iom", delay=0.02),
            dict(name="down", url=f"http://127.0.0.1:{sites.down_port}/rss.xml", kind="feed", delay=0.02),
        ],
    )


# --------------------------------------------------------------------------- the runs ---


@dataclass
class RunRecord:
    summary: dict
    requests: dict[str, list[Request]]  # server name -> requests it received during the run
    articles: list[dict]  # the archive's articles after the run
    pages: dict[str, dict]  # the `pages` table after the run, by URL

    def source(self, name: str) -> dict:
        return next(s for s in self.summary["sources"] if s["source"] == name)

    def paths(self, server: str, *, robots: bool = False) -> list[str]:
        return [r.path for r in self.requests[server] if robots or r.route != "/robots.txt"]


@dataclass
class IngestRuns:
    sites: Sites
    config: Path
    archive: Path
    runs: list[RunRecord] = field(default_factory=list)

    def url(self, server: str, path: str) -> str:
        return self.sites.servers[server].url(path)


def _rows(archive: Path, sql: str) -> list[dict]:
    conn = sqlite3.connect(archive)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql)]
    finally:
        conn.close()


def run_and_record(runs: IngestRuns) -> RunRecord:
    from flows.orchestration.ingest_flow import ingest, summary_of

    marks = {name: len(server.requests()) for name, server in runs.sites.servers.items()}
    summary = summary_of(ingest(config_path=str(runs.config), return_state=True))  # its source down: Failed
    assert summary is not None
    record = RunRecord(
        summary=summary,
        requests={name: server.requests()[marks[name] :] for name, server in runs.sites.servers.items()},
        articles=_rows(runs.archive, "SELECT id, url, source, title, body FROM articles ORDER BY id"),
        pages={r["url"]: r for r in _rows(runs.archive, "SELECT * FROM pages")},
    )
    runs.runs.append(record)
    return record


@pytest.fixture(scope="module")
def ingest_runs(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestRuns]:
    sites = start_sites()
    try:
        config = sites_config(tmp_path_factory.mktemp("ingest") / "newswatch.yaml", sites)
        runs = IngestRuns(sites, config, config.parent / "archive.db")
        run_and_record(runs)  # 1: everything is new
        run_and_record(runs)  # 2: nothing changed
        add_one_listing_teaser_and_one_feed_item(sites)
        run_and_record(runs)  # 3: one new teaser, one new feed item
        yield runs
    finally:
        sites.stop()


def expected_first_run_articles(runs: IngestRuns) -> list[str]:
    return sorted(
        [runs.url("iom-fr", p) for p in IOM_PAGE_0 + IOM_PAGE_1 + [FLAKY, RATE_LIMITED, CP1252]]
        + [runs.url("apr", p) for p in APR]
        + [runs.url("lexis", p) for p in LEXIS]
        + [runs.url("iom-en", p) for p in IOM_EN]
    )


def _article_paths(record: RunRecord, server: str) -> list[str]:
    discovery = {"/fr/news", "/fr/news?page=1", "/fr/news?page=2", "/rss.xml", "/feed.atom", "/sitemap.xml"}
    return [p for p in record.paths(server) if p not in discovery]


# --------------------------------------------------------------------------- the tests ---


@pytest.mark.flow
def test_first_run_archives_every_article_once(ingest_runs: IngestRuns) -> None:
    first = ingest_runs.runs[0]
    urls = [a["url"] for a in first.articles]
    assert sorted(urls) == expected_first_run_articles(ingest_runs)  # each one once, nothing else
    assert len({a["title"] for a in first.articles}) == len(urls)  # distinct articles, not folded
    assert {s["source"]: s["new"] for s in first.summary["sources"]} == {
        "iom-fr": 8,
        "apr": 3,
        "lexis": 3,
        "iom-en": 3,
        "down": 0,
    }
    assert all(not s["duplicates"] for s in first.summary["sources"])
    # The listing was read page by page until a page held nothing new (the empty ?page=2).
    assert [p for p in first.paths("iom-fr") if p.startswith("/fr/news?") or p == "/fr/news"] == [
        "/fr/news",
        "/fr/news?page=1",
        "/fr/news?page=2",
    ]
    assert all(r.headers["user-agent"] == USER_AGENT for r in first.requests["apr"])


@pytest.mark.flow
def test_unchanged_rerun_makes_no_article_request_and_gets_304_for_every_discovery_document(
    ingest_runs: IngestRuns,
) -> None:
    second = ingest_runs.runs[1]
    asked = {name: second.paths(name) for name in ingest_runs.sites.servers}
    assert asked == {"iom-fr": ["/fr/news"], "apr": ["/rss.xml"], "lexis": ["/feed.atom"], "iom-en": ["/sitemap.xml"]}
    for name, requests in second.requests.items():
        discovery = [r for r in requests if r.route != "/robots.txt"]
        assert [r.status for r in discovery] == [304], name
    assert second.requests["apr"][-1].headers["if-none-match"] == '"rss-v1"'
    assert second.requests["lexis"][-1].headers["if-modified-since"] == "Thu, 09 Dec 2021 09:00:00 GMT"
    assert [s["unchanged"] for s in second.summary["sources"] if s["source"] != "down"] == [True] * 4
    assert second.articles == ingest_runs.runs[0].articles


@pytest.mark.flow
def test_new_listing_teaser_and_feed_item_are_the_only_pages_fetched_on_the_next_run(ingest_runs: IngestRuns) -> None:
    third = ingest_runs.runs[2]
    assert {name: _article_paths(third, name) for name in ingest_runs.sites.servers} == {
        "iom-fr": [IOM_NEW],
        "apr": [APR_NEW],
        "lexis": [],
        "iom-en": [],
    }
    # The changed first listing page was read, then page 1 answered 304: nothing new beyond.
    assert [(r.path, r.status) for r in third.requests["iom-fr"] if r.route == "/fr/news"] == [
        ("/fr/news", 200),
        ("/fr/news?page=1", 304),
    ]
    new_urls = [a["url"] for a in third.articles[len(ingest_runs.runs[1].articles) :]]
    assert sorted(new_urls) == sorted([ingest_runs.url("iom-fr", IOM_NEW), ingest_runs.url("apr", APR_NEW)])
    assert third.source("iom-fr")["new"] == 1 and third.source("apr")["new"] == 1


@pytest.mark.flow
def test_page_failing_twice_with_500_is_archived_after_retries(ingest_runs: IngestRuns) -> None:
    first = ingest_runs.runs[0]
    assert [r.status for r in first.requests["iom-fr"] if r.path == FLAKY] == [500, 500, 200]
    assert ingest_runs.url("iom-fr", FLAKY) in [a["url"] for a in first.articles]
    assert ingest_runs.url("iom-fr", FLAKY) not in first.pages


@pytest.mark.flow
def test_429_retry_after_is_waited_before_asking_again(ingest_runs: IngestRuns) -> None:
    first = ingest_runs.runs[0]
    asked = [r for r in first.requests["iom-fr"] if r.path == RATE_LIMITED]
    assert [r.status for r in asked] == [429, 200]
    # Retry-After: 1. Measured from the 429's arrival: the server stamps `finished` after its
    # flush, which can be a millisecond after the client got the answer and started waiting.
    assert asked[1].started - asked[0].started >= 1.0
    assert ingest_runs.url("iom-fr", RATE_LIMITED) in [a["url"] for a in first.articles]


@pytest.mark.flow
def test_hanging_page_times_out_and_the_rest_of_its_source_is_archived(ingest_runs: IngestRuns) -> None:
    first = ingest_runs.runs[0]
    url = ingest_runs.url("iom-fr", HANGING)
    asked = [r for r in first.requests["iom-fr"] if r.path == HANGING]
    assert len(asked) == 3 and all(r.status is None for r in asked)  # 3 attempts, none answered
    assert first.pages[url]["outcome"] == "failed" and first.pages[url]["error_kind"] == "timeout"
    assert first.pages[url]["next_attempt"]  # retried on a later run, not on every run
    assert any(e.startswith(url) and "timed out" in e for e in first.source("iom-fr")["errors"])
    # Pages listed after it on the same host were still fetched and archived in the same run.
    archived = {a["url"] for a in first.articles}
    assert {ingest_runs.url("iom-fr", p) for p in IOM_PAGE_1 + [CP1252]} <= archived


@pytest.mark.flow
@pytest.mark.parametrize(
    "path, error_kind, wording",
    [
        (LOOP_A, "redirect_loop", "redirect loop"),
        (HUGE, "too_large", "max_page_bytes"),
        (PDF, "not_html", "application/pdf"),
    ],
)
def test_unusable_page_is_recorded_with_its_error_and_not_requested_again(
    ingest_runs: IngestRuns, path: str, error_kind: str, wording: str
) -> None:
    first, later = ingest_runs.runs[0], ingest_runs.runs[1:]
    url = ingest_runs.url("iom-fr", path)
    assert any(e.startswith(url) and wording in e for e in first.source("iom-fr")["errors"])
    assert first.pages[url]["outcome"] == "gave_up" and first.pages[url]["error_kind"] == error_kind
    assert path in first.paths("iom-fr")
    assert all(path not in run.paths("iom-fr") for run in later)


@pytest.mark.flow
def test_page_disallowed_by_robots_txt_is_never_requested(ingest_runs: IngestRuns) -> None:
    for run in ingest_runs.runs:
        assert DISALLOWED not in run.paths("iom-fr")
    first = ingest_runs.runs[0]
    assert first.paths("iom-fr", robots=True).count("/robots.txt") == 1  # once per host per run
    assert first.pages[ingest_runs.url("iom-fr", DISALLOWED)]["error_kind"] == "robots_disallowed"


@pytest.mark.flow
def test_windows_1252_page_declared_iso_8859_1_keeps_its_accents_and_apostrophes(ingest_runs: IngestRuns) -> None:
    article = next(a for a in ingest_runs.runs[0].articles if a["url"] == ingest_runs.url("iom-fr", CP1252))
    assert article["title"] == CP1252_TITLE
    assert article["body"] == "\n\n".join(CP1252_BODY)


@pytest.mark.flow
def test_source_on_a_host_that_is_down_fails_alone_and_the_run_completes(ingest_runs: IngestRuns) -> None:
    for run in ingest_runs.runs:
        down = run.source("down")
        assert down["failed"] and f"127.0.0.1:{ingest_runs.sites.down_port}" in down["failed"]
        assert "cannot connect" in down["failed"]
        assert all(s["failed"] is None for s in run.summary["sources"] if s["source"] != "down")
        assert run.summary["finished_at"]
    assert {a["source"] for a in ingest_runs.runs[0].articles} == {"iom-fr", "apr", "lexis", "iom-en"}


@pytest.mark.flow
def test_sources_command_shows_last_success_and_last_error(
    ingest_runs: IngestRuns, capsys: pytest.CaptureFixture[str]
) -> None:
    from flows.cli.main import main

    assert main(["sources", "--config", str(ingest_runs.config)]) == 0
    blocks = source_blocks(capsys.readouterr().out)
    assert list(blocks) == ["iom-fr", "apr", "lexis", "iom-en", "down"]
    assert "last success: never" in blocks["down"]
    assert "last error:" in blocks["down"] and "cannot connect" in blocks["down"]
    assert "last success: 20" in blocks["apr"] and "3 run(s)" in blocks["apr"]
    assert "4 article(s)" in blocks["apr"] and "last error" not in blocks["apr"]
    assert "last success: 20" in blocks["iom-fr"] and "1 failing page(s)" in blocks["iom-fr"]


def source_blocks(output: str) -> dict[str, str]:
    """`newswatch sources` output split per source: a name line, then indented lines."""
    blocks: dict[str, str] = {}
    name = ""
    for line in output.splitlines():
        if line and not line.startswith(" "):
            name = line.split()[0]
            blocks[name] = line
        elif name:
            blocks[name] += "\n" + line
    return blocks


# ------------------------------------------------------------------ `newswatch run` CLI ---


def cli_env(prefect_home: Path) -> dict[str, str]:
    """The user's environment without the test session's Prefect settings: the command
    starts its own temporary server under `prefect_home`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NEWSWATCH_"))}
    env.update(PREFECT_HOME=str(prefect_home), DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false")
    return env


def newswatch(*args: str, prefect_home: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NEWSWATCH), *args],
        capture_output=True,
        text=True,
        cwd=prefect_home.parent,
        env=cli_env(prefect_home),
        timeout=timeout,
    )


@pytest.mark.flow
def test_newswatch_run_completes_and_prints_the_summary(tmp_path: Path, http_server: LocalServer) -> None:
    http_server.routes.update({p: _article("aprnews", p) for p in APR[:2]})
    http_server.routes["/rss.xml"] = Reply(
        body=rss_feed(http_server.base, _teasers(APR[:2])), content_type=FEED_TYPE["rss"]
    )
    config = write_config(
        tmp_path / "newswatch.yaml",
        tmp_path / "data" / "archive.db",
        [
            dict(name="apr", url=http_server.url("/rss.xml"), profile="aprnews", delay=0),
            dict(name="down", url=f"http://127.0.0.1:{free_port()}/rss.xml", kind="feed", delay=0),
        ],
    )
    with config.open("a", encoding="utf-8") as f:  # feeds are written at the end of each run
        f.write("feeds_dir: feeds\nalerts:\n  - {name: all-news, query: a*, to: ana@example.org}\n")
    done = newswatch("run", "--config", str(config), prefect_home=tmp_path / "prefect-home")
    assert done.returncode == 3, done.stderr  # the run completed, and a source FAILED
    lines = done.stdout.splitlines()
    import feedparser

    new = feedparser.parse((tmp_path / "feeds" / "new-articles.atom").read_bytes())
    assert not new.bozo and sorted(e.link for e in new.entries) == sorted(http_server.url(p) for p in APR[:2])
    assert not feedparser.parse((tmp_path / "feeds" / "rule-all-news.atom").read_bytes()).bozo
    assert "feeds: 2 Atom feed(s) rewritten" in lines
    assert lines[0].split() == ["source", "discovered", "new", "dupl.", "not", "art.", "errors", "state"]
    assert lines[1].split() == ["apr", "2", "2", "0", "0", "0", "ok"]
    # The failure is its error: the count agrees with the state (and with the run's log).
    assert lines[2].split() == ["down", "0", "0", "0", "0", "1", "FAILED"]
    assert any(line.startswith("down: FAILED: ") and "cannot connect" in line for line in lines)
    # No smtp: section: the matches wait in the outbox, and the summary says so and why.
    assert (
        "alerts: 1 alert email(s) pending (2 match(es)): not sent: the config has no smtp: "
        "section (or no alert rule); add it, then `newswatch alerts retry` sends them"
    ) in lines
    assert "2 new article(s):" in lines
    assert "starting a temporary Prefect server" in done.stderr
    assert sorted(r.path for r in http_server.requests() if r.route != "/robots.txt") == sorted(["/rss.xml", *APR[:2]])


def test_newswatch_run_with_a_bad_config_fails_naming_the_field_before_starting_prefect(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "newswatch.yaml",
        tmp_path / "archive.db",
        [dict(name="apr", url="http://127.0.0.1:9/rss.xml", delay=-1)],
    )
    prefect_home = tmp_path / "prefect-home"
    done = newswatch("run", "--config", str(config), prefect_home=prefect_home)
    assert done.returncode != 0 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1
    assert "sources[0].delay" in done.stderr and "greater than or equal to 0" in done.stderr
    assert "Prefect" not in done.stderr and not prefect_home.exists()  # Prefect never started


def test_newswatch_run_with_an_unwritable_archive_path_fails_with_a_clear_message(tmp_path: Path) -> None:
    in_the_way = tmp_path / "data"
    in_the_way.write_text("a file where the archive's directory should be\n")
    config = write_config(
        tmp_path / "newswatch.yaml", in_the_way / "archive.db", [dict(name="apr", url="http://127.0.0.1:9/rss.xml")]
    )
    prefect_home = tmp_path / "prefect-home"
    done = newswatch("run", "--config", str(config), prefect_home=prefect_home)
    assert done.returncode != 0 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"newswatch run: cannot create the archive {in_the_way / 'archive.db'}: its directory cannot be "
        f"created (File exists: {in_the_way})"
    ]
    assert not prefect_home.exists()


@pytest.mark.flow
def test_each_flow_run_is_named_and_tagged_by_its_sources(ingest_runs: IngestRuns) -> None:
    from prefect.client.orchestration import get_client

    from flows.config.loader import load_config

    expected = {f"source:{s.name}" for s in load_config(ingest_runs.config).enabled_sources()}
    with get_client(sync_client=True) as client:
        runs = [r for r in client.read_flow_runs() if r.name.startswith("ingest-")]
    tagged = [r for r in runs if expected <= set(r.tags)]
    assert len(tagged) >= len(ingest_runs.runs) == 3
    assert all(re.fullmatch(r"ingest-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", r.name) for r in tagged)
