"""The query language shared by `newswatch search` and the alert rules.

    migrants passeurs          both words (AND is implicit; `AND` may be written)
    "traite des êtres humains" an exact phrase (still case-, accent-, apostrophe-insensitive)
    Frontex OR Europol         either
    migration NOT Mexique      exclusion; `-Mexique` is the same
    migr*                      prefix
    NEAR(passeurs Manche, 10)  the words within 10 words of each other (default 10)
    (a OR b) c                 grouping
    title:passeurs             in the title only (`intitle:` is the same); title:"…", title:(a OR b)
    site:iom.int               only articles whose link is on that host (or a subdomain; `www.`
                               ignored; site:iom.int/fr a path too); -site:x leaves them out
    source:iom-fr              only articles of that source; -source:x leaves them out

Operators are upper-case. What looks like an operator and is not one is refused, with its
column and what to write instead, never searched as words (a rule that silently never
matches is worse than an error): a lower-case `or`, `and` or `not` (`or` is also a French
word: quote it, "l'or noir"), another `name:value` operator (`inurl:`, `allintitle:`,
`before:`...), proximity written otherwise (`"a b"~3`, `a NEAR/3 b`, `a W/3 b`,
`AROUND(3)`), fuzzy `word~`, `?` wildcards, `|`, `&&`, `!`. A leading `+` (`+migrants`)
means the word itself: every word is required already. `site:` and `source:` restrict the
whole query: they stand outside parentheses and OR, beside at least one word to find. Matching is case-, accent- and
apostrophe-insensitive (’ and ' are the same; NBSP is a space): the FTS5 tokenizer
`unicode61 remove_diacritics 2` does it on both sides. The ligatures œ and æ, which that
tokenizer keeps as letters, match their spelled-out forms both ways (`oeuvre` finds `œuvre`).
A bare word also finds its French (and simple English) singular/plural: migrant ↔ migrants,
travail ↔ travaux, journal ↔ journaux, bateau ↔ bateaux, country ↔ countries — by listing
those forms, not by a prefix, so `passeur` does not find `passeurelle`. Phrases and prefixes are taken as written.

`parse(text) -> Query` (its `.fts` is the FTS5 MATCH expression, its `.restriction` the
`site:` and `source:` filters, `.admits(source, url)` their test) raises `QuerySyntaxError`
with the 1-based column and a hint. Where SQL runs a query, the filters are the SQL function
`newswatch_admits(query, source, url)` (`register_functions(conn)`).
A query is bounded (`MAX_QUERY_CHARACTERS`, `MAX_TERMS`,
`MAX_DEPTH`, `MAX_NEAR_TERMS`): past a limit it is refused, in one line naming the limit,
before any work that grows faster than its length (FTS5's NEAR costs the square of its
terms, a highlighted snippet the product of terms and text); exclusions compile flat
(`a NOT (b OR c)`), so their number never deepens the FTS5 expression. The archive's search
(`storage.archive.Archive.search`) and the alert rules' matcher (`alerts.match.BatchIndex`)
both run the compiled expression.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import product
from urllib.parse import urlsplit

from core.text import MARK_END, MARK_START, inert, snippet_around
from errors import QuerySyntaxError

# The archive's full-text tokenizer (accents and case folded): queries are compiled for it.
FTS_TOKENIZE = "unicode61 remove_diacritics 2"
DEFAULT_NEAR = 10
_MAX_NEAR_COMBINATIONS = 64
MAX_QUERY_CHARACTERS = 4000
MAX_TERMS = 200  # words and phrases
MAX_DEPTH = 10  # nested parentheses (NEAR( included)
MAX_NEAR_TERMS = 8


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


# -------------------------------------------------------------------------------- parsing ---


@dataclass(frozen=True)
class Term:
    words: tuple[str, ...]  # folded tokens; several = a phrase
    prefix: bool = False
    phrase: bool = False  # written in quotes: no plural expansion


@dataclass(frozen=True)
class Near:
    terms: tuple[Term, ...]
    distance: int


@dataclass(frozen=True)
class And:
    include: tuple[Node, ...]
    exclude: tuple[Node, ...] = ()


@dataclass(frozen=True)
class Or:
    options: tuple[Node, ...]


@dataclass(frozen=True)
class Field:
    """`title:…`: the node matched in one column of the index."""

    column: str
    node: Node


# A parsed query: a tree of these.
Node = Term | Near | And | Or | Field


@dataclass(frozen=True)
class Restriction:
    """The `site:` and `source:` filters of a query: an article passes when its link is on
    one of `sites` (if any) and on none of `not_sites`, and its source is one of `sources`
    (if any) and none of `not_sources`. A site is `host[:port][/path]`, `www.` left out."""

    sites: tuple[str, ...] = ()
    not_sites: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    not_sources: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.sites or self.not_sites or self.sources or self.not_sources)

    def admits(self, source: str | None, url: str | None) -> bool:
        if self.sources and source not in self.sources:
            return False
        if source in self.not_sources:
            return False
        if self.sites or self.not_sites:
            on = [site for site in (*self.sites, *self.not_sites) if _on_site(url, site)]
            if self.sites and not any(site in self.sites for site in on):
                return False
            if any(site in self.not_sites for site in on):
                return False
        return True


def _on_site(url: str | None, site: str) -> bool:
    """Whether `url` is on `site` (`host[:port][/path]`): the host or a subdomain of it (`www.`
    ignored), the same port if one is given, and under the path if one is given."""
    if not url:
        return False
    try:
        parts = urlsplit(url)
        host, port = (parts.hostname or "").removeprefix("www."), parts.port
    except ValueError:
        return False
    want = urlsplit("//" + site)
    want_host = want.hostname or ""
    if host != want_host and not host.endswith("." + want_host):
        return False
    if want.port is not None and port != want.port:
        return False
    path = want.path
    return not path or parts.path == path or parts.path.startswith(path + "/")


@dataclass
class Query:
    text: str
    node: Node
    restriction: Restriction = field(default_factory=Restriction)
    fts: str = field(init=False)

    def __post_init__(self):
        self.fts = _compile(self.node)

    def admits(self, source: str | None, url: str | None) -> bool:
        """Whether an article of `source` at `url` passes the query's `site:`/`source:` filters."""
        return self.restriction.admits(source, url)


