"""scrapers.discover against a real HTTP server on 127.0.0.1 (tests/httpserver.py)."""

from __future__ import annotations

import gzip
import re

import pytest
from httpserver import LocalServer, Reply, html

from scrapers.discover import SourceSpec, detect_kind, discover
from scrapers.fetch import Fetcher, FetchSettings
from scrapers.listing import Pager, pager_for
from scrapers.profiles import Profile, get_profile

SETTINGS = FetchSettings(
    user_agent="newswatch-test/0.1",
    connect_timeout=1.0,
    read_timeout=1.0,
    attempts=2,
    backoff_base=0.01,
    default_delay=0.0,
)

# Shaped like IOM's Drupal news listing: articles under /news/, a 0-based ?page=N pager.
IOM_LIKE = Profile(
    name="iom-like",
    article_path=re.compile(r"^/(?:fr/)?news/[a-z0-9-]+$"),
    tracking_params=("utm_source",),
    extra={"pager_param": "page", "pager_first_page": 0},
)


def listing_page(*slugs: str, extra: str = "") -> str:
    items = "".join(f'<li><a href="/news/{s}?utm_source=list">{s}</a></li>' for s in slugs)
    return f"""<html><head><title>News</title></head><body>
<nav><a href="/">Home</a> <a href="/about-us">About</a> <a href="/news">News</a></nav>
<ul class="views">{items}</ul>
<a href="https://elsewhere.example/news/foreign">elsewhere</a>
<a href="/news/report.pdf">report</a> <a href="mailto:press@iom.int">press</a>
<nav class="pager"><a href="?page=1">2</a><a href="?page=2">3</a></nav>{extra}
</body></html>"""


RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Migrations</title><link>{base}/</link>
<item><title>Un</title><link>{base}/articles/un</link>
  <pubDate>Mon, 06 Jan 2025 10:00:00 +0100</pubDate></item>
<item><title>Deux</title><link>{base}/articles/deux</link></item>
<item><title>Ailleurs</title><link>https://elsewhere.example/articles/trois</link></item>
</channel></rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Actualités</title>
<link rel="alternate" href="{base}/"/><id>urn:x</id><updated>2025-01-07T08:00:00Z</updated>
<entry><title>Premier</title><link rel="alternate" href="{base}/a/premier"/><id>urn:1</id>
  <updated>2025-01-07T08:00:00Z</updated></entry>
<entry><title>Second</title><link href="/a/second"/><id>urn:2</id>
  <updated>2025-01-05T08:00:00Z</updated></entry>
