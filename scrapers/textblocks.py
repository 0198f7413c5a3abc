"""Plain text -> blocks: line normalisation and hard wraps, for every kind of dump.

A text dump says where its paragraphs end in one of several ways: a blank line after each
(seeds 000, 001, 003), one paragraph per line without blank lines (seed 002), or a paragraph
hard-wrapped over several lines, with (seed 004) or without blank lines between paragraphs
(the English IOM dumps, where the menu, the headline and the wrapped text share one run of
lines). A line break is therefore judged by measure, not by the run it sits in:

* a run of lines that are mostly long and end without sentence punctuation, and nothing
  else, is one wrapped paragraph (joined; a short line that ends a sentence ends a
  paragraph inside it);
* elsewhere, a line is a wrapped piece when it is long, ends mid-sentence, and a neighbour
  is such a line too (wrapped text comes in stretches; a lone long line is a headline or a
  menu entry); the line after a piece continues it unless it is a list item, a date line or
  a byline;
* a headline right above wrapped text is not a piece: it is Title Case, or longer than
  the lines of the stretch below it (a hard wrap never makes a line longer than its width);
* anywhere, a line that continues in lowercase after a line that ends mid-sentence is a wrap,
  also across one blank line in a dump that puts a blank line after every line.
"""

from __future__ import annotations

import re
import unicodedata

from scrapers.boilerplate import single_line_rule
from scrapers.dates import dated_line
from scrapers.debris import carries_markup_debris
from scrapers.decide import is_typed_field_line
from scrapers.measure import ENDS_SENTENCE
from scrapers.page_tail import ends_with_time_or_date

# Soft hyphens and zero-width characters are hints for line breaking, not text: left in,
# they split the words keyword alerts look for ("mi\u00adgrants").
_INVISIBLE = re.compile("[\u00ad\u200b\u2060\ufeff]")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_SPACE_RUN = re.compile(r"\s+")  # str patterns: NBSP, thin and narrow spaces included
LINE_BREAKS = re.compile(r"\r\n?|[\u2028\u2029\x0b\x0c\x85]")

LIST_ITEM = re.compile(r"^(?:[-–—•*·▪►]|\d{1,2}[.)])(?:\s|$)")

_WRAP_MIN_LINE = 25
_WRAP_SHARE = 0.75
_PARAGRAPH_END_SHARE = 0.6
_ALONE_MAX_CHARS = 100
# A headline above wrapped text: longer than the stretch's lines by this factor.
_HEADLINE_OVER_WIDTH = 1.1
_STRETCH_LOOKAHEAD = 4
_TITLE_CASE_MIN_WORDS = 3
_TITLE_CASE_SHARE = 0.85
_TITLE_CASE_WORD_MIN = 4  # short words ("of", "in", "the") are lowercase in Title Case too
_DOUBLE_SPACED_MIN_LINES = 4
_WIDTH_WINDOW = 5
_GREEDY_MIN_WRAPS = 3
_OPENING_WORDS = 4
# A wrapped line is full: the next line's first word would not have fitted on it. Wraps
# made from a page's source (seed 004) are ragged, hence the slack.
_FITS_SHARE = 0.75
# Wrapped by a program, a line leaves room only for a word glued to the next one by a
# non-breaking space ("28\u00a0novembre"), which the text no longer shows.
_GREEDY_FITS_SHARE = 0.9
# An agency or place dateline in capitals ("APRNEWS - …", "GENEVA – …") opens a paragraph.
# So does a place dateline ("Mexique - Thomas Lothar Weiss …").
_OPENS_PARAGRAPH = re.compile(
    r"^(?:[A-Z][A-Z0-9&]{2,}(?:\s[A-Z][A-Z0-9&]{2,})?\s*[:\-–—]\s|[A-Z][\w’'.]+(?: [A-Z][\w’'.]+)? [-–—] [A-Z])"
)


def normalise_space(text: str) -> str:
    """NFC, invisible characters removed, every whitespace/NBSP run as one space, stripped."""
    text = unicodedata.normalize("NFC", _INVISIBLE.sub("", text))
    return _SPACE_RUN.sub(" ", _CONTROL.sub(" ", text)).strip()