def fold(text: str) -> str:
    """Case, accents, NFKC folded: what the FTS tokenizer compares."""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    return "".join(c for c in text if not unicodedata.combining(c))


_TOKEN = re.compile(r"\w+")


def _term(token: _Token, query: str) -> Term:
    raw = token.text
    if token.kind == "PHRASE":
        words = tuple(_TOKEN.findall(fold(raw)))
        if not words:
            raise QuerySyntaxError("empty phrase", query, token.pos, "put words between the quotes")
        return Term(words, phrase=True)
    prefix = raw.endswith("*")
    body = raw.rstrip("*")
    if "*" in body:
        raise QuerySyntaxError("'*' only ends a word", query, token.pos + body.index("*"), "write a prefix as migr*")
    words = tuple(_TOKEN.findall(fold(body)))
    if not words:
        raise QuerySyntaxError(
            f"{raw!r} has no letters or digits",
            query,
            token.pos,
            'search words, "phrases", OR, NOT, prefix*, NEAR(a b, 5)',
        )
    return Term(words, prefix=prefix)


class _Parser:
    def __init__(self, query: str):
        self.query = query
        self.tokens = _lex(query)
        self.i = 0
        self.depth = 0  # inside how many parentheses (NEAR's included)
        self.filters: list[tuple[_Token, bool]] = []  # site:/source: tokens, and whether excluded
        self.top_or = False  # OR at the top level: no site:/source: then

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def error(self, message: str, hint: str = "", token: _Token | None = None):
        raise QuerySyntaxError(message, self.query, (token or self.tok).pos, hint)

    def parse(self) -> tuple[Node, Restriction]:
        if self.tok.kind == "END":
            self.error("empty query", "give at least one word")
        node = self.or_expr()
        if self.tok.kind == "RPAREN":
            self.error("unmatched ')'", "remove it or add '(' before")
        if self.tok.kind != "END":
            self.error(f"unexpected {self.tok.text!r}")
        if self.filters and self.top_or:
            self.error(
                f"{self.filters[0][0].kind.lower()}: restricts the whole query, not one side of OR",
                "group the rest: site:iom.int (passeurs OR traite)",
                self.filters[0][0],
            )
        chosen: dict[tuple[str, bool], list[str]] = {}
        for token, excluded in self.filters:
            chosen.setdefault((token.kind, excluded), []).append(token.text)

        def of(kind: str, excluded: bool) -> tuple[str, ...]:
            return tuple(dict.fromkeys(chosen.get((kind, excluded), [])))

        return node, Restriction(of("SITE", False), of("SITE", True), of("SOURCE", False), of("SOURCE", True))

    def filter(self, token: _Token, excluded: bool) -> None:
        """A site: or source: token: only at the top level, outside parentheses."""
        if self.depth:
            self.error(
                f"{token.kind.lower()}: restricts the whole query, it cannot be inside parentheses or NEAR",
                "write it at the top level: site:iom.int (passeurs OR traite)",
                token,
            )
        self.filters.append((token, excluded))
        self.i += 1

    def or_expr(self):
        options = [self.and_expr()]
        while self.tok.kind == "OR":
            self.i += 1
            options.append(self.and_expr())
        self.top_or = self.top_or or (self.depth == 0 and len(options) > 1)
        return options[0] if len(options) == 1 else Or(tuple(options))

    def and_expr(self):
        start = self.tok
        include: list[Node] = []
        exclude: list[Node] = []
        filters = len(self.filters)
        while self.tok.kind not in ("END", "OR", "RPAREN", "COMMA"):
            if self.tok.kind == "AND":
                if not include and not exclude and len(self.filters) == filters:
                    self.error("AND needs a word before it")
                self.i += 1
                if self.tok.kind in ("END", "OR", "RPAREN"):
                    self.error("AND needs a word after it")
                continue
            if self.tok.kind in ("NOT", "MINUS"):
                op = self.tok
                self.i += 1
                if self.tok.kind in ("END", "OR", "RPAREN", "AND", "NOT", "MINUS", "COMMA"):
                    self.error(f"{op.text} needs a word after it", "e.g. migration NOT Mexique", op)
                if self.tok.kind in ("SITE", "SOURCE"):
                    self.filter(self.tok, excluded=True)
                else:
                    exclude.append(self.primary())
            elif self.tok.kind in ("SITE", "SOURCE"):
                self.filter(self.tok, excluded=False)
            else:
                include.append(self.primary())
        if not include and len(self.filters) > filters:
            self.error(
                "site: and source: restrict a search: give at least one word to find as well",
                "e.g. site:iom.int migrants",
                self.filters[filters][0],
            )
        if not include and not exclude:
            after_or = self.i > 0 and self.tokens[self.i - 1].kind == "OR"
            if self.tok.kind == "OR" or after_or:
                self.error("OR needs a word on each side", "e.g. Frontex OR Europol")
            self.error(f"expected a word, found {self.tok.text or 'the end'!r}")
        if not include:
            self.error("a query cannot only exclude", "add a word to find, e.g. migration NOT Mexique", start)
        if len(include) == 1 and not exclude:
            return include[0]
        return And(tuple(include), tuple(exclude))

    def primary(self):
        tok = self.tok
        if tok.kind == "LPAREN":
            self.i += 1
            if self.tok.kind == "RPAREN":
                self.error("empty parentheses")
            self.depth += 1
            node = self.or_expr()
            self.depth -= 1
            if self.tok.kind != "RPAREN":
                self.error("missing ')'", f"close the group opened at column {tok.pos}")
            self.i += 1
            return node
        if tok.kind in ("WORD", "PHRASE"):
            self.i += 1
            return _term(tok, self.query)
        if tok.kind == "NEAR":
            return self.near()
        if tok.kind == "FIELD":
            self.i += 1
            if self.tok.kind not in ("WORD", "PHRASE", "LPAREN", "NEAR", "FIELD"):
                self.error(
                    f"{tok.text}: needs a word, a phrase or a group right after it",
                    f'e.g. {tok.text}:passeurs, {tok.text}:"traite des êtres humains" or {tok.text}:(a OR b)',
                )
            return Field(tok.text, self.primary())
        if tok.kind == "RPAREN":
            self.error("unmatched ')'")
        self.error(f"unexpected {tok.text!r}")

    def near(self):
        start = self.tok
        self.i += 2  # NEAR (
        terms = []
        if self.tok.kind in ("FIELD", "SITE", "SOURCE"):
            self.error(
                f"{self.tok.text if self.tok.kind == 'FIELD' else self.tok.kind.lower()}: cannot be inside NEAR(...)",
                "put title: before NEAR: title:NEAR(a b, 5); site: and source: at the top level",
            )
        while self.tok.kind in ("WORD", "PHRASE"):
            term = _term(self.tok, self.query)
            if term.prefix and len(term.words) > 1:
                self.error("prefix in a phrase")
            terms.append(term)
            self.i += 1
        distance = DEFAULT_NEAR
        if self.tok.kind == "COMMA":
            self.i += 1
            if self.tok.kind != "WORD" or not self.tok.text.isdigit():
                self.error("NEAR distance must be a whole number", "e.g. NEAR(passeurs Manche, 10)")
            distance = int(self.tok.text)
            self.i += 1
        if self.tok.kind != "RPAREN":
            self.error("NEAR(...) takes words or phrases, then an optional ', N'", "e.g. NEAR(passeurs Manche, 10)")
        self.i += 1
        if len(terms) < 2:
            self.error("NEAR needs at least two words", "e.g. NEAR(passeurs Manche, 10)", start)
        if len(terms) > MAX_NEAR_TERMS:
            self.error(
                f"NEAR takes at most {MAX_NEAR_TERMS} words or phrases (the limit)",
                "split it into several NEAR groups",
                start,
            )
        return Near(tuple(terms), distance)


