"""HTML -> text blocks + PageMetadata: the HTML half of the article cleaner.

The page is parsed once with lxml. Metadata is read first (it lives in <head>, JSON-LD and
<time>, which the pruning below drops). Then:
  * a site profile that names its article container gets the text blocks of that container,
    after the generic HTML boilerplate (scripts, sprites, menus, share/related blocks...) and
    the profile's own `drop_xpaths` are removed;
  * unknown sites go through trafilatura, run on the same parsed tree.
The blocks then go to `scrapers.textclean`, which applies the text-level rules.
"""

from __future__ import annotations

import copy
import re

import lxml.etree
import lxml.html
from lxml.html import HtmlElement

from core.article import PageMetadata, Removal
from errors import ProfileError
from scrapers.dates import PUBLISHED, dated_line
from scrapers.htmltext import (
    NOT_XML_TEXT,
    parse_html,
    separate_blocks_nested_in_paragraphs,
    strip_keeping_word_breaks,
    text_blocks,
)
from scrapers.measure import headline_key, is_dense
from scrapers.metadata import extract_metadata
from scrapers.profiles import Profile

__all__ = ["extract_html", "link_keys", "parse_html", "prune_boilerplate", "text_blocks"]

# Elements that never hold article text.
_NEVER_TEXT_TAGS = (
    "script",
    "style",
    "noscript",
    "template",
    "svg",
    "symbol",
    "use",
    "iframe",
    "object",
    "embed",
    "canvas",
    "button",
    "select",
    "input",
    "textarea",
    "link",
    "meta",
    "head",
)
# Page furniture: removed inside a profile's container too (a Drupal node often nests them).
_FURNITURE_TAGS = ("nav", "header", "footer", "aside", "form", "menu", "dialog")
_BOILERPLATE_WORDS = (
    "cookie",
    "consent",
    "gdpr",
    "share",
    "sharing",
    "social",
    "related",
    "newsletter",
    "breadcrumb",
    "subscribe",
    "advert",
    "promo",
    "sidebar",
    "skip-link",
    "visually-hidden",
    "sr-only",
    "back-to-top",
    "backtotop",
    "print-link",
    "tags-list",
    "comments?",
)
_BOILERPLATE_CLASS = re.compile(r"(?:^|[\s_-])(?:" + "|".join(_BOILERPLATE_WORDS) + r")(?:$|[\s_-])", re.I)
_BOILERPLATE_ROLES = {
    "navigation",
    "banner",
    "contentinfo",
    "complementary",
    "search",
    "dialog",
    "alertdialog",
    "menu",
    "menubar",
}
_BOILERPLATE_ARIA = re.compile(r"breadcrumb|share|partag|cookie|related|newsletter|menu", re.I)


def extract_html(
    html: str, *, url: str | None, profile: Profile, removed: list[Removal] | None = None
) -> tuple[list[str], PageMetadata]:
    """Text blocks of the page's article (in reading order) and what the page says about itself.

    Blocks are paragraphs, headings, list items...; a `<br>` inside one becomes a newline.
    The page title is a block only when it sits inside the article container. `removed`
    (explaining): receives the page's text blocks the extraction left out.
    """
    tree = parse_html(html)
    separate_blocks_nested_in_paragraphs(tree)
    page_blocks = _page_blocks(tree) if removed is not None else []
    metadata = extract_metadata(tree, url)
    metadata.link_keys = link_keys(tree)
    if metadata.date is None:
        metadata.page_date = date_in_page_text(tree)
    container = _profile_container(tree, profile)
    if container is not None:
        prune_boilerplate(container, extra_xpaths=profile.drop_xpaths)
        blocks = text_blocks(container)
    else:
        blocks = _generic(tree, url)
        if not blocks and NOT_XML_TEXT.search(html):
            # trafilatura gives up on a page whose text holds control characters XML forbids
            # (it writes text back into its trees): they are removed and the page read again,
            # only then, as a scan of every page costs more than the rare page it saves.
            tree = parse_html(NOT_XML_TEXT.sub("", html))
            separate_blocks_nested_in_paragraphs(tree)
            blocks = _generic(tree, url)
    if removed is not None:
        rule = (
            "html: outside the site profile's article container, or its boilerplate"
            if container is not None
            else "html: outside the main content found by the generic extractor (trafilatura)"
        )
        kept = {headline_key(b) for b in blocks}
        removed.extend(Removal(rule, b) for b in page_blocks if headline_key(b) not in kept)
    return blocks, metadata


