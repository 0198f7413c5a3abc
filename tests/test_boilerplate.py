"""Boilerplate classes (scrapers/boilerplate.py), each on pages written here in the shapes of
the seed sites' neighbours (tests/fixtures/dumps/, and HTML built below); never real pages."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.article import Removal
from scrapers.boilerplate import BYLINE_RULE, byline_name, single_line_rule
from scrapers.clean import clean_page

DUMPS = Path(__file__).resolve().parent / "fixtures" / "dumps"


def clean_dump(name: str, **kwargs):
    return clean_page((DUMPS / name).read_bytes(), **kwargs)


def text_of(article) -> str:
    return "\n".join([article.title or "", *article.paragraphs])


# --- comment sections and ad labels: a French regional press page ---------------------------


def test_comments_and_ad_labels_leave_a_regional_press_article():
    article = clean_dump("regional-press-comments.txt")
    assert article.is_article
    assert article.title.startswith("Dans la vallée, l'association d'accueil")
    assert [p[:30] for p in article.paragraphs] == [
        "L'association qui accompagne d",
        "« Nous avons vingt-deux jeunes",
        "Les familles volontaires sont ",
    ]
    for furniture in (
        "Publicité",
        "Annonce",
        "Sponsorisé",
        "réactions",
        "commentaire",
        "Michel R.",
        "Sandrine",
        "belle initiative",
    ):
        assert furniture not in text_of(article)


def test_the_comment_dates_are_not_the_article_date():
    article = clean_dump("regional-press-comments.txt")
    assert article.date == "2024-03-12"  # "Publié le", not "Mis à jour le", not a comment's


REGIONAL_HTML = """<!doctype html><html lang="fr"><head><meta charset="utf-8">
<title>Le marché de Noël solidaire revient place du Château - La Gazette de la Vallée</title></head><body>
<header><a href="/">La Gazette de la Vallée</a></header>
<div class="content"><h1>Le marché de Noël solidaire revient place du Château</h1>
<p class="signature">Publié le 02/12/2023 à 18h40</p>
<p>Pour sa troisième édition, le marché de Noël solidaire réunira samedi une trentaine d'associations de la vallée, dont plusieurs accompagnent des familles de demandeurs d'asile hébergées dans les communes voisines.</p>
<div class="pub">Publicité</div>
<p>Les recettes de la buvette seront reversées à l'épicerie solidaire, qui a vu le nombre de ses bénéficiaires doubler en deux ans selon ses bénévoles, dont la plupart sont des retraités du canton.</p>
<p>Les organisateurs attendent plus de deux mille visiteurs et ont prévu une navette gratuite depuis la gare.</p>
<h2>Commentaires (2)</h2>
<div class="comment"><p>Josiane M., le 03/12/2023 à 09h12</p><p>Nous y serons comme chaque année, bravo aux bénévoles !</p></div>
<div class="comment"><p>Pierre, le 03/12/2023 à 10h40</p><p>Dommage que ce soit le même jour que le loto.</p></div>
</div></body></html>"""  # noqa: E501 (the page's markup: one element per line)


def test_generic_html_page_loses_comments_and_ad_labels_and_keeps_its_date():
    article = clean_page(REGIONAL_HTML.encode(), url="https://gazette-vallee.example/vallee/marche-noel")
    assert article.is_article
    assert article.date == "2023-12-02"
    assert len(article.paragraphs) == 3
    for furniture in ("Publicité", "Commentaires", "Josiane", "bravo aux bénévoles", "loto"):
        assert furniture not in article.body


# --- video and related sidebars, source bylines: a news portal's video page -------------------


def test_video_page_loses_its_sidebar_and_keeps_its_whole_title():
    article = clean_dump("video-page.txt")
    assert article.is_article
    assert article.title == (
        "Mauritanie : au port de Nouadhibou, les candidats au départ vers les Canaries attendent une embarcation"
    )
    assert article.date == "2024-03-12"  # published, not modified
    assert len(article.paragraphs) == 3 and article.paragraphs[-1].endswith("permet la traversée.")
    for furniture in ("France 24", "Plus de vidéos", "démarre", "02:15", "El Hierro", "Huelva", "Publicité"):
        assert furniture not in text_of(article)


@pytest.mark.parametrize(
    "line",
    [
        "par France 24",
        "Par AFP",
        "By Reuters",
        "France 24 avec AFP",
        "Le Monde avec AFP et Reuters",
        "(avec AFP)",
        "Source : AFP",
        "Photo : IOM / Jane Doe",
        "By U.S. CUSTOMS AND BORDER PROTECTION",
        "aja/PAP",
        "Von dpa",
    ],
)
def test_source_bylines_and_credits(line):
    """A byline led by "par", "By", "Von" names who signed the text: it is kept as the author;
    a credit or an agency tag only leaves."""
    signed = byline_name(line)
    assert single_line_rule(line) == (BYLINE_RULE if signed else "source byline / credit")
    if line.lower().startswith(("par ", "by ", "von ")):
        assert signed == line.split(" ", 1)[1]


@pytest.mark.parametrize(
    "line",
    [
        "Publicité",
        "Annonce",
        "Advertisement",
        "Sponsorisé",
        "Anzeige",
        "Publicidad",
        "La suite après cette publicité",
    ],
)
def test_ad_labels(line):
    assert single_line_rule(line) == "ad label"


@pytest.mark.parametrize(
    "line",
    [
        "This website uses cookies to improve your experience. By continuing, you agree to our use of cookies.",
        "En poursuivant votre navigation sur ce site, vous acceptez l'utilisation de cookies.",
        "Nous utilisons des cookies pour mesurer l'audience. Vous pouvez modifier vos préférences à tout moment.",
    ],
)
def test_cookie_notices(line):
    assert single_line_rule(line) == "cookie notice"


@pytest.mark.parametrize(
    "line",
    [
        "Tags: Migration, Italie",
        "Mots-clés : asile ; Conseil d'État ; référés",
        "Keywords: Djibouti | Yemen | migrants",
        "Étiquettes : Frontex",
    ],
)
def test_tag_lists(line):
    assert single_line_rule(line) == "tag list"


@pytest.mark.parametrize(
    "line",
    [
        "Par ailleurs, le ministre a annoncé une aide de 3 millions d'euros pour les communes.",
        "La CNIL a infligé une amende de 150 millions d'euros à Google pour ses cookies publicitaires.",
        "Thèmes : la conférence a porté sur le retour volontaire, puis sur la réintégration des migrants.",
        "By the numbers",
        "Publicité mensongère : une agence de voyages condamnée pour avoir vendu de faux visas",
        "Les commentaires du ministre ont suscité une vive polémique à l'Assemblée nationale.",
        "Coffee with Friends",
        "Vidéo : la crue à Tillabéri",
        "Subscribe to the idea that migration is a choice, the minister said in his speech on Tuesday.",
    ],
)
def test_sentences_and_headings_that_look_like_cues_stay(line):
    assert single_line_rule(line) is None
    article = clean_page(
        f"Un titre d'article assez long pour être un titre\n\n{line}\n\n"
        "Un paragraphe d'article qui raconte ce qui s'est passé hier soir dans la ville, selon la police."
    )
    assert line in article.paragraphs


RELATED = """Un accord sur le retour volontaire des migrants bloqués à Agadez