def parse(text: str) -> Query:
    node, restriction = _Parser(text).parse()
    return Query(text, node, restriction)


@lru_cache(maxsize=256)
def _parsed(text: str) -> Query | None:
    try:
        return parse(text)
    except QuerySyntaxError:
        return None


def admits_sql(text: str | None, source: str | None, url: str | None) -> int:
    """`newswatch_admits(query, source, url)` in SQL: 1 when the article passes the query's
    `site:`/`source:` filters (a query without them, or one that does not parse, admits all:
    its MATCH is where it fails)."""
    query = _parsed(text or "")
    return 1 if query is None or query.admits(source, url) else 0


# What SNIPPET_SQL highlights with: core.text's private-use markers, as SQL literals.
SNIPPET_MARKS = f"char({ord(MARK_START)}), char({ord(MARK_END)})"


def snippet_sql(highlighted: str | None, words: int, start: str, end: str) -> str:
    """`newswatch_snippet(highlight(fts, column, <SNIPPET_MARKS>), words, start, end)` in SQL:
    the text around its first match on one line, a matched phrase never cut, the match between
    `start` and `end` (core.text.snippet_around). FTS5's own snippet() cuts a phrase at the
    window's edge and keeps the text's newlines."""
    return snippet_around(highlighted, int(words)).replace(MARK_START, start).replace(MARK_END, end)


