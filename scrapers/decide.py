"""Is a cleaned page an article? Decided on its main content, rejecting on strong evidence only.

A rejected article is an alert that never arrives, while an accepted non-article costs one
archive row, so the default is "article" and each rejection needs a positive sign:
  * nothing left once the boilerplate is gone;
  * the page declares itself a collection (schema.org CollectionPage / ItemList ...);
  * a database record: mostly field/value lines ("Start date: …", "Budget: …");
  * a listing: a series of teasers (a linked or heading-like headline followed by a date or a
    short summary) holding most of the text, with little running text outside them;
  * no running text at all: only navigation (link texts), or too few words to say anything.
Running text anywhere in the main content makes an article, even with lists, tables, code,
Q&A or a menu around it. Text is measured in word equivalents (`scrapers.measure.units`), so
Chinese, Japanese and Thai count like spaced languages.

A page found through a feed or a sitemap was announced as content by its site: it gets the
benefit of the doubt (no listing rule, a record must be mostly fields, fewer words suffice).
It is trusted on size, not against explicit evidence: a page that declares itself no article
is rejected whoever announced it, on language-free evidence that must all hold (`_not_news`):
og:type `website` or `profile` (or a schema.org WebSite, AboutPage, ContactPage or ProfilePage),
no date anywhere (metadata, date lines, text), no article markup (og:type article, a schema.org
Article, NewsArticle, BlogPosting...), and an address that is one of the site's top-level pages
(a section, about, contact or legal page: after a language prefix, at most one segment, of at
most three words, and no digits). Every rejection returns a reason that names the evidence, for the
rejected-pages record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from core.article import PageMetadata
from scrapers.dates import parse_date
from scrapers.measure import ENDS_SENTENCE, SENTENCE_END, headline_key, is_prose, units

TRUSTED_DISCOVERY = frozenset({"feed", "sitemap"})
_COLLECTION_TYPES = {"collectionpage", "itemlist", "searchresultspage", "listing"}

# "Start date: 01/01/2019", "Budget : USD 2,000,000" (a "|" separates navigation, not fields).
_FIELD_VALUE = re.compile(r"^(?P<label>[^\W\d_][^:：]{0,38}?)\s*[:：]\s*(?P<value>\S.{0,80})$")
_FIELD_LABEL_MAX_UNITS = 4
_FIELD_VALUE_MAX_UNITS = 12
_TYPED_VALUE_MAX_UNITS = 3
_RECORD_MIN_FIELDS = 4
_SHORT_RECORD_MIN_FIELDS = 3
_RECORD_MIN_NUMERIC = 2  # values that are numbers, amounts or dates
_RECORD_NUMERIC_SHARE = 1 / 3
_NUMERIC_VALUE = re.compile(r"\d")
# A record's running text is a description: a few paragraphs at most.
_RECORD_MAX_PARAGRAPHS = 3
_RECORD_MAX_PROSE = 300
_ANNOUNCED_RECORD_MAX_PROSE = 150

_TEASER_HEADLINE_UNITS = (3, 30)
_TEASER_SUMMARY_MAX_UNITS = 70
_LISTING_MIN_TEASERS = 4
_LISTING_TEASER_SHARE = 0.6  # of the main content's units
_ONE_LINE_TEASER_MAX_UNITS = 60
_TEASER_LABEL_WORDS = 3
_LISTING_FEW_TEASERS = 3  # a short listing (a first page, a small section) when it is all teasers
_LISTING_FEW_TEASERS_SHARE = 0.85

_NO_PROSE_MIN_UNITS = 50  # below this, a page without one sentence says nothing
_SHORT_MIN_UNITS = 10
_NAVIGATION_SHARE = 0.5  # of the units, in lines that are link texts
_SHORT_LINE_UNITS = 12
_SHORT_LISTING_MIN = 6


@dataclass
class Verdict:
    is_article: bool
    reason: str | None = None


ARTICLE = Verdict(True)


def decide(
    body: list[str],
    *,
    content: list[str],
    dates: list[str | None],
    meta: PageMetadata,
    found_via: str | None = None,
    url: str | None = None,
) -> Verdict:
    """`body`: the article paragraphs left by the text rules; `content`: the main content's
    lines before dates and contacts were taken out, `dates[i]` the date `content[i]` is (a
    date line) or None; `meta.link_keys`: headline keys of the page's link texts; `url`: where
    the page was fetched."""
    if not body:
        return Verdict(False, "nothing left once menus, labels and boilerplate are removed")
    if why := _not_news(body, dates, meta, url):
        return Verdict(False, why)
    announced = found_via in TRUSTED_DISCOVERY  # a feed or a sitemap listed it as content
    sizes = [units(p) for p in body]
    total = sum(sizes)
    prose = [p for p in body if is_prose(p)]
    prose_units = sum(units(p) for p in prose)

    declared = (meta.page_type or "").casefold()
    if not announced and declared in _COLLECTION_TYPES and prose_units < total / 2:
        return Verdict(False, f"the page declares itself a {meta.page_type}, not an article")

    fields, (fields_start, fields_end) = _field_run(content, dates)
    # A short run counts too when it stands ahead of the prose on a page that shows no date
    # line and no article markup: a project or a case record, not a story with a fact box.
    # A record states its fields first, then describes: a run of fields after running text is
    # a story's fact box or the page's navigation, not a record.
    ahead = not any(is_prose(line) for line in content[:fields_end])
    short_record = (
        len(fields) >= _SHORT_RECORD_MIN_FIELDS
        and not any(d for k, d in enumerate(dates) if not fields_start <= k < fields_end)
        and not _declares_article(declared)
    )
    if (
        ahead
        and (len(fields) >= _RECORD_MIN_FIELDS or short_record)
        and len(fields) >= (2 if announced else 1) * len(prose)
        and len(prose) <= _RECORD_MAX_PARAGRAPHS
        and prose_units <= (_ANNOUNCED_RECORD_MAX_PROSE if announced else _RECORD_MAX_PROSE)
    ):
        labels = ", ".join(fields[:3])
        return Verdict(
            False,
            f"looks like a database record: {len(fields)} field/value lines ({labels}, …) "
            f"and {len(prose)} paragraph(s) of running text",
        )

    links = meta.link_keys
    if not announced and (listing := _listing(content, dates, links)):
        return Verdict(False, listing)

    # Too little text to be an article. A page that was announced, or declares itself an
    # article (og:type, JSON-LD), needs fewer words: a short blog post, a poem, a caption.
    minimum = _SHORT_MIN_UNITS if announced or _declares_article(declared) or prose else _NO_PROSE_MIN_UNITS
    if not prose:
        linked = sum(s for p, s in zip(body, sizes, strict=True) if headline_key(p) in links)
        if linked >= _NAVIGATION_SHARE * total:
            return Verdict(False, f"no running text: {linked} of {total} words are link texts (navigation)")
        short = sum(
            1 for p, s in zip(body, sizes, strict=True) if s <= _SHORT_LINE_UNITS and not ENDS_SENTENCE.search(p)
        )
        if not announced and not links and short >= _SHORT_LISTING_MIN and short >= 0.5 * len(body):
            return Verdict(
                False,
                f"looks like a listing page: {short} of {len(body)} blocks are short "
                "title-like lines and none is running text",
            )
    if total < minimum:
        return Verdict(False, f"no running text: {len(prose)} sentence-like paragraph(s), {total} words")
    return ARTICLE


_NOT_ARTICLE_OG_TYPES = frozenset({"website", "profile"})
_NOT_ARTICLE_SCHEMA_TYPES = frozenset({"WebSite", "AboutPage", "ContactPage", "ProfilePage"})
# A language code as a site's first path segment: /fr/, /en-gb/, /pt_BR/.
_LANGUAGE_SEGMENT = re.compile(r"^[a-z]{2}(?:[-_][a-z]{2})?$", re.I)
_PAGE_EXTENSION = re.compile(r"\.(?:s?html?|php|aspx?|jsp)$", re.I)
_TOP_LEVEL_WORDS = 3


def _not_news(body: list[str], dates: list[str | None], meta: PageMetadata, url: str | None) -> str | None:
    """Why the page declares itself no article (None: it does not), when all the evidence
    holds: a declared non-article type, no article markup, no date anywhere, a top-level
    address. Cheapest checks first; the text's dates last."""
    declared = []
    if meta.og_type in _NOT_ARTICLE_OG_TYPES:
        declared.append(f"og:type {meta.og_type}")
    declared += [f"schema.org {t}" for t in meta.schema_types if t in _NOT_ARTICLE_SCHEMA_TYPES]
    if not declared:
        return None
    if _declares_article(meta.og_type) or any(_declares_article(t) for t in meta.schema_types):
        return None
    if meta.date or meta.page_date or any(dates):
        return None
    path = _top_level_path(url)
    if path is None:
        return None
    if (meta.title and parse_date(meta.title)) or any(parse_date(p) for p in body):
        return None
    return (
        f"the page declares itself no article: {', '.join(declared)}, no date anywhere (metadata, date lines, "
        "text), no article markup (og:type article, schema.org Article, NewsArticle, BlogPosting), and "
        f"{path} is a top-level page of the site (a section, about, contact or legal page)"
    )


