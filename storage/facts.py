"""The facts of an article that name its event, whatever the language it is written in.

Two versions of one event (the IOM release in English, its French copy, a wire rewrite in
Spanish) share few words but many facts: the figures (`61,517`, `61 517`, `61.517`, `61517`
are one number), the dates (`12 March`, `12 mars`, `12 de marzo`), the people and places
(`Zuwara`, `Thomas Lothar Weiss`, accent- and case-folded). Pure functions, no SQL:
`storage.stories` indexes and compares what `extract` returns.

Kinds of fact (`Fact.kind`):
  num    a figure of 10 or more, normalised: thousands separators of any convention, decimal
         commas, written-out multipliers (`3,1 millions`, `2.5 million`, `dos millones`)
  pct    a percentage (`12.5%`, `12,5 %`, `12,5 por ciento`)
  approx a figure of 1,000 or more rounded to two significant digits: a rewrite says
         "nearly 62,000" for 61,517 (a weak fact: weekly tallies round alike)
  date   a day of a month (`03-12`), written in any of the cue languages or as digits
  name   a capitalised word that is not merely the first of its sentence (a place, a person,
         an organisation, an acronym), folded
  pair   two capitalised words in a row (`lothar weiss`): a person or a place with its kind

The only words this module knows are a cue list: month names and number words in English,
French, Spanish, Italian, Portuguese and German. Names are found by capitalisation, not by
vocabulary; a line set in Title Case or capitals (a headline, a menu) gives no names.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

KINDS = ("num", "pct", "approx", "date", "name", "pair")

MONTHS: dict[str, int] = {}
for _number, _spellings in enumerate(
    (
        "january janvier enero gennaio janeiro januar jan",
        "february fevrier febrero febbraio fevereiro februar feb",
        "march mars marzo marco marz mar",
        "april avril abril aprile apr",
        "may mai mayo maggio maio",
        "june juin junio giugno junho juni jun",
        "july juillet julio luglio julho juli jul",
        "august aout agosto august aug",
        "september septembre septiembre setiembre settembre setembro sept sep",
        "october octobre octubre ottobre outubro oktober oct",
        "november novembre noviembre novembro nov",
        "december decembre diciembre dicembre dezembro dezember dec",
    ),
    start=1,
):
    for _name in _spellings.split():
        MONTHS[_name] = _number

# Written-out multipliers after a figure; "mil millones" before "mil".
MULTIPLIERS: dict[str, int] = {
    "thousand": 10**3,
    "thousands": 10**3,
    "mille": 10**3,
    "mila": 10**3,
    "mil": 10**3,
    "tausend": 10**3,
    "million": 10**6,
    "millions": 10**6,
    "millon": 10**6,
    "millones": 10**6,
    "milione": 10**6,
    "milioni": 10**6,
    "milhao": 10**6,
    "milhoes": 10**6,
    "millionen": 10**6,
    "mln": 10**6,
    "billion": 10**9,
    "billions": 10**9,
    "milliard": 10**9,
    "milliards": 10**9,
    "miliardo": 10**9,
    "miliardi": 10**9,
    "mil millones": 10**9,
    "milliarden": 10**9,
}
NUMBER_WORDS: dict[str, int] = {}
for _value, _words in enumerate(
    (
        "one un une uno una um uma ein eine",
        "two deux dos due dois zwei",
        "three trois tres tre drei",
        "four quatre cuatro quattro quatro vier",
        "five cinq cinco cinque funf",
        "six seis sei sechs",
        "seven sept siete sette sete sieben",
        "eight huit ocho otto oito acht",
        "nine neuf nueve nove neun",
        "ten dix diez dieci dez zehn",
    ),
    start=1,
):
    for _word in _words.split():
        NUMBER_WORDS[_word] = _value
for _word, _value in (("hundred", 100), ("cent", 100), ("cien", 100), ("cento", 100), ("cem", 100)):
    NUMBER_WORDS[_word] = _value
# Capitalised in English mid-sentence, yet no name: the days of the week (months are in MONTHS).
WEEKDAYS = frozenset(
    "monday tuesday wednesday thursday friday saturday sunday lundi mardi mercredi jeudi vendredi samedi "
    "dimanche lunes martes miercoles jueves viernes sabado domingo lunedi martedi mercoledi giovedi venerdi "
    "sabato domenica montag dienstag mittwoch donnerstag freitag samstag sonntag".split()
)
PERCENT_WORDS = ("per cent", "percent", "pour cent", "pourcent", "por ciento", "per cento", "por cento", "prozent")
# Lower-case particles inside a name ("Javier Duarte de Ochoa", "Ursula von der Leyen").
NAME_PARTICLES = frozenset("de del della di da do dos das van von der al el bin ibn ben".split())


@dataclass(frozen=True)
class Fact:
    kind: str  # one of KINDS
    key: str  # the normalised value: "61517", "12.5", "03-12", "lampedusa", "lothar weiss"
    text: str  # as written in the article (the first time), for explanations

    @property
    def id(self) -> int:
        return fact_id(self.kind, self.key)

    @property
    def label(self) -> str:
        return f"{self.kind} {self.key}"


def fact_id(kind: str, key: str) -> int:
    """A positive 31-bit key for the fact (4 bytes in SQLite and in `array('i')`): its kind in
    the top 3 bits, so a stored key says what kind of fact it is (`kind_of`)."""
    digest = hashlib.blake2b(f"{kind}\x1f{key}".encode(), digest_size=4).digest()
    return (KINDS.index(kind) << 28) | (int.from_bytes(digest, "little") & 0x0FFFFFFF)


def kind_of(fact: int) -> str:
    return KINDS[fact >> 28]


# ---------------------------------------------------------------------------------- text ---

_URLS = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+\.\w+", re.IGNORECASE)
_URL_ONLY = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)  # `_URLS` without an @: its costly half never matches
# Telephone numbers: a "+" and country code, or digit groups joined by dots/spaces/parentheses
# that are not thousands groups (a 4-digit group, or 7+ digits in a row).
_PHONES = re.compile(r"\+\s?\d[\d\s().\-/]{6,}\d|\(\d+\)\s?[\d\s.\-]{5,}\d|\b\d{7,}\b")
_SPACES = "\u00a0\u202f\u2009\u2007"


def fold(text: str) -> str:
    """Accents, case and compatibility forms folded: `Agadès` -> `agades`, `ＯＩＭ` -> `oim`."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _fold_in_place(text: str) -> str:
    """`fold` character by character, keeping every offset: `décembre` -> `decembre`, so the
    cue words match and the spans found point into the original text. Only the non-ASCII
    characters are looked up (most of a text is ASCII)."""
    return _NON_ASCII.sub(_fold_run, text).lower()


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_FOLDED: dict[str, str] = {}