def register_functions(conn) -> None:
    """The query language's SQL functions on a connection: `newswatch_admits`, `newswatch_snippet`."""
    conn.create_function("newswatch_admits", 3, admits_sql, deterministic=True)
    conn.create_function("newswatch_snippet", 4, snippet_sql, deterministic=True)


# ------------------------------------------------------------------------------ compiling ---

# Singular words ending in -s/-x whose "singular" would be another word (mois → moi).
_INVARIABLE = frozenset(
    """
pays fois mois temps corps bras prix voix choix croix paix noix poids avis acces succes proces
progres repas discours secours recours cours concours parcours ours dos gros bas pas tres apres
depuis plus moins sous sans dans vers alors lors ailleurs toujours jamais parfois hors tous
refus abus virus bus campus consensus news series species
""".split()
)


def word_forms(word: str) -> list[str]:
    """The word and its singular/plural forms (folded), most likely first.

    French: -s/-x plurals, -al/-ail → -aux, -eau/-eu/-au → -x; English: -ies ↔ -y.
    Words of three letters or fewer, and digits, are left alone.
    """
    forms = [word]
    if len(word) <= 3 or not word.isalpha() or word in _INVARIABLE:
        return forms

    def add(*candidates):
        for c in candidates:
            if len(c) >= 3 and c not in forms:
                forms.append(c)

    if word.endswith("aux"):
        add(word[:-3] + "al", word[:-3] + "ail", word[:-1])  # journaux, travaux; tuyaux → tuyau
    elif word.endswith(("eaux", "eux", "oux")):
        add(word[:-1])
    elif word.endswith("ies") and len(word) > 4:
        add(word[:-3] + "y", word[:-1])
    elif word.endswith(("s", "x", "z")):
        if word.endswith("s") and not word.endswith("ss"):
            add(word[:-1])
    else:
        if word.endswith("al"):
            add(word[:-2] + "aux", word + "s")
        elif word.endswith("ail"):
            add(word + "s", word[:-3] + "aux")
        elif word.endswith(("eau", "au", "eu")):
            add(word + "x", word + "s")
        elif word.endswith("y") and word[-2] not in "aeiou":
            add(word + "s", word[:-1] + "ies")
        else:
            add(word + "s")
    return forms


