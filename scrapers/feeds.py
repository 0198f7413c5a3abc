"""RSS 2.0 / RSS 1.0 / Atom feeds, read by feedparser."""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass, field

import feedparser

from errors import FeedError
from scrapers.links import Candidate


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
