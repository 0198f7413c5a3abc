"""XML sitemaps and sitemap indexes (sitemaps.org), plain or gzipped."""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field

from lxml import etree

from errors import SitemapError
from scrapers.links import Candidate

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                          remove_comments=True, remove_pis=True)


@dataclass
class Sitemap:
    is_index: bool
    entries: list[Candidate] = field(default_factory=list)  # pages, or child sitemaps for an index


def gunzip(data: bytes, limit: int) -> bytes:
    """Decompress a gzipped file (a `.xml.gz` sitemap), refusing more than `limit` bytes."""
    if not data.startswith(b"\x1f\x8b"):
        return data
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as e:
        raise SitemapError(f"corrupt gzip data ({e})") from None
    if len(out) > limit:
        raise SitemapError(f"decompresses to more than {limit:,} bytes (max_page_bytes)")
    return out


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
        sitemap.entries.append(Candidate(url=loc.strip(),
                                         lastmod=lastmod.strip() if lastmod else None))
    return sitemap

