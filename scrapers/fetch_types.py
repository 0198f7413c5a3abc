"""What a fetch takes and gives: the fetcher's settings (`FetchSettings`), a URL's result
(`FetchResult`, `NotModified`), a document's validators (`Validators`), the media types asked for."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from errors import FetchError

HTML_TYPES: frozenset[str] = frozenset({"text/html", "application/xhtml+xml"})
# Discovery documents: listing pages, feeds, sitemaps (possibly gzipped files).
DISCOVERY_TYPES: frozenset[str] = HTML_TYPES | frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/rdf+xml",
        "application/xml",
        "text/xml",
        "application/x-gzip",
        "application/gzip",
        "text/plain",
        "application/octet-stream",  # how some servers label sitemap.xml.gz
    }
)

# --------------------------------------------------------------------------- results


class Validators(NamedTuple):
    """What a server said about a document, sent back to ask "has it changed?".

    A plain `(etag, last_modified)` tuple, as `storage.fetchstate` stores them.
    """

    etag: str | None = None
    last_modified: str | None = None

    @property
    def present(self) -> bool:
        return bool(self.etag or self.last_modified)


@dataclass
class FetchResult:
    url: str
    final_url: str
    status: int | None
    content_type: str | None
    body: bytes | None
    etag: str | None = None
    last_modified: str | None = None
    error: FetchError | None = None
    attempts: int = 0  # HTTP requests made for this URL, retries and redirect hops included

    @property
    def ok(self) -> bool:
        """A body was fetched."""
        return self.error is None and self.body is not None

    @property
    def not_modified(self) -> bool:
        return False

    @property
    def validators(self) -> Validators:
        return Validators(self.etag, self.last_modified)

    @property
    def media_type(self) -> str | None:
        return media_type(self.content_type)


@dataclass
class NotModified(FetchResult):
    """The server answered 304: the stored copy is still current; `body` is None."""

    @property
    def not_modified(self) -> bool:
        return True


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class FetchSettings:
    user_agent: str = "newswatch/0.1"
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    # A server trickling bytes never trips the read timeout; this bounds a whole exchange
    # (lookup, connect, TLS, status line, headers, body) with one deadline.
    total_timeout: float = 120.0
    max_page_bytes: int = 5_000_000
    # Listing pages, feeds and sitemaps (`fetch_document`): a sitemap may hold 50,000 URLs
    # in 50 MB (sitemaps.org), far more than any article page.
    max_document_bytes: int = 50_000_000
    max_redirects: int = 5
    attempts: int = 3  # tries per request, the first one included
    backoff_base: float = 1.0  # seconds before the first retry; doubled each time, jittered
    backoff_max: float = 60.0
    max_retry_after: float = 120.0  # a longer Retry-After is recorded as an error, not waited
    default_delay: float = 1.0  # seconds between two requests to one host
    host_delays: Mapping[str, float] = field(default_factory=dict)  # host key -> delay
    max_parallel_hosts: int = 8
    obey_robots: bool = True
    # True: fetch from private, loopback and link-local addresses wherever a page points.
    allow_private_networks: bool = False


def media_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None
