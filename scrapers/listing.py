"""Listing pages: the links of an HTML page, its next page, and the feeds it announces.

Read with Beautiful Soup (on lxml's parser): a listing is a few pages per source and run, where
tolerance of broken markup counts more than speed; article pages, thousands per run, go
through lxml directly (scrapers/html.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from bs4 import BeautifulSoup

from errors import CleanError
from scrapers.decoding import decode_bytes
from scrapers.profiles import Profile

FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml")


@dataclass(frozen=True)
class Pager:
    """A query-parameter pager: page k of a listing (k = 0, 1...) is `param=first + k`.

    Page 0 is the source URL itself. IOM's Drupal pager is `Pager("page", 0)`, so the
    second page is `?page=1`. A profile declares it with `extra={"pager_param": "page",
    "pager_first_page": 0}`; without one, the page's `rel=next` link is followed.
    """

    param: str = "page"
    first: int = 0

    def url(self, source_url: str, index: int) -> str:
        if index == 0:
            return source_url
        parts = urlsplit(source_url)
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                 if k != self.param]
        query.append((self.param, str(self.first + index)))
        return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def pager_for(profile: Profile) -> Pager | None:
    param = profile.extra.get("pager_param")
    if not param:
        return None
    return Pager(param, int(profile.extra.get("pager_first_page", 0)))


@dataclass
class ListingPage:
    links: list[str] = field(default_factory=list)  # absolute hrefs, in page order
    next_url: str | None = None  # rel=next, when the page has one
    feeds: list[str] = field(default_factory=list)  # <link rel=alternate> RSS/Atom feeds


def parse_listing(body: bytes, content_type: str | None, url: str) -> ListingPage:
    """Parse an HTML page; unreadable input gives an empty page, not an error."""
    try:
        text = decode_bytes(body, content_type)
    except CleanError:
        return ListingPage()
    soup = BeautifulSoup(text, "lxml")
    base = url
    declared = soup.find("base", href=True)
    if declared is not None:
        base = urljoin(url, declared["href"].strip())
    page = ListingPage()
    for el in soup.find_all(["a", "link"], href=True):
        href = el["href"].strip()
        if not href:
            continue
        rel = [r.lower() for r in el.get("rel") or []]  # a multi-valued attribute: a list
        if "next" in rel and page.next_url is None:
            page.next_url = urljoin(base, href)
        if el.name == "link":
            if "alternate" in rel and (el.get("type") or "").lower().strip() in FEED_TYPES:
                page.feeds.append(urljoin(base, href))
            continue
        page.links.append(urljoin(base, href))
    return page
