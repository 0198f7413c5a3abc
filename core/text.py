"""Page text made inert: what strangers wrote, before it is stored, indexed, emailed or shown.

A title can carry bidi controls (U+202E RIGHT-TO-LEFT OVERRIDE turns "exe.txt" around on
screen), isolates and zero-width characters that split a word so search no longer finds it,
invisible "tag" characters that smuggle text past a reader, and terminal escape sequences.

- `inert(text)`: drops control characters (tab and newline kept) and the invisible format
  characters (Unicode category Cf) that no script needs; keeps ZWJ/ZWNJ (Persian, Indic
  scripts, emoji sequences), the Arabic/Syriac number marks and the other format characters
  that scripts render, and the tag characters of a flag emoji sequence.
- `inert_line(text)`: the same on one line (titles, subjects): whitespace runs become one space.
- `inert_url(url)`: a link as characters that cannot reorder or hide anything: whitespace,
  controls and those format characters percent-encoded.
- `shorten(text, limit)`: at most `limit` characters, an ellipsis where it was cut: what a
  summary line, a log line or an artifact entry shows of a value of any length (one link
  was 2 MB).

`tests/test_hostile.py` checks that every Cf character of the running Python's Unicode is
either dropped or kept on purpose.
"""

from __future__ import annotations

import re
from urllib.parse import quote

# Dropped: bidi embeddings, overrides, isolates and marks; zero-width space, word joiner and
# invisible operators; BOM/ZWNBSP; interlinear annotation; soft hyphen; musical formatting.
_DROPPED_FORMAT = (
    "\u00ad\u061c\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U0001d173-\U0001d17a"
)
# Kept on purpose (scripts render or need them): ZWNJ/ZWJ, Arabic number signs and end of
# ayah, Syriac abbreviation mark, Arabic pound/piastre marks, Mongolian vowel separator,
# Kaithi number signs, Egyptian hieroglyph and Duployan shorthand format controls.
KEPT_FORMAT = (
    "\u200c\u200d\u0600-\u0605\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
)
_CONTROLS = "\x00-\x08\x0b-\x1f\x7f-\x9f"
_TAGS = "\U000e0001\U000e0020-\U000e007f"
# A flag emoji (England: black flag + tag letters + cancel tag) keeps its tags.
_INVISIBLE = re.compile(f"(\U0001f3f4[\U000e0020-\U000e007f]+)|[{_CONTROLS}{_DROPPED_FORMAT}{_TAGS}]")
_LINE_BREAKS = re.compile("\r\n?|[\u2028\u2029\x85]")
_URL_UNSAFE = re.compile(f'[\\s{_CONTROLS}{_DROPPED_FORMAT}{_TAGS}\u200c\u200d"<>`\\\\]')


def _keep_flags(match: re.Match) -> str:
    return match.group(1) or ""


def inert(text: str | None) -> str:
    """`text` without control characters (tab, newline kept) and invisible format characters."""
    if not text:
        return ""
    text = _LINE_BREAKS.sub("\n", text)
    return _INVISIBLE.sub(_keep_flags, text)


def inert_line(text: str | None) -> str:
    """`inert(text)` on one line: every whitespace run (newlines included) becomes one space."""
    return " ".join(inert(text).split())


def inert_url(url: str | None) -> str:
    """`url` with whitespace, controls, quotes, angle brackets and invisible characters
    percent-encoded: the same address, shown as what it is."""
    if not url:
        return ""
    return _URL_UNSAFE.sub(lambda m: quote(m.group(), safe=""), url)


ELLIPSIS = "…"
LINE_MAX = 500  # a line of the run's summary, its log or an artifact entry, at most


def shorten(text: str | None, limit: int = LINE_MAX) -> str:
    """`text` if it has at most `limit` characters, else its start and an ellipsis (`limit`
    characters in all)."""
    if not text:
        return ""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)] + ELLIPSIS


# Private-use characters: they cannot occur in cleaned text, so they mark a search's matches
# unambiguously until a snippet is shown ([…], *…* or <mark>).
MARK_START = "\ue000"
MARK_END = "\ue001"


def snippet_around(highlighted: str | None, words: int = 24, start: str = MARK_START, end: str = MARK_END) -> str:
    """A one-line excerpt of `highlighted` (a whole text whose matches are marked between
    `start` and `end`, as SQLite FTS5's `highlight()` marks them) where most of its matches
    are: about `words` words, never a marked match cut (a phrase that matched stays whole, even when
    longer than the window), every whitespace run (newlines included) one space, and `…` where
    the text goes on. A text with no mark gives its opening words."""
    tokens = (highlighted or "").split()
    if not tokens:
        return ""
    began: list[int | None] = []  # per token: where the match open before it began (None: none open)
    opened_at = None
    for i, token in enumerate(tokens):
        began.append(opened_at)
        for ch in token:
            if ch == start:
                opened_at = i
            elif ch == end:
                opened_at = None
    marked = [i for i, token in enumerate(tokens) if start in token]
    term = {i: tokens[i].split(start, 1)[1].split(end, 1)[0].casefold() for i in marked}

    def score(i: int) -> tuple[int, int, int]:  # distinct terms, then matches, then the earliest
        inside = [j for j in marked if i <= j < i + words - words // 3]
        return len({term[j] for j in inside}), len(inside), -i

    # The window with the best score, a third of it before its first match.
    first = max(marked, key=score, default=None)
    lo = 0 if first is None else max(0, first - words // 3)
    opened = began[lo]
    if opened is not None:
        lo = opened  # never start inside a match
    hi = min(len(tokens), max(lo + words, (first or 0) + 1))
    while hi < len(tokens) and began[hi] is not None:
        hi += 1  # never end inside a match: take it whole
    excerpt = " ".join(tokens[lo:hi])
    if hi == len(tokens) and opened_at is not None:
        excerpt += end  # the text ended inside a mark
    return (ELLIPSIS if lo > 0 else "") + excerpt + (ELLIPSIS if hi < len(tokens) else "")
