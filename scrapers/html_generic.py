"""The generic path of HTML extraction: trafilatura, on the tree newswatch already parsed.

What an unknown site gets (no profile names its article container). The cheap pass runs
first, trafilatura's cascade only where a cheap test says it may help; the result comes back
as text blocks from trafilatura's internal XML.
"""

from __future__ import annotations

from typing import Any

import lxml.etree
from lxml.html import HtmlElement

from scrapers.htmltext import SPACE_RUN, block_flusher, strip_keeping_word_breaks


def generic_blocks(tree: HtmlElement, url: str | None) -> list[str]:
    # trafilatura drops these too, but only after copying the tree twice and running a dozen
    # XPath passes over it; removing them first (one C-level pass) keeps the same output on
    # the benchmark and makes the whole extraction ~15% faster. Metadata was read already.
    strip_keeping_word_breaks(tree, _GENERIC_PRUNE_TAGS)
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
    page = len(SPACE_RUN.sub(" ", (body if body is not None else tree).text_content()))
    return len(text) < CASCADE_BELOW_PAGE_SHARE * page


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


# Chosen with bench/extraction.py (see docs/benchmarks.md) on the development halves:
# keyword arguments of trafilatura's bare_extraction (favor_precision=True...).
GENERIC_EXTRACTOR_SETTINGS: dict[str, Any] = {}


CASCADE_BELOW_CHARS = 500


CASCADE_BELOW_PAGE_SHARE = 0.2


_TRAFILATURA_BLOCK_TAGS = frozenset({"p", "head", "item", "quote", "code", "row", "list", "table"})


def _trafilatura_blocks(body: lxml.etree._Element) -> list[str]:
    """Blocks from trafilatura's internal XML (p, head, list/item, quote, table/row/cell)."""
    blocks: list[str] = []
    current: list[str] = []
    flush = block_flusher(current, blocks)

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
