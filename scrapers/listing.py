"""Listing pages: the links of an HTML page with where they sit, its next page, its feeds.

Read with Beautiful Soup (on lxml's parser): a listing is a few pages per source and run, where
tolerance of broken markup counts more than speed; article pages, thousands per run, go
through lxml directly (scrapers/html.py).

`parse_listing` reads the page once and describes every link (`Anchor`): its text, whether it
sits in page furniture (navigation, site header and footer, sidebars, menus, pagers) or in
the main content, and whether it belongs to a series of teaser blocks. `scrapers.linkscore`
turns that into "looks like an article". The next page is the `rel=next` link, else a link
reading "Page suivante" / "Suivant" / "Next" / "»", else the numbered pager's next number.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from bs4 import BeautifulSoup, Tag

from errors import CleanError
from scrapers.decoding import decode_bytes
from scrapers.profiles import Profile

FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml")


@dataclass(frozen=True)
class Pager:
    """A query-parameter pager: page k of a listing (k = 0, 1...) is `param=first + k`.

    Page 0 is the source URL itself. IOM's Drupal pager is `Pager("page", 0)`, so the
    second page is `?page=1`. A profile declares it with `extra={"pager_param": "page",
    "pager_first_page": 0}`; without one, the page's own next link is followed.
    """

    param: str = "page"
    first: int = 0

    def url(self, source_url: str, index: int) -> str:
        if index == 0:
            return source_url
        parts = urlsplit(source_url)
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != self.param]
        query.append((self.param, str(self.first + index)))
        return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def pager_for(profile: Profile) -> Pager | None:
    param = profile.extra.get("pager_param")
    if not param:
        return None
    return Pager(param, int(profile.extra.get("pager_first_page", 0)))


@dataclass(frozen=True)
class Anchor:
    """One link of a listing page, and where it sits."""

    url: str  # absolute, as written (fragment and tracking parameters are the caller's)
    text: str  # its text (else its title, aria-label or image alt), whitespace folded
    chrome: bool = False  # inside page furniture: nav, aside, site header/footer, menus, pagers
    main: bool = False  # inside the main content (main, article, role=main, #content)
    repeated: int = 0  # siblings sharing its block's tag and class: a series of >= 3 is a list
    teaser: bool = False  # its repeated block holds more than the link (a summary, a date, a picture)


@dataclass
class ListingPage:
    anchors: list[Anchor] = field(default_factory=list)  # in page order
    next_url: str | None = None  # the next page of the listing, when the page shows one
    feeds: list[str] = field(default_factory=list)  # <link rel=alternate> RSS/Atom feeds
    feed_languages: list[str | None] = field(default_factory=list)  # each feed's hreflang, if declared
    language: str | None = None  # the page's <html lang>, primary subtag

    @property
    def links(self) -> list[str]:
        return [a.url for a in self.anchors]

    def best_feed(self) -> tuple[str, str] | None:
        """The advertised feed that lists this page's articles, and why it was taken: the only
        one; else the first in the page's language (its hreflang, else a language segment of
        its path such as /en/); else the first without another language; else the first."""
        if not self.feeds:
            return None
        if len(self.feeds) == 1:
            return self.feeds[0], "the only feed the page advertises"
        many = f"the page advertises {len(self.feeds)} feeds"
        languages = [_language_of(url, lang) for url, lang in zip(self.feeds, self.feed_languages, strict=True)]
        if self.language:
            for url, lang in zip(self.feeds, languages, strict=True):
                if lang == self.language:
                    return url, f"{many}; this one is in the page's language ({self.language})"
            for url, lang in zip(self.feeds, languages, strict=True):
                if lang is None:
                    return url, f"{many}, none in the page's language ({self.language}); the first in no other"
        return self.feeds[0], f"{many}; the first of them (no language told them apart)"


def parse_listing(body: bytes, content_type: str | None, url: str) -> ListingPage:
    """Parse an HTML page; unreadable input gives an empty page, not an error."""
    try:
        text = decode_bytes(body, content_type)
    except CleanError:
        return ListingPage()
    soup = BeautifulSoup(text, "lxml")
    base = url
    declared = soup.find("base", href=True)
    if declared is not None:
        base = urljoin(url, _attr(declared, "href").strip())
    page = ListingPage()
    rel_next = None
    worded_next = None
    places = _Places()
    series = _Series()
    for el in soup.find_all(["a", "link"], href=True):
        href = _attr(el, "href").strip()
        if not href:
            continue
        target = urljoin(base, href)
        rel = [r.lower() for r in el.get("rel") or []]  # a multi-valued attribute: a list
        if "next" in rel and rel_next is None:
            rel_next = target
        if el.name == "link":
            if "alternate" in rel and _attr(el, "type").lower().strip() in FEED_TYPES:
                page.feeds.append(target)
                page.feed_languages.append(_primary(_attr(el, "hreflang")))
            continue
        words = _anchor_text(el)
        if worded_next is None and _says_next(el, words):
            worded_next = target
        chrome, main = places.of(el)
        repeated, teaser = series.of(el, words)
        page.anchors.append(Anchor(target, words, chrome, main, repeated, teaser))
    page.next_url = rel_next or worded_next or _numbered_next(url, page.anchors)
    html = soup.find("html")
    page.language = _primary(_attr(html, "lang")) if html is not None else None
    return page


def _primary(tag: str | None) -> str | None:
    """The primary subtag of a language tag (`en-GB` -> `en`), None if there is none."""
    primary = (tag or "").strip().lower().replace("_", "-").split("-")[0]
    return primary if re.fullmatch(r"[a-z]{2,3}", primary) else None


def _language_of(url: str, declared: str | None) -> str | None:
    """A feed's language: its declared hreflang, else a two-letter segment of its path (/fr/)."""
    if declared:
        return declared
    segments = [s.lower() for s in urlsplit(url).path.split("/") if s]
    return next((s for s in segments if re.fullmatch(r"[a-z]{2}", s)), None)