def _fold_run(match: re.Match) -> str:
    return "".join(_FOLDED.get(c) or _fold_char(c) for c in match.group())


def _fold_char(c: str) -> str:
    folded = fold(c)
    result = folded if len(folded) == 1 else c.lower() if len(c.lower()) == 1 else "?"
    _FOLDED[c] = result
    return result


# -------------------------------------------------------------------------------- dates ----

_LOWER_WORD = re.compile(r"[a-z]+")


@functools.lru_cache(maxsize=256)
def _date_patterns(months: frozenset[str]) -> tuple[re.Pattern, re.Pattern]:
    """The day-month and month-day patterns for the month names a text has (an alternation
    of every name, tried at every word, was most of the cost of reading dates)."""
    names = "|".join(sorted(months, key=len, reverse=True))
    day_month = re.compile(
        rf"\b(\d{{1,2}})(?:st|nd|rd|th|er|º|°|\.)?(?:\s+|\s*-\s*)(?:de\s+)?({names})\.?\b"
        rf"(?:,?\s+(?:de\s+|del\s+)?(\d{{4}}))?"
    )
    month_day = re.compile(rf"\b({names})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}}))?")
    return day_month, month_day


_ISO_DATE = re.compile(r"\b((?:19|20)\d\d)-(\d\d)-(\d\d)\b")
_NUMERIC_DATE = re.compile(r"\b(\d{1,2})[/.](\d{1,2})[/.]((?:19|20)\d\d)\b")


