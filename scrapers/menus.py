"""Site furniture of text dumps, found by its shape: junk lines, menus, repeated lines.

* junk lines: no letter or digit; icon-sprite name runs (glued identifiers, no sentences);
  navigation phrases and paywall badges; breadcrumbs; the site profile's label lines;
* mega-menus: a heading followed by the same heading glued to its teaser text;
* adjacent duplicated lines (a menu item or a headline printed twice).
"""

from __future__ import annotations

import re

from scrapers.boilerplate import Drop
from scrapers.headline import could_be_same_headline
from scrapers.measure import ENDS_SENTENCE as _ENDS_SENTENCE
from scrapers.measure import headline_key as _headline_key
from scrapers.profiles import Profile

_GLUED_LOOKBACK = 3
_GLUED_CAPITALS_MIN = 4

_NAVIGATION = re.compile(
    r"^(?:back\s+to\s+top|top\s+of\s+page|retour\s+en\s+haut(?:\s+de\s+(?:la\s+)?page)?|haut\s+de\s+(?:la\s+)?page"
    r"|vous\s+êtes\s+ici|you\s+are\s+here|skip\s+to\s+(?:main\s+)?content|aller\s+au\s+contenu(?:\s+principal)?"
    r"|menu|main\s+menu|menu\s+principal|fermer|close|rechercher|search|recherche|accueil|home"
    r"|partager(?:\s+(?:sur|cet\s+article|la\s+page)(?:\s+\w+)?)?|share(?:\s+(?:on|this)(?:\s+\w+)?)?"
    r"|imprimer|print|lire\s+la\s+suite|read\s+more|en\s+savoir\s+plus|learn\s+more|suivez[-\s]nous|follow\s+us"
    r"|previous|next|précédent|suivant|article\s+précédent|article\s+suivant|previous\s+article|next\s+article"
    # the article's own action links and a consent banner's buttons
    r"|version\s+imprimable|printer[-\s]friendly(?:\s+version)?|tweeter|tweet|lire\s+plus\s+tard|read\s+later"
    r"|save\s+for\s+later|accepter|tout\s+accepter|accept(?:\s+all)?(?:\s+cookies)?|j['’]accepte|i\s+agree"
    r"|refuser|tout\s+refuser|decline|reject\s+all|ok,?\s+j['’]ai\s+compris|got\s+it)"
    r"\s*:?$",
    re.I,
)

_PAYWALL = re.compile(
    r"^(?:offert|gratuit|free|premium|exclusif|exclusive|abonnés?|subscribers?(?:\s+only)?"
    r"|réservé\s+aux\s+abonnés|accès\s+(?:libre|abonné)|contenu\s+(?:réservé|payant|premium|offert)"
    r"|article\s+(?:réservé\s+aux\s+abonnés|payant|offert|gratuit)|subscriber\s+(?:only|exclusive)|paid\s+content)$",
    re.I,
)

_BREADCRUMB_SEPARATOR = re.compile(r"\s[>›]\s")

# An identifier glued to others, as in an icon-sprite names line: "arrow-leftarrowarticleShowed",
# "feedMark__icon--radio", "fb-footer-iconfb-iconfb".
_GLUED_TOKEN = re.compile(
    r"[a-z][A-Z]|icon|__|--|[a-z]-[a-z]+-[a-z]",
)

_GLUED_TOKEN_MIN = 12

_SPRITE_MIN_LINE = 40

_SPRITE_GLUED_SHARE = 0.4

_LABEL_CACHE: dict[tuple[str, ...], tuple[re.Pattern, ...]] = {}


def label_patterns(profile: Profile) -> tuple[re.Pattern, ...]:
    # One pattern each: profiles write inline flags ("(?i)…"), which cannot be joined by "|".
    key = tuple(profile.label_lines)
    if key not in _LABEL_CACHE:
        _LABEL_CACHE[key] = tuple(re.compile(p, re.I) for p in key)
    return _LABEL_CACHE[key]