Le Niger et l'OIM ont signé mardi un accord qui prévoit l'aide au retour volontaire de deux mille migrants bloqués à Agadez, a annoncé le ministère de l'Intérieur.

À lire aussi : Au Niger, la route du désert de plus en plus dangereuse pour les migrants

Les premiers départs sont prévus dans un mois, depuis le centre de transit de la ville, vers le Mali, le Sénégal et la Guinée.

Sur le même sujet
Migrants : l'Algérie multiplie les expulsions vers le Niger
Agadez, carrefour des routes migratoires du Sahel
Reportage : dans le centre de transit de l'OIM
"""  # noqa: E501 (a page dump: one line per paragraph)


def test_related_links_heading_with_its_headlines_and_inline_read_also():
    article = clean_page(RELATED)
    assert article.paragraphs == [
        "Le Niger et l'OIM ont signé mardi un accord qui prévoit l'aide au retour volontaire de deux mille migrants "
        "bloqués à Agadez, a annoncé le ministère de l'Intérieur.",
        "Les premiers départs sont prévus dans un mois, depuis le centre de transit de la ville, vers le Mali, le "
        "Sénégal et la Guinée.",
    ]


# --- legacy CMS markup debris ----------------------------------------------------------------


def test_legacy_related_box_markup_debris_leaves_the_text():
    article = clean_dump("iom-legacy-related-box.txt")
    assert article.is_article
    body = article.body
    for debris in ("style=", "onclick", "float", ".jpg", '"#"', "Related link", "window.open", "/sites/"):
        assert debris not in body
    assert "regional directorate for the protection of children." in body
    assert len(article.paragraphs) == 4
    assert [c.emails for c in article.contacts] == [["adiallo@iom.int"]]


@pytest.mark.parametrize(
    ("name", "link_text", "paragraphs"),
    [
        ("iom-en-related-box-debris.txt", "The Sahel in figures", 3),
        ("iom-fr-related-box-debris.txt", "La migration au Sahel en chiffres", 3),
    ],
)
def test_a_related_box_leaked_as_lines_of_markup_leaves_with_its_link_text(name, link_text, paragraphs):
    """Lines of inline CSS, an <img> fragment, an onclick fragment and an orphan '">', each
    one piece of markup on its own line, then the text of the link the box held."""
    removed: list[Removal] = []
    article = clean_dump(name, removed=removed)
    assert article.is_article, article.reason
    for debris in ("BORDER", "rgb(", "<img", ".gif", "onclick", "window.open", '">', "<span", "Related:"):
        assert debris not in article.body, debris
    assert link_text not in article.body
    assert len(article.paragraphs) == paragraphs
    # text around the box is whole, its opening quotation mark included
    assert article.paragraphs[-1].startswith(('"Information is', "« L’information"))
    rules = {r.text: r.rule for r in removed}
    assert rules[link_text] == "markup debris (the text of the box's link)"
    assert sum(rule.startswith("markup debris") for rule in rules.values()) >= 4


@pytest.mark.parametrize(
    "line",
    [
        "Accueil > Actualités > Monde",
        "Temperatures were > 40 degrees in the camp; the ministry said width: 3 metres.",
        "Le ratio x = y a été retenu ; la couleur : rouge.",
    ],
)
def test_text_that_only_looks_like_markup_is_kept(line):
    from scrapers.debris import drop_markup_debris

    assert drop_markup_debris([line], lambda rule, text: None) == [line]


def test_explain_names_the_rule_for_every_removed_line():
    removed: list[Removal] = []
    article = clean_dump("video-page.txt", removed=removed)
    rules = {r.text: r.rule for r in removed}
    assert rules["par France 24"] == "byline (kept as author)"
    assert article.author == "France 24"
    assert rules["Publicité"] == "ad label"
    assert rules["Plus de vidéos"].startswith("related links")
    assert rules["Publié le : 12/03/2024 - 10:15"] == "date line"
    assert rules["Accueil"] == "navigation phrase"
    assert all(r.text not in article.paragraphs for r in removed)