# ----------------------------------------------------------------------- where a link sits ---

_FURNITURE_TAGS = frozenset({"nav", "aside"})
_SECTION_TAGS = frozenset({"header", "footer"})  # furniture of the page, not of an article
_FURNITURE_ROLES = frozenset(
    {"navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar", "toolbar"}
)
_FURNITURE_WORDS = frozenset(
    {
        "nav",
        "navbar",
        "navigation",
        "menu",
        "menubar",
        "megamenu",
        "breadcrumb",
        "breadcrumbs",
        "footer",
        "sidebar",
        "pager",
        "pagination",
        "social",
        "share",
        "sharing",
        "skip",
        "toolbar",
        "topbar",
        "masthead",
        "language",
        "languages",
    }
)
_MAIN_TAGS = frozenset({"main", "article"})
_MAIN_WORDS = frozenset({"content", "main"})
_WORDS = re.compile(r"[a-z0-9]+")


def _class_words(el: Tag) -> set[str]:
    return set(_WORDS.findall(f"{' '.join(el.get('class') or [])} {el.get('id') or ''}".lower()))


class _Places:
    """Whether an element sits in page furniture or in the main content, cached per element
    (the links of one block share their ancestors); computed top-down, without recursion."""

    def __init__(self) -> None:
        # id(element) -> chrome, main, in article (Beautiful Soup tags compare by content:
        # two alike teaser blocks are equal, so they cannot be dictionary keys)
        self._cache: dict[int, tuple[bool, bool, bool]] = {}

    def of(self, el: Tag) -> tuple[bool, bool]:
        chain = []
        node = el.parent
        while isinstance(node, Tag) and node.name != "[document]" and id(node) not in self._cache:
            chain.append(node)
            node = node.parent
        state = self._cache.get(id(node), (False, False, False)) if node is not None else (False, False, False)
        for node in reversed(chain):
            state = self._cache[id(node)] = _place(node, *state)
        return state[0], state[1]


def _place(el: Tag, chrome: bool, main: bool, in_article: bool) -> tuple[bool, bool, bool]:
    tag = el.name
    role = _attr(el, "role").lower()
    words = _class_words(el)
    if tag in _SECTION_TAGS and in_article:
        pass  # an article's own header or footer: a teaser's headline lives there
    elif (
        tag in _FURNITURE_TAGS
        or role in _FURNITURE_ROLES
        or tag in _SECTION_TAGS
        or (not in_article and words & _FURNITURE_WORDS)
    ):
        chrome = True
    main = main or tag in _MAIN_TAGS or role == "main" or bool(words & _MAIN_WORDS)
    return chrome, main, in_article or tag == "article"


def _attr(el: Tag, name: str) -> str:
    """An attribute's text, "" when absent (bs4 gives a multi-valued one, such as class or rel,
    as a list: its values joined by spaces, as written)."""
    value = el.get(name)
    return " ".join(value) if isinstance(value, list) else value or ""