def _page_blocks(tree: HtmlElement) -> list[str]:
    """Every text block of the page's body, before any pruning (for explanations only)."""
    body = tree.find("body")
    body = copy.deepcopy(body if body is not None else tree)
    strip_keeping_word_breaks(body, ("script", "style", "noscript", "template", "svg"))
    return text_blocks(body)


def link_keys(tree: HtmlElement) -> frozenset[str]:
    """Headline keys of the page's link texts of two words or more (read before any pruning:
    menus and teaser lists are what they reveal)."""
    keys = set()
    for anchor in tree.iter("a"):
        key = headline_key(anchor.text_content())
        if " " in key or (key and is_dense(key) and len(key) >= 4):
            keys.add(key)
    return frozenset(keys)


_DATED_ELEMENTS = (
    "p",
    "span",
    "div",
    "li",
    "small",
    "em",
    "strong",
    "b",
    "i",
    "time",
    "dd",
    "td",
    "address",
    "header",
    "h4",
    "h5",
    "h6",
)
_DATE_CLASS = re.compile(r"date|time|publi|posted|byline|meta|datum|fecha|data", re.I)
_DIGIT = re.compile(r"\d")


def date_in_page_text(tree: HtmlElement) -> str | None:
    """A publication date printed anywhere on the page (a header or byline box outside the
    main content, which the extractor may leave out): a line that says it was published
    ("Publié le …", "Published: …"), else a bare date line in an element named for dates.
    Read only when the metadata has no date."""
    found_plain = None
    for element in tree.iter(_DATED_ELEMENTS):
        if len(element) > 4:
            continue
        text = element.text_content()
        if not 6 <= len(text) <= 160 or not _DIGIT.search(text):
            continue
        dated = dated_line(" ".join(text.split()))
        if dated is None:
            continue
        if dated[1] == PUBLISHED:
            return dated[0]
        if (
            found_plain is None
            and dated[1] is None
            and _DATE_CLASS.search(f"{element.get('class', '')} {element.get('id', '')} {element.get('itemprop', '')}")
        ):
            found_plain = dated[0]
    return found_plain


def prune_boilerplate(root: HtmlElement, extra_xpaths: tuple[str, ...] = ()) -> None:
    """Remove, in place, the elements under `root` that are never article text."""
    doomed: list[HtmlElement] = []
    for xpath in extra_xpaths:
        doomed.extend(e for e in root.xpath(xpath) if isinstance(e, HtmlElement))
    for element in root.iter():
        if not isinstance(element, HtmlElement) or element is root:
            continue  # comments / processing instructions / entities
        tag = element.tag if isinstance(element.tag, str) else ""
        local = tag.rsplit("}", 1)[-1].lower()  # inline SVG may come namespaced
        if local in _NEVER_TEXT_TAGS or local in _FURNITURE_TAGS or _looks_like_boilerplate(element):
            doomed.append(element)
    for element in doomed:
        _drop_keeping_tail(element)


def _looks_like_boilerplate(element: HtmlElement) -> bool:
    if element.tag in ("body", "html", "main", "article"):
        return False
    attrs = element.attrib
    if attrs.get("hidden") is not None or attrs.get("aria-hidden") == "true":
        return True
    if (attrs.get("role") or "").lower() in _BOILERPLATE_ROLES:
        return True
    label = attrs.get("aria-label")
    if label and _BOILERPLATE_ARIA.search(label):
        return True
    names = f"{attrs.get('class', '')} {attrs.get('id', '')}"
    return bool(names.strip()) and bool(_BOILERPLATE_CLASS.search(names))


def _drop_keeping_tail(element: HtmlElement) -> None:
    parent = element.getparent()
    if parent is None:
        return  # already detached with an ancestor
    element.drop_tree()  # keeps the tail text, which belongs to the parent


def _profile_container(tree: HtmlElement, profile: Profile) -> HtmlElement | None:
    if not profile.article_xpath:
        return None
    try:
        matches = tree.xpath(profile.article_xpath)
    except lxml.etree.XPathError as error:
        raise ProfileError(f"site profile {profile.name!r}: invalid article_xpath ({error})") from None
    for match in matches:
        if isinstance(match, HtmlElement):
            return match
    return None  # the site changed its markup: fall back to the generic extractor


def _generic(tree: HtmlElement, url: str | None) -> list[str]:
    from scrapers.html_generic import generic_blocks  # trafilatura is imported only for unknown sites

    return generic_blocks(tree, url)