def junk_rule(line: str, labels: tuple[re.Pattern, ...]) -> str | None:
    """The name of the junk-line rule `line` falls under, or None."""
    if not any(c.isalnum() for c in line):
        return "no letter or digit"
    if any(label.fullmatch(line) for label in labels):
        return "site profile label"
    if len(line) <= 60:
        if _NAVIGATION.match(line):
            return "navigation phrase"
        if _PAYWALL.match(line):
            return "paywall badge"
    if len(_BREADCRUMB_SEPARATOR.findall(line)) >= 2 and not _ENDS_SENTENCE.search(line):
        return "breadcrumb"
    if _is_sprite_names(line):
        return "icon-sprite names"
    return None


def _is_sprite_names(line: str) -> bool:
    if len(line) < _SPRITE_MIN_LINE:
        return False
    glued = sum(len(token) for token in line.split() if len(token) >= _GLUED_TOKEN_MIN and _GLUED_TOKEN.search(token))
    return glued >= _SPRITE_GLUED_SHARE * len(line.replace(" ", ""))


def drop_glued_menu(lines: list[str], drop: Drop) -> list[str]:
    """Drop mega-menu entries: a heading line, then (within a few lines, a teaser blurb may
    come between) the same heading, in any case, glued to its teaser ("Qui sommes nous" /
    "Qui sommes nousL'Organisation…", "Our mission" / "OUR MISSIONThe organization…"); the
    whole entry goes. A heading in capitals glued to a sentence goes even alone."""
    doomed: set[int] = set()
    for i in range(len(lines)):
        line = lines[i]
        for back in range(1, min(_GLUED_LOOKBACK, i) + 1):
            heading = lines[i - back]
            if _is_glued_to(line, heading):
                doomed.update(range(i - back, i + 1))
                break
        else:
            if _is_capitals_glued_to_sentence(line):
                doomed.add(i)
    for i in sorted(doomed):
        drop("menu heading glued to its teaser", lines[i])
    return [line for i, line in enumerate(lines) if i not in doomed]


def _is_glued_to(line: str, heading: str) -> bool:
    """`line` is `heading` (any case) with a sentence glued to it: "nousL'…", "MISSIONThe"."""
    size = len(heading)
    return (
        len(line) > size >= 3
        and heading[-1].isalnum()
        and line[size].isupper()
        and line[size - 1].isalnum()
        and line[:size].casefold() == heading.casefold()
    )


_CAPITALS_GLUED = re.compile(r"^[^\W\d_][^\W\d_ ’'&-]*(?:[ ’'&-][^\W\d_]+)*")


def _is_capitals_glued_to_sentence(line: str) -> bool:
    """ "WHO WE AREThe International Organization …": a heading in capitals, then at once
    a capitalised word that starts a sentence."""
    match = _CAPITALS_GLUED.match(line)
    if not match:
        return False
    words = match.group(0)
    # the glue point: capitals, then one capital and a lowercase letter ("AREThe")
    for k in range(_GLUED_CAPITALS_MIN, len(words) - 1):
        head, rest = words[:k], words[k:]
        if head.isupper() and rest[0].isupper() and rest[1].islower() and _ENDS_SENTENCE.search(line):
            return len(head.replace(" ", "")) >= _GLUED_CAPITALS_MIN
    return False


def drop_adjacent_duplicates(lines: list[str], drop: Drop) -> list[str]:
    out: list[str] = []
    previous_key = None  # of the line just seen (equal to the last kept one's when dropped)
    for i, line in enumerate(lines):
        if i and could_be_same_headline(line, lines[i - 1]):
            key = _headline_key(line)
            if previous_key is None:
                previous_key = _headline_key(lines[i - 1])
            if key == previous_key:
                drop("repeated line", line)
                continue
            previous_key = key
        else:
            previous_key = None
        out.append(line)
    return out
