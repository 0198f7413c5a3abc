"""XML sitemaps and sitemap indexes (sitemaps.org); a gzipped one is inflated before (discovery)."""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from errors import SitemapError
from scrapers.links import Candidate

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True, remove_pis=True
)


@dataclass
class Sitemap:
    is_index: bool
    entries: list[Candidate] = field(default_factory=list)  # pages, or child sitemaps for an index


def parse_sitemap(body: bytes, url: str) -> Sitemap:
    """A sitemap's entries; `body` is the document as read (a `.xml.gz` one inflated by discovery)."""
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
