"""Discovery: from a source (listing page, feed or sitemap) to the URLs worth fetching.

`discover(source, fetcher, validators=..., is_known=...)` fetches the source's discovery
documents conditionally and returns the candidates not known yet, plus the validators to
store for next time. It never raises for a fetch or parse failure: `Discovery.errors` says.

Storing the returned `documents` validators is the caller's job, and it must happen only
once the candidates were archived (or recorded as failed): stored before, a crash in
between would make the next run see 304 and never see those candidates again.
"""

from __future__ import annotations

import heapq
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from core.urls import MAX_URL_LENGTH, UrlPolicy
from errors import ClientError, FeedError, SitemapError
from scrapers import inflate
from scrapers.feeds import STREAM_BYTES, iter_feed, parse_feed
from scrapers.fetch import Fetcher, FetchResult, Validators
from scrapers.links import Candidate, profile_article, same_site, site_page
from scrapers.linkscore import article_links
from scrapers.listing import ListingPage, pager_for, parse_listing
from scrapers.profiles import GENERIC, Profile, excluded_path
from scrapers.sitemaps import iter_sitemap

# New links a source's discovery keeps per run, newest first (`SourceSpec.max_entries`, the
# source's `max_entries:`): the others are counted, left for later runs, and the documents
# read again in full next run. Memory follows this, not the documents' size.
MAX_ENTRIES = 10_000
CHUNK = 2_000  # entries of a feed or sitemap checked against the archive at a time
# A listing page larger than this is read up to here (the links of a listing are at its top;
# a 48 MB page took 2 GB parsed whole): the rest is left, and said.
LISTING_BYTES = 2_000_000

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
    max_entries: int = MAX_ENTRIES  # new links kept per run, newest first (see MAX_ENTRIES)
    # The source's own narrowing (`include:` / `exclude:` in newswatch.yaml): regular
    # expressions searched in a link's path. With `include`, a link must match one of them.
    include: tuple[re.Pattern, ...] = ()
    exclude: tuple[re.Pattern, ...] = ()
    # How the source's addresses compare (its profile's tracking parameters): built once.
    urls: UrlPolicy = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "urls", UrlPolicy(tuple(self.profile.tracking_params)))

    def narrows(self) -> bool:
        return bool(self.include or self.exclude)

    def allows(self, url: str) -> bool:
        path = urlsplit(url).path or "/"
        if self.include and not any(p.search(path) for p in self.include):
            return False
        return not any(p.search(path) for p in self.exclude)


