"""Memory bounded by entries (issue 23, item 2): sitemaps and large feeds read as streams, a
per-source cap on the new links one run keeps (`max_entries`, newest first, the others counted
as waiting and found again by later runs), listing pages read up to `LISTING_BYTES`.

Peak RSS on 48 MB documents is measured by bench/memory.py (docs/operations.md, "Scaling").
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from fake_sites import article_page, atom_feed, rss_feed
from httpserver import LocalServer, Reply, html

from flows.config.loader import load_config
from flows.pipeline.ingest import ingest_run
from scrapers import discover as discovery
from scrapers.feeds import iter_feed, parse_feed
from scrapers.sitemaps import iter_sitemap, parse_sitemap


def big_sitemap(base: str, count: int) -> bytes:
    """`count` URLs, their lastmod a day each, oldest first (the newest at the end)."""
    rows = "".join(
        f"<url><loc>{base}/news/item-{i:05d}</loc><lastmod>20{10 + i // 336:02d}-{1 + i // 28 % 12:02d}-"
        f"{1 + i % 28:02d}</lastmod></url>\n"
        for i in range(count)
    )
    return (
        f'<?xml version="1.0"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{rows}</urlset>'.encode()
    )


def each_its_own_article(request) -> Reply:
    return html(article_page("aprnews", request.path))


def config(tmp_path: Path, url: str, kind: str, **extra: object) -> Path:
    options = ", ".join(f"{k}: {v}" for k, v in extra.items())
    path = tmp_path / "newswatch.yaml"
    path.write_text(
        f"archive: {tmp_path / 'archive.db'}\nuser_agent: newswatch-test/0.1\nsources:\n"
        f"  - {{name: big, url: '{url}', kind: {kind}, delay: 0, {options}}}\n",
        encoding="utf-8",
    )
    return path


def test_a_sitemap_past_max_entries_keeps_the_newest_and_counts_the_others_as_waiting(
    tmp_path: Path, http_server: LocalServer
) -> None:
    http_server.routes["/sitemap.xml"] = Reply(body=big_sitemap(http_server.base, 3000), content_type="application/xml")
    http_server.fallback = each_its_own_article
    path = config(tmp_path, http_server.url("/sitemap.xml"), "sitemap", max_entries=50, max_new_per_run=5)

    report = ingest_run(load_config(path)).sources[0]

    # 3,000 new links: 50 kept (the newest), 5 fetched, 45 waiting in the archive, 2,950 left in the sitemap
    assert (report.discovered, report.waiting, report.fetched) == (3000, 2995, 5)
    assert any("2,950 new link(s) past max_entries (50): the newest 50 taken" in note for note in report.notes)
    fetched = [r.path for r in http_server.requests() if r.path.startswith("/news/")]
    assert fetched == [f"/news/item-{i:05d}" for i in range(2999, 2994, -1)]  # newest first
    with sqlite3.connect(tmp_path / "archive.db") as conn:
        waiting = [url for (url,) in conn.execute("SELECT url FROM waiting_pages ORDER BY position")]
        documents = conn.execute("SELECT count(*) FROM discovery_documents").fetchone()[0]
    assert len(waiting) == 45 and waiting[0].endswith("/news/item-02994")
    assert documents == 0  # read again in full next run: the links left are in it

    again = ingest_run(load_config(path)).sources[0]
    assert again.fetched == 5 and again.discovered == 3000 - 5 and again.waiting == 3000 - 10


def test_the_sitemap_stream_reads_what_the_whole_parse_read() -> None:
    body = big_sitemap("http://a.example", 500)
    stream = iter_sitemap(body, "http://a.example/sitemap.xml")
    assert not stream.is_index
    assert list(stream.entries) == parse_sitemap(body, "http://a.example/sitemap.xml").entries
    assert len(parse_sitemap(body, "u").entries) == 500


@pytest.mark.parametrize("make", [rss_feed, atom_feed])
def test_a_large_feed_read_as_a_stream_gives_what_feedparser_gives(make) -> None:
    items = [(f"/news/a-{i}", f"Item {i} & more") for i in range(40)]
    body = make("http://a.example", items).encode()
    whole = parse_feed(body, None, "http://a.example/feed.xml")
    stream = iter_feed(body, "http://a.example/feed.xml")
    entries = list(stream.entries)
    assert [(c.url, c.lastmod, c.title) for c in entries] == [(c.url, c.lastmod, c.title) for c in whole.entries]
    assert (stream.items, stream.site_url) == (whole.items, whole.site_url)


def test_a_feed_past_the_stream_threshold_is_capped_newest_first(
    tmp_path: Path, http_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(discovery, "STREAM_BYTES", 1000)  # this feed is read as a stream
    items = [(f"/news/a-{i:03d}", f"Item {i}") for i in range(120)]
    http_server.routes["/feed.xml"] = Reply(
        body=rss_feed(http_server.base, items).encode(), content_type="application/rss+xml"
    )
    http_server.fallback = html(article_page("aprnews", "/news/the-page"))
    path = config(tmp_path, http_server.url("/feed.xml"), "feed", max_entries=30, max_new_per_run=3)

    report = ingest_run(load_config(path)).sources[0]

    assert (report.discovered, report.waiting, report.fetched) == (120, 117, 3)
    # rss_feed dates its items 10:00, 10:01...: the newest are the last ones
    fetched = [r.path for r in http_server.requests() if r.path.startswith("/news/")]
    assert fetched == ["/news/a-059", "/news/a-119", "/news/a-058"]


def test_a_huge_listing_page_is_read_from_its_top_only(
    tmp_path: Path, http_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(discovery, "LISTING_BYTES", 5000)
    links = "".join(
        f'<li class="teaser"><a href="/news/2024/story-number-{i:04d}">Story number {i} of the day</a></li>\n'
        for i in range(2000)
    )
    http_server.routes["/news"] = html(f"<html><body><main><ul>{links}</ul></main></body></html>")
    http_server.fallback = html(article_page("aprnews", "/news/the-page"))
    path = config(tmp_path, http_server.url("/news"), "listing", max_new_per_run=2, max_pages=1)

    report = ingest_run(load_config(path)).sources[0]

    assert any("a listing page of" in note and "first 5,000 bytes only" in note for note in report.notes)
    assert 0 < report.discovered < 100  # the links of its first 5,000 bytes, not 2,000
