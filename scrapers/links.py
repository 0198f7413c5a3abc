"""Links found by discovery, and which of them belong to a source."""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

from tld import get_fld  # the public suffix list (a declared dependency)

from scrapers.profiles import Profile, excluded_path


@dataclass(frozen=True)
class Candidate:
    """A URL that discovery found, with what the discovery document said about it."""

    url: str
    lastmod: str | None = None  # ISO 8601 date or date-time, when the document gave one
    title: str | None = None
    media_type: str | None = None  # the type the document declares for the link (a feed's)

    @property
    def is_page(self) -> bool:
        """Not declared as something other than a web page (audio, video, image, PDF...)."""
        media = (self.media_type or "").split(";", 1)[0].strip().lower()
        return not media or media in ("text/html", "application/xhtml+xml")


# Files that are never articles: not worth a request.
_NOT_PAGES = re.compile(
    r"\.(?:pdf|jpe?g|png|gif|webp|svg|ico|css|js|json|xml|rss|zip|gz|docx?|xlsx?|pptx?|mp[34]|"
    r"avi|mov|wav|ogg|woff2?|ttf)$",
    re.I,
)


# tld loads the suffix list on first use without a lock: sources discovering in parallel
# each loaded it (docs/benchmarks.md, bench/ingest.py). Cached per host: every link of a page asks.
_TLD_LOAD = threading.Lock()


@functools.lru_cache(maxsize=4096)
def registered_domain(host: str) -> str:
    """`www.iom.int` -> `iom.int`; `news.bbc.co.uk` -> `bbc.co.uk`; IPs and unknowns as they are."""
    host = host.lower().rstrip(".")
    with _TLD_LOAD:
        fld = get_fld(host, fix_protocol=True, fail_silently=True)
    return fld or host.removeprefix("www.")


def same_site(url: str, site_url: str) -> bool:
    a, b = urlsplit(url).hostname, urlsplit(site_url).hostname
    return bool(a and b) and registered_domain(a) == registered_domain(b)


def site_page(url: str, source_url: str) -> bool:
    """A page of the source's site (not a file), other than the source page itself and its
    other pages (same path, other query: the pager)."""
    if not same_site(url, source_url):
        return False
    path = urlsplit(url).path or "/"
    if _NOT_PAGES.search(path):
        return False
    source_path = urlsplit(source_url).path or "/"
    return path.rstrip("/") != source_path.rstrip("/")


def profile_article(url: str, profile: Profile) -> bool:
    """A link of a listing page the profile's `article_path` accepts (False without one)."""
    if profile.article_path is None:
        return False
    path = urlsplit(url).path or "/"
    return bool(profile.article_path.search(path)) and not excluded_path(profile, path)