@dataclass
class Discovery:
    source: str
    kind: Kind | None  # as configured, else as detected (None if nothing could be read)
    candidates: list[Candidate] = field(default_factory=list)  # new URLs, in discovery order
    seen: int = 0  # article links of the source found, known or new
    entries: int = 0  # links of the listing pages, items of the feed, URLs of the sitemap
    links: int = 0  # of those, the pages of the source's site (not files, not the source itself)
    rule: str = ""  # how article links were told apart: "profile iom", "generic link scoring"...
    notes: list[str] = field(default_factory=list)  # what discovery did that the summary shows
    documents: dict[str, Validators] = field(default_factory=dict)  # to store, see module doc
    fetches: list[FetchResult] = field(default_factory=list)  # bodies dropped
    errors: list[str] = field(default_factory=list)
    beyond_cap: int = 0  # new links past `max_entries`: left for later runs (counted as waiting)
    # A page read through the feed it advertises: which feed, and why that one (`sources add` says it).
    feed_choice: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def unchanged(self) -> bool:
        """Every discovery document answered 304."""
        return bool(self.fetches) and all(f.not_modified for f in self.fetches)

    @property
    def read(self) -> bool:
        """At least one discovery document was read (not failed, not 304)."""
        return any(f.error is None and not f.not_modified for f in self.fetches)

    @property
    def urls(self) -> list[str]:
        return [c.url for c in self.candidates]

    def why_no_links(self) -> str | None:
        """Why the documents read gave no article link at all (None: some were found, or
        nothing was read: an error or a 304 says why)."""
        if self.seen or not self.read or self.kind is None:
            return None
        items = {"feed": "items", "sitemap": "URLs", "listing": "links"}[self.kind]
        if not self.entries:
            return {
                "feed": "the feed has no items",
                "sitemap": "the sitemap lists no pages",
                "listing": "the page has no links",
            }[self.kind]
        if not self.links:
            return f"none of the {self.entries} {items} lead to pages of the source's site"
        return f"0 of {self.links} {'links' if self.kind == 'listing' else items} look like articles ({self.rule})"


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
    prologue = _PROLOGUE.match(head)  # always matches, if only the empty string
    m = _ROOT.match(head, prologue.end() if prologue else 0)
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
    def __init__(
        self,
        source: SourceSpec,
        fetcher: Fetcher,
        validators: Mapping[str, tuple[str | None, str | None]],
        is_known: IsKnown,
    ) -> None:
        self.source = source
        self.fetcher = fetcher
        self.validators = validators
        self.is_known = is_known
        self.result = Discovery(source=source.name, kind=source.kind)
        # hash(url): a set of ints, not of 859,000 URLs (64-bit hashes: a collision is unlikely)
        self._seen: set[int] = set()  # article links taken
        self._links: set[int] = set()  # pages of the site found
        self._kept: list[tuple[str, int, Candidate]] = []  # heap of (lastmod, -order, candidate)
        self._order = itertools.count()
        self._fallbacks: dict[str, tuple[set[str], set[str]]] = {}  # listing page -> (its links, scoring's)
        self._too_long = 0  # links refused for their length

    # ---- fetching and bookkeeping

    def _resolve(self, href: str | None, base: str) -> str | None:
        """A link made absolute (`UrlPolicy.resolve`); one longer than `MAX_URL_LENGTH` is
        refused and counted (the run's summary says how many)."""
        if href and len(href.strip()) > MAX_URL_LENGTH:
            self._too_long += 1
            return None
        return self.source.urls.resolve(href, base)

    def _get(self, url: str) -> FetchResult | None:
        """The document's result, or None when it failed or is unchanged (nothing to read)."""
        result = self.fetcher.fetch_document(url, validators=self.validators.get(url))
        self.result.fetches.append(_without_body(result))
        if result.error:
            message = str(result.error)
            if isinstance(result.error, ClientError):
                message += "; check the source's url (it is asked for again next run)"
            self.result.errors.append(message)
            return None
        if result.body:  # a gzipped file (sitemap.xml.gz, feed.gz) is inflated here, once
            limit = self.fetcher.settings.max_document_bytes
            try:
                result.body = inflate.inflate_file(result.body, limit)
            except (inflate.TooMuchOutput, inflate.BadEncoding) as e:
                self.result.errors.append(
                    f"{url}: the gzipped document {e} (max_document_bytes {limit:,}); check the source's url"
                )
                return None
        if result.not_modified:
            old = self.validators.get(url)
            if old:
                self.result.documents[url] = Validators(*old)
            return None
        if result.validators.present:
            self.result.documents[url] = result.validators
        return result

    def _add(self, urls: Iterable[str], details: Mapping[str, Candidate] | None = None) -> int:
        """Article links found: keep those the source's include/exclude allow and not taken
        before; add the unknown ones to the candidates (`_keep`); how many were new."""
        fresh: list[Candidate] = []
        for url in urls:
            if hash(url) in self._seen or not self.source.allows(url):
                continue
            self._seen.add(hash(url))
            c = details.get(url) if details else None
            fresh.append(Candidate(url, c.lastmod, c.title) if c else Candidate(url))
        self.result.seen += len(fresh)
        known = self.is_known([c.url for c in fresh]) if fresh else set()
        new = [c for c in fresh if c.url not in known]
        for c in new:
            self._keep(c)
        return len(new)

    def _keep(self, candidate: Candidate) -> None:
        """At most `max_entries` candidates, the newest (by the date the document gives; the
        first listed among equals): past that, the oldest is counted and dropped."""
        item = (candidate.lastmod or "", -next(self._order), candidate)
        if len(self._kept) < self.source.max_entries:
            heapq.heappush(self._kept, item)
        else:
            heapq.heappushpop(self._kept, item)
            self.result.beyond_cap += 1

    def _site_pages(self, urls: Iterable[str | None], site_url: str | None = None) -> list[str]:
        """The source site's pages among `urls` (absolute, clean), each once, counted."""
        pages = []
        for url in dict.fromkeys(urls):
            if url is None:
                continue
            if site_page(url, self.source.url) or site_url and same_site(site_url, url) and site_page(url, site_url):
                pages.append(url)
                if hash(url) not in self._links:
                    self._links.add(hash(url))
                    self.result.links += 1
        return pages

    def _listed(
        self, entries: Iterable[Candidate], base: str, site_url: str | Callable[[], str | None] | None = None
    ) -> int:
        """A feed's or a sitemap's entries, read `CHUNK` at a time: every page of the site,
        except what the profile excludes (tag, category, author, search pages) and what is
        declared as no web page. How many new links. (`result.entries` is the caller's.)"""
        profile = self.source.profile
        new = 0
        for chunk in _chunks(entries, CHUNK):
            details: dict[str, Candidate] = {}
            for c in chunk:
                url = self._resolve(c.url, base)
                if url is not None and c.is_page:
                    details.setdefault(url, c)
            pages = self._site_pages(details, site_url() if callable(site_url) else site_url)
            new += self._add([u for u in pages if not excluded_path(profile, urlsplit(u).path or "/")], details)
        return new

    # ---- the three kinds

    def start(self) -> None:
        self._discover()
        kept = sorted(self._kept, key=lambda item: -item[1])  # in the order they were found
        self.result.candidates = [c for _, _, c in kept]
        if self.result.beyond_cap:
            cap = self.source.max_entries
            self.result.notes.append(
                f"{self.result.beyond_cap:,} new link(s) past max_entries ({cap:,}): the newest {cap:,} taken, "
                "the others left for later runs"
            )
            # The documents are read again in full next run: the links left are in them.
            self.result.documents.clear()
        if self._too_long:
            self.result.notes.append(
                f"{self._too_long} link(s) longer than {MAX_URL_LENGTH:,} characters refused (not web page addresses)"
            )

    def _discover(self) -> None:
        first = self._get(self.source.url)
        if first is None:
            return
        body = first.body or b""
        kind = self.source.kind
        detected = detect_kind(first.content_type, body)  # a gzipped document is inflated by _get
        if kind is None:
            kind = detected
            if kind is None:
                self.result.errors.append(
                    f"{self.source.url}: cannot tell whether this is a listing page, a feed or a "
                    f"sitemap (content type {first.content_type!r}); set `kind:` for source "
                    f"{self.source.name!r}"
                )
                return
            if kind == "listing" and self.source.profile.article_path is None:
                # A generic site's home page: its feed is a better list of articles than
                # every link of the page.
                feeds = parse_listing(body, first.content_type, first.final_url).feeds
                if feeds:
                    self.result.documents.pop(self.source.url, None)
                    kind = "feed"
            self.result.kind = kind
        self.result.rule = _rule(self.source, kind)
        if kind == "listing":
            self._listing(first)
            self._note_fallbacks()
        elif kind == "feed":
            self._feed(first, detected)
        else:
            self._sitemap(first)

    def _listing(self, first: FetchResult) -> None:
        pager = pager_for(self.source.profile)
        page: FetchResult | None = first
        visited = {first.url, first.final_url}
        for index in range(self.source.max_pages):
            if page is None:
                return
            listing = parse_listing(self._bounded(page), page.content_type, page.final_url)
            next_url = pager.url(self.source.url, index + 1) if pager else listing.next_url
            new = self._add(self._listing_articles(listing, page.final_url, next_url))
            if new == 0 or index + 1 >= self.source.max_pages:
                return
            if not next_url or next_url in visited:
                return
            visited.add(next_url)
            page = self._get(next_url)

    def _bounded(self, page: FetchResult) -> bytes:
        """A listing page's body up to `LISTING_BYTES` (cut before a tag), said in the notes."""
        body = page.body or b""
        if len(body) <= LISTING_BYTES:
            return body
        cut = body.rfind(b"<", 0, LISTING_BYTES)
        self.result.notes.append(
            f"{page.final_url}: a listing page of {len(body):,} bytes: its links were read from the first "
            f"{LISTING_BYTES:,} bytes only"
        )
        return body[: cut if cut > 0 else LISTING_BYTES]

    def _listing_articles(self, listing: ListingPage, page_url: str, next_url: str | None) -> list[str]:
        """The article links of one listing page: those the profile's `article_path` accepts;
        if it accepts none of them (or the profile has none), the generic link scoring's."""
        profile = self.source.profile
        anchors = [(self._resolve(a.url, page_url), a) for a in listing.anchors]
        self.result.entries += len(anchors)
        pages = set(self._site_pages(url for url, _ in anchors))
        pages.discard(next_url)
        if profile.article_path is not None:
            chosen = [
                url for url in dict.fromkeys(u for u, _ in anchors) if url in pages and profile_article(url, profile)
            ]
            if chosen or not pages:
                return chosen
        scored = article_links(
            (url, a) for url, a in anchors if url in pages and not excluded_path(profile, urlsplit(url).path or "/")
        )
        if profile.article_path is not None and page_url not in self._fallbacks:
            self.result.rule = self.result.rule.replace(
                f"profile {profile.name}", f"profile {profile.name}, then generic link scoring", 1
            )
            if scored:  # a page past the listing's end has only furniture: nothing to say
                self._fallbacks[page_url] = (pages, set(scored))
        return scored

    def _note_fallbacks(self) -> None:
        if not self._fallbacks:
            return
        first = next(iter(self._fallbacks))
        links = set().union(*(p for p, _ in self._fallbacks.values()))
        taken = set().union(*(t for _, t in self._fallbacks.values()))
        where = first if len(self._fallbacks) == 1 else f"{first} and {len(self._fallbacks) - 1} more listing page(s)"
        self.result.notes.append(
            f"{where}: profile {self.source.profile.name} accepts none of its {len(links)} links; generic link "
            f"scoring took {len(taken)} (check the profile's article_path)"
        )

    def _feed(self, first: FetchResult, detected: Kind | None) -> None:
        document = first
        if detected == "listing":
            page = parse_listing(first.body or b"", first.content_type, first.final_url)
            best = page.best_feed()
            if best is None:
                self.result.errors.append(
                    f"{self.source.url}: an HTML page without a <link rel=alternate> RSS/Atom "
                    f"feed; give the feed's own URL, or set `kind: listing` for source "
                    f"{self.source.name!r}"
                )
                return
            # The page itself is read in full each run (its validators are not kept) so that
            # the feed's address is always known; the feed is asked conditionally.
            self.result.documents.pop(self.source.url, None)
            others = [f for f in page.feeds if f != best[0]]
            self.result.feed_choice = f"read through the feed {best[0]}: {best[1]}" + (
                f" (not {', '.join(others)})" if others else ""
            )
            feed_document = self._get(best[0])
            if feed_document is None:
                return
            document = feed_document
        body = document.body or b""
        try:
            if len(body) > STREAM_BYTES:  # read as a stream: memory follows what is kept
                stream = iter_feed(body, document.final_url)
                # Its channel's link is read before its items: asked for once a chunk is read.
                self._listed(stream.entries, document.final_url, lambda: stream.site_url)
                self.result.entries += stream.items
                return
            feed = parse_feed(body, document.content_type, document.final_url)
        except FeedError as e:
            self.result.errors.append(f"{e}; check the source's url")
            return
        self.result.entries += feed.items
        self._listed(feed.entries, document.final_url, feed.site_url)

    def _sitemap(self, first: FetchResult) -> None:
        try:
            root = iter_sitemap(first.body or b"", first.final_url)
            if not root.is_index:
                self._listed(self._counted(root.entries), first.final_url)
                return
            children = list(root.entries)  # child sitemaps: a few hundred at most
        except SitemapError as e:
            self.result.errors.append(f"{e}; check the source's url")
            return
        self.result.entries += len(children)
        # Newest child sitemaps first; stop at the first one holding nothing new.
        children = sorted(children, key=lambda c: c.lastmod or "", reverse=True)
        for child in children[: self.source.max_pages]:
            url = self._resolve(child.url, first.final_url)
            if url is None or not same_site(url, self.source.url):
                continue
            document = self._get(url)
            if document is None:
                return
            try:
                sitemap = iter_sitemap(document.body or b"", document.final_url)
                new = self._listed(self._counted(sitemap.entries), document.final_url)
            except SitemapError as e:
                self.result.errors.append(f"{e}; check the source's url")
                return
            if new == 0:
                return

    def _counted(self, entries: Iterable[Candidate]) -> Iterator[Candidate]:
        for entry in entries:
            self.result.entries += 1
            yield entry


def _chunks(items: Iterable[Candidate], size: int) -> Iterator[list[Candidate]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _rule(source: SourceSpec, kind: Kind) -> str:
    """How a source's article links are told apart, for messages."""
    profile = source.profile
    if kind != "listing":
        rule = f"every page of the site but tag, category, author and search pages (profile {profile.name})"
    elif profile.article_path is not None:
        rule = f"profile {profile.name}"
    else:
        rule = "generic link scoring"
    return rule + (", and the source's include/exclude" if source.narrows() else "")


def _without_body(result: FetchResult) -> FetchResult:
    if result.body is None:
        return result
    return type(result)(**{**result.__dict__, "body": None})