def _anchor_text(el: Tag) -> str:
    text = " ".join(el.get_text(" ").split())
    if not text:
        text = " ".join((_attr(el, "title") or _attr(el, "aria-label")).split())
    if not text:
        alts = [_attr(img, "alt") for img in el.find_all("img")]
        text = " ".join(" ".join(alts).split())
    return text


class _Series:
    """The size of the series of blocks a link is in (0: none), and whether its block holds
    more than the link: a teaser (headline plus summary, date or picture) rather than a menu
    entry. The block is the nearest ancestor (the link itself included) repeated at least
    three times among its siblings with the same tag and class. Sibling counts and block
    contents are computed once per element: the links of a page share them."""

    def __init__(self) -> None:
        self._kinds: dict[int, Counter] = {}  # id(parent) -> (tag, classes) of its children, counted
        self._blocks: dict[int, tuple[int, bool]] = {}  # id(block) -> (words, pictured)

    def of(self, el: Tag, words: str) -> tuple[int, bool]:
        node = el
        for _ in range(5):
            parent = node.parent
            if not isinstance(parent, Tag) or node.name in ("body", "html"):
                return 0, False
            kinds = self._kinds.get(id(parent))
            if kinds is None:
                kinds = self._kinds[id(parent)] = Counter(_kind(c) for c in parent.contents if isinstance(c, Tag))
            same = kinds[_kind(node)]
            if same >= 3:
                if node is el:
                    return same, False
                block = self._blocks.get(id(node))
                if block is None:
                    block = self._blocks[id(node)] = (
                        len(node.get_text(" ").split()),
                        any(getattr(d, "name", None) in _PICTURES for d in node.descendants),
                    )
                return same, block[0] - len(words.split()) >= 4 or block[1]
            node = parent
        return 0, False


_PICTURES = frozenset({"img", "time", "picture"})


def _kind(el: Tag) -> tuple[str, tuple[str, ...]]:
    return el.name, tuple(el.get("class") or ())


# ----------------------------------------------------------------------------- next page ---

# "Page suivante", "Suivant ›", "Next page", "Older posts", "»": a link that says it leads on.
_NEXT = re.compile(
    r"^(?:(?:page|articles?|posts?)\s+)?(?:suivante?s?|next|older(?:\s+(?:posts|entries|articles))?|"
    r"plus\s+anciens?|précédents?\s+articles?)(?:\s+page)?\s*[›»>→]*$|^[›»→]{1,2}$",
    re.I,
)
_PAGE_PARAMS = ("page", "p", "pg", "paged", "pagenum", "pagina")
_PATH_PAGE = re.compile(r"^(.*?)/page/(\d+)/?$")


def _says_next(el, words: str) -> bool:
    for text in (words, el.get("aria-label") or "", el.get("title") or ""):
        text = " ".join(text.split())
        if text and _NEXT.match(text):
            return True
    return False


def _page_number(url: str) -> tuple[str, int | None]:
    """(the listing's address without its page number, the page number or None)."""
    parts = urlsplit(url)
    m = _PATH_PAGE.match(parts.path)
    if m:
        return urlunsplit((parts.scheme, parts.netloc, m.group(1) or "/", parts.query, "")), int(m.group(2))
    query = parse_qsl(parts.query, keep_blank_values=True)
    number = None
    rest = []
    for k, v in query:
        if k.lower() in _PAGE_PARAMS and v.isdigit() and number is None:
            number = int(v)
        else:
            rest.append((k, v))
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") or "/", urlencode(rest), "")), number


def _numbered_next(url: str, anchors: list[Anchor]) -> str | None:
    """The numbered pager's next page: the same listing with the smallest page number above
    this page's (`?page=N`, `/page/N/`). On a first page, which carries no number, the link
    reading "2" when there is one (pagers count from 0 or from 1)."""
    here, current = _page_number(url)
    numbered: list[tuple[int, str, str]] = []
    for a in anchors:
        there, number = _page_number(a.url)
        if number is not None and there == here:
            numbered.append((number, a.text, a.url))
    if not numbered:
        return None
    if current is None:
        for _number, text, target in numbered:
            if text == "2":
                return target
        later = [n for n in numbered if n[0] >= 1]
    else:
        later = [n for n in numbered if n[0] > current]
    return min(later)[2] if later else None
