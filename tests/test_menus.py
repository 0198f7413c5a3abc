"""Menus and mega-menus in text dumps are found by their structure (short title-like lines,
menu headings glued to or followed by their teaser blurbs, before the headline), not by one
language's words: the English, French and Spanish IOM menus below all leave the article."""

from __future__ import annotations

from pathlib import Path

import pytest

from scrapers.clean import clean_page

DUMPS = Path(__file__).resolve().parent / "fixtures" / "dumps"
ARTICLE = [
    "Mexico - IOM and the Mexican National Migration Institute (INM) this week launched a two-year programme",
    "The programme will train 200 officials",
    '"Migrants who cross the southern border',
    "The programme is funded by the United States",
]


def test_english_iom_mega_menu_with_teaser_blurbs_leaves_the_article():
    article = clean_page((DUMPS / "iom-en-mega-menu.txt").read_bytes())
    assert article.is_article, article.reason
    assert article.title == (
        "IOM and Mexico Launch Assistance Programme for Migrants in Transit on the Southern Border"
    )
    assert [p[: len(start)] for p, start in zip(article.paragraphs, ARTICLE, strict=False)] == ARTICLE
    assert len(article.paragraphs) == 4
    for menu in (
        "Who We Are",
        "About IOM",
        "Leadership",
        "Our Work",
        "2030 Agenda",
        "Take Action",
        "leading inter-governmental",
        "Data and Research",
    ):
        assert menu.casefold() not in article.body.casefold()
    assert [c.name for c in article.contacts] == ["Jorge Gallo"]


BODY = """Le programme formera 200 agents à l’identification des victimes de la traite et des enfants non accompagnés, et équipera quatre foyers gérés par la société civile.
« Les migrants qui traversent la frontière sud sont exposés à l’extorsion et à la violence », a déclaré le chef de mission de l’OIM au Mexique.
Le programme est financé par le Bureau de la population, des réfugiés et des migrations du Département d’État américain."""  # noqa: E501 (a page dump: one line per paragraph)

MENUS = {
    # French: the blurbs on their own lines, not glued to the menu heading as in seed 002.
    "fr": """-
Qui sommes nous
L'Organisation internationale pour les migrations (OIM) fait partie du système des Nations Unies et est la première organisation intergouvernementale à promouvoir depuis 1951 une migration humaine et ordonnée.
Structure
- Directrice générale
- Bureau du Chef de Cabinet
Notre travail
En tant que principale organisation intergouvernementale qui promeut une migration humaine et ordonnée, l'OIM joue un rôle clé pour soutenir la réalisation du Programme 2030.
Agir
Travailler avec nous
- Données et recherche""",  # noqa: E501 (a page dump: one line per paragraph)
    # Spanish: words no rule has ever seen.
    "es": """Quiénes somos
La Organización Internacional para las Migraciones (OIM) forma parte del sistema de las Naciones Unidas y es la principal organización intergubernamental que promueve desde 1951 una migración humana y ordenada.
Quiénes somosLa Organización Internacional para las Migraciones forma parte del sistema de las Naciones Unidas.
Nuestro trabajo
Nuestro trabajoComo principal organización intergubernamental que promueve la migración humana y ordenada, la OIM desempeña un papel clave.
Actuar
Trabaje con nosotros
- Datos e investigación""",  # noqa: E501 (a page dump: one line per paragraph)
}


@pytest.mark.parametrize("language", sorted(MENUS))
def test_menus_of_other_languages_leave_the_article(language):
    title = "L’OIM et le Mexique lancent un programme d’aide aux migrants en transit à la frontière sud"
    first = (
        "Mexique - L’OIM et l’Institut national des migrations ont lancé cette semaine un programme de deux ans "
        "pour aider les migrants vulnérables en transit dans les États du Chiapas et du Tabasco."
    )
    article = clean_page(f"{MENUS[language]}\n{title}\n{first}\n{BODY}")
    assert article.is_article, article.reason
    assert article.title == title
    assert article.paragraphs[0] == first
    assert len(article.paragraphs) == 4


def test_a_short_intro_under_a_byline_is_not_taken_for_a_menu_blurb():
    """Passing over menu blurbs needs several of them: one paragraph under a short line (a
    byline) is the article's first paragraph, and the headline is not searched past it."""
    text = (
        "By Jane Doe\nThe ministry said on Tuesday that 2,000 people had been moved to temporary shelters.\n"
        "Shelters overwhelmed in the north\nLocal officials said the shelters were full and asked for tents.\n"
        "The rains are expected to continue until the end of the week, according to the weather service."
    )
    article = clean_page(text)
    assert any(p.startswith("The ministry said on Tuesday") for p in article.paragraphs)
