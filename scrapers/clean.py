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

from scrapers.article import Article


def clean_page(
    data: bytes | str,
    *,
    url: str | None = None,
    content_type: str | None = None,
    profile: str | None = None,
) -> Article:
    raise NotImplementedError("being written: issue 2")