def _month(word: str) -> int | None:
    return MONTHS.get(word.rstrip("."))


def _dates(text: str, facts: dict[int, Fact], spans: list[tuple[int, int]]) -> None:
    def add(day: int, month: int | None, match: re.Match) -> None:
        if month and 1 <= day <= 31:
            _add(facts, Fact("date", f"{month:02d}-{day:02d}", match.group().strip()))
            spans.append(match.span())

    for m in _ISO_DATE.finditer(text):
        add(int(m.group(3)), int(m.group(2)) if 1 <= int(m.group(2)) <= 12 else None, m)
    for m in _NUMERIC_DATE.finditer(text):
        first, second = int(m.group(1)), int(m.group(2))
        day, month = (second, first) if second > 12 >= first else (first, second)
        add(day, month if 1 <= month <= 12 else None, m)
    months = frozenset(w for w in set(_LOWER_WORD.findall(text)) if w in MONTHS)
    if not months:
        return
    day_month, month_day = _date_patterns(months)
    for m in day_month.finditer(text):
        add(int(m.group(1)), _month(m.group(2)), m)
    for m in month_day.finditer(text):
        if not _overlaps(m.span(), spans):
            add(int(m.group(2)), _month(m.group(1)), m)


# ------------------------------------------------------------------------------ numbers ----

_MULTIPLIER_RE = "|".join(sorted((re.escape(w) for w in MULTIPLIERS), key=len, reverse=True))
_PERCENT_RE = r"%|" + "|".join(re.escape(w) for w in PERCENT_WORDS)
# A figure: thousands groups joined by one separator kind (comma, dot, apostrophe or a space of
# any width), or plain digits; then perhaps a decimal part; then perhaps a multiplier or percent.
_NUMBER = re.compile(
    rf"(?<![\w.,'/+\-])"
    rf"(?P<int>\d{{1,3}}(?:(?P<sep>[,.'’ {_SPACES}])\d{{3}})(?:(?P=sep)\d{{3}})*|\d+)"
    rf"(?:(?P<dec>[.,])(?P<frac>\d+))?"
    rf"(?![\w/])(?!\.\d)(?!,\d)"
    rf"(?:\s*(?P<mult>{_MULTIPLIER_RE})\b)?"
    rf"(?:\s*(?P<pct>{_PERCENT_RE}))?",
    re.IGNORECASE,
)
_NUMBER_WORD_RE = "|".join(sorted(NUMBER_WORDS, key=len, reverse=True))
_WORD_NUMBER = re.compile(rf"\b({_NUMBER_WORD_RE})\s+({_MULTIPLIER_RE})\b", re.IGNORECASE)


def _figure(match: re.Match) -> tuple[Decimal, bool] | None:
    """The value of a `_NUMBER` match, and whether it was written with a multiplier."""
    whole, sep, dec, frac = match.group("int"), match.group("sep"), match.group("dec"), match.group("frac")
    if sep and whole.startswith("0"):
        return None  # "0.517": a decimal, not thousands: read below as int + frac
    digits = re.sub(r"\D", "", whole)
    if sep and sep == dec:
        return None  # "1.234.5": not a number any convention writes
    try:
        value = Decimal(f"{digits}.{frac}") if frac else Decimal(digits)
    except InvalidOperation:
        return None
    multiplier = match.group("mult")
    if multiplier:
        value *= MULTIPLIERS[fold(" ".join(multiplier.split()))]
    return value, bool(multiplier)


