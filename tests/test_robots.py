"""robots.txt under RFC 9309 (parsed by protego), through the real fetcher and a real server:
the URLs a robots.txt forbids are never requested, the others are."""

from __future__ import annotations

from dataclasses import replace

import pytest
from httpserver import LocalServer, Reply, html

from errors import RobotsDisallowed
from scrapers.fetch import Fetcher, FetchSettings

UA = "newswatch-test/0.1 (+mailto:test@example.org)"
FAST = FetchSettings(
    user_agent=UA, connect_timeout=1.0, read_timeout=1.0, total_timeout=5.0, attempts=1, default_delay=0.0
)

ROBOTS = """\
# Sitemap lines stand outside the groups and may come first.
Sitemap: https://example.org/sitemap.xml

User-agent: *
Disallow: /

User-agent: NewsWatch-Test
Disallow: /*.pdf$
Disallow: /news/
Allow: /news/public/
Disallow: /private*/drafts
Allow: /archive/2024
Disallow: /archive/
Sitemap: https://example.org/news-sitemap.xml
Crawl-delay: 0.5
"""

CASES = [
    ("/report.pdf", False),  # `*` and `$`: any path ending in .pdf
    ("/a/b/annual.pdf", False),
    ("/report.pdf?page=2", True),  # `$` anchors the end: the query follows .pdf here
    ("/report.pdf.html", True),
    ("/news/2024/a", False),  # Disallow /news/ ...
    ("/news/public/1", True),  # ... but the longer Allow wins
    ("/private-x/drafts/1", False),  # `*` inside a path
    ("/private/final", True),
    ("/archive/2024/a", True),  # the longest match wins whatever the order of the lines
    ("/archive/2023/a", False),
    ("/", True),  # our group replaces `*`: its Disallow: / is not ours
]


@pytest.fixture
def robots_site(http_server: LocalServer) -> LocalServer:
    http_server.routes["/robots.txt"] = Reply(body=ROBOTS, content_type="text/plain")
    for path, _ in CASES:
        http_server.routes[path.split("?")[0]] = html("<p>x</p>")
    return http_server


@pytest.mark.slow  # six allowed pages at the site's Crawl-delay of 0.5 s
def test_rfc_9309_rules_decide_what_is_requested(robots_site: LocalServer) -> None:
    with Fetcher(FAST) as fetcher:
        results = fetcher.fetch_many([robots_site.url(p) for p, _ in CASES])
    for (path, allowed), result in zip(CASES, results, strict=True):
        assert (result.error is None) == allowed, (path, result.error)
        if not allowed:
            assert isinstance(result.error, RobotsDisallowed) and "robots.txt" in str(result.error)
    requested = set(robots_site.paths())
    assert requested == {p for p, allowed in CASES if allowed}  # a forbidden URL is never asked


@pytest.mark.slow  # waits out a lock, a delay or a retry
def test_crawl_delay_of_our_group_with_a_sitemap_line_after_it(robots_site: LocalServer) -> None:
    with Fetcher(FAST) as fetcher:
        assert all(r.ok for r in fetcher.fetch_many([robots_site.url("/"), robots_site.url("/private/final")]))
    first, second = robots_site.requests("/")[0], robots_site.requests("/private/final")[0]
    assert second.started - first.finished >= 0.45  # Crawl-delay: 0.5 of our group


def test_another_agent_falls_under_the_star_group(robots_site: LocalServer) -> None:
    with Fetcher(replace(FAST, user_agent="otherbot/2.0")) as fetcher:
        [result] = fetcher.fetch_many([robots_site.url("/news/public/1")])
    assert isinstance(result.error, RobotsDisallowed)
    assert robots_site.paths() == []