def text_to_blocks(text: str) -> list[str]:
    """Cut a plain-text dump into blocks, one per paragraph or line-level item (the rules are
    the module's docstring). Blank lines always separate blocks, but for a lowercase
    continuation in a dump with a blank line after every line."""
    runs: list[list[str]] = []
    run: list[str] = []
    for line in LINE_BREAKS.sub("\n", text).split("\n"):
        line = normalise_space(line)
        if line:
            run.append(line)
        elif run:
            runs.append(run)
            run = []
    if run:
        runs.append(run)
    if len(runs) >= _DOUBLE_SPACED_MIN_LINES and all(len(r) == 1 for r in runs):
        # A blank line after every line says nothing of paragraphs: measure alone does.
        return unwrap([r[0] for r in runs])
    blocks: list[str] = []
    for run in runs:
        blocks.extend(unwrap(run))
    return blocks


def unwrap(lines: list[str]) -> list[str]:
    """The paragraphs of a run of lines (no blank line between them), hard wraps joined."""
    lines = [line for line in lines if line]
    if len(lines) < 2:
        return lines
    # A date line, a byline or a label is a line of its own, never a wrapped piece of the
    # headline above it ("… une embarcation" / "par France 24" / "Publié le 12/03/2024").
    alone = [_stands_alone(line) for line in lines]
    like = [not a and _is_wrap_like(line) for line, a in zip(lines, alone, strict=True)]
    whole = _is_wrapped_run([line for line, a in zip(lines, alone, strict=True) if not a])
    width = max(len(line) for line, a in zip(lines, alone, strict=True) if not a) if not all(alone) else 0
    if whole:
        pieces = [like[i] and not (i == 0 and _is_headline_above(lines, like, 0)) for i in range(len(lines))]
    else:
        pieces = _wrapped_pieces(lines, like)
    # Wrapped by a program (every wrapped line full: the next word would not have fitted)
    # or from a page's source (ragged, seed 004): the room a wrapped line may leave.
    fits_share = _GREEDY_FITS_SHARE if _is_greedy(lines, like) else _FITS_SHARE

    def joins(i: int) -> bool:
        previous, line = lines[i - 1], lines[i]
        if alone[i] or alone[i - 1] or LIST_ITEM.match(line) or _OPENS_PARAGRAPH.match(line):
            return False
        if _opening(line) == _opening(previous):
            return False  # a headline printed twice, not a wrap
        if _ends_with_hyphenated_fragment(previous) and line[0].isalpha():
            return True
        ends_sentence = bool(ENDS_SENTENCE.search(previous))
        if line[0].islower() and not ends_sentence:
            return True
        if ends_sentence:
            # Inside a paragraph wrapped alone in its run, only a short line that ends a
            # sentence ends the paragraph. Elsewhere a sentence ends a paragraph, unless the
            # line is inside a wrapped stretch and full: the next word would not have fitted.
            if whole:
                return len(previous) >= _PARAGRAPH_END_SHARE * width
            return i >= 2 and pieces[i - 2] and len(previous) + 1 + len(line.split(" ", 1)[0]) > _width(lines, like, i)
        if not pieces[i - 1] or ends_with_time_or_date(previous):
            return False  # a list item with its time or date ends there
        if whole:
            return True
        # A line with room left for the next word was not broken by the wrap.
        return len(previous) + 1 + len(line.split(" ", 1)[0]) > fits_share * _width(lines, like, i)

    return _join_where(lines, joins)


def _is_greedy(lines: list[str], like: list[bool]) -> bool:
    """The lines were wrapped by a program: at every sure wrap (a line ending mid-sentence,
    the next one going on in lowercase) the next word would not have fitted."""
    sure = [i for i in range(1, len(lines)) if like[i - 1] and lines[i][0].islower()]
    return len(sure) >= _GREEDY_MIN_WRAPS and all(
        len(lines[i - 1]) + 1 + len(lines[i].split(" ", 1)[0]) > _width(lines, like, i) for i in sure
    )


