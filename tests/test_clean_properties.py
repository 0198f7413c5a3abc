"""Properties of `clean_page` on arbitrary input: it never crashes (only CleanError is
allowed) and it never invents words: every word of the output title, body and contacts is
a word of the input. "Word" means a run of \\w characters; the input is compared after the
two changes the cleaner makes on purpose, Unicode NFC and removal of invisible characters
(soft hyphen, zero-width space, word joiner, BOM); a repaired `mailto:` anchor only removes
words, so it needs no allowance."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.article import Article
from errors import CleanError
from scrapers.clean import clean_page

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PAGE_TEXTS = [p.read_text(encoding="utf-8") for d in ("pages", "dumps") for p in sorted((FIXTURES / d).glob("*.txt"))]
_WORD = re.compile(r"\w+")
_INVISIBLE = re.compile("[\u00ad\u200b\u2060\ufeff]")

# Pieces that exercise the rules: labels, menus, agency prefixes, dates, contacts, NBSP.
PIECES = [
    "Communiqué",
    "Global",
    "News",
    "Offert",
    "Back to top",
    "Vous êtes ici",
    "-",
    "- Structure",
    "Qui sommes nous",
    "Qui sommes nousL'Organisation",
    "APRNEWS :",
    "APRNEWS -",
    "Niger -",
    "Vendredi, 29 décembre 2023",
    "December 29, 2023",
    "29/12/2023",
    "Pour plus d’informations, veuillez contacter",
    "For further information, please contact",
    "Tel: +509 2943 0380 or +509 (0) 3701 22 88",
    'Email "mailto:rjb@iom.int">rjb@iom.int',
    "ou",
    "or",
    "Ricardo Jean-Baptiste",
    "OIM Port-au-Prince",
    "accordion-iconalert-iconarrow-leftarrowarticleShowed",
    "Le Sénégal et l'Espagne",
    "renforcent leur coopération.",
    "the migrants arrived.",
    "co-",
    "organisé",
    "«",
    "»",
    "\u00a0",
    " ",
    "\n",
    "\n\n",
    ".",
    ",",
    "\u200b",
    "\u00ad",
    "e\u0301",
]
page_text = st.lists(st.sampled_from(PIECES) | st.text(max_size=12), max_size=60).map("".join)
HTML_TAGS = [
    "<p>",
    "</p>",
    "<div>",
    "</div>",
    "<h1>",
    "</h1>",
    "<br>",
    "<li>",
    "<ul>",
    "</ul>",
    "<nav>",
    "</nav>",
    "<article>",
    "</article>",
    "<html>",
    "<body>",
    "<svg><symbol id='x'>",
    "</symbol></svg>",
    '<a href="mailto:a@iom.int">',
    "</a>",
    "<script>var x = 1;</script>",
    "<!doctype html>",
]
html_text = st.lists(
    st.sampled_from(HTML_TAGS + [p for p in PIECES if "<" not in p and '"' not in p]), max_size=80
).map("".join)


def words(text: str) -> set[str]:
    return set(_WORD.findall(unicodedata.normalize("NFC", _INVISIBLE.sub("", text))))


_TAG = re.compile(r"<[^>]*>")


def invented_words(output: set[str], html: str) -> set[str]:
    """Output words that are neither words of the markup nor a run of its text with the tags
    removed: inline tags and stray end tags do not separate words (`<p>Communiqué</div>Pour`
    reads "CommuniquéPour" in a browser too), so such joins are the page's own text."""
    text = unicodedata.normalize("NFC", _INVISIBLE.sub("", _TAG.sub("", html)))
    return {w for w in output - words(html) if w not in text}


def output_words(article: Article) -> set[str]:
    parts = [article.title or "", *article.paragraphs]
    for contact in article.contacts:
        parts += [contact.name or "", contact.organisation or "", *contact.emails, *contact.phones]
    return set(_WORD.findall(" ".join(parts)))


def clean_or_refuse(data, **kwargs) -> Article | None:
    try:
        article = clean_page(data, **kwargs)
    except CleanError as e:
        assert str(e)
        return None
    assert isinstance(article, Article)
    assert article.body == "\n\n".join(article.paragraphs)
    assert all(p and p == " ".join(p.split()) for p in article.paragraphs)
    return article


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.text())
def test_arbitrary_text_never_crashes_nor_invents_words(text):
    article = clean_or_refuse(text)
    if article is not None:
        assert output_words(article) <= words(text)


@FAST
@given(page_text)
def test_page_like_text_never_crashes_nor_invents_words(text):
    article = clean_or_refuse(text)
    if article is not None:
        assert output_words(article) <= words(text)


@FAST
@given(st.sampled_from(PAGE_TEXTS), st.floats(min_value=0, max_value=1), st.floats(min_value=0, max_value=1))
def test_truncated_pages_never_crash_nor_invent_words(page, start, end):
    lo, hi = sorted((int(start * len(page)), int(end * len(page))))
    text = page[lo:hi]
    article = clean_or_refuse(text)
    if article is not None:
        assert output_words(article) <= words(text)


@FAST
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_crash(data):
    clean_or_refuse(data)


@FAST
@given(st.sampled_from(PAGE_TEXTS), st.floats(min_value=0, max_value=1))
def test_truncated_page_bytes_never_crash(page, cut):
    data = page.encode("utf-8")
    clean_or_refuse(data[: int(cut * len(data))])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    html_text,
    st.sampled_from(
        [
            None,
            "https://www.iom.int/fr/news/x",
            "https://www.apr-news.fr/fr/actualites/x",
            "https://www.lexisveille.fr/x-1",
            "https://example.org/a",
        ]
    ),
)
def test_html_like_input_never_crashes_nor_invents_words(html, url):
    article = clean_or_refuse(html, url=url)
    if article is not None:
        assert invented_words(output_words(article), html) == set()
