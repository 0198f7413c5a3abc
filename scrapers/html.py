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
from typing import Any

import lxml.etree
import lxml.html
from lxml.html import HtmlElement

from core.article import PageMetadata, Removal
from errors import CleanError, ProfileError
from scrapers.dates import PUBLISHED, dated_line
from scrapers.measure import headline_key, is_dense
from scrapers.metadata import extract_metadata
from scrapers.profiles import Profile

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

_BLOCK_TAGS = frozenset(
    {
        "p",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "li",
        "blockquote",
        "pre",
        "div",
        "section",
        "article",
        "main",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "table",
        "tr",
        "td",
        "th",
        "figure",
        "figcaption",
        "address",
        "hr",
        "body",
        "center",
        "caption",
        "details",
        "summary",
    }
)
_SPACE_RUN = re.compile(r"[ \t\r\n\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.I)
# Control characters XML forbids: lxml parses them into text, then refuses any text written
# back into the tree that still holds them. Removed from what this module writes back only:
# scanning every page for them slowed extraction measurably (bench/extraction.py).
_NOT_XML_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _xml_safe(text: str | None) -> str | None:
    return _NOT_XML_TEXT.sub("", text) if text else text


_PARSER = lxml.html.HTMLParser(remove_comments=True, remove_pis=True, collect_ids=False)
# lxml.html picks each element's Python class in a Python method, called for every element
# the code (ours and trafilatura's) touches: ~10% of the extraction's time. The same classes
# chosen in C: every element is an `HtmlElement` (only the form-control subclasses, which
# nothing here uses, are lost).
_PARSER.set_element_class_lookup(
    lxml.etree.ElementDefaultClassLookup(
        element=lxml.html.HtmlElement,
        comment=lxml.html.HtmlComment,
        pi=lxml.html.HtmlProcessingInstruction,
        entity=lxml.html.HtmlEntity,
    )
)


def extract_html(
    html: str, *, url: str | None, profile: Profile, removed: list[Removal] | None = None
) -> tuple[list[str], PageMetadata]:
    """Text blocks of the page's article (in reading order) and what the page says about itself.

    Blocks are paragraphs, headings, list items...; a `<br>` inside one becomes a newline.
    The page title is a block only when it sits inside the article container. `removed`
    (explaining): receives the page's text blocks the extraction left out.
    """
    tree = parse_html(html)
    _separate_blocks_nested_in_paragraphs(tree)
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
        blocks = _generic_blocks(tree, url)
        if not blocks and _NOT_XML_TEXT.search(html):
            # trafilatura gives up on a page whose text holds control characters XML forbids
            # (it writes text back into its trees): they are removed and the page read again,
            # only then, as a scan of every page costs more than the rare page it saves.
            tree = parse_html(_NOT_XML_TEXT.sub("", html))
            _separate_blocks_nested_in_paragraphs(tree)
            blocks = _generic_blocks(tree, url)
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
    _strip_keeping_word_breaks(body, ("script", "style", "noscript", "template", "svg"))
    return text_blocks(body)


def _strip_keeping_word_breaks(tree: lxml.etree._Element, tags: tuple[str, ...]) -> None:
    """Remove `tags` with their content but keep the text after them, as its own word: a
    script between "2023" and "Qui" must not leave "2023Qui" behind."""
    for element in tree.iter(*tags):
        tail = element.tail
        if tail and not tail[0].isspace():
            element.tail = " " + tail
    lxml.etree.strip_elements(tree, *tags, with_tail=False)


def parse_html(html: str) -> HtmlElement:
    """Parse a page (also malformed or truncated markup) into an lxml tree."""
    # lxml refuses str input that carries an encoding declaration; the text is decoded already.
    html = _XML_DECLARATION.sub("", html, count=1)
    if not html.strip():
        raise CleanError("the HTML page is empty: there is nothing to clean")
    try:
        tree = lxml.html.document_fromstring(html, parser=_PARSER)
    except (lxml.etree.ParserError, ValueError) as error:
        raise CleanError(f"the HTML could not be parsed ({error}); check that the file is a web page") from None
    return tree


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
        if not 6 <= len(text) <= 160 or not any(c.isdigit() for c in text):
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


def text_blocks(container: HtmlElement) -> list[str]:
    """One block per block-level element with text; inline text is joined, <br> -> newline."""
    blocks: list[str] = []
    current: list[str] = []
    flush = _block_flusher(current, blocks)

    def walk(element: HtmlElement) -> None:
        tag = element.tag if isinstance(element.tag, str) else ""
        if tag == "br":
            current.append("\n")
        elif tag == "pre":
            flush()
            current.append(element.text_content())  # the one place where source newlines count
            flush()
            if element.tail:
                current.append(_html_whitespace(element.tail))
            return
        is_block = tag in _BLOCK_TAGS
        if is_block:
            flush()
        if tag and tag != "br" and element.text:
            current.append(_html_whitespace(element.text))
        for child in element:
            walk(child)
        if is_block:
            flush()
        if element.tail:
            current.append(_html_whitespace(element.tail))

    # The container's own tail is outside it.
    tail, container.tail = container.tail, None
    try:
        walk(container)
    finally:
        container.tail = _xml_safe(tail)
    flush()
    return blocks


def _block_flusher(current: list[str], blocks: list[str]):
    """A function that closes the block being collected in `current` into `blocks`."""

    def flush() -> None:
        block = _normalise_block("".join(current))
        if block:
            blocks.append(block)
        current.clear()

    return flush


def _html_whitespace(text: str) -> str:
    # In HTML a source newline is a space; only <br> (and <pre>) break lines.
    return text.replace("\n", " ").replace("\r", " ")


def _normalise_block(text: str) -> str:
    lines = (_SPACE_RUN.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


# --- the generic path: trafilatura on the already-parsed tree -----------------------------


def _generic_blocks(tree: HtmlElement, url: str | None) -> list[str]:
    # trafilatura drops these too, but only after copying the tree twice and running a dozen
    # XPath passes over it; removing them first (one C-level pass) keeps the same output on
    # the benchmark and makes the whole extraction ~15% faster. Metadata was read already.
    _strip_keeping_word_breaks(tree, _GENERIC_PRUNE_TAGS)
    # trafilatura's default cascade compares its own extraction with readability (and
    # justext) on every page, which is half its cost, and changes the result on ~5% of pages:
    # those whose own extraction is short, a small share of the page, or without paragraphs.
    # So the cheap pass runs first, and the cascade only where that cheap test says it may
    # help (bench/extraction.py: same F1, ~1.4x the pages/s).
    document = _trafilatura(tree, url, fast=True)
    if _cascade_may_help(document, tree):
        document = _trafilatura(tree, url, fast=False) or document
    body = getattr(document, "body", None) if document is not None else None
    if body is None:
        return []
    return _trafilatura_blocks(body)


def _trafilatura(tree: HtmlElement, url: str | None, *, fast: bool):
    from trafilatura import bare_extraction  # imported late: ~0.3 s, only unknown sites pay it

    # bare_extraction works on its own copy of the tree: the same tree serves both passes.
    # "txt": the body tree and its raw text, without the plain-text rendering ("python"
    # renders it, ~0.6 ms a page) that the blocks below make again from the tree.
    return bare_extraction(
        tree,
        url=url,
        output_format="txt",
        include_comments=False,
        with_metadata=False,
        fast=fast,
        **GENERIC_EXTRACTOR_SETTINGS,
    )


def _cascade_may_help(document, tree: HtmlElement) -> bool:
    text = (getattr(document, "raw_text", None) or "") if document is not None else ""
    if len(text) < CASCADE_BELOW_CHARS or document.body.find(".//p") is None:
        return True
    body = tree.find("body")
    page = len(_SPACE_RUN.sub(" ", (body if body is not None else tree).text_content()))
    return len(text) < CASCADE_BELOW_PAGE_SHARE * page


# Block elements inside a paragraph, heading or inline element (invalid, but lxml keeps them
# there): trafilatura then glues the text before the block to the block's first word
# ("2023Qui"), inventing a word.
_INLINE_CONTENT = (
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "span",
    "a",
    "em",
    "strong",
    "b",
    "i",
    "u",
    "font",
    "small",
    "label",
    "cite",
    "q",
)
_INLINE_SET = frozenset(_INLINE_CONTENT)
_NESTED_BLOCKS = (
    "p",
    "div",
    "article",
    "section",
    "ul",
    "ol",
    "li",
    "table",
    "blockquote",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "main",
    "aside",
    "figure",
    "dl",
    "address",
)


def _separate_blocks_nested_in_paragraphs(tree: HtmlElement) -> None:
    # A block whose parent is an inline element: one pass over the block elements in C with
    # a parent lookup each (an XPath union over every element cost ~2 ms a page, more than
    # the rest of the HTML stage around trafilatura; walking every inline element's
    # descendants, ~0.8 ms).
    for element in tree.iter(*_NESTED_BLOCKS):
        parent = element.getparent()
        if parent is None or parent.tag not in _INLINE_SET:
            continue
        previous = element.getprevious()
        if previous is not None:
            previous.tail = _xml_safe((previous.tail or "") + "\n")
        else:
            parent.text = _xml_safe((parent.text or "") + "\n")
        element.tail = _xml_safe("\n" + (element.tail or ""))


# Not <noscript>: an unclosed one swallows the rest of the page in the parse, and then only
# trafilatura's fallbacks, reading the raw tree, find the article (it deletes it later itself).
_GENERIC_PRUNE_TAGS = (
    "head",
    "nav",
    "footer",
    "script",
    "style",
    "template",
    "svg",
    "iframe",
    "object",
    "embed",
    "canvas",
    "select",
    "textarea",
    "button",
    "input",
    # trafilatura deletes these too (its MANUALLY_CLEANED list), after more passes over them
    "aside",
    "menu",
    "audio",
    "video",
    "picture",
    "map",
    "area",
    "dialog",
    "frame",
    "frameset",
    "fieldset",
    "label",
    "legend",
    "marquee",
    "menuitem",
    "noindex",
    "optgroup",
    "option",
    "output",
    "param",
    "progress",
    "rp",
    "rt",
    "rtc",
    "source",
    "track",
    "use",
    "datalist",
    "applet",
    "link",
)
# Chosen with bench/extraction.py (see README, Benchmarks) on the development halves:
# keyword arguments of trafilatura's bare_extraction (favor_precision=True...).
GENERIC_EXTRACTOR_SETTINGS: dict[str, Any] = {}
CASCADE_BELOW_CHARS = 500
CASCADE_BELOW_PAGE_SHARE = 0.2

_TRAFILATURA_BLOCK_TAGS = frozenset({"p", "head", "item", "quote", "code", "row", "list", "table"})


def _trafilatura_blocks(body: lxml.etree._Element) -> list[str]:
    """Blocks from trafilatura's internal XML (p, head, list/item, quote, table/row/cell)."""
    blocks: list[str] = []
    current: list[str] = []
    flush = _block_flusher(current, blocks)

    def walk(element: lxml.etree._Element) -> None:
        tag = element.tag if isinstance(element.tag, str) else ""
        if tag == "lb":
            current.append("\n")
        is_block = tag in _TRAFILATURA_BLOCK_TAGS
        if is_block:
            flush()
        if tag != "lb" and element.text:
            current.append(element.text)
        for child in element:
            walk(child)
        if is_block:
            flush()
        elif tag == "cell":
            current.append(" ")
        if element.tail:
            current.append(element.tail)

    for child in body:
        walk(child)
    flush()
    return blocks