def _top_level_path(url: str | None) -> str | None:
    """The URL's path when it is one of a site's top-level pages: the home page, a section, an
    about, contact or legal page (after an optional language segment, at most one segment of
    at most three words, no digits: an article's address has a slug, an id, a date or a
    section above it); else None."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    segments = [s for s in parts.path.split("/") if s]
    if segments and _LANGUAGE_SEGMENT.match(segments[0]):
        segments = segments[1:]
    if segments:
        segments[-1] = _PAGE_EXTENSION.sub("", segments[-1])
    # One segment: a page under a section (/about/team, /societe/questions) may be a story.
    if len(segments) > 1 or any(c.isdigit() for c in parts.path + parts.query):
        return None
    if segments and len([w for w in re.split(r"[-_.+~]+", segments[0]) if w]) > _TOP_LEVEL_WORDS:
        return None  # a slug (/plan-d-accueil-des-deplaces): a story's address
    return parts.path or "/"


def _declares_article(page_type: str | None) -> bool:
    kind = (page_type or "").casefold()
    return kind == "article" or kind.endswith(("article", "posting"))


def _field_run(content: list[str], dates: list[str | None]) -> tuple[list[str], tuple[int, int]]:
    """The labels of the longest run of consecutive field/value lines ("Label: value" on one
    line, or a label line then its value line: a <dl> flattened) and the run's span. A run of
    a record repeats no label and some of its values are numbers, amounts or dates; it starts
    at its first such value (a menu of short lines just before it pairs up too, but without
    numbers)."""
    best: list[str] = []
    best_span = (0, 0)
    run: list[tuple[str, bool]] = []
    start = 0

    def close(end: int) -> None:
        nonlocal best, best_span, run
        first = next((k for k, (_, numeric) in enumerate(run) if numeric), len(run))
        labels = [label for label, _ in run[first:]]
        numbers = sum(numeric for _, numeric in run)
        if len(labels) > len(best) and numbers >= max(_RECORD_MIN_NUMERIC, len(labels) * _RECORD_NUMERIC_SHARE):
            best, best_span = labels, (start, end)
        run = []

    i = 0
    while i < len(content):
        pair = _inline_field(content[i])
        step = 1
        if pair is None and i + 1 < len(content):
            pair = _two_line_field(content[i], content[i + 1], dates[i], dates[i + 1])
            step = 2
        if pair is None or any(pair[0] == label for label, _ in run):
            close(i)
            if pair is None:
                i += 1
                continue
        if not run:
            start = i
        run.append(pair)
        i += step
    close(i)
    return best, best_span


def is_field_line(line: str) -> bool:
    """A "Label: value" line of a record."""
    return _inline_field(line) is not None


def is_typed_field_line(line: str) -> bool:
    """A "Label: Value" line whose value is a number, a code, a date or a word or two
    ("Budget: USD 3,150,000", "Status: Completed"), not the rest of a sentence."""
    match = _FIELD_VALUE.match(line)
    if not match or not is_field_line(line) or not match["label"][:1].isupper():
        return False
    value = match["value"]
    return (value[:1].isupper() or value[:1].isdigit()) and (
        bool(_NUMERIC_VALUE.search(value)) or units(value) <= _TYPED_VALUE_MAX_UNITS
    )


def _inline_field(line: str) -> tuple[str, bool] | None:
    match = _FIELD_VALUE.match(line)
    if not match:
        return None
    label, value = match["label"].strip(), match["value"]
    if (
        units(label) <= _FIELD_LABEL_MAX_UNITS
        and units(value) <= _FIELD_VALUE_MAX_UNITS
        and not SENTENCE_END.search(label)
        and not is_prose(value)
    ):
        return label.casefold(), bool(_NUMERIC_VALUE.search(value))
    return None


def _two_line_field(label: str, value: str, label_date: str | None, value_date: str | None) -> tuple[str, bool] | None:
    label = label.rstrip(":： ")
    if (
        label_date is None
        and label[:1].isupper()
        and units(label) <= _FIELD_LABEL_MAX_UNITS
        and not ENDS_SENTENCE.search(label)
        and units(value) <= _FIELD_VALUE_MAX_UNITS
        and not is_prose(value)
        and not value.endswith(":")
    ):
        return label.casefold(), bool(value_date or _NUMERIC_VALUE.search(value))
    return None


def _is_one_line_teaser(line: str, size: int, openings: dict[str, list[str]]) -> bool:
    """A teaser flattened into one line: it opens (after a label of a few words at most) with
    a linked headline of four words or more, and holds a date ("Communiqué <headline>
    16 mars 2012 <summary>"). `openings`: the page's link keys by their first four words."""
    if size > _ONE_LINE_TEASER_MAX_UNITS or not openings:
        return False
    words = headline_key(line).split(" ")
    for start in range(min(_TEASER_LABEL_WORDS, len(words) - 1) + 1):
        links = openings.get(" ".join(words[start : start + 4]))
        if links:
            rest = " ".join(words[start:])
            if any(rest.startswith(link) for link in links):
                return bool(parse_date(line))
    return False


def _link_openings(link_keys: frozenset[str]) -> dict[str, list[str]]:
    openings: dict[str, list[str]] = {}
    for link in link_keys:
        words = link.split(" ")
        if len(words) >= 4:
            openings.setdefault(" ".join(words[:4]), []).append(link)
    return openings


def _listing(content: list[str], dates: list[str | None], link_keys: frozenset[str]) -> str | None:
    """A reason when the content is mostly teasers: a headline (a link text, or a heading-like
    line followed by a date line) then a date and/or a short summary."""
    total = sum(units(line) for line in content)
    if not total:
        return None
    teasers = 0
    dated = 0
    covered = 0
    openings = _link_openings(link_keys)
    i = 0
    n = len(content)
    while i < n:
        line = content[i]
        size = units(line)
        linked = headline_key(line) in link_keys
        headline = (
            _TEASER_HEADLINE_UNITS[0] <= size <= _TEASER_HEADLINE_UNITS[1]
            and not (SENTENCE_END.search(line[:-1]) and size > 12)
            and dates[i] is None
        )
        if _is_one_line_teaser(line, size, openings):
            teasers += 1
            dated += 1
            covered += size
            i += 1
            continue
        if not headline:
            i += 1
            continue
        j = i + 1
        has_date = has_summary = False
        block = size
        while j < n and j <= i + 3:
            if dates[j] is not None:
                has_date = True
            elif (
                not has_summary
                and units(content[j]) <= _TEASER_SUMMARY_MAX_UNITS
                and headline_key(content[j]) not in link_keys
            ):
                if is_prose(content[j]):
                    has_summary = True
                else:
                    break
            else:
                break
            block += units(content[j])
            j += 1
        if has_date or (linked and has_summary):
            teasers += 1
            dated += has_date
            covered += block
            i = j
        else:
            i += 1
    if (
        teasers >= _LISTING_MIN_TEASERS
        and covered >= _LISTING_TEASER_SHARE * total
        or (teasers >= _LISTING_FEW_TEASERS and covered >= _LISTING_FEW_TEASERS_SHARE * total)
    ):
        kind = "dated " if dated >= teasers / 2 else ""
        return (
            f"looks like a listing page: {teasers} {kind}teasers (headline + "
            f"{'date' if kind else 'summary'}) hold {covered * 100 // total}% of the text"
        )
    return None