def _canonical(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


# The lookahead on the multipliers' first letters lets the engine skip the other words (3x faster).
_MULTIPLIER_INITIALS = "".join(sorted({c for word in MULTIPLIERS for c in (word[0], word[0].upper())}))
_MULTIPLIER_WORD = re.compile(rf"\b(?=[{_MULTIPLIER_INITIALS}])(?:{_MULTIPLIER_RE})\b", re.IGNORECASE)
_WORD_AT_END = re.compile(r"\b[^\W\d_]+\Z")


def _spelled_numbers(text: str) -> Iterator[re.Match]:
    """What `_WORD_NUMBER.finditer(text)` finds (a number word, then a multiplier), looked for
    from the multipliers, which few texts have: trying the alternation of every number word in
    every language at each word was a fifth of the time reading a text's facts took."""
    end = 0
    for multiplier in _MULTIPLIER_WORD.finditer(text):
        space = multiplier.start()
        while space > end and text[space - 1].isspace():
            space -= 1
        if space == multiplier.start():
            continue
        before = _WORD_AT_END.search(text, max(end, space - 64), space)  # number words are short
        found = _WORD_NUMBER.match(text, before.start()) if before else None
        if found:
            end = found.end()
            yield found


def _numbers(text: str, facts: dict[int, Fact], masked: list[tuple[int, int]]) -> None:
    for m in _spelled_numbers(text):
        spelled = NUMBER_WORDS[fold(m.group(1))] * MULTIPLIERS[fold(" ".join(m.group(2).split()))]
        _add_number(facts, Decimal(spelled), m.group())
    for m in _NUMBER.finditer(text):
        if _overlaps(m.span(), masked):
            continue
        parsed = _figure(m)
        if parsed is None:
            continue
        value, multiplied = parsed
        written = m.group().strip()
        if m.group("pct"):
            _add(facts, Fact("pct", _canonical(value), written))
            continue
        whole = m.group("int")
        if not multiplied and not m.group("sep") and len(whole) == 4 and 1900 <= value <= 2100 and not m.group("frac"):
            continue  # a year
        if value < 10 and not multiplied:
            continue  # small counts are in every text
        _add_number(facts, value, written)


def _add_number(facts: dict[int, Fact], value: Decimal, written: str) -> None:
    _add(facts, Fact("num", _canonical(value), written))
    if value >= 1000:
        rounded = Decimal(f"{value:.2g}".replace("e+", "E")) if value else value
        _add(facts, Fact("approx", _canonical(rounded), written))


# -------------------------------------------------------------------------------- names ----

_WORD = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*")
_POSSESSIVE = re.compile(r"['’]s$")  # Kong's, IOM’s
_ELISION = re.compile(r"^[^\W\d_]{1,2}['’]")  # l'OIM, d'Agadez, dell'Unione
_SENTENCE_END = re.compile(r"[.!?:;…\"«»“”„()\[\]|•*–—]|-\s")


def _names(text: str, facts: dict[int, Fact]) -> None:
    words = list(_WORD.finditer(text))
    breaks = _line_breaks(text, words)
    # (folded, as written, capitalised, first of its sentence, right after the previous word)
    tokens: list[tuple[str, str, bool, bool, bool]] = []
    mid_sentence: set[str] = set()
    previous_end = 0
    for m in words:
        start, written = m.start(), m.group()
        gap = text[previous_end:start]
        previous_end = m.end()
        at_break = start in breaks
        if at_break:
            tokens.append(("", "", False, True, False))
            if breaks[start]:
                continue  # a headline or a menu line: its capitals say nothing
        word = _ELISION.sub("", _POSSESSIVE.sub("", written)) if ("'" in written or "’" in written) else written
        if word != written:
            initial = False  # l'Organisation: the capital after an elision is the word's own
        else:
            initial = not tokens or at_break or (gap != " " and bool(_SENTENCE_END.search(gap)))
        capital = word[:1].isupper()
        if not capital:
            tokens.append((word, word, False, initial, gap == " " and not initial))
            continue
        folded = _fold_word(word)
        if not initial and len(folded) >= 2:
            mid_sentence.add(folded)
        tokens.append((folded, word, True, initial, gap in (" ", "\u00a0") and not initial))
    run: list[tuple[str, str]] = []
    particle: tuple[str, str] | None = None
    for folded, word, capital, initial, joined in tokens:
        if (
            capital
            and len(folded) >= 2
            and (not initial or folded in mid_sentence)
            and folded not in MONTHS
            and folded not in WEEKDAYS
        ):
            if len(folded) >= 3 or word.isupper():
                _add(facts, Fact("name", folded, word))
            if run and joined:
                run += [particle, (folded, word)] if particle else [(folded, word)]
            else:
                _flush(run, facts)
                run = [(folded, word)]
            particle = None
        elif run and joined and particle is None and folded in NAME_PARTICLES:
            particle = (folded, word)
        elif run:
            _flush(run, facts)
            run, particle = [], None
    _flush(run, facts)


@functools.lru_cache(maxsize=65536)
def _fold_word(word: str) -> str:
    return fold(word)


def _line_breaks(text: str, words: list[re.Match]) -> dict[int, bool]:
    """The offset of the first word of each line (a line starts a sentence: a capital there
    says nothing), mapped to True when the line is set in Title Case or capitals (a headline,
    a menu: none of its capitals says anything, so every word of it is listed). `words`: the
    text's `_WORD` matches (none spans a line break)."""
    breaks: dict[int, bool] = {}
    line: list[re.Match] = []
    line_end = -1  # where the line of the words in `line` ends
    for m in words:
        if m.start() > line_end:
            _mark_line(line, breaks)
            line = []
            line_end = text.find("\n", m.start())
            line_end = len(text) if line_end < 0 else line_end
        line.append(m)
    _mark_line(line, breaks)
    return breaks


def _mark_line(words: list[re.Match], breaks: dict[int, bool]) -> None:
    if words:
        headline = _headline_case(words)
        for m in words if headline else words[:1]:
            breaks[m.start()] = headline


def _flush(run: list[tuple[str, str]], facts: dict[int, Fact]) -> None:
    if len(run) < 2:
        return
    names = [(f, w) for f, w in run if f not in NAME_PARTICLES]
    for (f1, w1), (f2, w2) in zip(names, names[1:], strict=False):
        _add(facts, Fact("pair", f"{f1} {f2}", f"{w1} {w2}"))


def _headline_case(words: list[re.Match]) -> bool:
    """A line set in Title Case or capitals: capitals there say nothing about names."""
    long_words = [m.group() for m in words if len(m.group()) >= 4]
    if len(long_words) < 4:
        return False
    capitals = sum(w[0].isupper() for w in long_words)
    return capitals >= 0.6 * len(long_words)


# ------------------------------------------------------------------------------- public ----


MAX_CHARS = 15_000  # a longer text is read to here: its event is told in the first pages


def extract(body: str, title: str | None = None, *, names: bool = True) -> dict[int, Fact]:
    """Every fact of the article, by `Fact.id` (the first spelling of each is kept); without
    the names (the costliest half) if not `names`."""
    text = "\n".join(part for part in (title, body) if part)[:MAX_CHARS]
    text = (_URLS if "@" in text else _URL_ONLY).sub(" ", text)
    text = _PHONES.sub(" ", text)
    folded = _fold_in_place(text)
    facts: dict[int, Fact] = {}
    spans: list[tuple[int, int]] = []
    _dates(folded, facts, spans)
    _numbers(folded, facts, spans)
    if names:
        _names(text, facts)
    return facts


LEDE_WORDS = 15  # the lede is the first paragraph of at least this many words (not a dateline)
FIGURE_KINDS = frozenset({"num", "pct"})


def lede(body: str) -> str:
    """The article's first paragraph of running text: what a news article leads with (a
    dateline, a kicker or a label before it is skipped)."""
    for paragraph in body.split("\n\n")[:8]:
        if len(paragraph.split()) >= LEDE_WORDS:
            return paragraph
    return body[:400]


def lead_figures(body: str, title: str | None = None) -> dict[int, Fact]:
    """The figures (and their roundings) of the article's title and lede: the news it tells.
    Background (the totals since January, the member states) comes later in a news article."""
    found = extract(lede(body), title, names=False)
    return {i: f for i, f in found.items() if f.kind in FIGURE_KINDS or f.kind == "approx"}


def _overlaps(span: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    return any(start < span[1] and span[0] < end for start, end in spans)


def _add(facts: dict[int, Fact], fact: Fact) -> None:
    facts.setdefault(fact.id, fact)
