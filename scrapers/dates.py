"""Dates written on pages (French and English) -> ISO 8601 dates ("YYYY-MM-DD").

A small parser on purpose: dateparser costs a noticeable import time per process and knows
hundreds of languages we never see; the sites we follow write a handful of formats:
"Vendredi, 29 décembre 2023", "29 déc. 2023", "1er janvier 2024", "December 29, 2023",
"29 Dec 2023", "29/12/2023", "2023-12-29T10:00:00+01:00".
"""

from __future__ import annotations

import datetime as _dt
import re

_MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        ("janvier", "janv", "january", "jan"),
        ("février", "fevrier", "févr", "fevr", "fév", "fev", "february", "feb"),
        ("mars", "march", "mar"),
        ("avril", "avr", "april", "apr"),
        ("mai", "may"),
        ("juin", "june", "jun"),
        ("juillet", "juil", "july", "jul"),
        ("août", "aout", "august", "aug"),
        ("septembre", "september", "sept", "sep"),
        ("octobre", "october", "oct"),
        ("novembre", "november", "nov"),
        ("décembre", "decembre", "december", "déc", "dec"),
    ),
    start=1,
):
    for _name in _names:
        _MONTHS[_name] = _number
# Full month names of the other languages of the sources' neighbours and of the corpora
# (Spanish, Italian, Portuguese, German): "5 de noviembre de 2023", "5. November 2023".
for _number, _names in enumerate(
    (
        ("enero", "gennaio", "janeiro", "januar", "jänner"),
        ("febrero", "febbraio", "fevereiro", "februar"),
        ("marzo", "março", "märz"),
        ("abril", "aprile"),
        ("mayo", "maggio", "maio"),
        ("junio", "giugno", "junho", "juni"),
        ("julio", "luglio", "julho", "juli"),
        ("agosto",),
        ("septiembre", "setiembre", "settembre", "setembro"),
        ("octubre", "ottobre", "outubro", "oktober"),
        ("noviembre", "novembro"),
        ("diciembre", "dicembre", "dezembro", "dezember"),
    ),
    start=1,
):
    for _name in _names:
        _MONTHS[_name] = _number

# Longest names first so that "juillet" is not read as "juil" + "let".
_MONTH = "(?P<month>" + "|".join(sorted(map(re.escape, _MONTHS), key=len, reverse=True)) + r")\.?"
_WEEKDAY = (
    r"(?:lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
    r"lun|mar|mer|jeu|ven|sam|dim|mon|tue|wed|thu|fri|sat|sun)\.?,?"
)
_DAY = r"(?P<day>[0-3]?\d)(?:er|st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"

_DAY_MONTH_YEAR = re.compile(
    rf"(?<!\w)(?:{_WEEKDAY}\s+)?{_DAY}\.?\s+(?:de\s+)?{_MONTH}\s*,?\s+(?:de\s+)?{_YEAR}(?!\d)", re.I
)
_MONTH_DAY_YEAR = re.compile(rf"(?<!\w)(?:{_WEEKDAY}\s+)?{_MONTH}\s+{_DAY}\s*,\s*{_YEAR}(?!\d)", re.I)
_ISO = re.compile(r"(?<!\d)(?P<year>(?:19|20)\d\d)-(?P<month>[01]\d)-(?P<day>[0-3]\d)(?![\d])")
_NUMERIC = re.compile(r"(?<![\d/.])(?P<a>[0-3]?\d)([/.])(?P<b>[0-3]?\d)\2(?P<year>(?:19|20)\d\d)(?![\d/])")

# What may surround a date in a line that is nothing but the page's date:
# "Publié le 29/12/2023 à 10h30", "Updated: December 29, 2023 - 10:00 GMT",
# "Publié le 12 mars 2024 par France 24". The lead says whether it is the publication date.
_UPDATE_LEAD = (
    r"mis(?:e)? à jour|modifié|actualisé|updated|last updated|last modified|modified|aktualisiert"
    r"|zuletzt aktualisiert|geändert|actualizado|aggiornato|atualizado|zaktualizowano"
)
_PUBLICATION_LEAD = (
    r"publié|paru|posté|mis en ligne|published|posted|first published|veröffentlicht"
    r"|erschienen|publicado|pubblicato|opublikowano"
)
_DATE_LINE_LEAD = re.compile(
    rf"^(?:(?P<kind>{_UPDATE_LEAD}|{_PUBLICATION_LEAD}|date|on|le|du|am|el|il)"
    r"(?:\s+(?:le|on|am|el|il|:))?\s*:?\s*)*",
    re.I,
)
_UPDATE = re.compile(rf"^(?:{_UPDATE_LEAD})$", re.I)
_DATE_LINE_TAIL = re.compile(
    r"^[\s,.\-–—|]*(?:(?:à|at|a las|a la|alle|às|om|a|um|-|–)\s*)?(?:\d{1,2}\s*[h:]\s*\d{2}(?:\s*(?:am|pm|uhr|h))?)?"
    r"\s*(?:[A-Z]{2,4}|UTC[+-]?\d*|GMT[+-]?\d*)?\s*[.)]?"
    r"(?:\s*[,|–—-]?\s*(?:par|by|von|por|di)\s+[^\W\d][\w.'’\- ]{0,40})?"
    # the page's other facts about the article after a bar: "| Rubrique : Société"
    r"(?:\s*[|•·]\s*[^|•·]{1,40}){0,3}\s*$",
    re.I,
)
# Where a second dated part starts in one line: "Publié le …, mis à jour le …".
_NEXT_DATE_PART = re.compile(rf"[,|•·–—-]\s*(?=(?:{_UPDATE_LEAD}|{_PUBLICATION_LEAD})\b)", re.I)
PUBLISHED, UPDATED = "published", "updated"
_EARLY_DIGIT = re.compile(r"\d")
# A date line's date starts within this many characters ("Mis à jour le mercredi 13 …").
_DATE_START_MAX = 64