def _quote(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def _phrase(term: Term) -> str:
    text = _quote(" ".join(term.words))
    return text + " *" if term.prefix else text


# The French ligatures are letters of their own for the FTS tokenizer (no Unicode
# decomposition turns œ into oe), and French keyboards rarely type them: a query word is
# matched written both ways (`oeuvre` <-> `œuvre`, `coeur`, `soeur`, `Oedipe`, `ex aequo`).
# Done on the query side, so the stored index (and every archive already built) stays as it is.
_LIGATURES = {"oe": "œ", "ae": "æ"}
_SPELLED_OUT = str.maketrans({"œ": "oe", "æ": "ae"})
_LIGATURE_PAIR = re.compile("|".join(_LIGATURES))
_MAX_LIGATURE_VARIANTS = 8
_MAX_PHRASE_VARIANTS = 16


def ligature_variants(word: str) -> list[str]:
    """`word` (folded) with each oe/œ and ae/æ written both ways; the word itself first."""
    spelled = word.translate(_SPELLED_OUT)
    spots = [m for m in _LIGATURE_PAIR.finditer(spelled)]
    variants = [word]
    for chosen in product((False, True), repeat=min(len(spots), 3)):
        out, last = [], 0
        for m, ligature in zip(spots, chosen, strict=False):
            out += [spelled[last : m.start()], _LIGATURES[m.group()] if ligature else m.group()]
            last = m.end()
        variant = "".join(out) + spelled[last:]
        if variant not in variants:
            variants.append(variant)
        if len(variants) >= _MAX_LIGATURE_VARIANTS:
            break
    return variants


def _term_options(term: Term) -> list[str]:
    if term.phrase or term.prefix or len(term.words) > 1:
        options = []
        for words in product(*(ligature_variants(w) for w in term.words)):
            options.append(_phrase(Term(words, phrase=term.phrase, prefix=term.prefix)))
            if len(options) >= _MAX_PHRASE_VARIANTS:
                break
        return options
    return list(
        dict.fromkeys(_quote(variant) for form in word_forms(term.words[0]) for variant in ligature_variants(form))
    )


def _compile(node) -> str:
    if isinstance(node, Term):
        options = _term_options(node)
        return options[0] if len(options) == 1 else "(" + " OR ".join(options) + ")"
    if isinstance(node, Or):
        return "(" + " OR ".join(_compile(o) for o in node.options) + ")"
    if isinstance(node, And):
        text = " AND ".join(_compile(n) for n in node.include)
        if len(node.include) > 1:
            text = "(" + text + ")"
        if node.exclude:
            # One NOT whatever their number: nesting them would deepen FTS5's parser stack.
            text = f"({text} NOT ({' OR '.join(_compile(n) for n in node.exclude)}))"
        return text
    if isinstance(node, Field):
        return f"{node.column} : ({_compile(node.node)})"
    if isinstance(node, Near):
        # FTS5 NEAR takes phrases only: expand word forms into alternative NEAR groups.
        choices = [_term_options(t) for t in node.terms]
        groups = []
        for combo in product(*choices):
            groups.append(f"NEAR({' '.join(combo)}, {node.distance})")
            if len(groups) >= _MAX_NEAR_COMBINATIONS:
                break
        return groups[0] if len(groups) == 1 else "(" + " OR ".join(groups) + ")"
    raise TypeError(node)
