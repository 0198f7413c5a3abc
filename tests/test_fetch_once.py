"""One fetch per URL per run (issue 11, item 6) and `max_new_per_run` (issue 14, item 5): the
ingest run as plain code (`flows.pipeline.ingest.ingest_run`, no Prefect) against local sites."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from fake_sites import article_page
from httpserver import LocalServer, Reply, html

from core.urls import UrlPolicy
from flows.config.loader import load_config
from flows.pipeline.claims import UrlClaims
from flows.pipeline.ingest import ingest_run
from flows.pipeline.summary import format_summary
from scrapers.links import Candidate

SHARED = "/fr/news/loim-et-le-niger-lancent-un-programme-daide-au-retour-volontaire"
LISTED = ["/fr/news/au-tchad-loim-ouvre-trois-centres-daccueil", SHARED]
IN_FEED = [SHARED, "/fr/news/loim-appelle-a-proteger-les-migrants-exposes-aux-passeurs"]


def config(path: Path, sources: list[tuple[str, str, str, str]], **extra: object) -> Path:
    lines = [
        f"archive: {path.parent / 'archive.db'}",
        'user_agent: "newswatch-test/0.1"',
        "retries: {attempts: 1}",
        "sources:",
    ]
    for name, url, kind, profile in sources:
        lines += [
            f"  - name: {name}",
            f"    url: {url}",
            f"    kind: {kind}",
            f"    profile: {profile}",
            "    delay: 0",
        ] + [f"    {k}: {v}" for k, v in extra.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def rows(path: Path, sql: str, *params) -> list[tuple]:
    conn = sqlite3.connect(path.parent / "archive.db")
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def test_a_page_two_sources_list_is_fetched_once_and_sighted_by_both(tmp_path: Path, http_server: LocalServer) -> None:
    from fake_sites import iom_listing_page, rss_feed

    site = http_server
    site.routes.update({p: html(article_page("iom-fr", p)) for p in set(LISTED + IN_FEED)})
    site.routes["/fr/news"] = html(iom_listing_page([(p, p) for p in LISTED]))
    site.routes["/fr/rss.xml"] = Reply(
        body=rss_feed(site.base, [(p, p) for p in IN_FEED]), content_type="application/rss+xml"
    )
    cfg = config(
        tmp_path / "newswatch.yaml",
        [("iom-fr", site.url("/fr/news"), "listing", "iom"), ("iom-rss", site.url("/fr/rss.xml"), "feed", "iom")],
    )

    summary = ingest_run(load_config(cfg)).to_dict()

    assert [r.path for r in site.requests(SHARED)] == [SHARED]  # one GET in the run
    assert sorted(
        rows(
            cfg,
            "SELECT s.source, s.kind FROM sightings s JOIN articles a ON a.id = s.article_id WHERE a.url = ?",
            site.url(SHARED),
        )
    ) == [("iom-fr", "original"), ("iom-rss", "same_url")]
    rss = next(s for s in summary["sources"] if s["source"] == "iom-rss")
    assert rss["new"] == 1 and rss["duplicates"] == {"shared": 1} and rss["warning"] is None
    assert rows(cfg, "SELECT count(*) FROM articles") == [(3,)]


def keyed(*urls: str) -> list[tuple[str, Candidate]]:
    """Candidates with their identity, as a source's UrlLedger gives them to the claims."""
    return [(UrlPolicy().key(u) or u, Candidate(u)) for u in urls]


def key(url: str) -> str:
    return UrlPolicy().key(url) or url


def test_claims_record_the_sighting_whoever_comes_second() -> None:
    claims = UrlClaims()
    a = claims.take("listing", keyed("https://x.org/a", "https://x.org/b"), limit=10)
    assert a.urls == ["https://x.org/a", "https://x.org/b"]
    # Another source takes them while the first one is still fetching: it waits for nothing.
    b = claims.take("feed", keyed("http://www.x.org/a?utm_source=rss"), limit=10)
    assert b.urls == [] and [c.url for c in b.shared] == ["http://www.x.org/a?utm_source=rss"] and b.settled == []
    # The first source stores its batch: it records the sighting the second one asked for.
    assert claims.settle("listing", {key("https://x.org/a"): 7, key("https://x.org/b"): None}) == [
        ("feed", "http://www.x.org/a?utm_source=rss", 7)
    ]
    # A third source coming after the batch was stored records its sighting itself.
    c = claims.take("sitemap", keyed("https://x.org/a", "https://x.org/b"), limit=10)
    assert c.settled == [("https://x.org/a", 7)] and len(c.shared) == 2  # b became no article: nothing to sight
    assert claims.settle("listing", {key("https://x.org/a"): 7}) == []  # once


def test_max_new_per_run_takes_the_newest_and_keeps_the_rest_for_the_next_runs(
    tmp_path: Path, http_server: LocalServer
) -> None:
    site = http_server
    paths = [f"/actualite-numero-{i}-sur-les-migrations" for i in range(7)]
    site.routes.update({p: html(article_page("lexisveille", p)) for p in paths})
    # Dates out of order in the sitemap: newest first means by date, not by position.
    dates = ["2024-03-02", "2024-03-07", "2024-03-01", "2024-03-05", "2024-03-04", "2024-03-06", "2024-03-03"]
    urls = "".join(
        f"<url><loc>{site.url(p)}</loc><lastmod>{d}</lastmod></url>" for p, d in zip(paths, dates, strict=True)
    )
    site.routes["/sitemap.xml"] = Reply(
        body=f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>',
        content_type="application/xml",
        etag='"v1"',
    )
    cfg = config(
        tmp_path / "newswatch.yaml", [("lexis", site.url("/sitemap.xml"), "sitemap", "lexisveille")], max_new_per_run=3
    )
    by_date = [p for _, p in sorted(zip(dates, paths, strict=True), reverse=True)]

    taken = []
    for expected_waiting in (4, 1, 0):
        before = len(site.requests())
        summary = ingest_run(load_config(cfg)).to_dict()
        [lexis] = summary["sources"]
        taken.append([r.path for r in site.requests()[before:] if r.path in paths])
        assert lexis["waiting"] == expected_waiting and lexis["warning"] is None
        if expected_waiting:
            assert f"lexis: {expected_waiting} more new page(s) wait for the next runs" in format_summary(summary)
    assert taken == [by_date[:3], by_date[3:6], by_date[6:]]
    # The sitemap did not change: runs 2 and 3 got 304 and took from the pages kept waiting.
    assert [r.status for r in site.requests("/sitemap.xml")] == [200, 304, 304]
    assert rows(cfg, "SELECT count(*) FROM articles") == [(7,)] and rows(cfg, "SELECT count(*) FROM waiting_pages") == [
        (0,)
    ]


def test_max_new_per_run_is_checked_in_the_config(tmp_path: Path) -> None:
    from errors import ConfigError

    with pytest.raises(ConfigError, match=r"sources\[0\]\.max_new_per_run"):
        load_config(
            config(tmp_path / "newswatch.yaml", [("a", "http://127.0.0.1:9/rss", "feed", "generic")], max_new_per_run=0)
        )
