"""Who wrote the article: its byline or signature, kept as `author`, never in the body.

byline     "par France 24", "By Jane Doe", "Von Anna Schmidt": a lead word and a name, on
           its own line (`scrapers.boilerplate` removes it; its name is kept here);
signature  a short name line right before or after the body: a name and an initial
           ("Marie D.", "J. Martin"), or two or three capitalised words closing the text
           ("Jean-Pierre Martin") after its last paragraph;
metadata   an HTML page's author (`<meta name="author">`, JSON-LD `author.name`), which the
           page states on purpose and comes first.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from scrapers.boilerplate import byline_name
from scrapers.measure import is_prose, units

Drop = Callable[[str, str], None]
SIGNATURE_RULE = "signature (kept as author)"

# One word of a name: "Marie", "Jean-Pierre", "O'Neill", "D." (an initial), "de"/"van" particles.
_NAME_WORD = r"(?:[^\W\d_][^\W\d_'’-]*(?:[-'’][^\W\d_]+)*\.?)"
_SIGNATURE = re.compile(rf"^(?:[—–-]\s*)?(?P<name>{_NAME_WORD}(?:\s+{_NAME_WORD}){{1,3}})\s*$")
_INITIAL = re.compile(r"(?:^|\s)[^\W\d_a-z]\.(?:\s|$)")
_PARTICLES = frozenset("de du des la le van von der den di da del dos y e".split())
_SIGNATURE_MAX_CHARS = 40


def signature_name(line: str, *, closing: bool) -> str | None:
    """The name when `line` is a signature: a name with an initial anywhere, or (`closing`:
    the line right after the text's last paragraph) two or three capitalised words."""
    if len(line) > _SIGNATURE_MAX_CHARS or units(line) > 5:
        return None
    match = _SIGNATURE.match(line)
    if not match:
        return None
    name = match["name"]
    words = name.split()
    if not all(w[0].isupper() or w.casefold() in _PARTICLES for w in words) or not words[0][0].isupper():
        return None
    if _INITIAL.search(" " + name + " "):
        return name
    named = [w for w in words if w.casefold() not in _PARTICLES]
    return name if closing and len(named) <= 3 and not name.endswith(".") else None


def take_signature(title: str | None, body: list[str], drop: Drop) -> tuple[str | None, list[str]]:
    """(author, body): a signature line right after the title or closing the body leaves it."""
    if len(body) >= 2 and is_prose(body[-2]) and (name := signature_name(body[-1], closing=True)):
        drop(SIGNATURE_RULE, body[-1])
        return name, body[:-1]
    if title and len(body) >= 2 and is_prose(body[1]) and (name := signature_name(body[0], closing=False)):
        drop(SIGNATURE_RULE, body[0])
        return name, body[1:]
    return None, body


__all__ = ["SIGNATURE_RULE", "byline_name", "signature_name", "take_signature"]
