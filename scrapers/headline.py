"""The headline of a cleaned page, and what precedes it.

* an all-caps agency token ("APRNEWS :", "APRNEWS -") that prefixes the headline and other
  blocks is stripped; a place dateline ("Mexique - …") leads one paragraph and stays;
* the title is the page metadata's title when a line matches it, else the first
  heading-like line followed by running text; a site menu's teaser blurbs before it are
  passed over; labels above it ("Communiqué" / "Global") are not the title;
* what precedes the title is not article text (menus, labels).
"""

from __future__ import annotations

import re

from core.article import PageMetadata
from scrapers.boilerplate import Drop
from scrapers.contacts import EMAIL
from scrapers.decide import is_field_line
from scrapers.measure import ENDS_SENTENCE as _ENDS_SENTENCE
from scrapers.measure import SENTENCE_END as _SENTENCE_END
from scrapers.measure import headline_key as _headline_key
from scrapers.measure import is_prose as _is_prose
from scrapers.measure import units
from scrapers.textblocks import LIST_ITEM, normalise_space

# "APRNEWS : …", "APRNEWS- …", "AFP - …": an agency name leading a block.
_AGENCY_PREFIX = re.compile(r"^(?P<token>[A-Z][A-Z0-9&]{2,}(?:\s[A-Z][A-Z0-9&]{2,})?)\s*[:\-–—]\s*(?=\S)")

_HEADLINE_SUFFIX = re.compile(r"\s+[|–—-]\s+[^|–—-]{1,60}$")

_TITLE_MIN_WORDS = 4

_TITLE_MAX_WORDS = 40

_TITLE_PROSE_LOOKAHEAD = 3

_LABEL_MAX_WORDS = 3

# Before the headline, a site menu may hold teaser blurbs (a menu heading, then a sentence
# about it): the headline search passes over them while they are a minority of the prose.
_TEASER_HEADING_MAX_UNITS = 6

_TEASERS_MAX_PROSE_SHARE = 0.4

_ENDS_AS_STATEMENT = re.compile(r"[.:;,][\"”’)\]]*$")  # a headline may end with ? ! » …


def strip_agency_prefix(lines: list[str], known: str | None = None) -> list[str]:
    """Strip an all-caps agency token that leads the headline and at least one other block
    (or the one the site profile names).

    A place dateline ("Mexique - …", "GENEVA – …") leads one paragraph only and stays.
    """
    leads: dict[str, list[int]] = {}
    for i, line in enumerate(lines):
        match = _AGENCY_PREFIX.match(line)
        if match:
            leads.setdefault(match["token"], []).append(i)
    agencies = {
        token
        for token, where in leads.items()
        if len(where) >= 2 and any(is_heading_like(_AGENCY_PREFIX.sub("", lines[i], count=1)) for i in where)
    }
    if known:
        agencies.add(known)
    if not agencies:
        return lines
    out = []
    for line in lines:
        match = _AGENCY_PREFIX.match(line)
        out.append(line[match.end() :] if match and match["token"] in agencies else line)
    return out


def is_heading_like(line: str) -> bool:
    return (
        _TITLE_MIN_WORDS <= units(line) <= _TITLE_MAX_WORDS
        and not _ENDS_AS_STATEMENT.search(line)
        and not LIST_ITEM.match(line)
        and not EMAIL.search(line)
        and not _SENTENCE_END.search(line[:-1])
        and _has_words(line)
    )


def _has_words(line: str) -> bool:
    """Most of its tokens hold letters: "3 150 000 USD" is an amount, not a headline."""
    tokens = line.split()
    return sum(1 for t in tokens if any(c.isalpha() for c in t)) * 2 > len(tokens)


def could_be_same_headline(a: str, b: str) -> bool:
    """A cheap test before `_headline_key`: two texts with the same words are of similar length
    (a source prefix or other punctuation aside); comparing keys of every paragraph was the
    largest cost of the text rules."""
    return abs(len(a) - len(b)) <= 20 + min(len(a), len(b)) // 2


