"""Generic link scoring: which links of a listing page lead to articles, not to menus.

A link scores points for where it sits (the main content, not the page's furniture), its
shape (a long slug, a date or an id in the path; not a short top-level page nor a service
page), its text (a headline, not one or two words) and its block (one of a series of teaser
blocks). Rules on classes of links, measured on no particular site: a site profile's
`article_path` replaces them for the site's listing pages.

    article_links([(url, anchor), ...]) -> the URLs scoring ARTICLE_SCORE or more
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from scrapers.listing import Anchor

ARTICLE_SCORE = 4  # a teaser headline in the main content scores 6-8, a menu entry below 2

_DATE = re.compile(r"(?:^|[/_-])(?:19|20)\d\d(?:[/_-]?)(?:0[1-9]|1[0-2])(?:[/_-]?(?:0[1-9]|[12]\d|3[01]))?(?:[/_-]|$)")
_ID = re.compile(r"(?:^|[/_-])\d{3,}(?:[/_.-]|$)")
_EXTENSION = re.compile(r"\.(?:s?html?|php|aspx?|jsp)$", re.I)
_SLUG_WORD = re.compile(r"[^\W_]+")
# Service pages of a site, in the languages of the sources (a class of pages, whatever the site).
_SERVICE = re.compile(
    r"^(?:contact(?:s|ez-nous|-us)?|about(?:-us)?|a-propos|qui-sommes-nous|mentions?-legales|legal(?:-notice)?|"
    r"imprint|impressum|privacy(?:-policy)?|confidentialite|politique-de-confidentialite|cookies?|"
    r"terms(?:-of-use|-and-conditions)?|cgu|cgv|conditions-generales.*|newsletters?|abonnements?|subscribe|"
    r"subscription|sign-?in|sign-?up|connexion|inscription|account|mon-compte|faq|aide|help|plan-du-site|sitemap|"
    r"accessibilite|accessibility|credits|jobs|careers|recrutement|emplois?|donate|faire-un-don|shop|boutique)$",
    re.I,
)
_READ_MORE = re.compile(r"^(?:lire la suite|en savoir plus|read more|more|plus|suite|continue reading|lire)\W*$", re.I)


def shape_score(path: str) -> int:
    """Points for the shape of a path: what articles' addresses look like."""
    segments = [s for s in path.split("/") if s]
    if not segments:
        return -3  # the home page
    last = _EXTENSION.sub("", segments[-1])
    if _SERVICE.match(last):
        return -3
    words = _SLUG_WORD.findall(last)
    score = 0
    if _DATE.search(path):
        score += 2
    if _ID.search(path):
        score += 1
    if len(words) >= 4 or len(last) >= 30:
        score += 2
    elif len(words) == 3:
        score += 1
    elif len(segments) == 1:
        score -= 1  # /dossiers, /chiffres, /contact: a section or a service page
    return score


def text_score(text: str) -> int:
    """Points for a link's text: a headline has five words or more."""
    if not text or _READ_MORE.match(text):
        return 0
    words = text.split()
    if len(words) == 1 and len(text) >= 12 and not text.isascii():
        return 2  # a script written without spaces (CJK, Thai): counted in characters
    if text.strip("[]()").isdigit():
        return -2  # a pager's page number
    if len(words) >= 5:
        return 2
    if len(words) == 4:
        return 1
    return -1 if len(words) <= 2 else 0


def anchor_score(anchor: Anchor, path: str) -> int:
    score = shape_score(path) + text_score(anchor.text)
    if anchor.chrome:
        score -= 3
    elif anchor.main:
        score += 1
    if anchor.repeated:
        score += 1
    if anchor.teaser:
        score += 1
    return score


def scored_links(links: Iterable[tuple[str, Anchor]]) -> dict[str, int]:
    """url -> its best score over the page's links to it (a teaser links its picture, its
    headline and "read more" to the same article), in page order. `links`: (the URL made
    absolute and clean, the anchor)."""
    best: dict[str, int] = {}
    for url, a in links:
        score = anchor_score(a, urlsplit(url).path or "/")
        if url not in best or score > best[url]:
            best[url] = score
    return best


def article_links(links: Iterable[tuple[str, Anchor]]) -> list[str]:
    """The URLs that look like articles, in page order."""
    return [url for url, score in scored_links(links).items() if score >= ARTICLE_SCORE]
