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
both run the compiled expression. The lexer is `storage.query_lexer`; the parsed tree and its
translation into FTS5 are `storage.query_fts`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlsplit

from core.text import MARK_END, MARK_START, snippet_around
from errors import QuerySyntaxError
from storage.query_fts import And, Field, Near, Node, Or, Term, _compile
from storage.query_lexer import _lex, _Token

# The archive's full-text tokenizer (accents and case folded): queries are compiled for it.
FTS_TOKENIZE = "unicode61 remove_diacritics 2"
DEFAULT_NEAR = 10
MAX_NEAR_TERMS = 8


# -------------------------------------------------------------------------------- parsing ---


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
