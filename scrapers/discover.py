"""Discovery: from a source (listing page, feed or sitemap) to the URLs worth fetching.

`discover(source, fetcher, validators=..., is_known=...)` fetches the source's discovery
documents conditionally and returns the candidates not known yet, plus the validators to
store for next time. It never raises for a fetch or parse failure: `Discovery.errors` says.

Storing the returned `documents` validators is the caller's job, and it must happen only
once the candidates were archived (or recorded as failed): stored before, a crash in
between would make the next run see 304 and never see those candidates again.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from errors import FeedError, SitemapError
from scrapers.feeds import parse_feed
from scrapers.fetch import DISCOVERY_TYPES, FetchResult, Fetcher, Validators
from scrapers.links import Candidate, absolute_link, belongs_to_source, same_site
from scrapers.listing import parse_listing, pager_for
from scrapers.profiles import GENERIC, Profile
from scrapers.sitemaps import gunzip, parse_sitemap

Kind = Literal["listing", "feed", "sitemap"]
IsKnown = Callable[[list[str]], set[str]]


@dataclass(frozen=True)
class SourceSpec:
    """What discovery needs to know about a configured source."""

    name: str
    url: str
    kind: Kind | None = None  # None: detected from the first document
    profile: Profile = GENERIC
    max_pages: int = 5  # listing pages, or child sitemaps of an index, read per run


@dataclass
class Discovery:
    source: str
    kind: Kind | None  # as configured, else as detected (None if nothing could be read)
    candidates: list[Candidate] = field(default_factory=list)  # new URLs, in discovery order
    seen: int = 0  # links of the source found, known or new
    documents: dict[str, Validators] = field(default_factory=dict)  # to store, see module doc
    fetches: list[FetchResult] = field(default_factory=list)  # bodies dropped
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def unchanged(self) -> bool:
        """Every discovery document answered 304."""
        return bool(self.fetches) and all(f.not_modified for f in self.fetches)

    @property
    def urls(self) -> list[str]:
        return [c.url for c in self.candidates]


def _nothing_known(urls: list[str]) -> set[str]:
    return set()


def discover(
    source: SourceSpec,
    fetcher: Fetcher,
    *,
    validators: Mapping[str, tuple[str | None, str | None]] | None = None,
    is_known: IsKnown = _nothing_known,
) -> Discovery:
    """The new candidates of a source; `validators`: stored (etag, last_modified) by URL."""
    run = _Run(source, fetcher, validators or {}, is_known)
    run.start()
    return run.result


_ROOT = re.compile(rb"<([A-Za-z_][\w.:-]*)")
_PROLOGUE = re.compile(rb"\A(?:\s+|<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>)*", re.S | re.I)


def detect_kind(content_type: str | None, body: bytes) -> Kind | None:
    """Feed, sitemap or listing, from the root element, else from the content type."""
    head = body[:4096].lstrip(b"\xef\xbb\xbf")
    m = _ROOT.match(head, _PROLOGUE.match(head).end())
    if m:
        root = m.group(1).split(b":")[-1].lower()
        if root in (b"rss", b"feed", b"rdf"):
            return "feed"
        if root in (b"urlset", b"sitemapindex"):
            return "sitemap"
        if root in (b"html", b"head", b"body"):
            return "listing"
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in ("application/rss+xml", "application/atom+xml", "application/rdf+xml"):
        return "feed"
    if media in ("text/html", "application/xhtml+xml"):
        return "listing"
    return None


class _Run:
    def __init__(self, source: SourceSpec, fetcher: Fetcher,
                 validators: Mapping[str, tuple[str | None, str | None]],
                 is_known: IsKnown) -> None:
        self.source = source
        self.fetcher = fetcher
        self.validators = validators
        self.is_known = is_known
        self.result = Discovery(source=source.name, kind=source.kind)
        self._seen: set[str] = set()

    # ---- fetching and bookkeeping

    def _get(self, url: str) -> FetchResult | None:
        """The document's result, or None when it failed or is unchanged (nothing to read)."""
        result = self.fetcher.fetch(url, validators=self.validators.get(url),
                                    accept=DISCOVERY_TYPES)
        self.result.fetches.append(_without_body(result))
        if result.error:
            self.result.errors.append(str(result.error))
            return None
        if result.not_modified:
            old = self.validators.get(url)
            if old:
                self.result.documents[url] = Validators(*old)
            return None
        if result.validators.present:
            self.result.documents[url] = result.validators
        return result

    def _take(self, candidates: Iterable[Candidate], *, site_url: str | None = None) -> int:
        """Keep the source's own links not seen before; add the unknown ones; count them."""
        profile = self.source.profile
        fresh: list[Candidate] = []
        for c in candidates:
            url = absolute_link(c.url, self.source.url, profile)
            if url is None or url in self._seen:
                continue
            if not (belongs_to_source(url, self.source.url, profile)
                    or site_url and same_site(site_url, url)
                    and belongs_to_source(url, site_url, profile)):
                continue
            self._seen.add(url)
            fresh.append(Candidate(url, c.lastmod, c.title))
        self.result.seen += len(fresh)
        known = self.is_known([c.url for c in fresh]) if fresh else set()
        new = [c for c in fresh if c.url not in known]
        self.result.candidates.extend(new)
        return len(new)

    # ---- the three kinds

    def start(self) -> None:
        first = self._get(self.source.url)
        if first is None:
            return
        body = first.body or b""
        kind = self.source.kind
        detected = detect_kind(first.content_type, _maybe_gunzip(body))
        if kind is None:
            kind = detected
            if kind is None:
                self.result.errors.append(
                    f"{self.source.url}: cannot tell whether this is a listing page, a feed or a "
                    f"sitemap (content type {first.content_type!r}); set `kind:` for source "
                    f"{self.source.name!r}")
                return
            if kind == "listing" and self.source.profile.article_path is None:
                # A generic site's home page: its feed is a better list of articles than
                # every link of the page.
                feeds = parse_listing(body, first.content_type, first.final_url).feeds
                if feeds:
                    self.result.documents.pop(self.source.url, None)
                    kind = "feed"
            self.result.kind = kind
        if kind == "listing":
            self._listing(first)
        elif kind == "feed":
            self._feed(first, detected)
        else:
            self._sitemap(first)

    def _listing(self, first: FetchResult) -> None:
        pager = pager_for(self.source.profile)
        page: FetchResult | None = first
        for index in range(self.source.max_pages):
            if page is None:
                return
            listing = parse_listing(page.body or b"", page.content_type, page.final_url)
            new = self._take(Candidate(link) for link in listing.links)
            if new == 0 or index + 1 >= self.source.max_pages:
                return
            next_url = pager.url(self.source.url, index + 1) if pager else listing.next_url
            if not next_url or next_url in (page.url, page.final_url):
                return
            page = self._get(next_url)

    def _feed(self, first: FetchResult, detected: Kind | None) -> None:
        document = first
        if detected == "listing":
            feeds = parse_listing(first.body or b"", first.content_type, first.final_url).feeds
            if not feeds:
                self.result.errors.append(
                    f"{self.source.url}: an HTML page without a <link rel=alternate> RSS/Atom "
                    f"feed; give the feed's own URL, or set `kind: listing` for source "
                    f"{self.source.name!r}")
                return
            # The page itself is read in full each run (its validators are not kept) so that
            # the feed's address is always known; the feed is asked conditionally.
            self.result.documents.pop(self.source.url, None)
            document = self._get(feeds[0])
            if document is None:
                return
        try:
            feed = parse_feed(document.body or b"", document.content_type, document.final_url)
        except FeedError as e:
            self.result.errors.append(f"{e}; check the source's url")
            return
        self._take(feed.entries, site_url=feed.site_url)

    def _sitemap(self, first: FetchResult) -> None:
        limit = self.fetcher.settings.max_page_bytes
        try:
            root = parse_sitemap(first.body or b"", first.final_url, limit=limit)
        except SitemapError as e:
            self.result.errors.append(f"{e}; check the source's url")
            return
        if not root.is_index:
            self._take(root.entries)
            return
        # Newest child sitemaps first; stop at the first one holding nothing new.
        children = sorted(root.entries, key=lambda c: c.lastmod or "", reverse=True)
        for child in children[: self.source.max_pages]:
            url = absolute_link(child.url, first.final_url)
            if url is None or not same_site(url, self.source.url):
                continue
            document = self._get(url)
            if document is None:
                return
            try:
                sitemap = parse_sitemap(document.body or b"", document.final_url, limit=limit)
            except SitemapError as e:
                self.result.errors.append(f"{e}; check the source's url")
                return
            if self._take(sitemap.entries) == 0:
                return


def _maybe_gunzip(body: bytes) -> bytes:
    try:
        return gunzip(body[:65536], 1 << 20) if body.startswith(b"\x1f\x8b") else body
    except SitemapError:
        return body


def _without_body(result: FetchResult) -> FetchResult:
    if result.body is None:
        return result
    return type(result)(**{**result.__dict__, "body": None})
