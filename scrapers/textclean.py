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
import unicodedata

from core.article import Article, PageMetadata, Removal
from scrapers.boilerplate import drop_boilerplate, single_line_rule
from scrapers.contacts import EMAIL, extract_contacts, repair_mailto
from scrapers.dates import PUBLISHED, UPDATED, dated_line
from scrapers.decide import decide, is_field_line
from scrapers.measure import ENDS_SENTENCE as _ENDS_SENTENCE
from scrapers.measure import SENTENCE_END as _SENTENCE_END
from scrapers.measure import forget as forget_measures
from scrapers.measure import headline_key as _headline_key
from scrapers.measure import is_prose as _is_prose
from scrapers.measure import units
from scrapers.profiles import Profile
from scrapers.template import SourceTemplate

# Soft hyphens and zero-width characters are hints for line breaking, not text: left in,
# they split the words keyword alerts look for ("mi\u00adgrants").
_INVISIBLE = re.compile("[\u00ad\u200b\u2060\ufeff]")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_SPACE_RUN = re.compile(r"\s+")  # str patterns: NBSP, thin and narrow spaces included
_LINE_BREAKS = re.compile(r"\r\n?|[\u2028\u2029\x0b\x0c\x85]")

_LIST_ITEM = re.compile(r"^(?:[-–—•*·▪►]|\d{1,2}[.)])(?:\s|$)")
_ENDS_AS_STATEMENT = re.compile(r"[.:;,][\"”’)\]]*$")  # a headline may end with ? ! » …

_WRAP_MIN_LINE = 25
_WRAP_SHARE = 0.75
_PARAGRAPH_END_SHARE = 0.6
_ALONE_MAX_CHARS = 100
_GLUED_LOOKBACK = 3

_NAVIGATION = re.compile(
    r"^(?:back\s+to\s+top|top\s+of\s+page|retour\s+en\s+haut(?:\s+de\s+(?:la\s+)?page)?|haut\s+de\s+(?:la\s+)?page"
    r"|vous\s+êtes\s+ici|you\s+are\s+here|skip\s+to\s+(?:main\s+)?content|aller\s+au\s+contenu(?:\s+principal)?"
    r"|menu|main\s+menu|menu\s+principal|fermer|close|rechercher|search|recherche|accueil|home"
    r"|partager(?:\s+(?:sur|cet\s+article|la\s+page)(?:\s+\w+)?)?|share(?:\s+(?:on|this)(?:\s+\w+)?)?"
    r"|imprimer|print|lire\s+la\s+suite|read\s+more|en\s+savoir\s+plus|learn\s+more|suivez[-\s]nous|follow\s+us"
    r"|previous|next|précédent|suivant|article\s+précédent|article\s+suivant|previous\s+article|next\s+article"
    # the article's own action links and a consent banner's buttons
    r"|version\s+imprimable|printer[-\s]friendly(?:\s+version)?|tweeter|tweet|lire\s+plus\s+tard|read\s+later"
    r"|save\s+for\s+later|accepter|tout\s+accepter|accept(?:\s+all)?(?:\s+cookies)?|j['’]accepte|i\s+agree"
    r"|refuser|tout\s+refuser|decline|reject\s+all|ok,?\s+j['’]ai\s+compris|got\s+it)"
    r"\s*:?$",
    re.I,
)
_PAYWALL = re.compile(
    r"^(?:offert|gratuit|free|premium|exclusif|exclusive|abonnés?|subscribers?(?:\s+only)?"
    r"|réservé\s+aux\s+abonnés|accès\s+(?:libre|abonné)|contenu\s+(?:réservé|payant|premium|offert)"
    r"|article\s+(?:réservé\s+aux\s+abonnés|payant|offert|gratuit)|subscriber\s+(?:only|exclusive)|paid\s+content)$",
    re.I,
)
_BREADCRUMB_SEPARATOR = re.compile(r"\s[>›]\s")
# An identifier glued to others, as in an icon-sprite names line: "arrow-leftarrowarticleShowed",
# "feedMark__icon--radio", "fb-footer-iconfb-iconfb".
_GLUED_TOKEN = re.compile(
    r"[a-z][A-Z]|icon|__|--|[a-z]-[a-z]+-[a-z]",
)
_GLUED_TOKEN_MIN = 12
_SPRITE_MIN_LINE = 40
_SPRITE_GLUED_SHARE = 0.4

# "APRNEWS : …", "APRNEWS- …", "AFP - …": an agency name leading a block.
_AGENCY_PREFIX = re.compile(r"^(?P<token>[A-Z][A-Z0-9&]{2,}(?:\s[A-Z][A-Z0-9&]{2,})?)\s*[:\-–—]\s*(?=\S)")
_HEADLINE_SUFFIX = re.compile(r"\s+[|–—-]\s+[^|–—-]{1,60}$")

