"""The query language's lexer: a query's text into tokens (`storage.query` parses them).

Words, "phrases", operators, `title:`, `site:` and `source:`, and everything that looks like an
operator and is not one (refused with its column and what to write instead). The bounds a
query is refused past before any work grows with it (`MAX_QUERY_CHARACTERS`, `MAX_TERMS`,
`MAX_DEPTH`) are checked here.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

from core.text import inert
from errors import QuerySyntaxError

MAX_QUERY_CHARACTERS = 4000
MAX_TERMS = 200  # words and phrases
MAX_DEPTH = 10  # nested parentheses (NEAR( included)


# --------------------------------------------------------------------------------- lexing ---


@dataclass
class _Token:
    kind: str  # WORD PHRASE LPAREN RPAREN OR AND NOT MINUS NEAR COMMA FIELD SITE SOURCE END
    text: str
    pos: int  # 1-based column


_APOSTROPHES = "\u2019\u2018\u02bc\u2032`\u00b4"
_WORD_CHARS = re.compile(r'[^\s"()\[\],]+')
# `name:value`: letters, a colon, then the value (a word, or a phrase or group right after).
_OPERATOR = re.compile(r"([^\W\d_]+):(.*)", re.S)
FIELDS = {"title": "title", "intitle": "title"}  # operator -> the FTS column it restricts to
FILTERS = {"site": "SITE", "source": "SOURCE"}
# Operators of other search engines and news readers, with what to write here instead.
_FOREIGN_OPERATORS = {
    "allintitle": "title:a title:b (or title:(a b))",
    "inurl": "site:HOST for a host; words of an address are not searched",
    "allinurl": "site:HOST for a host; words of an address are not searched",
    "intext": "the word alone (it is searched in the title and the text)",
    "allintext": "the words alone (they are searched in the title and the text)",
    "before": "--since DATE (search), or a rule's query alone: alerts are for new articles",
    "after": "--since DATE (search), or a rule's query alone: alerts are for new articles",
    "daterange": "--since DATE",
    "http": 'site:HOST, or the address in quotes to search its words ("…")',
    "https": 'site:HOST, or the address in quotes to search its words ("…")',
}
_SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_PROXIMITY = re.compile(r"^(?:NEAR|W|PRE|N|AROUND)?/\d+$", re.I)
_SYMBOL_OPERATORS = {"|": "OR", "||": "OR", "&": "AND", "&&": "AND", "!": "NOT (or -word)"}


def _prepare(text: str) -> str:
    text = unicodedata.normalize("NFC", inert(text))
    text = text.translate({ord(c): "'" for c in _APOSTROPHES})
    return text.translate({ord(c): '"' for c in "\u201c\u201d\u201e\u00ab\u00bb"})


def _lex(query: str) -> list[_Token]:
    text = _prepare(query)
    if len(text) > MAX_QUERY_CHARACTERS:
        raise QuerySyntaxError(
            f"the query is {len(text):,} characters long, more than the limit of {MAX_QUERY_CHARACTERS:,}",
            query,
            MAX_QUERY_CHARACTERS + 1,
            "split it into several rules, or use prefix* and OR groups",
        )
    tokens: list[_Token] = []
    depth = 0
    i = 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif c == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise QuerySyntaxError("unclosed quote", query, i + 1, 'close the phrase with "')
            if text[end + 1 : end + 2] == "~":
                raise QuerySyntaxError(
                    '"…"~N is not how proximity is written here',
                    query,
                    end + 2,
                    "write NEAR(word word, N): the words within N words of each other",
                )
            tokens.append(_Token("PHRASE", text[i + 1 : end], i + 1))
            i = end + 1
        elif c in "()":
            depth += 1 if c == "(" else -1
            if depth > MAX_DEPTH:
                raise QuerySyntaxError(
                    f"parentheses nested more than {MAX_DEPTH} deep (the limit)", query, i + 1, "flatten the groups"
                )
            tokens.append(_Token("LPAREN" if c == "(" else "RPAREN", c, i + 1))
            i += 1
        elif c == ",":
            tokens.append(_Token("COMMA", c, i + 1))
            i += 1
        elif c in "[]":
            raise QuerySyntaxError(f"unexpected {c!r}", query, i + 1, "group with ( and )")
        elif (
            c == "-"
            and i + 1 < len(text)
            and not text[i + 1].isspace()
            and (not tokens or text[i - 1].isspace() or text[i - 1] == "(")
        ):
            tokens.append(_Token("MINUS", c, i + 1))
            i += 1
        else:
            m = _WORD_CHARS.match(text, i)
            assert m is not None  # text[i] is none of the characters handled above
            tokens += _word_tokens(m.group(), i + 1, text[m.end() : m.end() + 1], query)
            i = m.end()
    words = [t for t in tokens if t.kind in ("WORD", "PHRASE")]
    if len(words) > MAX_TERMS:
        raise QuerySyntaxError(
            f"the query has {len(words):,} words and phrases, more than the limit of {MAX_TERMS}",
            query,
            words[MAX_TERMS].pos,
            "split it into several rules, or use prefix* and OR groups",
        )
    tokens.append(_Token("END", "", len(text) + 1))
    return tokens


def _word_tokens(word: str, pos: int, after: str, query: str) -> list[_Token]:
    """The token(s) of one run of word characters at column `pos`; `after`: the character
    right after it. What looks like an operator but is none is refused here, with its column."""
    if word in ("OR", "AND", "NOT"):
        return [_Token(word, word, pos)]
    if word == "NEAR" and after == "(":
        return [_Token("NEAR", word, pos)]
    if word.casefold() in ("or", "and", "not"):
        upper = word.upper()
        raise QuerySyntaxError(
            f"{word!r} in lower case: operators are written in capitals",
            query,
            pos,
            f'write {upper} for the operator, or put the word in a phrase to search it, e.g. "l\'{word} noir"'
            if word.casefold() == "or"
            else f"write {upper} for the operator, or put the word in a phrase to search it",
        )
    if word.casefold() in ("near", "around") and (after == "(" or word == "NEAR"):
        raise QuerySyntaxError(
            f"{word} is not written that way here",
            query,
            pos,
            "write NEAR(word word, N) in capitals, the words in the parentheses",
        )
    if _PROXIMITY.match(word) or word.upper().startswith("NEAR/"):
        raise QuerySyntaxError(f"{word!r} is not how proximity is written here", query, pos, "write NEAR(word word, N)")
    if word in _SYMBOL_OPERATORS or "|" in word:
        symbol = word if word in _SYMBOL_OPERATORS else "|"
        raise QuerySyntaxError(
            f"{symbol!r} is not an operator here",
            query,
            pos + word.index(symbol),
            f"write {_SYMBOL_OPERATORS[symbol]}, with spaces around it",
        )
    if "~" in word:
        raise QuerySyntaxError(
            "'~' (fuzzy or proximity search) is not part of this language",
            query,
            pos + word.index("~"),
            "a word already finds its singular and plural; use prefix* for other endings, NEAR(a b, N) for proximity",
        )
    if "?" in word.rstrip("?"):
        raise QuerySyntaxError(
            "'?' is not a wildcard here", query, pos + word.index("?"), "write a prefix as migr* (one end only)"
        )
    m = _OPERATOR.fullmatch(word)
    if m is None:
        return [_Token("WORD", word, pos)]
    name, value = m.group(1).casefold(), m.group(2)
    value_pos = pos + len(m.group(1)) + 1
    if name in FIELDS or name in FILTERS:
        if not value and after not in ('"', "("):
            raise QuerySyntaxError(
                f"{m.group(1)}: needs its value right after the colon",
                query,
                value_pos,
                f"no space: {name}:passeurs" if name in FIELDS else f"no space: {name}:{_EXAMPLES[name]}",
            )
        if name in FIELDS:
            field = [_Token("FIELD", FIELDS[name], pos)]
            return field + (_word_tokens(value, value_pos, after, query) if value else [])
        if not value:
            raise QuerySyntaxError(
                f"{name}: takes a value, not a phrase or a group", query, value_pos, f"e.g. {name}:{_EXAMPLES[name]}"
            )
        return [_Token(FILTERS[name], _filter_value(name, value, value_pos, query), pos)]
    if not value and after not in ('"', "("):
        return [_Token("WORD", word, pos)]  # "Calais:" is a word with a colon after it, not an operator
    hint = _FOREIGN_OPERATORS.get(name)
    raise QuerySyntaxError(
        f"unknown operator {m.group(1)}:",
        query,
        pos,
        (hint + "; the operators here are title:, intitle:, site: and source:")
        if hint
        else "the operators here are title: (or intitle:), site: and source:; "
        f'to search these words, quote them: "{word}"',
    )


_EXAMPLES = {"site": "iom.int", "source": "iom-fr"}


def _filter_value(name: str, value: str, pos: int, query: str) -> str:
    """A `site:` host (lower-case, with an optional port and path) or a `source:` name, checked."""
    if name == "source":
        if not _SOURCE_NAME.match(value):
            raise QuerySyntaxError(
                f"{value!r} is not a source name", query, pos, "source names are letters, digits, . _ -: source:iom-fr"
            )
        return value
    parts = urlsplit("//" + value.removeprefix("http://").removeprefix("https://"))
    try:
        host, port = parts.hostname or "", parts.port
    except ValueError:
        host, port = "", None
    if not host or ("." not in host and host != "localhost") or not re.fullmatch(r"[\w.-]+", host):
        raise QuerySyntaxError(
            f"{value!r} is not a host name", query, pos, "site: takes a host such as iom.int (or iom.int/fr)"
        )
    return host.removeprefix("www.") + (f":{port}" if port else "") + parts.path.rstrip("/")
