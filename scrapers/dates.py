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

# Longest names first so that "juillet" is not read as "juil" + "let".
_MONTH = "(?P<month>" + "|".join(sorted(map(re.escape, _MONTHS), key=len, reverse=True)) + r")\.?"
_WEEKDAY = (
    r"(?:lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
    r"lun|mar|mer|jeu|ven|sam|dim|mon|tue|wed|thu|fri|sat|sun)\.?,?"
)
_DAY = r"(?P<day>[0-3]?\d)(?:er|st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"

_DAY_MONTH_YEAR = re.compile(rf"(?<!\w)(?:{_WEEKDAY}\s+)?{_DAY}\s+{_MONTH}\s*,?\s+{_YEAR}(?!\d)", re.I)
_MONTH_DAY_YEAR = re.compile(rf"(?<!\w)(?:{_WEEKDAY}\s+)?{_MONTH}\s+{_DAY}\s*,\s*{_YEAR}(?!\d)", re.I)
_ISO = re.compile(r"(?<!\d)(?P<year>(?:19|20)\d\d)-(?P<month>[01]\d)-(?P<day>[0-3]\d)(?![\d])")
_NUMERIC = re.compile(r"(?<![\d/.])(?P<a>[0-3]?\d)([/.])(?P<b>[0-3]?\d)\2(?P<year>(?:19|20)\d\d)(?![\d/])")

# What may surround a date in a line that is nothing but the page's date:
# "Publié le 29/12/2023 à 10h30", "Updated: December 29, 2023 - 10:00 GMT".
_DATE_LINE_LEAD = re.compile(
    r"^(?:(?:publié|mis à jour|modifié|posté|paru|date|published|posted|updated|last updated|on|le|du)"
    r"(?:\s+(?:le|on|:))?\s*:?\s*)*",
    re.I,
)
_DATE_LINE_TAIL = re.compile(
    r"^[\s,.\-–—|]*(?:(?:à|at|a|-|–)\s*)?(?:\d{1,2}\s*[h:]\s*\d{2}(?:\s*(?:am|pm))?)?"
    r"\s*(?:[A-Z]{2,4}|UTC[+-]?\d*|GMT[+-]?\d*)?\s*[.)]?\s*$",
    re.I,
)


def parse_date(text: str, *, dayfirst: bool = True) -> str | None:
    """The first valid date written in `text`, as "YYYY-MM-DD"; None when there is none.

    Numeric dates are read day first ("03/04/2024" is 3 April) unless `dayfirst` is False;
    a first number above 12 is always a day, a second number above 12 always a day.
    """
    found = _find_dates(text, dayfirst=dayfirst)
    return found[0][2] if found else None


def date_line(text: str) -> str | None:
    """The ISO date when the whole line is a date (with its weekday, a "Publié le" lead or
    a time after it), as pages print their publication date; None for any other line."""
    line = text.strip()
    if len(line) > 80:
        return None
    lead = _DATE_LINE_LEAD.match(line)
    rest = line[lead.end():] if lead else line
    for start, end, iso in _find_dates(rest):
        if start == 0 and _DATE_LINE_TAIL.match(rest[end:]):
            return iso
    return None


def iso_date_from_meta(value: str | None) -> str | None:
    """The date part of a metadata value (article:published_time, JSON-LD datePublished,
    <time datetime>): "2023-12-29T10:00:00+01:00" -> "2023-12-29".

    The date is the one written, not converted to UTC: it is the day the page shows.
    Other written forms ("Fri, 29 Dec 2023 10:00:00 GMT", "29/12/2023") are parsed too.
    """
    if not value:
        return None
    value = value.strip()
    match = _ISO.match(value)
    if match:
        return _valid(int(match["year"]), int(match["month"]), int(match["day"]))
    return parse_date(value)


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