def _opening(line: str) -> str:
    return " ".join(line.casefold().split(" ", _OPENING_WORDS)[:_OPENING_WORDS])


def _width(lines: list[str], like: list[bool], i: int) -> int:
    """The wrap width around line i: its longest neighbours that end mid-sentence (a
    headline or a menu entry elsewhere in the run may be longer)."""
    window = range(max(0, i - _WIDTH_WINDOW), min(len(lines), i + _WIDTH_WINDOW))
    return max([len(lines[j]) for j in window if like[j]] or [len(lines[i - 1])])


def _join_where(lines: list[str], joins) -> list[str]:
    out = [lines[0]]
    for i in range(1, len(lines)):
        if joins(i):
            out[-1] = _join(out[-1], lines[i])
        else:
            out.append(lines[i])
    return out


def _stands_alone(line: str) -> bool:
    # a record's "Label: Value" field is a line of its own
    return (
        is_typed_field_line(line)
        or carries_markup_debris(line)
        or (len(line) <= _ALONE_MAX_CHARS and bool(dated_line(line) or single_line_rule(line)))
    )


def _is_wrap_like(line: str) -> bool:
    return len(line) >= _WRAP_MIN_LINE and not ENDS_SENTENCE.search(line) and not LIST_ITEM.match(line)


def _is_wrapped_run(lines: list[str]) -> bool:
    """The whole run is one wrapped paragraph (seed 004's runs between blank lines): mostly
    long lines ending mid-sentence, and no sentence ending a line before a capital."""
    if len(lines) < 3 or any(LIST_ITEM.match(line) for line in lines):
        return False
    if any(ENDS_SENTENCE.search(a) and b[0].isupper() for a, b in zip(lines, lines[1:], strict=False)):
        return False
    inner = lines[:-1]
    wrap_like = sum(1 for line in inner if len(line) >= _WRAP_MIN_LINE and not ENDS_SENTENCE.search(line))
    return wrap_like >= _WRAP_SHARE * len(inner)


def _wrapped_pieces(lines: list[str], like: list[bool]) -> list[bool]:
    """Per line: a piece of a wrapped paragraph, which the next line continues."""
    pieces = []
    for i in range(len(lines)):
        # Wrapped text comes in stretches: a lone long line is a headline or a menu entry,
        # unless it opens a paragraph right after another one ended.
        neighbour = (
            (i > 0 and like[i - 1])
            or (i + 1 < len(lines) and like[i + 1])
            or (0 < i < len(lines) - 1 and bool(ENDS_SENTENCE.search(lines[i - 1])))
        )
        pieces.append(like[i] and neighbour and not _is_headline_above(lines, like, i))
    return pieces


def _is_headline_above(lines: list[str], like: list[bool], i: int) -> bool:
    """A line that opens a stretch of wrapped lines but is its headline, not its first line."""
    if i > 0 and like[i - 1]:
        return False
    line = lines[i]
    below = []
    for j in range(i + 1, min(len(lines), i + 1 + _STRETCH_LOOKAHEAD)):
        if not like[j]:
            break
        below.append(len(lines[j]))
    return is_title_case(line) or (bool(below) and len(line) > _HEADLINE_OVER_WIDTH * max(below))


def is_title_case(line: str) -> bool:
    """Most of the longer words capitalised, as English headlines and menu entries are."""
    words = [w for w in re.findall(r"[^\W\d_][\w'’-]*", line) if len(w) >= _TITLE_CASE_WORD_MIN]
    if len(words) < _TITLE_CASE_MIN_WORDS:
        return False
    return sum(1 for w in words if w[0].isupper()) >= _TITLE_CASE_SHARE * len(words)


def _ends_with_hyphenated_fragment(line: str) -> bool:
    return len(line) >= 2 and line[-1] == "-" and line[-2].isalpha()


def _join(left: str, right: str) -> str:
    if _ends_with_hyphenated_fragment(left) and right[0].isalpha():
        return left + right
    return left + " " + right
