"""Listing pages: the links of an HTML page, its next page, and the feeds it announces."""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import lxml.html
from lxml import etree

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
    try:
        doc = lxml.html.document_fromstring(text)
    except (etree.ParserError, ValueError):
        try:  # a str with an XML encoding declaration: let lxml read the bytes
            doc = lxml.html.document_fromstring(body)
        except (etree.ParserError, ValueError):
            return ListingPage()
    base = url
    for href in doc.xpath("//base/@href"):
        base = urljoin(url, href.strip())
        break
    page = ListingPage()
    for el in doc.iter("a", "link"):
        href = el.get("href")
        if not href:
            continue
        rel = (el.get("rel") or "").lower().split()
        if "next" in rel and page.next_url is None:
            page.next_url = urljoin(base, href.strip())
        if el.tag == "link":
            if "alternate" in rel and (el.get("type") or "").lower().strip() in FEED_TYPES:
                page.feeds.append(urljoin(base, href.strip()))
            continue
        page.links.append(urljoin(base, href.strip()))
    return page
