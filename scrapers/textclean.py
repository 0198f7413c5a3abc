"""Text-level cleaning: text blocks -> Article.

Both page kinds end here: plain-text dumps are cut into blocks by `text_to_blocks`, HTML
pages by `scrapers.html` (one block per paragraph, heading or list item). `clean_blocks`
then applies the rules learnt from the seed pages, each stated as a measurable property
rather than a list of strings from those pages:

- junk lines: no letter or digit; icon-sprite name runs (glued identifiers, no sentences);
  navigation phrases and paywall badges; the site profile's label lines;
- mega-menus: a heading followed by the same heading glued to its teaser text;
  adjacent duplicated lines;
- an all-caps agency token ("APRNEWS :", "APRNEWS -") that prefixes the headline and other
  blocks is stripped; the headline repeated by the page collapses into one title;
- a line that is only a date gives the date and leaves the body;
- press contacts leave the body for `contacts` (`scrapers.contacts`);
- the title is the first heading-like line followed by running text; what precedes it
  (menus, labels such as "Communiqué" / "Global") is not article text.
"""

from __future__ import annotations

import re

from core.article import Article, PageMetadata, Removal
from scrapers.boilerplate import BYLINE_RULE, drop_boilerplate
from scrapers.byline import byline_name, take_signature
from scrapers.contacts import extract_contacts, repair_mailto
from scrapers.dates import PUBLISHED, UPDATED, dated_line
from scrapers.decide import decide
from scrapers.headline import could_be_same_headline, split_title, strip_agency_prefix
from scrapers.measure import forget as forget_measures
from scrapers.measure import headline_key
from scrapers.menus import drop_adjacent_duplicates, drop_glued_menu, junk_rule, label_patterns
from scrapers.profiles import Profile
from scrapers.template import SourceTemplate
from scrapers.textblocks import LINE_BREAKS, normalise_space, text_to_blocks, unwrap

__all__ = ["clean_blocks", "normalise_space", "text_to_blocks"]

_WORD = re.compile(r"[^\W\d_]+")
_STOPWORDS = {
    "fr": frozenset(
        "le la les des du et est une un pour dans que qui sur au aux par avec ne pas ce cette "
        "il elle sont ont été son ses leur plus".split()
    ),
    "en": frozenset(
        "the and of to in is are was were for on with that by as from at this which be has have it its their an".split()
    ),
    "es": frozenset("el los las y en del por con para una es se su al como más".split()),
}
_LANGUAGE_SAMPLE = 3000


def clean_blocks(
    blocks: list[str],
    *,
    meta: PageMetadata,
    profile: Profile,
    url: str | None,
    found_via: str | None = None,
    template: SourceTemplate | None = None,
    removed: list[Removal] | None = None,
) -> Article:
    """Apply the text rules to blocks (from a dump or from HTML) and build the Article.

    `found_via` ("feed", "sitemap", "listing" or None) is how the page was discovered: a
    page a feed or sitemap announced gets the benefit of the doubt (`scrapers.decide`).
    `template`: the source's learned template (`scrapers.template`), applied last.
    `removed`, when given, receives a `Removal` (rule, text) for every line a rule dropped.
    """
    forget_measures()
    drop = _Dropper(removed)
    lines = []
    for block in blocks:
        # A block with line breaks inside (an HTML <br>) goes through the same wrap rules.
        lines.extend(unwrap([normalise_space(x) for x in LINE_BREAKS.sub("\n", block).split("\n")]))
    lines = [repair_mailto(line) for line in lines]
    lines = drop_boilerplate(lines, meta.link_keys, drop)
    labels = label_patterns(profile)
    lines = drop.where(lines, lambda line: junk_rule(line, labels))
    lines = drop_glued_menu(lines, drop)
    lines = strip_agency_prefix(lines, profile.extra.get("agency_prefix"))

    found = [dated_line(line) for line in lines]
    dates = [d[0] if d else None for d in found]
    content = lines
    date = meta.date or _page_date([d for d in found if d]) or meta.page_date
    undated = []
    for line, iso in zip(lines, dates, strict=True):
        if iso:
            drop("date line", line)
        else:
            undated.append(line)
    lines, contacts = extract_contacts(undated)
    if drop.active and len(lines) < len(undated):
        kept = set(lines)
        for line in undated:
            if line not in kept:
                drop("press contact (kept in contacts)", line)
    lines = drop_adjacent_duplicates(lines, drop)

    title, body = split_title(lines, meta, drop)
    if title:
        same = headline_key(title)
        body = drop.where(
            body,
            lambda p: "copy of the headline" if could_be_same_headline(p, title) and headline_key(p) == same else None,
        )
    body = drop_adjacent_duplicates(body, drop)
    signed, body = take_signature(title, body, drop)
    author = meta.author or drop.byline or signed

    # The decision reads the main content: what follows the headline (menus precede it).
    start = content.index(title) + 1 if title in content else 0
    verdict = decide(body, content=content[start:], dates=dates[start:], meta=meta, found_via=found_via, url=url)
    # The template comes last and never decides: whether the page is an article was judged
    # on what the rules left.
    body, template_removed = template.apply(body, drop) if template else (body, [])
    return Article(
        title=title,
        date=date,
        paragraphs=body,
        author=author,
        contacts=contacts,
        language=_language(meta.language, title, body),
        url=url,
        canonical_url=meta.canonical_url,
        translations=dict(meta.translations),
        is_article=verdict.is_article,
        reason=verdict.reason,
        profile=profile.name,
        template_removed=template_removed,
    )


def _page_date(found: list[tuple[str, str | None]]) -> str | None:
    """The publication date among the page's date lines: one the page says was published,
    else the first date line that does not say it was updated, else the first."""
    for wanted in (lambda kind: kind == PUBLISHED, lambda kind: kind != UPDATED, lambda kind: True):
        for iso, kind in found:
            if wanted(kind):
                return iso
    return None


class _Dropper:
    """Drops lines and, when asked to explain, records which rule dropped each one."""

    def __init__(self, removed: list[Removal] | None) -> None:
        self.removed = removed
        self.active = removed is not None
        self.byline: str | None = None  # the first byline dropped: who signed the article

    def __call__(self, rule: str, text: str) -> None:
        if rule == BYLINE_RULE and self.byline is None:
            self.byline = byline_name(text)
        if self.removed is not None:
            self.removed.append(Removal(rule, text))

    def where(self, lines: list[str], rule_of) -> list[str]:
        """The lines for which `rule_of(line)` names no rule; the others are dropped."""
        kept = []
        for line in lines:
            rule = rule_of(line)
            if rule:
                self(rule, line)
            else:
                kept.append(line)
        return kept


def _language(declared: str | None, title: str | None, body: list[str]) -> str | None:
    if declared:
        code = declared.strip().replace("_", "-").split("-")[0].lower()
        if code.isalpha() and 2 <= len(code) <= 3:
            return code
    sample = " ".join([title or "", *body])[:_LANGUAGE_SAMPLE].casefold()
    words = _WORD.findall(sample)
    counts = {lang: sum(1 for w in words if w in stop) for lang, stop in _STOPWORDS.items()}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] >= 2 else None
