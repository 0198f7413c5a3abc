"""The one cleaning entry point: bytes or text of a saved or fetched page -> Article.

Stages (each a module of its own):
  decoding     bytes -> str (BOM, HTTP charset, <meta charset>, strict UTF-8, cp1252, mojibake)
  html         HTML -> text blocks + PageMetadata (HTML-level boilerplate removal, site profile
               container or the generic extractor for unknown sites)
  textclean    text blocks -> Article (seed-derived rules: menus, labels, repeated headline,
               datelines, contacts, hard wraps)
`newswatch clean`, `newswatch import` and the ingest flow all call `clean_page`.
"""

from __future__ import annotations

from core.article import Article, PageMetadata, Removal
from errors import CleanError
from scrapers import inflate
from scrapers.decoding import decode_bytes, looks_like_html
from scrapers.profiles import get_profile, profile_for_url
from scrapers.template import SourceTemplate
from scrapers.textclean import clean_blocks, text_to_blocks


def clean_page(
    data: bytes | str,
    *,
    url: str | None = None,
    content_type: str | None = None,
    profile: str | None = None,
    found_via: str | None = None,
    template: SourceTemplate | None = None,
    removed: list[Removal] | None = None,
) -> Article:
    """Clean one page. Raises CleanError when the input cannot be read at all (empty,
    binary, corrupt gzip) and ProfileError for an unknown profile name; a page that reads but
    is not an article comes back with `is_article=False` and a `reason`.

    `found_via`: how discovery found the page ("feed", "sitemap", "listing", or None): a
    page a feed or sitemap announced gets the benefit of the doubt (`scrapers.decide`).
    `template`: the source's learned template (`scrapers.template`), from its archive.
    `removed`: a list that receives what each text rule removed (`newswatch clean --explain`).
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = inflate.gunzip_page(bytes(data))  # as it is when not gzipped
        text = decode_bytes(raw, content_type)
    else:
        text = data
        if not text.strip():
            raise CleanError("the page is empty: there is nothing to clean (check the file or the download)")
    site = get_profile(profile) if profile else profile_for_url(url)
    if looks_like_html(text):
        from scrapers.html import extract_html  # lxml is imported only for HTML pages

        blocks, meta = extract_html(text, url=url, profile=site, removed=removed)
    else:
        blocks, meta = text_to_blocks(text), PageMetadata()
    return clean_blocks(
        blocks, meta=meta, profile=site, url=url, found_via=found_via, template=template, removed=removed
    )
