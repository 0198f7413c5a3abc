"""RSS 2.0 / RSS 1.0 / Atom feeds: read by feedparser, or as a stream when large.

feedparser reads a whole document into Python objects (a 48 MB feed took 680 MB) and copes
with every quirk of real feeds. A feed larger than `STREAM_BYTES` is read entry by entry
instead (`iter_feed`: lxml's iterparse, each entry dropped once read, malformed markup
recovered where lxml can), so memory follows the entries the caller keeps.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import feedparser
from lxml import etree

from errors import FeedError
from scrapers.links import Candidate
from scrapers.xmlstream import xml_events

STREAM_BYTES = 4_000_000  # larger feeds are read as a stream


@dataclass
class Feed:
    title: str | None = None
    site_url: str | None = None  # the feed's <link>: the site it speaks for
    entries: list[Candidate] = field(default_factory=list)  # hrefs as given (absolute by feedparser)
    items: int = 0  # items of the feed, those without a link (an enclosure only) included


def parse_feed(body: bytes, content_type: str | None, url: str) -> Feed:
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    parsed = feedparser.parse(body, response_headers=headers)
    if not parsed.entries and (parsed.bozo or not parsed.version):
        reason = getattr(parsed, "bozo_exception", None) or "no <rss>, <feed> or <rdf:RDF> root"
        raise FeedError(f"{url} is not a readable RSS/Atom feed ({reason})")
    feed = Feed(title=parsed.feed.get("title"), site_url=parsed.feed.get("link"), items=len(parsed.entries))
    for entry in parsed.entries:
        link, media_type = _link(entry)
        if not link:
            continue
        # dict.get: FeedParserDict.get maps a missing updated_parsed to published_parsed,
        # with a deprecation warning.
        stamp = dict.get(entry, "updated_parsed") or dict.get(entry, "published_parsed")
        feed.entries.append(Candidate(url=link, lastmod=_iso(stamp), title=entry.get("title"), media_type=media_type))
    return feed


class FeedStream:
    """A large feed read entry by entry: `entries` yields its candidates; `items` counts the
    items read so far (those without a link included), `site_url` is its channel's link once
    read (before the items, in every feed seen)."""

    def __init__(self, body: bytes, url: str) -> None:
        self.url = url
        self.items = 0
        self.site_url: str | None = None
        self._events = xml_events(body, recover=True)
        try:
            _, self._root = next(self._events)
        except (StopIteration, etree.XMLSyntaxError) as e:
            raise FeedError(f"{url} is not a readable RSS/Atom feed ({e or 'no element'})") from None
        root = etree.QName(self._root).localname.lower()
        if root not in ("rss", "feed", "rdf"):
            raise FeedError(f"{url} is not a readable RSS/Atom feed (no <rss>, <feed> or <rdf:RDF> root)")
        self.entries = self._read()

    def _read(self) -> Iterator[Candidate]:
        for event, element in self._events:
            if event != "end":
                continue
            name = etree.QName(element).localname.lower()
            if name in ("item", "entry"):
                self.items += 1
                candidate = _entry(element)
                if candidate is not None:
                    yield candidate
                parent = element.getparent()
                element.clear()
                if parent is not None:
                    while element.getprevious() is not None:  # what was read is dropped
                        del parent[0]
            elif name == "link" and self.site_url is None and self.items == 0:
                parent = element.getparent()
                if parent is not None and etree.QName(parent).localname.lower() in ("channel", "feed"):
                    href = element.get("href") if element.get("rel", "alternate") == "alternate" else None
                    self.site_url = (href or element.text or "").strip() or None


def iter_feed(body: bytes, url: str) -> FeedStream:
    return FeedStream(body, url)


def _entry(element) -> Candidate | None:
    """An RSS or Atom item as `parse_feed` reads it: its web page (else its first alternate
    link, with the type declared), its date (updated, else published) in UTC, its title."""
    children = {etree.QName(c).localname.lower(): c for c in reversed(list(element)) if isinstance(c.tag, str)}
    title = children["title"].text.strip() if "title" in children and children["title"].text else None
    link, media_type = None, None
    alternates = [
        c
        for c in element
        if isinstance(c.tag, str)
        and etree.QName(c).localname.lower() == "link"
        and c.get("href")
        and c.get("rel", "alternate") == "alternate"
    ]
    for c in alternates:
        if (c.get("type") or "text/html").split(";")[0].strip().lower() in ("text/html", "application/xhtml+xml"):
            link = c.get("href")
            break
    else:
        if alternates:
            link, media_type = alternates[0].get("href"), alternates[0].get("type")
    if link is None and "link" in children and (children["link"].text or "").strip():
        link = children["link"].text.strip()
    guid = children.get("guid")
    if link is None and guid is not None and guid.get("isPermaLink", "true") != "false" and (guid.text or "").strip():
        link = guid.text.strip()
    if not link:
        return None
    stamp = None
    for key in ("updated", "modified", "pubdate", "published", "issued", "date"):
        if key in children and (children[key].text or "").strip():
            stamp = _when(children[key].text.strip())
            if stamp:
                break
    return Candidate(url=link.strip(), lastmod=stamp, title=title, media_type=media_type)


def _when(text: str) -> str | None:
    """An RFC 822 (RSS) or ISO 8601 (Atom) date as UTC `YYYY-MM-DDTHH:MM:SSZ`."""
    when: datetime | None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _link(entry: dict) -> tuple[str | None, str | None]:
    """The entry's page and the type the feed declares for it: its web page when it has one,
    else its first alternate link (audio, video...: the caller leaves those), else the link
    feedparser made (an RSS permalink guid)."""
    alternates = [
        link for link in entry.get("links") or [] if link.get("rel", "alternate") == "alternate" and link.get("href")
    ]
    for link in alternates:
        if (link.get("type") or "text/html").split(";")[0].strip().lower() in ("text/html", "application/xhtml+xml"):
            return link["href"], None
    if alternates:
        return alternates[0]["href"], alternates[0].get("type")
    return entry.get("link"), None


def _iso(stamp: time.struct_time | None) -> str | None:
    if not stamp:
        return None
    # feedparser gives UTC struct_times.
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(calendar.timegm(stamp)))
