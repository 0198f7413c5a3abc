"""HTML parsing and the text of an element as blocks, shared by both HTML paths.

One parser (C-level element classes), the repair of block elements nested in inline ones
(which would glue two words into one), and `text_blocks`: one block per block-level element,
inline text joined, `<br>` as a newline.
"""

from __future__ import annotations

import re

import lxml.etree
import lxml.html
from lxml.html import HtmlElement

from errors import CleanError

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


SPACE_RUN = re.compile(r"[ \t\r\n\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")


_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.I)


# Control characters XML forbids: lxml parses them into text, then refuses any text written
# back into the tree that still holds them. Removed from what this module writes back only:
# scanning every page for them slowed extraction measurably (bench/extraction.py).
NOT_XML_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _xml_safe(text: str | None) -> str | None:
    return NOT_XML_TEXT.sub("", text) if text else text


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


def strip_keeping_word_breaks(tree: lxml.etree._Element, tags: tuple[str, ...]) -> None:
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


def text_blocks(container: HtmlElement) -> list[str]:
    """One block per block-level element with text; inline text is joined, <br> -> newline."""
    blocks: list[str] = []
    current: list[str] = []
    flush = block_flusher(current, blocks)

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


def block_flusher(current: list[str], blocks: list[str]):
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
    lines = (SPACE_RUN.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


# --- the generic path: trafilatura on the already-parsed tree -----------------------------


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


def separate_blocks_nested_in_paragraphs(tree: HtmlElement) -> None:
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
