"""One fetch per URL per run (issue 11, item 6) and `max_new_per_run` (issue 14, item 5): the
ingest run as plain code (`flows.pipeline.ingest.ingest_run`, no Prefect) against local sites."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fake_sites import article_page
from httpserver import LocalServer, Reply, html

from core.urls import UrlPolicy
from flows.config.loader import load_config
from flows.pipeline.claims import UrlClaims
from flows.pipeline.ingest import ingest_run
from flows.pipeline.runner import Runner
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


# ------------------------------------------------------------ nothing lost behind a claim ---

LOST = "/fr/news/loim-et-le-niger-lancent-un-programme-daide-au-retour-volontaire"
OTHER = "/fr/news/au-tchad-loim-ouvre-trois-centres-daccueil"


def test_claims_hand_a_failed_page_to_another_spelling() -> None:
    claims = UrlClaims()
    assert claims.take("rss", keyed("https://x.org/a", "https://x.org/b"), limit=10, found_via="feed").urls == [
        "https://x.org/a",
        "https://x.org/b",
    ]
    # The listing plans while the feed is fetching: its spellings are shares of the feed's claims.
    listing = claims.take("listing", keyed("http://x.org/a", "http://x.org/b"), limit=10, found_via="listing")
    assert listing.urls == [] and len(listing.shared) == 2
    failure = "https://x.org/a: cannot connect"
    assert (
        claims.settle(
            "rss", {key("https://x.org/a"): None, key("https://x.org/b"): None}, {key("https://x.org/a"): failure}
        )
        == []
    )
    # a failed: the listing's spelling is tried, for the listing; b was read and is no article: nothing to try.
    [rescue] = claims.rescues()
    assert (rescue.source, rescue.url, rescue.found_via, rescue.failed) == (
        "listing",
        "http://x.org/a",
        "listing",
        failure,
    )
    # A source planning while the listing fetches it shares it, as before.
    later = claims.take("sitemap", keyed("http://www.x.org/a/"), limit=10)
    assert later.urls == [] and len(later.shared) == 1
    assert claims.settle("listing", {key("http://x.org/a"): 9}) == [("sitemap", "http://www.x.org/a/", 9)]
    assert claims.rescues() == []
    assert [(s.url, s.state) for s in claims.shares_of("listing")] == [("http://x.org/b", "not-article")]
    assert [(s.url, s.state) for s in claims.shares_of("sitemap")] == [("http://www.x.org/a/", "article")]
    assert claims.tried(key("http://x.org/a")) == {"https://x.org/a"}
    # After a failure, a new spelling is this source's to fetch at once.
    claims.take("rss", keyed("https://x.org/c"), limit=10)
    claims.settle("rss", {key("https://x.org/c"): None}, {key("https://x.org/c"): "gone"})
    assert claims.take("listing", keyed("http://x.org/c"), limit=10).urls == ["http://x.org/c"]
    assert claims.take("sitemap", keyed("https://x.org/c"), limit=10).urls == []  # the spelling that failed: shared


def lost_claim_site(site: LocalServer) -> Path:
    """The issue's case: a feed lists a page under https:// (which this site does not serve),
    the listing of the same site links it over http://."""
    from fake_sites import iom_listing_page, rss_feed

    site.routes.update({p: html(article_page("iom-fr", p)) for p in (LOST, OTHER)})
    site.routes["/fr/news"] = html(iom_listing_page([(p, p) for p in (OTHER, LOST)]))
    https = site.base.replace("http://", "https://")
    site.routes["/fr/rss.xml"] = Reply(
        body=rss_feed(site.base, [(OTHER, OTHER)]).replace(
            "</channel>", f"<item><title>t</title><link>{https}{LOST}</link></item></channel>"
        ),
        content_type="application/rss+xml",
    )
    return site


