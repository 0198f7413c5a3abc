"""Classes of boilerplate that survive HTML-level extraction and text dumps alike.

Each class is one rule with a name (what `newswatch clean --explain` prints), a cue and a
structural check, so that one word in an article does not remove it:

  ad label          a line that is only an advertising label ("Publicité", "Anzeige", "Ad")
                    or a "story continues below" notice;
  video sidebar     an autoplay countdown ("La vidéo suivante démarre dans 5 secondes"),
                    a bare duration ("02:15");
  related links     a heading such as "À lire aussi", "Plus de vidéos", "Read more",
                    "Auch interessant" and the run of headlines (link texts, headline-like
                    lines) under it; an inline "Lire aussi : <headline>" line; a run of link
                    texts closing the main content;
  comments          from a comment-section heading ("Commentaires", "12 réactions", "Leave a
                    reply", "Kommentare") or a run of commenter lines (a name and a date/time)
                    to the end of the text, once the article's running text is behind;
  source byline     "par France 24", "Par AFP", "By Reuters", "France 24 avec AFP",
                    "Source : AFP", "Photo : X", "aja/PAP": who signed or supplied the text;
  promotion         a short call to subscribe, follow or download ("Abonnez-vous à notre
                    newsletter", "Follow us on Twitter", "Jetzt abonnieren");
  copyright         "© 2024 …", "Tous droits réservés", "All rights reserved";
  cookie notice     a short line about cookies that addresses the reader ("This website uses
                    cookies … you agree", "En poursuivant votre navigation, vous acceptez …");
  tag list          "Tags: Migration, Italie", "Mots-clés : …": a label, then a list of short
                    items with no sentence;
  markup debris     pieces of raw markup inside the text of old CMS pages (`scrapers.debris`).

The cue lexicons cover the languages of the sources (French, English) and of the corpora the
rules are measured on (German, Spanish, Italian, Portuguese, Polish, Dutch); the structural
check is what keeps a rule from firing inside running text.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from scrapers.debris import drop_markup_debris
from scrapers.measure import SENTENCE_END, headline_key, is_prose, units
from scrapers.page_tail import cut_page_tail

Drop = Callable[[str, str], None]  # (rule, text)
BYLINE_RULE = "byline (kept as author)"


# --- single-line classes ------------------------------------------------------------------

_AD_LABEL = re.compile(
    r"^(?:publicit[ée]|annonce|annonces|advertisement|advertisements|advertising|advertisment|ad|ads"
    r"|sponsoris[ée]e?|contenu sponsoris[ée]|sponsored(?: content)?|anzeige|werbung|publicidad|pubblicit[àa]"
    r"|publicidade|reklama|advertentie|partenaire|contenu partenaire|paid post|promoted"
    r"|(?:the )?(?:story|article) continues below(?: (?:this )?advertisement)?|continue reading below"
    r"|la suite (?:de l['’]article )?après (?:cette )?(?:la )?publicit[ée]|l['’]article continue ci-dessous"
    r"|suite de l['’]article après (?:la|cette) publicit[ée]|weiter nach der anzeige)"
    r"\s*[:.…]?$",
    re.I,
)
_AUTOPLAY = re.compile(
    r"^(?:(?:la |the )?(?:vid[ée]o|video|clip)s? (?:suivante|next|d['’]après)|(?:up )?next(?: video)?"
    r"|lecture automatique|autoplay|prochaine vid[ée]o)"
    r"\b.{0,60}?\b(?:\d+\s*(?:s|sec|secondes?|seconds?)\b|dans|in)\b.{0,30}$"
    r"|^(?:autoplay|lecture automatique)(?:\s*[:\-]?\s*(?:on|off|activ[ée]e?|d[ée]sactiv[ée]e?))?$",
    re.I,
)
_DURATION = re.compile(r"^(?:\d{1,2}:)?\d{1,2}:\d{2}$")
_COPYRIGHT = re.compile(
    r"^(?:©|\(c\)|copyright\b)|\b(?:tous droits réservés|all rights reserved|alle rechte vorbehalten"
    r"|todos los derechos reservados|tutti i diritti riservati|wszelkie prawa zastrzeżone)\b",
    re.I,
)
# A cookie banner speaks to the reader about the site's cookies; an article about cookies
# does not say "you agree to our use of cookies".
_COOKIE = re.compile(r"\b(?:cookies?|traceurs|témoins de connexion)\b", re.I)
_COOKIE_ADDRESS = re.compile(r"\b(?:you|your|vous|votre|vos|we|our|nous|nos|notre)\b", re.I)
_COOKIE_CONSENT = re.compile(
    r"\b(?:accept|agree|consent|continu|brows|navigat|utilis|use[sd]?|improve|améliorer|paramétr|settings|préférences)",
    re.I,
)
_COOKIE_MAX_UNITS = 45
_TAG_LIST = re.compile(
    r"^(?:tags?|mots?[- ]cl[ée]s?|[ée]tiquettes?|keywords?|th[èe]mes?|sujets?|topics?|schlagw[öo]rter|etiquetas)"
    r"\s*:\s*(?P<items>\S.*)$",
    re.I,
)
_TAG_ITEM_MAX_UNITS = 5
_BYLINE_LEAD = re.compile(r"^(?:par|by|von|por|door|di|da|przez|av|af)\s+(?=\S)", re.I)
# "France 24 avec AFP", "Le Monde avec AFP et Reuters", "(avec AFP)", "with AP"
_AGENCY = r"(?:[A-Z]{2,6}|Reuters|Bloomberg|Belga|Xinhua|Anadolu)"
_AGENCY_ALONE = re.compile(rf"^{_AGENCY}$", re.I)
_WITH_AGENCY = re.compile(
    rf"^\(?(?:[\w'’.\- ]{{0,40}}\s)?(?:avec|with|mit|con|z)\s+{_AGENCY}(?:\s*(?:,|et|and|und|y|i)\s*{_AGENCY})*\)?$"
)
_CREDIT = re.compile(
    r"^(?:photo|photos|foto|fotos|crédits?(?: photo)?|credits?|image|illustration|bild|titelbild|source"
    r"|sources|quelle|fuente|fonte|źródło)\s*(?::|©)\s*\S.{0,70}$",
    re.I,
)
# "aja/PAP", "dpa/afp", "mb/AFP": staff initials and the agency, the way Polish, German and
# other wire copy ends.
_AGENCY_CREDIT = re.compile(r"^[a-ząćęłńóśźż]{1,4}(?:/[a-ząćęłńóśźż]{1,4})*/[A-Za-z]{2,5}$")
_BYLINE_MAX_UNITS = 8
_INITIAL = re.compile(r"\b[A-Z]\.")  # "U.S.", "J. Smith": not sentence ends
_PROMOTION = re.compile(
    r"^(?:abonnez[- ]vous|inscrivez[- ]vous|suivez[- ]nous|rejoignez[- ]nous|téléchargez|recevez"
    r"|subscribe|sign up|follow us|join us|download|get the|get our|don['’]t miss"
    r"|jetzt (?:abonnieren|anmelden|registrieren)|abonnieren sie|folgen sie uns|zum newsletter|melden sie sich"
    r"|suscr[ií]bete|s[ií]guenos|descarga|iscriviti|seguici|scarica|zapisz się|obserwuj nas)\b",
    re.I,
)
_PROMOTION_OBJECT = re.compile(
    r"newsletter|abonn|subscri|app\b|apps\b|application|edition|édition|telegram|twitter|facebook|instagram|whatsapp"
    r"|linkedin|youtube|tiktok|google news|podcast|notifications?|alertes?|e-?mail|rss",
    re.I,
)
_PROMOTION_MAX_UNITS = 25

# --- multi-line classes ---------------------------------------------------------------------

_RELATED_HEADING = re.compile(
    r"^(?:(?:à |a )?lire (?:aussi|également|egalement)|voir aussi|sur le même sujet|sur le meme sujet"
    r"|dans la même rubrique|plus de vid[ée]os|nos vid[ée]os|vid[ée]os? (?:similaires|recommandées)"
    r"|les plus lus|les plus partagés|articles? (?:similaires|liés|recommandés)|vous aimerez aussi|à découvrir"
    r"|read (?:more|also|next)|see also|related(?: (?:articles?|stories|posts|content|coverage|videos?|news))?"
    r"|more (?:videos|stories|news|from|on this)|you (?:may|might) (?:also )?(?:like|be interested)|recommended"
    r"|most (?:read|popular|viewed)|trending|further reading|top stories"
    r"|(?:das )?(?:könnte|dürfte) (?:sie|dich) auch interessieren|auch interessant|lesen sie auch|lies auch"
    r"|mehr zum thema|weitere (?:beiträge|artikel|themen|nachrichten|informationen zum thema)|zum weiterlesen"
    r"|schon gelesen|meistgelesen|ähnliche (?:beiträge|artikel)|verwandte (?:artikel|beiträge)"
    r"|lee (?:también|tambien)|te puede interesar|noticias relacionadas|más noticias|leggi anche|potrebbe interessarti"
    r"|articoli correlati|leia também|veja também|czytaj (?:też|także|również)|zobacz (?:też|także|również)"
    r"|polecamy|lees ook|meer nieuws)"
    r"\b.{0,40}$",
    re.I,
)
_INLINE_RELATED = re.compile(
    r"^(?:(?:à |a )?lire (?:aussi|également)|voir aussi|read (?:more|also)|see also|related"
    r"|lesen sie auch|auch interessant"
    r"|mehr zum thema|lee también|leggi anche|leia também|czytaj (?:też|także)|zobacz (?:też|także))"
    r"\s*(?::|>|»|-|–|—|\|)\s*(?P<rest>\S.*)$",
    re.I,
)
_RELATED_HEADING_MAX_UNITS = 8
_RELATED_ITEM_MAX_UNITS = 30


def drop_boilerplate(lines: list[str], link_keys: frozenset[str], drop: Drop) -> list[str]:
    """Apply every class above, in order; `drop(rule, text)` hears of each line removed."""
    lines = drop_markup_debris(lines, drop)
    kept = []
    for line in lines:
        rule = single_line_rule(line)
        if rule:
            drop(rule, line)
        elif line:
            kept.append(line)
    kept = _drop_related_runs(kept, link_keys, drop)
    return cut_page_tail(kept, drop)


def single_line_rule(line: str) -> str | None:
    """The single-line boilerplate class `line` belongs to, or None."""
    size = units(line)
    if size <= _PROMOTION_MAX_UNITS:
        if _AD_LABEL.match(line):
            return "ad label"
        if _DURATION.match(line) or (size <= 16 and _AUTOPLAY.match(line)):
            return "video sidebar (autoplay, duration)"
        if size <= _BYLINE_MAX_UNITS and _is_source_byline(line):
            return BYLINE_RULE if byline_name(line) else "source byline / credit"
        if _COPYRIGHT.search(line) and not is_prose(line.replace("©", "")):
            return "copyright"
        if size <= _COOKIE_MAX_UNITS and _is_cookie_notice(line):
            return "cookie notice"
        if _is_tag_list(line):
            return "tag list"
        promotion = _PROMOTION.match(line)
        if promotion and _PROMOTION_OBJECT.search(line, promotion.end()):
            return "promotion (subscribe, follow, download)"
    return None


def _is_cookie_notice(line: str) -> bool:
    return bool(_COOKIE.search(line) and _COOKIE_ADDRESS.search(line) and _COOKIE_CONSENT.search(line))


def _is_tag_list(line: str) -> bool:
    match = _TAG_LIST.match(line)
    if not match or SENTENCE_END.search(match["items"]):
        return False
    items = [item for item in re.split(r"\s*[,;|/·•]\s*", match["items"]) if item]
    return bool(items) and all(units(item) <= _TAG_ITEM_MAX_UNITS for item in items)


def _is_source_byline(line: str) -> bool:
    if _AGENCY_CREDIT.match(line) or _CREDIT.match(line):
        return True
    lead = _BYLINE_LEAD.match(line)
    if lead:
        rest = line[lead.end() :].rstrip(" .")
        return (
            bool(rest)
            and not SENTENCE_END.search(_INITIAL.sub("", rest))
            and (_is_name_like(rest) or bool(_AGENCY_ALONE.match(rest)))
        )
    return bool(_WITH_AGENCY.match(line)) and not SENTENCE_END.search(line)


def byline_name(line: str) -> str | None:
    """Who signed a "par …" / "By …" byline ("By Jane Doe" -> "Jane Doe"); None for a credit
    or a line that is no byline."""
    lead = _BYLINE_LEAD.match(line)
    if not lead or not _is_source_byline(line):
        return None
    return line[lead.end() :].strip(" .,;:") or None


def _is_name_like(text: str) -> bool:
    """Names and agencies: most words capitalised ("France 24", "Jean Dupont", "U.S. CUSTOMS
    AND BORDER PROTECTION", "Le Figaro avec AFP"); a sentence fragment is not."""
    words = [w for w in re.split(r"[\s,/&]+", text) if w]
    if not words:
        return False
    capitalised = sum(1 for w in words if w[:1].isupper() or w[:1].isdigit())
    return capitalised * 2 > len(words) and words[0][:1].isupper()


def _is_headline_like(line: str, link_keys: frozenset[str]) -> bool:
    size = units(line)
    if headline_key(line) in link_keys:
        return size <= _RELATED_ITEM_MAX_UNITS
    return 1 <= size <= _RELATED_ITEM_MAX_UNITS and not is_prose(line)


def _drop_related_runs(lines: list[str], link_keys: frozenset[str], drop: Drop) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        inline = _INLINE_RELATED.match(line)
        if inline and _is_headline_like(inline["rest"], link_keys):
            drop("related links (inline 'read also')", line)
            i += 1
            continue
        if units(line) <= _RELATED_HEADING_MAX_UNITS and _RELATED_HEADING.match(line) and not is_prose(line):
            j = i + 1
            while j < len(lines) and _is_headline_like(lines[j], link_keys):
                j += 1
            # A heading alone at the end, or followed by its headlines: the whole box goes.
            if j > i + 1 or j == len(lines):
                for dropped in lines[i:j]:
                    drop("related links (heading and its headlines)", dropped)
                i = j
                continue
        out.append(line)
        i += 1
    # A run of link texts closing the content, after its last running text: related links.
    if link_keys:
        end = len(out)
        while (
            end and headline_key(out[end - 1]) in link_keys and units(out[end - 1]) >= 3 and not is_prose(out[end - 1])
        ):
            end -= 1
        if len(out) - end >= 3 and any(is_prose(p) for p in out[:end]):
            for dropped in out[end:]:
                drop("related links (link texts closing the content)", dropped)
            out = out[:end]
    return out
