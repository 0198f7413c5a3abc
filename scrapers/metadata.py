"""What an HTML page says about itself: title, date, language, canonical URL, translations.

Read from the parsed lxml tree before any boilerplate is removed (the evidence lives in
<head>, JSON-LD scripts and <time> elements, all of which the extractor later drops).
Sources are tried from the most to the least deliberate: Open Graph / article meta,
JSON-LD, then visible markup.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from lxml.html import HtmlElement

from core.article import PageMetadata

_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})")
# "Title | Site", "Title - Site", "Title — Site", "Title :: Site": keep the longest side.
_TITLE_SUFFIX = re.compile(r"\s+(?:\||–|—|::|-|·)\s+")
_DATE_META_KEYS = (
    "article:published_time",
    "og:published_time",
    "datepublished",
    "date",
    "dc.date",
    "dc.date.issued",
    "dcterms.date",
    "dcterms.issued",
    "pubdate",
    "publishdate",
    "sailthru.date",
    "citation_publication_date",
    "article.published",
)


def extract_metadata(tree: HtmlElement, url: str | None) -> PageMetadata:
    """PageMetadata of a parsed page; `url` (where the page came from) makes links absolute."""
    metas = _meta_tags(tree)
    json_ld = list(_json_ld_objects(tree))
    base = _base_url(tree, url)
    return PageMetadata(
        title=_title(tree, metas, json_ld),
        date=_date(tree, metas, json_ld),
        author=_author(metas, json_ld),
        language=_language(tree, metas),
        canonical_url=_canonical(tree, base),
        translations=_translations(tree, base, url),
        site_name=metas.get("og:site_name") or _first_json_ld_value(json_ld, "publisher", "name"),
        page_type=_page_type(metas, json_ld),
        og_type=(metas.get("og:type") or "").strip().lower() or None,
        schema_types=_schema_types(tree, json_ld),
    )


def _meta_tags(tree: HtmlElement) -> dict[str, str]:
    """First value of every <meta name|property|http-equiv|itemprop>, keys lower-cased."""
    found: dict[str, str] = {}
    for meta in tree.iter("meta"):
        content = (meta.get("content") or "").strip()
        if not content:
            continue
        for attr in ("property", "name", "http-equiv", "itemprop"):
            key = (meta.get(attr) or "").strip().lower()
            if key and key not in found:
                found[key] = content
    return found


def _json_ld_objects(tree: HtmlElement) -> Iterator[dict[str, Any]]:
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            continue
        try:
            data = json.loads(script.text or "")
        except (ValueError, TypeError):
            continue  # broken JSON-LD is common; the other sources still apply
        yield from _flatten_json_ld(data)


def _flatten_json_ld(data: Any) -> Iterator[dict[str, Any]]:
    if isinstance(data, list):
        for item in data:
            yield from _flatten_json_ld(item)
    elif isinstance(data, dict):
        yield data
        if "@graph" in data:
            yield from _flatten_json_ld(data["@graph"])


def _types(obj: dict[str, Any]) -> list[str]:
    value = obj.get("@type")
    values = value if isinstance(value, list) else [value]
    return [v for v in values if isinstance(v, str)]


def _is_article_type(obj: dict[str, Any]) -> bool:
    return any(t.endswith(("Article", "Posting", "Report")) or t == "NewsArticle" for t in _types(obj))


def _first_json_ld_value(objects: list[dict[str, Any]], *path: str) -> str | None:
    # Article objects first: a page's WebSite / Organization objects also have names.
    for obj in sorted(objects, key=lambda o: not _is_article_type(o)):
        value: Any = obj
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, list) and value:
            value = value[0]
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _text(element: HtmlElement) -> str:
    return " ".join(element.text_content().split())


def _title(tree: HtmlElement, metas: dict[str, str], json_ld: list[dict[str, Any]]) -> str | None:
    for candidate in (
        metas.get("og:title"),
        metas.get("twitter:title"),
        _first_json_ld_value(json_ld, "headline"),
    ):
        if candidate and candidate.strip():
            return " ".join(candidate.split())
    for h1 in tree.iter("h1"):
        text = _text(h1)
        if text:
            return text
    title = tree.find(".//title")
    if title is not None and _text(title):
        return _strip_site_suffix(_text(title))
    return None


def _strip_site_suffix(title: str) -> str:
    parts = _TITLE_SUFFIX.split(title)
    if len(parts) == 1:
        return title
    # The site name is the short side; the headline is the longest part.
    return max(parts, key=len)


def _author(metas: dict[str, str], json_ld: list[dict[str, Any]]) -> str | None:
    """The author the page names: JSON-LD author.name, else a meta tag that holds a name
    (article:author is often a profile URL)."""
    for candidate in (
        _first_json_ld_value(json_ld, "author", "name"),
        metas.get("author"),
        metas.get("article:author"),
        metas.get("dc.creator"),
        metas.get("byl"),
    ):
        if candidate and not candidate.startswith(("http://", "https://", "/")):
            name = " ".join(candidate.split())
            name = re.sub(r"^(?:par|by|von|por)\s+", "", name, flags=re.I)
            if 0 < len(name) <= _AUTHOR_MAX_CHARS:
                return name
    return None


_AUTHOR_MAX_CHARS = 80


def _date(tree: HtmlElement, metas: dict[str, str], json_ld: list[dict[str, Any]]) -> str | None:
    for key in _DATE_META_KEYS[:2]:
        if parsed := _iso_date(metas.get(key)):
            return parsed
    for key in ("datePublished", "dateCreated", "uploadDate"):
        if parsed := _iso_date(_first_json_ld_value(json_ld, key)):
            return parsed
    for time in tree.iter("time"):
        if parsed := _iso_date(time.get("datetime")):
            return parsed
    for key in _DATE_META_KEYS[2:]:
        if parsed := _iso_date(metas.get(key)):
            return parsed
    for time in tree.iter("time"):
        if parsed := _date_from_text(_text(time)):
            return parsed
    return None


def _iso_date(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    match = _ISO_DATE.search(value) or _COMPACT_DATE.match(value)
    if not match:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3))).isoformat()
    except ValueError:
        return None


def _date_from_text(text: str) -> str | None:
    """A <time> without datetime: its visible text, in French or English."""
    if parsed := _iso_date(text):
        return parsed
    try:
        from scrapers.dates import parse_date  # the text half's French/English date parser
    except ImportError:
        return None
    try:
        found = parse_date(text)
    except (ValueError, TypeError):
        return None
    if isinstance(found, (date, datetime)):
        return found.isoformat()[:10]
    return found if isinstance(found, str) else None


def _language(tree: HtmlElement, metas: dict[str, str]) -> str | None:
    html = tree if tree.tag == "html" else tree.find(".//html")
    candidates = [
        html.get("lang") if html is not None else None,
        html.get("{http://www.w3.org/XML/1998/namespace}lang") if html is not None else None,
        html.get("xml:lang") if html is not None else None,
        metas.get("og:locale"),
        metas.get("content-language"),
        metas.get("language"),
        metas.get("dc.language"),
    ]
    for candidate in candidates:
        if candidate and (code := _language_code(candidate)):
            return code
    return None


def _language_code(value: str) -> str | None:
    # "fr-FR", "fr_FR", "fr, en" -> "fr"
    match = re.match(r"\s*([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]+)*\s*(?:[,;]|$)", value)
    return match.group(1).lower() if match else None


def _base_url(tree: HtmlElement, url: str | None) -> str | None:
    base = tree.find(".//base[@href]")
    if base is not None:
        href = base.get("href", "").strip()
        return urljoin(url, href) if url else (href if _is_absolute(href) else None)
    return url


def _is_absolute(href: str) -> bool:
    parts = urlsplit(href)
    return bool(parts.scheme in ("http", "https") and parts.netloc)


def _absolute(href: str | None, base: str | None) -> str | None:
    href = (href or "").strip()
    if not href or href.startswith(("javascript:", "mailto:", "#")):
        return None
    if _is_absolute(href):
        return href
    if base:
        joined = urljoin(base, href)
        return joined if _is_absolute(joined) else None
    return None  # a relative link on a URL-less page cannot be made absolute


def _link_rels(link: HtmlElement) -> set[str]:
    return set((link.get("rel") or "").lower().split())


def _canonical(tree: HtmlElement, base: str | None) -> str | None:
    for link in tree.iter("link"):
        if "canonical" in _link_rels(link):
            if href := _absolute(link.get("href"), base):
                return href
    return None


def _translations(tree: HtmlElement, base: str | None, url: str | None) -> dict[str, str]:
    translations: dict[str, str] = {}
    canonical = _canonical(tree, base)
    own = {u.rstrip("/") for u in (url, canonical) if u}
    for link in tree.iter("link"):
        lang = (link.get("hreflang") or "").strip()
        if "alternate" not in _link_rels(link) or not lang or lang.lower() == "x-default":
            continue
        href = _absolute(link.get("href"), base)
        if not href or href.rstrip("/") in own:
            continue
        translations.setdefault(lang, href)
    return translations


_MAX_ITEMTYPES = 50


def _schema_types(tree: HtmlElement, json_ld: list[dict[str, Any]]) -> tuple[str, ...]:
    """The schema.org types a page declares: JSON-LD `@type`s and microdata `itemtype`s (the
    last segment of the type's URL), in order, once each."""
    types = [t.rsplit("/", 1)[-1] for obj in json_ld for t in _types(obj)]
    for element in tree.iterfind(".//*[@itemtype]"):
        types += [t.rstrip("/").rsplit("/", 1)[-1] for t in (element.get("itemtype") or "").split()]
        if len(types) > _MAX_ITEMTYPES:
            break
    return tuple(dict.fromkeys(t for t in types if t))


def _page_type(metas: dict[str, str], json_ld: list[dict[str, Any]]) -> str | None:
    if og_type := metas.get("og:type"):
        return og_type.strip().lower()
    for obj in sorted(json_ld, key=lambda o: not _is_article_type(o)):
        types = _types(obj)
        if types:
            return types[0]
    return None
