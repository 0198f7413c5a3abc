"""Dumps of the seed sites that differ from the seeds: a menu found by its shape in any
language (a lone "-", headings followed by their copy in capitals glued to a blurb, items
printed twice, "- " items), then the headline and a hard-wrapped article without a blank
line anywhere; and the other ways a dump may print its line breaks."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from scrapers.clean import clean_page
from scrapers.textclean import text_to_blocks

DUMPS = Path(__file__).resolve().parent / "fixtures" / "dumps"

MENU_DUMPS = {
    "iom-en-menu-wrapped.txt": dict(
        title="IOM Trains Border Officials in Ecuador to Identify Victims of Trafficking",
        openings=["Quito - Forty officials", "The five-day course", '"Officers at the border', "The training is part"],
        last="The training is part of a regional programme funded by the Government of Canada, which will reach "
        "Colombia and Peru later this year.",
        menu=["Who we are", "OUR MISSION", "Leadership", "What We Do", "Where We Work", "Data and Research"],
    ),
    "oim-es-menu-wrapped.txt": dict(
        title="La OIM capacita a funcionarios fronterizos de Ecuador en la identificación de víctimas de trata",
        openings=[
            "Quito - Cuarenta funcionarios",
            "El curso de cinco días",
            "«Los agentes de frontera",
            "La capacitación",
        ],
        last="La capacitación forma parte de un programa regional financiado por el Gobierno de Canadá, que llegará "
        "a Colombia y Perú a finales de este año.",
        menu=["Quiénes somos", "NUESTRA MISIÓN", "Dirección", "Qué hacemos", "Dónde trabajamos", "Participe"],
    ),
}


@pytest.mark.parametrize("name", sorted(MENU_DUMPS))
def test_a_menu_of_glued_capitals_and_repeated_items_leaves_a_wrapped_article(name):
    expected = MENU_DUMPS[name]
    removed = []
    article = clean_page((DUMPS / name).read_bytes(), removed=removed)
    assert article.is_article, article.reason
    assert article.title == expected["title"]
    # one paragraph per wrapped paragraph, not per line
    assert len(article.paragraphs) == len(expected["openings"])
    for paragraph, opening in zip(article.paragraphs, expected["openings"], strict=True):
        assert paragraph.startswith(opening)
    assert article.paragraphs[-1] == expected["last"]
    for furniture in expected["menu"]:
        assert all(furniture not in p for p in article.paragraphs), furniture
    assert [c.name for c in article.contacts] == ["Ana Lucía Torres"]
    rules = {r.rule for r in removed}
    assert {"menu heading glued to its teaser", "repeated line", "before the headline (menu, labels)"} <= rules


PARAGRAPHS = {
    "en": [
        "The ministry said on Tuesday that more than two thousand people had been moved from the riverside "
        "camps to temporary shelters in schools and sports halls before the floods reached the town.",
        "Local officials said the shelters were now full and asked the regional government for tents, "
        "blankets and drinking water, as more rain is expected until the end of the week.",
        "Aid groups working in the area said families who had crossed the border in recent months were among "
        "the most exposed, since many of them had no papers and feared going to the shelters.",
    ],
    "fr": [
        "Le ministère a indiqué mardi que plus de deux mille personnes avaient été déplacées des campements "
        "installés au bord du fleuve vers des abris provisoires aménagés dans des écoles et des gymnases.",
        "Les responsables locaux ont précisé que les abris étaient désormais pleins et ont demandé au "
        "gouvernement régional des tentes, des couvertures et de l’eau potable pour la fin de la semaine.",
        "Les associations présentes sur place ont souligné que les familles arrivées ces derniers mois "
        "figuraient parmi les plus exposées, beaucoup d’entre elles n’ayant pas de papiers.",
    ],
}


def _wrapped(paragraphs, width, separator):
    return separator.join("\n".join(textwrap.wrap(p, width)) for p in paragraphs)


@pytest.mark.parametrize("language", sorted(PARAGRAPHS))
@pytest.mark.parametrize(
    "layout",
    [
        ("blank line between paragraphs", lambda p: _wrapped(p, 70, "\n\n")),
        ("no blank line", lambda p: _wrapped(p, 76, "\n")),
        ("a blank line after every line", lambda p: _wrapped(p, 66, "\n").replace("\n", "\n\n")),
        ("CRLF, no blank line", lambda p: _wrapped(p, 72, "\n").replace("\n", "\r\n")),
    ],
    ids=lambda layout: layout[0],
)
def test_every_layout_of_hard_wraps_gives_the_paragraphs(language, layout):
    """(In these widths each paragraph's last line leaves room for the next word: a full last
    line that ends a sentence cannot be told from a wrap, and is joined.)"""
    _name, lay_out = layout
    assert text_to_blocks(lay_out(PARAGRAPHS[language])) == PARAGRAPHS[language]


@pytest.mark.parametrize(
    ("headline", "language"),
    [
        ("Floods Force Thousands From Riverside Camps Near the Border", "en"),
        ("Inondations : des milliers de personnes quittent les campements installés au bord du fleuve", "fr"),
    ],
)
def test_a_headline_right_above_wrapped_text_is_not_joined_to_it(headline, language):
    """Title Case, or wider than the wrapped lines under it: a wrap never makes a line longer
    than its width."""
    text = headline + "\n" + _wrapped(PARAGRAPHS[language], 62, "\n")
    assert text_to_blocks(text) == [headline, *PARAGRAPHS[language]]