_TITLE_MIN_WORDS = 4
_TITLE_MAX_WORDS = 40
_TITLE_PROSE_LOOKAHEAD = 3
_LABEL_MAX_WORDS = 3
# Before the headline, a site menu may hold teaser blurbs (a menu heading, then a sentence
# about it): the headline search passes over them while they are a minority of the prose.
_TEASER_HEADING_MAX_UNITS = 6
_TEASERS_MAX_PROSE_SHARE = 0.4

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


def text_to_blocks(text: str) -> list[str]:
    """Cut a plain-text dump into blocks, one per paragraph or line-level item.

    Blank lines always separate blocks. Inside a run of lines, a line break is a hard wrap
    (joined) or a real break by measure: a run whose lines are mostly long and end without
    sentence punctuation is a wrapped paragraph (seed 004); elsewhere a break is a wrap
    only when the next line continues in lowercase. One paragraph per line (seed 002) and
    name/office/phone lines stay apart.
    """
    blocks: list[str] = []
    run: list[str] = []
    for line in _LINE_BREAKS.sub("\n", text).split("\n"):
        line = _normalise_line(line)
        if line:
            run.append(line)
        elif run:
            blocks.extend(_unwrap(run))
            run = []
    if run:
        blocks.extend(_unwrap(run))
    return blocks


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
        lines.extend(_unwrap([_normalise_line(x) for x in _LINE_BREAKS.sub("\n", block).split("\n")]))
    lines = [repair_mailto(line) for line in lines]
    lines = drop_boilerplate(lines, meta.link_keys, drop)
    labels = _label_patterns(profile)
    lines = drop.where(lines, lambda line: _junk_rule(line, labels))
    lines = _drop_glued_menu(lines, drop)
    lines = _strip_agency_prefix(lines, profile.extra.get("agency_prefix"))

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
    lines = _drop_adjacent_duplicates(lines, drop)

    title, body = _split_title(lines, meta, drop)
    if title:
        same = _headline_key(title)
        body = drop.where(
            body,
            lambda p: (
                "copy of the headline" if _could_be_same_headline(p, title) and _headline_key(p) == same else None
            ),
        )
    body = _drop_adjacent_duplicates(body, drop)

    # The decision reads the main content: what follows the headline (menus precede it).
    start = content.index(title) + 1 if title in content else 0
    verdict = decide(body, content=content[start:], dates=dates[start:], meta=meta, found_via=found_via)
    # The template comes last and never decides: whether the page is an article was judged
    # on what the rules left.
    body, template_removed = template.apply(body, drop) if template else (body, [])
    return Article(
        title=title,
        date=date,
        paragraphs=body,
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

    def __call__(self, rule: str, text: str) -> None:
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


def normalise_space(text: str) -> str:
    """NFC, invisible characters removed, every whitespace/NBSP run as one space, stripped."""
    text = unicodedata.normalize("NFC", _INVISIBLE.sub("", text))
    return _SPACE_RUN.sub(" ", _CONTROL.sub(" ", text)).strip()


_normalise_line = normalise_space


def _unwrap(lines: list[str]) -> list[str]:
    lines = [line for line in lines if line]
    if len(lines) < 2:
        return lines
    # A date line, a byline or a label is a line of its own, never a wrapped piece of the
    # headline above it ("… une embarcation" / "par France 24" / "Publié le 12/03/2024").
    alone = [_stands_alone(line) for line in lines]
    wrapped = _is_wrapped_run([line for line, a in zip(lines, alone, strict=True) if not a])
    width = max(map(len, lines))
    out = [lines[0]]
    for i in range(1, len(lines)):
        if not (alone[i] or alone[i - 1]) and _is_wrap(lines[i - 1], lines[i], wrapped, width):
            out[-1] = _join(out[-1], lines[i])
        else:
            out.append(lines[i])
    return out


def _stands_alone(line: str) -> bool:
    return len(line) <= _ALONE_MAX_CHARS and bool(dated_line(line) or single_line_rule(line))


def _is_wrapped_run(lines: list[str]) -> bool:
    if len(lines) < 3 or any(_LIST_ITEM.match(line) for line in lines):
        return False
    inner = lines[:-1]
    wrap_like = sum(1 for line in inner if len(line) >= _WRAP_MIN_LINE and not _ENDS_SENTENCE.search(line))
    return wrap_like >= _WRAP_SHARE * len(inner)


def _is_wrap(previous: str, line: str, wrapped: bool, width: int) -> bool:
    if _LIST_ITEM.match(line):
        return False
    if _ends_with_hyphenated_fragment(previous) and line[0].isalpha():
        return True
    if wrapped:
        # Inside a wrapped paragraph, a short line that ends a sentence is a paragraph end.
        return not (_ENDS_SENTENCE.search(previous) and len(previous) < _PARAGRAPH_END_SHARE * width)
    return line[0].islower() and not _ENDS_SENTENCE.search(previous)


def _ends_with_hyphenated_fragment(line: str) -> bool:
    return len(line) >= 2 and line[-1] == "-" and line[-2].isalpha()


def _join(left: str, right: str) -> str:
    if _ends_with_hyphenated_fragment(left) and right[0].isalpha():
        return left + right
    return left + " " + right


_LABEL_CACHE: dict[tuple[str, ...], tuple[re.Pattern, ...]] = {}


def _label_patterns(profile: Profile) -> tuple[re.Pattern, ...]:
    # One pattern each: profiles write inline flags ("(?i)…"), which cannot be joined by "|".
    key = tuple(profile.label_lines)
    if key not in _LABEL_CACHE:
        _LABEL_CACHE[key] = tuple(re.compile(p, re.I) for p in key)
    return _LABEL_CACHE[key]


def _junk_rule(line: str, labels: tuple[re.Pattern, ...]) -> str | None:
    """The name of the junk-line rule `line` falls under, or None."""
    if not any(c.isalnum() for c in line):
        return "no letter or digit"
    if any(label.fullmatch(line) for label in labels):
        return "site profile label"
    if len(line) <= 60:
        if _NAVIGATION.match(line):
            return "navigation phrase"
        if _PAYWALL.match(line):
            return "paywall badge"
    if len(_BREADCRUMB_SEPARATOR.findall(line)) >= 2 and not _ENDS_SENTENCE.search(line):
        return "breadcrumb"
    if _is_sprite_names(line):
        return "icon-sprite names"
    return None


def _is_sprite_names(line: str) -> bool:
    if len(line) < _SPRITE_MIN_LINE:
        return False
    glued = sum(len(token) for token in line.split() if len(token) >= _GLUED_TOKEN_MIN and _GLUED_TOKEN.search(token))
    return glued >= _SPRITE_GLUED_SHARE * len(line.replace(" ", ""))


def _drop_glued_menu(lines: list[str], drop: _Dropper) -> list[str]:
    """Drop mega-menu entries: a heading line, then (within a few lines, a teaser blurb may
    come between) the same heading glued to its teaser ("Qui sommes nous" / "Qui sommes
    nousL'Organisation…"); the whole entry goes."""
    doomed: set[int] = set()
    for i in range(1, len(lines)):
        line = lines[i]
        for back in range(1, min(_GLUED_LOOKBACK, i) + 1):
            heading = lines[i - back]
            if (
                len(line) > len(heading) >= 3
                and line.startswith(heading)
                and heading[-1].isalnum()
                and line[len(heading)].isalpha()
            ):
                doomed.update(range(i - back, i + 1))
                break
    for i in sorted(doomed):
        drop("menu heading glued to its teaser", lines[i])
    return [line for i, line in enumerate(lines) if i not in doomed]


def _strip_agency_prefix(lines: list[str], known: str | None = None) -> list[str]:
    """Strip an all-caps agency token that leads the headline and at least one other block
    (or the one the site profile names).

    A place dateline ("Mexique - …", "GENEVA – …") leads one paragraph only and stays.
    """
    leads: dict[str, list[int]] = {}
    for i, line in enumerate(lines):
        match = _AGENCY_PREFIX.match(line)
        if match:
            leads.setdefault(match["token"], []).append(i)
    agencies = {
        token
        for token, where in leads.items()
        if len(where) >= 2 and any(_is_heading_like(_AGENCY_PREFIX.sub("", lines[i], count=1)) for i in where)
    }
    if known:
        agencies.add(known)
    if not agencies:
        return lines
    out = []
    for line in lines:
        match = _AGENCY_PREFIX.match(line)
        out.append(line[match.end() :] if match and match["token"] in agencies else line)
    return out


def _is_heading_like(line: str) -> bool:
    return (
        _TITLE_MIN_WORDS <= units(line) <= _TITLE_MAX_WORDS
        and not _ENDS_AS_STATEMENT.search(line)
        and not _LIST_ITEM.match(line)
        and not EMAIL.search(line)
        and not _SENTENCE_END.search(line[:-1])
    )


def _drop_adjacent_duplicates(lines: list[str], drop: _Dropper) -> list[str]:
    out: list[str] = []
    previous_key = None  # of the line just seen (equal to the last kept one's when dropped)
    for i, line in enumerate(lines):
        if i and _could_be_same_headline(line, lines[i - 1]):
            key = _headline_key(line)
            if previous_key is None:
                previous_key = _headline_key(lines[i - 1])
            if key == previous_key:
                drop("repeated line", line)
                continue
            previous_key = key
        else:
            previous_key = None
        out.append(line)
    return out


def _could_be_same_headline(a: str, b: str) -> bool:
    """A cheap test before `_headline_key`: two texts with the same words are of similar length
    (a source prefix or other punctuation aside); comparing keys of every paragraph was the
    largest cost of the text rules."""
    return abs(len(a) - len(b)) <= 20 + min(len(a), len(b)) // 2


def _split_title(lines: list[str], meta: PageMetadata, drop: _Dropper) -> tuple[str | None, list[str]]:
    """(title, body): the title line and what follows it; what precedes it is dropped (but
    for running text above a title named by the page's metadata)."""
    # A page that names its title (HTML metadata) is not searched for a heading-like line: in
    # an extracted main content such a line is a subheading, and what precedes it is text.
    index = _find_meta_title(lines, meta.title) if meta.title else _find_title_line(lines)
    if index is not None:
        # Running text above a headline the page names is the extracted content's lead or
        # standfirst, not a menu: menus were left out with the rest of the page.
        kept = []
        for line in lines[:index]:
            if meta.title and _is_prose(line):
                kept.append(line)
            else:
                drop("before the headline (menu, labels)", line)
        return lines[index], kept + lines[index + 1 :]
    title = _clean_meta_title(meta.title) if meta.title else None
    start = 0
    while start < len(lines) and _is_label(lines[start]):
        drop("label before the text", lines[start])
        start += 1
    return title, lines[start:]


def _find_meta_title(lines: list[str], title: str) -> int | None:
    wanted = {_headline_key(title), _headline_key(_clean_meta_title(title))}
    for i, line in enumerate(lines):
        if _could_be_same_headline(line, title) and _headline_key(line) in wanted:
            return i
    return None


def _clean_meta_title(title: str) -> str:
    title = normalise_space(title)
    match = _AGENCY_PREFIX.match(title)
    if match:
        title = title[match.end() :]
    stripped = _HEADLINE_SUFFIX.sub("", title)
    return stripped if units(stripped) >= _TITLE_MIN_WORDS else title


def _find_title_line(lines: list[str]) -> int | None:
    """The first heading-like line followed closely by running text, looked for before the
    article's running text. A site menu before the headline may hold teaser blurbs (a short
    menu heading, then a sentence about it): the search passes over them when there are
    several and they are a minority of the page's prose; any other prose ends the search."""
    prose = [_is_prose(line) for line in lines]
    total = sum(units(line) for line, p in zip(lines, prose, strict=True) if p)
    passed = blurbs = 0
    for i, line in enumerate(lines):
        if prose[i]:
            passed += units(line)
            if not _is_teaser_blurb(lines, i) or passed > _TEASERS_MAX_PROSE_SHARE * total:
                return None
            blurbs += 1
            continue
        if (
            _is_heading_like(line)
            and any(prose[i + 1 : i + 1 + _TITLE_PROSE_LOOKAHEAD])
            and not _in_field_run(lines, i)
        ):
            if passed and (blurbs < 2 or sum(prose[i + 1 : i + 2 + _TITLE_PROSE_LOOKAHEAD]) < 2):
                continue  # a menu heading with its blurb, not the headline of the article
            return i + 1 if _is_label_above_headline(lines, prose, i) else i
    return None


def _is_label_above_headline(lines: list[str], prose: list[bool], i: int) -> bool:
    """A heading-like line in a stack of labels ("Communiqué" / "Afrique de l’Ouest et du
    Centre"), above a longer one that running text follows at once, is a label too (a region,
    a section); the headline is below. Without a label above it, the line is the headline and
    the one below a subheading."""
    below = i + 1
    return (
        i > 0
        and _is_label(lines[i - 1])
        and below + 1 < len(lines)
        and prose[below + 1]
        and not prose[below]
        and len(lines[below]) > len(lines[i])
        and _is_heading_like(lines[below])
        and not _in_field_run(lines, below)
    )


def _in_field_run(lines: list[str], i: int) -> bool:
    """A "Label: value" line beside another one: a record's field, not a headline."""
    return is_field_line(lines[i]) and any(0 <= j < len(lines) and is_field_line(lines[j]) for j in (i - 1, i + 1))


def _is_teaser_blurb(lines: list[str], i: int) -> bool:
    heading = lines[i - 1] if i else ""
    return bool(heading) and units(heading) <= _TEASER_HEADING_MAX_UNITS and not _ENDS_SENTENCE.search(heading)


def _is_label(line: str) -> bool:
    return units(line) <= _LABEL_MAX_WORDS and not _ENDS_SENTENCE.search(line)


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