def split_title(lines: list[str], meta: PageMetadata, drop: Drop) -> tuple[str | None, list[str]]:
    """(title, body): the title line and what follows it; what precedes it is dropped (but
    for running text above a title named by the page's metadata)."""
    # A page that names its title (HTML metadata) is not searched for a heading-like line: in
    # an extracted main content such a line is a subheading, and what precedes it is text.
    index = _find_meta_title(lines, meta.title) if meta.title else _find_title_line(lines)
    if index is not None:
        # Running text above a headline the page names is the extracted content's lead or
        # standfirst, not a menu: menus were left out with the rest of the page.
        kept = []
        for line in lines[:index]:
            if meta.title and _is_prose(line):
                kept.append(line)
            else:
                drop("before the headline (menu, labels)", line)
        return lines[index], kept + lines[index + 1 :]
    title = _clean_meta_title(meta.title) if meta.title else None
    start = 0
    while start < len(lines) and _is_label(lines[start]):
        drop("label before the text", lines[start])
        start += 1
    return title, lines[start:]


def _find_meta_title(lines: list[str], title: str) -> int | None:
    wanted = {_headline_key(title), _headline_key(_clean_meta_title(title))}
    for i, line in enumerate(lines):
        if could_be_same_headline(line, title) and _headline_key(line) in wanted:
            return i
    return None


def _clean_meta_title(title: str) -> str:
    title = normalise_space(title)
    match = _AGENCY_PREFIX.match(title)
    if match:
        title = title[match.end() :]
    stripped = _HEADLINE_SUFFIX.sub("", title)
    return stripped if units(stripped) >= _TITLE_MIN_WORDS else title


def _find_title_line(lines: list[str]) -> int | None:
    """The first heading-like line followed closely by running text, looked for before the
    article's running text. A site menu before the headline may hold teaser blurbs (a short
    menu heading, then a sentence about it): the search passes over them when there are
    several and they are a minority of the page's prose; any other prose ends the search."""
    prose = [_is_prose(line) for line in lines]
    total = sum(units(line) for line, p in zip(lines, prose, strict=True) if p)
    passed = blurbs = 0
    for i, line in enumerate(lines):
        if prose[i]:
            passed += units(line)
            if not _is_teaser_blurb(lines, i) or passed > _TEASERS_MAX_PROSE_SHARE * total:
                return None
            blurbs += 1
            continue
        if is_heading_like(line) and any(prose[i + 1 : i + 1 + _TITLE_PROSE_LOOKAHEAD]) and not _in_field_run(lines, i):
            if passed and (blurbs < 2 or sum(prose[i + 1 : i + 2 + _TITLE_PROSE_LOOKAHEAD]) < 2):
                continue  # a menu heading with its blurb, not the headline of the article
            return i + 1 if _is_label_above_headline(lines, prose, i) else i
    return None


def _is_label_above_headline(lines: list[str], prose: list[bool], i: int) -> bool:
    """A heading-like line in a stack of labels ("Communiqué" / "Afrique de l’Ouest et du
    Centre"), above a longer one that running text follows at once, is a label too (a region,
    a section); the headline is below. Without a label above it, the line is the headline and
    the one below a subheading."""
    below = i + 1
    return (
        i > 0
        and _is_label(lines[i - 1])
        and below + 1 < len(lines)
        and prose[below + 1]
        and not prose[below]
        and len(lines[below]) > len(lines[i])
        and is_heading_like(lines[below])
        and not _in_field_run(lines, below)
    )


def _in_field_run(lines: list[str], i: int) -> bool:
    """A "Label: value" line beside another one: a record's field, not a headline."""
    return is_field_line(lines[i]) and any(0 <= j < len(lines) and is_field_line(lines[j]) for j in (i - 1, i + 1))


def _is_teaser_blurb(lines: list[str], i: int) -> bool:
    heading = lines[i - 1] if i else ""
    return bool(heading) and units(heading) <= _TEASER_HEADING_MAX_UNITS and not _ENDS_SENTENCE.search(heading)


def _is_label(line: str) -> bool:
    return units(line) <= _LABEL_MAX_WORDS and not _ENDS_SENTENCE.search(line)
