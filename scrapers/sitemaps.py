"""XML sitemaps and sitemap indexes (sitemaps.org), plain or gzipped."""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from errors import SitemapError
from scrapers import inflate
from scrapers.links import Candidate

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True, remove_pis=True
)


@dataclass
class Sitemap:
    is_index: bool
    entries: list[Candidate] = field(default_factory=list)  # pages, or child sitemaps for an index


def gunzip(data: bytes, limit: int) -> bytes:
    """Decompress a gzipped file (a `.xml.gz` sitemap), refusing more than `limit` bytes."""
    try:
        return inflate.inflate_file(data, limit)
    except inflate.BadEncoding as e:
        raise SitemapError(str(e)) from None
    except inflate.TooMuchOutput:
        raise SitemapError(f"decompresses to more than {limit:,} bytes (max_document_bytes)") from None


def parse_sitemap(body: bytes, url: str, *, limit: int = 50_000_000) -> Sitemap:
    body = gunzip(body, limit)
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as e:
        raise SitemapError(f"{url} is not well-formed XML ({e})") from None
    tag = etree.QName(root).localname
    if tag not in ("urlset", "sitemapindex"):
        raise SitemapError(f"{url} is not a sitemap (root element <{tag}>)")
    is_index = tag == "sitemapindex"
    sitemap = Sitemap(is_index=is_index)
    for item in root.iterfind("{*}sitemap" if is_index else "{*}url"):
        loc = item.findtext("{*}loc")
        if not loc or not loc.strip():
            continue
        lastmod = item.findtext("{*}lastmod")
        sitemap.entries.append(Candidate(url=loc.strip(), lastmod=lastmod.strip() if lastmod else None))
    return sitemap