def test_a_page_whose_claimed_fetch_fails_is_fetched_by_the_source_that_lists_it_next(
    tmp_path: Path, http_server: LocalServer
) -> None:
    """The feed runs first and fails on its https:// spelling; the listing, planning after that,
    fetches its http:// spelling itself in the same run. The counts add up."""
    site = lost_claim_site(http_server)
    cfg = config(
        tmp_path / "newswatch.yaml",
        [("iom-rss", site.url("/fr/rss.xml"), "feed", "iom"), ("iom-fr", site.url("/fr/news"), "listing", "iom")],
    )
    summary = ingest_run(load_config(cfg)).to_dict()
    rss, listing = summary["sources"]
    assert (rss["discovered"], rss["new"], rss["duplicates"], len(rss["errors"])) == (2, 1, {}, 1)
    assert "https://127.0.0.1" in rss["errors"][0]
    assert (listing["discovered"], listing["new"], listing["duplicates"], listing["errors"]) == (
        2,
        1,
        {"shared": 1},
        [],
    )
    assert sorted(rows(cfg, "SELECT source, url FROM articles")) == [
        ("iom-fr", site.url(LOST)),
        ("iom-rss", site.url(OTHER)),
    ]
    assert [r.path for r in site.requests(LOST)] == [LOST]


class InterleavedRunner(Runner):
    """The sources in parallel, in this order: the feed plans (takes the page), the listing
    plans (its spelling becomes a share of the feed's claim), then the feed stores (settles
    the claim): the listing takes the page while the feed's fetch of it is still unsettled."""

    def __init__(self) -> None:
        self.planned = {"iom-rss": threading.Event(), "iom-fr": threading.Event()}

    def each_source(self, fn, sources):
        with ThreadPoolExecutor(len(sources)) as pool:
            return list(pool.map(fn, sources))

    def stage(self, name, source, fn, *args):
        if name == "fetch":
            self.planned[source].set()
        if name == "discover" and source == "iom-fr":
            assert self.planned["iom-rss"].wait(20)
        if name == "store" and source == "iom-rss":
            assert self.planned["iom-fr"].wait(20)
        return fn(*args)


def test_a_page_lost_behind_a_claim_is_rescued_in_the_same_run_and_the_counts_add_up(
    tmp_path: Path, http_server: LocalServer
) -> None:
    """QA's case: the listing planned while the feed held the page, the feed's https:// fetch
    failed; the listing's http:// spelling is fetched in the same run, for the listing, and the
    listing's line no longer counts a duplicate that was never archived."""
    site = lost_claim_site(http_server)
    cfg = config(
        tmp_path / "newswatch.yaml",
        [("iom-rss", site.url("/fr/rss.xml"), "feed", "iom"), ("iom-fr", site.url("/fr/news"), "listing", "iom")],
    )
    summary = ingest_run(load_config(cfg), runner=InterleavedRunner()).to_dict()
    rss, listing = summary["sources"]
    assert (rss["discovered"], rss["new"], rss["duplicates"], len(rss["errors"])) == (2, 1, {}, 1)
    # OTHER: the listing's sighting of the feed's article; LOST: its own, rescued.
    assert (listing["discovered"], listing["new"], listing["duplicates"], listing["errors"]) == (
        2,
        1,
        {"shared": 1},
        [],
    )
    assert listing["fetched"] == 1 and [a["url"] for a in listing["new_articles"]] == [site.url(LOST)]
    assert rows(cfg, "SELECT source FROM articles WHERE url = ?", site.url(LOST)) == [("iom-fr",)]
    # The https:// spelling that failed is no failing page any more: the page is archived.
    assert rows(cfg, "SELECT count(*) FROM pages") == [(0,)]
    text = format_summary(summary)
    assert "iom-rss" in text and "2 new article(s)" in text


def test_a_page_every_spelling_of_which_fails_is_an_error_not_a_duplicate(
    tmp_path: Path, http_server: LocalServer
) -> None:
    site = lost_claim_site(http_server)
    site.routes[LOST] = Reply(status=500, body=b"down", content_type="text/plain")
    cfg = config(
        tmp_path / "newswatch.yaml",
        [("iom-rss", site.url("/fr/rss.xml"), "feed", "iom"), ("iom-fr", site.url("/fr/news"), "listing", "iom")],
    )
    summary = ingest_run(load_config(cfg), runner=InterleavedRunner()).to_dict()
    rss, listing = summary["sources"]
    assert listing["duplicates"] == {"shared": 1}  # OTHER only
    assert len(listing["errors"]) == 1 and site.url(LOST) in listing["errors"][0]
    assert listing["discovered"] == listing["new"] + sum(listing["duplicates"].values()) + len(listing["errors"])
    assert rows(cfg, "SELECT source, reason FROM pages ORDER BY source") == [
        ("iom-fr", "failing"),
        ("iom-rss", "failing"),
    ]
