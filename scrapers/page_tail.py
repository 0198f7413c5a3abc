"""What follows an article on its page: comment sections, comment rules and forms, and
lists of the site's other items (other videos, other articles).

All of it comes after the article's running text, so each rule acts only once most of that
text is behind it (a page that opens with a comment count or a list of links is not cut):

  comment section   from a comment heading ("Commentaires", "3 réactions", "Réagir à cet
                    article", "Leave a reply") or a run of commenter lines (a name and a
                    date/time) to the end;
  comment rules     a short line that speaks of comments and their rules ("Les commentaires
                    sont modérés…", "Comments are moderated…"), to the end;
  other items       a run of three or more short titles, each with a time or a date (on its
                    line, or on the line under it), and the short heading above the run.

Structure comes first: a list of other items is found by its shape, in any language; the cue
words of comment headings and rules are a fallback, in the languages of the sources and of the
corpora the rules are measured on.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from scrapers.dates import date_line, parse_date
from scrapers.measure import is_prose, units

Drop = Callable[[str, str], None]

_COMMENTS_HEADING = re.compile(
    r"^(?:\d+\s+)?(?:commentaires?|réactions?|comments?|kommentare?|comentarios?|commenti|komentarze?|reacties"
    r"|reageren|réagir|réagissez)\b(?:\s*\(\d+\))?\s*:?$"
    r"|^(?:laisser|laissez|ajouter|écrire|poster|publier|voir|afficher|lire)(?: un| les| vos)?"
    r" (?:commentaires?|réactions?)\b.{0,30}$"
    r"|^(?:leave|post|add|write|view|show|load|read|join)(?: a| the| your| all| \d+)?"
    r" (?:comments?|reply|discussion|conversation)\b.{0,30}$"
    r"|^(?:schreibe(?:n sie)?|kommentar) (?:einen )?(?:kommentar|verfassen|schreiben)\b.{0,30}$"
    r"|^(?:deja|dejar|escribe) (?:un |tu )?comentario\b.{0,30}$|^lascia un commento\b.{0,30}$"
    r"|^dodaj komentarz\b.{0,30}$|^(?:donnez|donner) votre avis\b.{0,30}$"
    r"|^(?:réagir|réagissez|react|respond|reply|reaccione|reaccionar|kommentieren sie)"
    r" (?:à|to|a) (?:cet|l['’]|this|este|el) ?(?:article|artículo|story|post|info)\b.{0,20}$"
    r"|^\d+\s+(?:commentaires?|réactions?|comments?|kommentare?|comentarios|commenti|responses|replies)\b.{0,20}$",
    re.I,
)
# "Marie D., le 12/03/2024 à 10h15", "John Smith says: March 3, 2024 at 10:15 am",
# "jean-pierre 12 mars 2024 à 10:15": a name, then a date (and time), nothing else.
_COMMENTER_NAME = re.compile(
    r"^[\w.'’@\- ]{2,40}?(?:,|\s+(?:says|said|dit|a écrit|schreibt|escribió|scrive)\s*:?)?\s+(?=\S)", re.I
)
_COMMENTER_MAX_UNITS = 14
_COMMENTERS_MIN = 2
_COMMENT_WORD = re.compile(
    r"\b(?:comment(?:s|aires?)?|réactions?|kommentare?|comentarios?|comment[io]|komentarz[ey]?|reacties)\b", re.I
)
_COMMENT_RULES = re.compile(
    r"\b(?:mod[ée]r|moderat|charte|rules|règles|guidelines|netiquette|respect|insult|diffamat|conditions"
    r"|richtlinien|regeln|normas|reglas|regole|regulamin)",
    re.I,
)
_COMMENT_RULES_MAX_UNITS = 40
# A comment heading cuts the text only once this share of the running text is behind it.
_COMMENTS_AFTER_PROSE_SHARE = 0.5


def _is_commenter_line(line: str) -> bool:
    if units(line) > _COMMENTER_MAX_UNITS or is_prose(line.rstrip(".")) or date_line(line):
        return False
    name = _COMMENTER_NAME.match(line)
    if not name or not name.group(0).strip(" ,")[:1].isalpha():
        return False
    rest = line[name.end() :]
    return bool(parse_date(rest)) and not parse_date(name.group(0))


def cut_page_tail(lines: list[str], drop: Drop) -> list[str]:
    """The lines without what follows the article (see the module)."""
    prose_total = sum(units(line) for line in lines if is_prose(line))
    if not prose_total:
        return lines
    behind = 0
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if behind >= _COMMENTS_AFTER_PROSE_SHARE * prose_total:
            rule = _comment_rule(lines, i)
            if rule:
                for dropped in lines[i:]:
                    drop(rule, dropped)
                return out
            end = _item_list_end(lines, i)
            if end:
                if out and _is_list_heading(out[-1]):
                    drop(_ITEM_LIST_RULE, out.pop())
                for dropped in lines[i:end]:
                    drop(_ITEM_LIST_RULE, dropped)
                i = end
                continue
        if is_prose(line):
            behind += units(line)
        out.append(line)
        i += 1
    return out


def _comment_rule(lines: list[str], i: int) -> str | None:
    line = lines[i]
    size = units(line)
    if size <= 8 and _COMMENTS_HEADING.match(line):
        return "comment section"
    if _is_commenter_line(line) and sum(_is_commenter_line(x) for x in lines[i + 1 :]) + 1 >= _COMMENTERS_MIN:
        return "comment section"
    if size <= _COMMENT_RULES_MAX_UNITS and _COMMENT_WORD.search(line) and _COMMENT_RULES.search(line):
        return "comment rules and form"
    return None


_ITEM_LIST_RULE = "list of other items (titles with times or dates)"
_ITEM_TITLE_MAX_UNITS = 20
_ITEM_LIST_MIN = 3
_LIST_HEADING_MAX_UNITS = 5
# A time or a date closing a line: "… saturé 02:14", "… 14 Sep 2024", "… 12/09/2024 à 18h05".
_TIME_AT_END = re.compile(r"(?:^|\s|[(|–—-])(?:\d{1,2}:)?\d{1,2}[:h]\d{2}\)?\s*$")


def ends_with_time_or_date(line: str) -> bool:
    if _TIME_AT_END.search(line):
        return True
    tail = line[-30:]
    return bool(parse_date(tail)) and not is_prose(line)


def _is_mark_only(line: str) -> bool:
    return bool(_TIME_AT_END.fullmatch(" " + line) or date_line(line))


def _item_list_end(lines: list[str], i: int) -> int:
    """The end of a run of other items starting at line i (three at least), or 0."""
    items = 0
    j = i
    while j < len(lines):
        line = lines[j]
        if is_prose(line) or units(line) > _ITEM_TITLE_MAX_UNITS:
            break
        if _is_mark_only(line):
            j += 1  # a stray time or date between items
            continue
        if ends_with_time_or_date(line):
            items += 1
            j += 1
        elif j + 1 < len(lines) and _is_mark_only(lines[j + 1]):
            items += 1
            j += 2
        else:
            break
    return j if items >= _ITEM_LIST_MIN else 0


def _is_list_heading(line: str) -> bool:
    return units(line) <= _LIST_HEADING_MAX_UNITS and not is_prose(line) and not ends_with_time_or_date(line)
