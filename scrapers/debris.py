"""Markup debris: pieces of raw HTML that old CMS pages let into their text.

A legacy page's "related link" box leaks into the text as lines of attribute soup and inline
CSS (`"BORDER-BOTTOM: rgb(204,204,204) 1px solid">`), a tag fragment (`<img src="/…/x.gif">`),
an event handler (`onclick="window.open('…')">`), an orphan `">`, then the link's text. Every
piece has the shape of markup, not of a language:

  attribute    `name="value"` (style, class, onclick, src, href…, `data-*`);
  CSS          `property: value` where the value is CSS (a length, a colour, `rgb(…)`, a
               keyword such as `solid`), with or without its `;`;
  image path   `/sites/…/x.gif`, `http://…/y.jpg`;
  tag          `<img …>`, `</a>`, a `">` or `/>` closing a tag, a `"#"` link target.

A line that is nothing but such pieces (and a "Related link:" label) is removed whole; a line of
text that carries some has them cut out. The short line right after a removed fragment that
ended a tag (`…">`) is the text of the link that tag opened: it leaves with the box.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from scrapers.measure import ENDS_SENTENCE, is_prose, units

Drop = Callable[[str, str], None]

_ATTRIBUTE = re.compile(
    r"""\b(?:style|class|id|on[a-z]{4,12}|target|href|src|alt|title|width|height|align|border|cellpadding"""
    r"""|cellspacing|valign|bgcolor|color|face|size|rel|name|data-[\w-]+)\s*=\s*(?:"[^"]*"?|'[^']*'?)""",
    re.I,
)
_CSS_VALUE = (
    r"(?:rgba?\([^)]{0,40}\)|#[0-9a-f]{3,8}\b|-?\d+(?:\.\d+)?(?:px|em|rem|pt|%|vh|vw)\b"
    r"|\b(?:solid|dashed|dotted|none|auto|bold|normal|italic|inherit|block|inline|inline-block|hidden"
    r"|absolute|relative|left|right|center|transparent|underline|pointer)\b)"
)
_CSS_DECLARATION = re.compile(
    r"(?<![\w-])(?:[a-z]+-)*(?:float|width|height|margin|padding|border|font|color|background|text|display"
    r"|position|line|vertical|cursor|list|overflow|top|left|right|bottom)(?:-[a-z]+)*\s*:\s*"
    rf"(?=[^;\"'<>]{{0,60}}?{_CSS_VALUE})[^;\"'<>]{{1,60}}(?:;|(?=\s*[\"']?\s*/?>)|(?=\s*[\"']?\s*$))",
    re.I,
)
_IMAGE_PATH = re.compile(r"(?:https?://\S+|/[\w./%-]*)\.(?:jpe?g|png|gif|webp|svg|bmp)\b\S*", re.I)
_TAG = re.compile(r"</?[a-z][a-z0-9]*\b[^<>]{0,200}/?>|</?[a-z][a-z0-9]*\b(?=[^<>]*$)", re.I)
_TAG_END = re.compile(r"(?<!\w)\"#\"\s*/?>?|[\"']\s*/?>|/>|^\s*>")
_PIECES = (_ATTRIBUTE, _CSS_DECLARATION, _IMAGE_PATH, _TAG, _TAG_END)
_ENDS_WITH_TAG_END = re.compile(r"[\"']\s*/?>\s*$")
# The box the markup drew: its "Related link: <title>" label leaves with the markup.
_RELATED_TAIL = re.compile(
    r"(?:^|(?<=[.!?…»\"”]))\s*"
    r"(?:related(?: (?:links?|articles?|stories|content))?|liens? (?:connexes?|utiles)|(?:à )?lire aussi"
    r"|voir aussi|read more|see also|more on this)\s*:?\s*[^.!?…]{0,100}$",
    re.I,
)
_LEFTOVER = re.compile(r"^[\s\"';:,)(]+|[\s\"';:,(]+$")
_LINK_TEXT_MAX_UNITS = 12


def drop_markup_debris(lines: list[str], drop: Drop) -> list[str]:
    """The lines without their markup debris (see the module); `drop` hears of each."""
    out: list[str] = []
    link_text_may_follow = False
    for line in lines:
        if link_text_may_follow and _is_link_text(line):
            drop("markup debris (the text of the box's link)", line)
            link_text_may_follow = False
            continue
        link_text_may_follow = False
        if not _may_hold_debris(line):
            out.append(line)
            continue
        cleaned, pieces = _cut_pieces(line)
        if not pieces:
            out.append(line)
        elif _is_nothing(cleaned):
            drop("markup debris", line)
            link_text_may_follow = bool(_ENDS_WITH_TAG_END.search(line))
        elif _is_strong(line, pieces):
            drop("markup debris (removed from the line)", line)
            out.append(cleaned)
        else:
            out.append(line)
    return out


def carries_markup_debris(line: str) -> bool:
    """A line that is markup debris or carries some (never joined to its neighbours as a
    wrap: the box it drew ends there)."""
    if not _may_hold_debris(line):
        return False
    cleaned, pieces = _cut_pieces(line)
    return bool(pieces) and (_is_nothing(cleaned) or _is_strong(line, pieces))


def _may_hold_debris(line: str) -> bool:
    # Every piece holds one of these characters; most lines hold none.
    return (
        "=" in line
        or "<" in line
        or ">" in line
        or ";" in line
        or (":" in line and "(" in line)
        or ("." in line and _IMAGE_PATH.search(line) is not None)
    )


def _cut_pieces(line: str) -> tuple[str, int]:
    pieces = 0
    cleaned = line
    for pattern in _PIECES:
        cleaned, found = pattern.subn(" ", cleaned)
        pieces += found
    if not pieces:
        return line, 0
    cleaned = _RELATED_TAIL.sub("", " ".join(cleaned.split()))
    return _LEFTOVER.sub("", cleaned) if _is_nothing(cleaned) else cleaned.strip(), pieces


def _is_nothing(text: str) -> bool:
    """No words left, or a fragment of two words at most that says nothing."""
    text = _LEFTOVER.sub("", text)
    return not any(c.isalpha() for c in text) or (units(text) <= 2 and not ENDS_SENTENCE.search(text))


def _is_strong(line: str, pieces: int) -> bool:
    """Enough markup to cut it out of a line of text: two pieces, or one attribute or tag."""
    return pieces >= 2 or bool(_ATTRIBUTE.search(line) or _TAG.search(line))


def _is_link_text(line: str) -> bool:
    return units(line) <= _LINK_TEXT_MAX_UNITS and not is_prose(line) and not _may_hold_debris(line)
