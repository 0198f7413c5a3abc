"""URL identity: when two addresses name one page, and which host's rules an address falls under.

- `canonical_url(url, declared, tracking_params)`: the page's clean address (courlan's
  normalisation, no fragment, no tracking parameters, sorted query): what the archive stores
  and what emails, feeds, search, `show` and Datasette link to.
- `url_key(canonical)`: the deduplication key of a canonical URL (scheme-free, no `www.`, no
  trailing slash): two spellings of one page compare equal.
- `resolve(href, base, tracking_params)`: a link of a discovery document made absolute,
  without fragment nor the site's tracking parameters: the address discovery fetches.
- `UrlPolicy`: a site's own tracking parameters, and the three functions above with them;
  built once per source (`scrapers.discover.SourceSpec.urls`), so no parameter list rides
  beside every URL.
- `host_key(url)`: the unit of host state (robots.txt, politeness, timeouts): scheme, host, port.

Every newswatch module asks these; none writes its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeGuard
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from courlan import normalize_url

# Parameters that never select content on any site; courlan removes the common trackers
# (utm_*, fbclid, gclid, ...) already, these are the ones seen on news sites besides.
GLOBAL_TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "_ga",
        "yclid",
        "xtor",
        "at_medium",
        "at_campaign",
    }
)
DEFAULT_PORTS = {"http": 80, "https": 443}
# Longer links are refused (`resolve` gives None): browsers, servers and sitemaps.org stop at
# about this, and one 2 MB link once filled a summary line, an artifact and the archive.
MAX_URL_LENGTH = 2048


def is_web_url(url: str | None) -> TypeGuard[str]:
    return url is not None and urlsplit(url.strip()).scheme.lower() in ("http", "https")


def _without_params(query: str, drop: frozenset[str] | set[str], *, utm: bool = False) -> list[tuple[str, str]]:
    """The query's pairs less those named in `drop` (lower-case names); `utm`: every utm_* too."""
    return [
        (k, v)
        for k, v in parse_qsl(query, keep_blank_values=True)
        if k.lower() not in drop and not (utm and k.lower().startswith("utm_"))
    ]


def canonical_url(
    url: str | None,
    declared_canonical: str | None = None,
    tracking_params: Iterable[str] = (),
) -> str | None:
    """The page's clean address.

    The page's own `<link rel=canonical>` wins when it is an absolute http(s) URL. Then:
    lower-case host, no default port, no fragment, no tracking parameters (courlan's list,
    `GLOBAL_TRACKING_PARAMS`, and the site profile's `tracking_params`), sorted query. The
    scheme, `www.` and the path are kept as served: a site that serves only http, or only
    `www.`, must stay reachable from the link. Returns None for anything that is not an
    http(s) URL (a local file has no web address).

    Two spellings of one page (http/https, with or without `www.` or a trailing slash) get
    one `url_key`: that, not this, is what deduplication compares.
    """
    chosen = declared_canonical if is_web_url(declared_canonical) else url
    if not is_web_url(chosen):
        return None
    try:
        normalized = normalize_url(chosen.strip())
    except (ValueError, TypeError):
        normalized = chosen.strip()
    parts = urlsplit(normalized)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    drop = {p.lower() for p in tracking_params} | GLOBAL_TRACKING_PARAMS
    query = _without_params(parts.query, drop, utm=True)
    return urlunsplit((scheme, netloc, parts.path or "/", urlencode(sorted(query)), ""))


def url_key(canonical: str | None) -> str | None:
    """The deduplication key of a canonical URL: two addresses of one page compare equal.

    Scheme-free, host without `www.`, no trailing slash: `http://www.x.org/a/` and
    `https://x.org/a` are one page. Computed from the stored `canonical_url`, so it is the
    same for canonical URLs written by earlier versions (which forced https and dropped
    `www.`): archive migration 7 fills it for existing rows.
    """
    if not is_web_url(canonical):
        return None
    parts = urlsplit(canonical.strip())
    host = (parts.hostname or "").lower().removeprefix("www.")
    port = parts.port
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    key = netloc + parts.path.rstrip("/")
    return f"{key}?{parts.query}" if parts.query else key


def resolve(href: str | None, base: str, tracking_params: Iterable[str] = ()) -> str | None:
    """An href made absolute, without fragment nor the site's tracking parameters (the rest
    of the query kept as written: this is the address fetched); None when it is not an
    http(s) link."""
    if not href or len(href) > MAX_URL_LENGTH:
        return None
    href = href.strip()
    if not href or href.startswith(("javascript:", "mailto:", "tel:", "data:", "#")):
        return None
    try:
        parts = urlsplit(urljoin(base, href))
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    query = parts.query
    drop = {p.lower() for p in tracking_params}
    if query and drop:
        query = urlencode(_without_params(query, drop))
    url = urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, ""))
    return url if len(url) <= MAX_URL_LENGTH else None


@dataclass(frozen=True)
class UrlPolicy:
    """How one site's addresses are compared: its own tracking parameters, besides those
    every site drops (`GLOBAL_TRACKING_PARAMS`)."""

    tracking_params: tuple[str, ...] = ()

    def canonical(self, url: str | None, declared: str | None = None) -> str | None:
        return canonical_url(url, declared, self.tracking_params)

    def key(self, url: str) -> str | None:
        """The page's identity: the `url_key` of its canonical URL (None: no web address)."""
        return url_key(self.canonical(url))

    def resolve(self, href: str | None, base: str) -> str | None:
        return resolve(href, base, self.tracking_params)


def host_key(url: str) -> str:
    """The unit of host state (robots.txt, politeness, timeouts): `scheme://host:port`,
    lower-cased, the port always written. robots.txt rules apply to one scheme, host and
    port (RFC 9309), and one source's bad hop must not stop another's fetches."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port or DEFAULT_PORTS.get(scheme, 0)
    except ValueError:
        port = 0
    return f"{scheme}://{host}:{port}"