def parse_date(text: str, *, dayfirst: bool = True) -> str | None:
    """The first valid date written in `text`, as "YYYY-MM-DD"; None when there is none.

    Numeric dates are read day first ("03/04/2024" is 3 April) unless `dayfirst` is False;
    a first number above 12 is always a day, a second number above 12 always a day.
    """
    if not _EARLY_DIGIT.search(text):
        return None
    found = _find_dates(text, dayfirst=dayfirst)
    return found[0][2] if found else None


def date_line(text: str) -> str | None:
    """The ISO date when the whole line is a date (with its weekday, a "Publié le" lead or
    a time after it), as pages print their publication date; None for any other line.
    A line with a publication and an update date gives the publication date."""
    found = dated_line(text)
    return found[0] if found else None


def dated_line(text: str) -> tuple[str, str | None] | None:
    """(ISO date, kind) when the whole line is a date, where kind is "published" or "updated"
    when its lead says so ("Publié le …", "Mis à jour le …") and None otherwise. A line of
    two dated parts ("Publié le …, mis à jour le …") gives the publication part."""
    line = text.strip()
    # Cheap refusals first (most lines): too long, or no digit where a date would start.
    if len(line) > 160 or not _EARLY_DIGIT.search(line, 0, _DATE_START_MAX):
        return None
    parts = []
    start = 0
    for match in _NEXT_DATE_PART.finditer(line):
        parts.append(line[start : match.start()])
        start = match.end()
    parts.append(line[start:])
    dated = []
    for part in parts:
        if (date := _dated_part(part)) is None:
            return None
        dated.append(date)
    if len(line) > 80 * len(parts):
        return None
    for iso, kind in dated:
        if kind == PUBLISHED:
            return iso, kind
    return next((d for d in dated if d[1] is None), dated[0])


def _dated_part(part: str) -> tuple[str, str | None] | None:
    part = part.strip()
    lead = _DATE_LINE_LEAD.match(part)
    rest = part[lead.end() :] if lead else part
    kind = None
    if lead and lead["kind"]:
        word = lead["kind"].casefold()
        kind = UPDATED if _UPDATE.match(word) else PUBLISHED if word not in _NEUTRAL_LEADS else None
    for start, end, iso in _find_dates(rest):
        if start == 0 and _DATE_LINE_TAIL.match(rest[end:]):
            return iso, kind
    return None


_NEUTRAL_LEADS = {"date", "on", "le", "du", "am", "el", "il"}


def _find_dates(text: str, *, dayfirst: bool = True) -> list[tuple[int, int, str]]:
    found: list[tuple[int, int, str]] = []
    for match in _DAY_MONTH_YEAR.finditer(text):
        iso = _valid(int(match["year"]), _MONTHS[match["month"].lower()], int(match["day"]))
        if iso:
            found.append((match.start(), match.end(), iso))
    for match in _MONTH_DAY_YEAR.finditer(text):
        iso = _valid(int(match["year"]), _MONTHS[match["month"].lower()], int(match["day"]))
        if iso:
            found.append((match.start(), match.end(), iso))
    for match in _ISO.finditer(text):
        iso = _valid(int(match["year"]), int(match["month"]), int(match["day"]))
        if iso:
            found.append((match.start(), match.end(), iso))
    for match in _NUMERIC.finditer(text):
        a, b = int(match["a"]), int(match["b"])
        day, month = (a, b) if (dayfirst and b <= 12) or a > 12 else (b, a)
        iso = _valid(int(match["year"]), month, day)
        if iso:
            found.append((match.start(), match.end(), iso))
    found.sort()
    return found


def _valid(year: int, month: int, day: int) -> str | None:
    try:
        return _dt.date(year, month, day).isoformat()
    except ValueError:
        return None