</feed>"""


def sitemap(base: str, *paths: str, lastmod: str = "2025-01-06") -> str:
    urls = "".join(f"<url><loc>{base}{p}</loc><lastmod>{lastmod}</lastmod></url>" for p in paths)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
    )


def xml(body: str, content_type: str = "application/xml", **kw: object) -> Reply:
    return Reply(body=body.encode("utf-8"), content_type=content_type, **kw)


@pytest.fixture
def fetcher():
    with Fetcher(SETTINGS) as f:
        yield f


def known(*urls: str):
    def is_known(candidates: list[str]) -> set[str]:
        return set(candidates) & set(urls)

    return is_known


# ----------------------------------------------------------------------------- listings


def test_listing_keeps_the_sites_article_links_only(http_server: LocalServer, fetcher: Fetcher) -> None:
    http_server.routes["/news"] = html(listing_page("a1", "a2"))
    source = SourceSpec("iom", http_server.url("/news"), "listing", IOM_LIKE, max_pages=1)
    found = discover(source, fetcher)
    assert found.ok and found.kind == "listing"
    # Tracking parameters dropped; nav, pager, other sites, PDFs and mailto ignored.
    assert found.urls == [http_server.url("/news/a1"), http_server.url("/news/a2")]


def test_listing_pager_stops_at_the_first_page_with_nothing_new(http_server: LocalServer, fetcher: Fetcher) -> None:
    http_server.routes["/news"] = html(listing_page("a1", "a2", "a3"))
    http_server.routes["/news?page=1"] = html(listing_page("a4", "a5"))
    http_server.routes["/news?page=2"] = html(listing_page("a6"))
    source = SourceSpec("iom", http_server.url("/news"), "listing", IOM_LIKE, max_pages=5)
    u = http_server.url

    found = discover(source, fetcher, is_known=known(u("/news/a3"), u("/news/a4"), u("/news/a5")))

    assert found.urls == [u("/news/a1"), u("/news/a2")]
    assert found.seen == 5
    assert http_server.paths() == ["/news", "/news?page=1"]  # page 2 never asked for


def test_listing_pager_stops_at_max_pages(http_server: LocalServer, fetcher: Fetcher) -> None:
    for i in range(4):
        path = "/news" if i == 0 else f"/news?page={i}"
        http_server.routes[path] = html(listing_page(f"p{i}"))
    source = SourceSpec("iom", http_server.url("/news"), "listing", IOM_LIKE, max_pages=2)
    found = discover(source, fetcher)
    assert len(found.urls) == 2 and http_server.paths() == ["/news", "/news?page=1"]


def test_listing_without_pager_follows_rel_next(http_server: LocalServer, fetcher: Fetcher) -> None:
    generic = Profile(name="g", article_path=re.compile(r"^/articles/"))
    http_server.routes["/list"] = html('<a href="/articles/1">1</a><a rel="next" href="/list/page/2/">next</a>')
    http_server.routes["/list/page/2/"] = html('<a href="/articles/2">2</a>')
    found = discover(SourceSpec("g", http_server.url("/list"), "listing", generic), fetcher)
    assert found.urls == [http_server.url("/articles/1"), http_server.url("/articles/2")]


def test_unchanged_listing_costs_one_304(http_server: LocalServer, fetcher: Fetcher) -> None:
    http_server.routes["/news"] = html(listing_page("a1"), etag='"l1"')
    http_server.routes["/news?page=1"] = html(listing_page("a0"))
    source = SourceSpec("iom", http_server.url("/news"), "listing", IOM_LIKE)

    first = discover(source, fetcher)
    assert len(first.urls) == 2 and first.documents[http_server.url("/news")].etag == '"l1"'

    log_before = len(http_server.requests())
    stored = {url: tuple(v) for url, v in first.documents.items()}  # as storage keeps them
    again = discover(source, fetcher, validators=stored)
    assert again.ok and again.unchanged and again.urls == []
    assert [(r.path, r.status) for r in http_server.requests()[log_before:]] == [("/news", 304)]
    assert again.documents == {http_server.url("/news"): first.documents[http_server.url("/news")]}


def test_a_failing_source_is_reported_not_raised(http_server: LocalServer, fetcher: Fetcher) -> None:
    source = SourceSpec("gone", http_server.url("/gone"), "listing", IOM_LIKE)
    found = discover(source, fetcher)
    assert not found.ok and found.urls == []
    assert http_server.url("/gone") in found.errors[0] and "404" in found.errors[0]


# ----------------------------------------------------------------------------- feeds


def test_rss_feed(http_server: LocalServer, fetcher: Fetcher) -> None:
    http_server.routes["/rss"] = xml(RSS.format(base=http_server.base), "application/rss+xml")
    found = discover(
        SourceSpec("rss", http_server.url("/rss"), "feed"), fetcher, is_known=known(http_server.url("/articles/deux"))
    )
    assert found.kind == "feed" and found.seen == 2
    [un] = found.candidates
    assert un.url == http_server.url("/articles/un") and un.title == "Un"
    assert un.lastmod == "2025-01-06T09:00:00Z"


def test_atom_feed_detected_when_kind_is_left_out(http_server: LocalServer, fetcher: Fetcher) -> None:
    http_server.routes["/atom"] = xml(ATOM.format(base=http_server.base), "text/xml")
    found = discover(SourceSpec("atom", http_server.url("/atom")), fetcher)
    assert found.kind == "feed"
    assert found.urls == [http_server.url("/a/premier"), http_server.url("/a/second")]
    assert found.candidates[0].lastmod == "2025-01-07T08:00:00Z"


def test_feed_autodiscovery_from_an_html_page(http_server: LocalServer, fetcher: Fetcher) -> None:
    http_server.routes["/"] = html(
        '<html><head><link rel="alternate" type="application/rss+xml" href="/feed.xml">'
        '</head><body><a href="/contact">contact</a></body></html>',
        etag='"home"',
    )
    http_server.routes["/feed.xml"] = xml(RSS.format(base=http_server.base), "application/rss+xml", etag='"f1"')
    for kind in ("feed", None):  # asked for, or detected on a generic site's page
        found = discover(SourceSpec("home", http_server.url("/"), kind), fetcher)
        assert found.kind == "feed"
        assert found.urls == [http_server.url("/articles/un"), http_server.url("/articles/deux")]
        # The feed is what is asked conditionally next time, not the page.
        assert list(found.documents) == [http_server.url("/feed.xml")]

    again = discover(SourceSpec("home", http_server.url("/"), "feed"), fetcher, validators=found.documents)
    assert again.urls == [] and [r.status for r in http_server.requests("/feed.xml")][-1] == 304


def test_html_page_without_feed_link_is_an_error_for_a_feed_source(http_server: LocalServer, fetcher: Fetcher) -> None:
    http_server.routes["/"] = html("<p>no feed here</p>")
    found = discover(SourceSpec("home", http_server.url("/"), "feed"), fetcher)
    assert found.urls == [] and "rel=alternate" in found.errors[0]


def test_broken_feed_is_reported(http_server: LocalServer, fetcher: Fetcher) -> None:
    http_server.routes["/rss"] = xml("this is not xml at all", "application/rss+xml")
    found = discover(SourceSpec("rss", http_server.url("/rss"), "feed"), fetcher)
    assert found.urls == [] and "not a readable RSS/Atom feed" in found.errors[0]


# ----------------------------------------------------------------------------- sitemaps


def test_sitemap_index_newest_child_first_until_nothing_new(http_server: LocalServer, fetcher: Fetcher) -> None:
    base = http_server.base
    http_server.routes["/sitemap.xml"] = xml(
        '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>{base}/sm-2023.xml</loc><lastmod>2023-12-31</lastmod></sitemap>"
        f"<sitemap><loc>{base}/sm-2025.xml.gz</loc><lastmod>2025-01-06</lastmod></sitemap>"
        f"<sitemap><loc>{base}/sm-2024.xml</loc><lastmod>2024-12-31</lastmod></sitemap>"
        "</sitemapindex>"
    )
    http_server.routes["/sm-2025.xml.gz"] = Reply(
        body=gzip.compress(sitemap(base, "/n/new-1", "/n/new-2", lastmod="2025-01-06").encode()),
        content_type="application/x-gzip",
    )
    http_server.routes["/sm-2024.xml"] = xml(sitemap(base, "/n/old-1"))
    http_server.routes["/sm-2023.xml"] = xml(sitemap(base, "/n/older-1"))

    found = discover(
        SourceSpec("sm", http_server.url("/sitemap.xml")), fetcher, is_known=known(http_server.url("/n/old-1"))
    )

    assert found.kind == "sitemap"
    assert found.urls == [http_server.url("/n/new-1"), http_server.url("/n/new-2")]
    assert found.candidates[0].lastmod == "2025-01-06"
    assert http_server.paths() == ["/sitemap.xml", "/sm-2025.xml.gz", "/sm-2024.xml"]


def test_plain_sitemap(http_server: LocalServer, fetcher: Fetcher) -> None:
    http_server.routes["/sitemap.xml"] = xml(sitemap(http_server.base, "/x", "/y"))
    found = discover(SourceSpec("sm", http_server.url("/sitemap.xml"), "sitemap"), fetcher)
    assert found.urls == [http_server.url("/x"), http_server.url("/y")]


# ----------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("content_type", "body", "kind"),
    [
        ("text/xml", b'<?xml version="1.0"?>\n<!-- c --><rss version="2.0"/>', "feed"),
        ("application/xml", b'\xef\xbb\xbf<feed xmlns="http://www.w3.org/2005/Atom"/>', "feed"),
        ("text/xml", b"<rdf:RDF xmlns:rdf='x'/>", "feed"),
        ("application/xml", b"<urlset/>", "sitemap"),
        ("text/plain", b"<?xml version='1.0'?><sitemapindex/>", "sitemap"),
        ("text/html", b"<!DOCTYPE html><html><body/></html>", "listing"),
        ("application/atom+xml", b"", "feed"),
        ("application/json", b"{}", None),
    ],
)
def test_detect_kind(content_type: str, body: bytes, kind: str | None) -> None:
    assert detect_kind(content_type, body) == kind


def test_pager_urls() -> None:
    assert pager_for(get_profile("iom")) == Pager("page", 0)
    drupal = Pager("page", 0)
    assert drupal.url("https://www.iom.int/fr/news", 0) == "https://www.iom.int/fr/news"
    assert drupal.url("https://www.iom.int/fr/news", 2) == "https://www.iom.int/fr/news?page=2"
    assert Pager("p", 1).url("https://x.org/l?lang=fr&p=1", 1) == "https://x.org/l?lang=fr&p=2"
