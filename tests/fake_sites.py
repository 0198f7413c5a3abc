"""Pages of news sites modelled on the seed sites, for end-to-end ingestion tests and benchmarks.

Article pages are the fixtures of `tests/fixtures/html/` with their headline, canonical URL
and body replaced, so every generated article keeps its site's real page structure (menus,
labels, share bars) while being a distinct article: the bodies are random sentences drawn
from the fixtures' own vocabulary, seeded by the article's path, so two articles share
almost no word 3-shingles and the archive never folds them as near-duplicates.

Discovery documents (an IOM-like listing page, RSS 2.0, Atom, a sitemap) are built from
(path, title) lists. Everything is deterministic: the same arguments give the same bytes.
"""

from __future__ import annotations

import html
import random
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

HTML_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "html"


@dataclass(frozen=True)
class Template:
    file: str
    headline: str  # the fixture's headline, replaced wherever it appears (title, og, JSON-LD, h1)
    body_open: str  # regex of the opening tag of the body container (no <div> nested inside)
    language: str


TEMPLATES: dict[str, Template] = {
    "iom-fr": Template(
        "iom-fr-press-release.html",
        "L’OIM forme des agents de la police frontalière haïtienne à l’identification des victimes de la traite",
        r'<div class="[^"]*field--name-body[^"]*">',
        "fr",
    ),
    "iom-en": Template(
        "iom-en-press-release.html",
        "IOM Trains Haitian Border Police to Identify Victims of Trafficking",
        r'<div class="[^"]*field--name-body[^"]*">',
        "en",
    ),
    "aprnews": Template(
        "aprnews-article.html",
        "Le Sénégal et l'Espagne élargissent leur programme de migration circulaire pour les travailleurs saisonniers",
        r'<div class="field-item even">',
        "fr",
    ),
    "lexisveille": Template(
        "lexisveille-article.html",
        "Calais : le Conseil d'État suspend l'interdiction des distributions alimentaires aux exilés "
        "dans le centre-ville",
        r'<div class="article-detail__content">',
        "fr",
    ),
}

_WORD = re.compile(r"[^\W\d_]{4,}")
_MARKUP = re.compile(r"<(script|style|svg)\b.*?</\1>|<[^>]+>", re.S | re.I)


@cache
def _fixture(name: str) -> str:
    return (HTML_FIXTURES / name).read_text(encoding="utf-8")


@cache
def vocabulary(language: str) -> tuple[str, ...]:
    """The lower-case words (4+ letters) of the fixtures' article text in `language`."""
    words: set[str] = set()
    for t in TEMPLATES.values():
        if t.language == language:
            text = html.unescape(_MARKUP.sub(" ", _fixture(t.file)))
            words.update(w.lower() for w in _WORD.findall(text))
    return tuple(sorted(words))


def paragraphs(seed: str, language: str = "fr", count: int = 5) -> list[str]:
    """`count` paragraphs of 3-5 sentences of random words, the same for the same seed."""
    rng = random.Random(seed)
    words = vocabulary(language)
    out = []
    for _ in range(count):
        sentences = []
        for _ in range(rng.randint(3, 5)):
            sentence = " ".join(rng.choice(words) for _ in range(rng.randint(9, 16)))
            sentences.append(sentence[0].upper() + sentence[1:] + ".")
        out.append(" ".join(sentences))
    return out


def headline(seed: str, language: str = "fr") -> str:
    rng = random.Random("title:" + seed)
    words = " ".join(rng.choice(vocabulary(language)) for _ in range(7))
    return words[0].upper() + words[1:]


def article_page(template: str, path: str, *, title: str | None = None, body: list[str] | None = None) -> str:
    """The `template` fixture as the article at `path`: its own headline, canonical and body.

    Without `title`/`body`, both are generated from `path`. hreflang links are dropped: they
    name the fixture's real translations, which would tie unrelated generated articles.
    """
    t = TEMPLATES[template]
    title = title or headline(path, t.language)
    body = body if body is not None else paragraphs(path, t.language)
    page = _fixture(t.file)
    page = re.sub(r'\n<link rel="alternate" hreflang="[^"]*" href="[^"]*">', "", page)
    page = re.sub(r'<link rel="canonical" href="[^"]*"', f'<link rel="canonical" href="{path}"', page)
    page = page.replace(t.headline, html.escape(title, quote=False))
    inner = "\n" + "\n".join(f"<p>{html.escape(p, quote=False)}</p>" for p in body) + "\n"
    page, replaced = re.subn(f"({t.body_open})(.*?)(</div>)", lambda m: m[1] + inner + m[3], page, count=1, flags=re.S)
    assert replaced == 1, f"no body container in {t.file}"
    return page


def iom_listing_page(entries: list[tuple[str, str]]) -> str:
    """The IOM French news listing fixture showing `entries` ((path, title) teasers)."""
    rows = "".join(
        '\n    <div class="views-row"><article class="node node--type-press-release '
        'node--view-mode-teaser">\n      <div class="field field--name-field-press-release-type">'
        f'Communiqué</div>\n      <h2><a href="{path}">{html.escape(title, quote=False)}</a></h2>'
        "\n    </article></div>"
        for path, title in entries
    )
    page, replaced = re.subn(
        r'(<div class="view view-news[^"]*">)(.*?)(\n  </div>\n  <nav)',
        lambda m: m[1] + rows + m[3],
        _fixture("iom-fr-listing.html"),
        count=1,
        flags=re.S,
    )
    assert replaced == 1, "no view-news block in iom-fr-listing.html"
    return page


def rss_feed(site: str, entries: list[tuple[str, str]]) -> str:
    """An RSS 2.0 feed of `site` (a base URL) listing (path, title) entries, newest first."""
    items = "".join(
        f"\n<item><title>{html.escape(title)}</title><link>{site}{path}</link>"
        f"<guid>{site}{path}</guid><pubDate>Fri, 29 Dec 2023 10:{i % 60:02d}:00 +0100</pubDate></item>"
        for i, (path, title) in enumerate(entries)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>APRNEWS - International</title><link>{site}/</link>"
        f"<description>Les dernières actualités</description>{items}\n</channel></rss>\n"
    )


def atom_feed(site: str, entries: list[tuple[str, str]]) -> str:
    """An Atom feed of `site` listing (path, title) entries."""
    items = "".join(
        f'\n<entry><title>{html.escape(title)}</title><link href="{site}{path}"/>'
        f"<id>{site}{path}</id><updated>2021-12-0{1 + i % 9}T09:00:00Z</updated></entry>"
        for i, (path, title) in enumerate(entries)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        f'<title>Lexis Veille</title><link href="{site}/"/><id>{site}/</id>'
        f"<updated>2021-12-09T09:00:00Z</updated>{items}\n</feed>\n"
    )


def sitemap(site: str, paths: list[str]) -> str:
    urls = "".join(
        f"\n<url><loc>{site}{path}</loc><lastmod>2024-01-{1 + i % 28:02d}</lastmod></url>"
        for i, path in enumerate(paths)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}\n</urlset>\n'
    )
