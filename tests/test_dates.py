"""French and English dates written on pages -> ISO dates."""

from __future__ import annotations

import pytest

from scrapers.dates import date_line, parse_date


@pytest.mark.parametrize(
    "text, iso",
    [
        ("Vendredi, 29 décembre 2023", "2023-12-29"),
        ("vendredi 29 decembre 2023", "2023-12-29"),
        ("29 déc. 2023", "2023-12-29"),
        ("1er janvier 2024", "2024-01-01"),
        ("le 3 févr. 2022 à Genève", "2022-02-03"),
        ("15 août 2021", "2021-08-15"),
        ("December 29, 2023", "2023-12-29"),
        ("Friday, Dec. 29th, 2023", "2023-12-29"),
        ("29 December 2023", "2023-12-29"),
        ("2 Sept 2019", "2019-09-02"),
        ("29/12/2023", "2023-12-29"),
        ("29.12.2023", "2023-12-29"),
        ("2023-12-29", "2023-12-29"),
        ("Published on 2023-12-29T08:00:00Z", "2023-12-29"),
    ],
)
def test_parse_date_reads_french_and_english_forms(text, iso):
    assert parse_date(text) == iso


@pytest.mark.parametrize(
    "text", ["le 24 novembre", "31/02/2023", "30 février 2024", "en 2011", "", "242.418 détentions"]
)
def test_parse_date_gives_none_without_a_full_valid_date(text):
    assert parse_date(text) is None


def test_numeric_dates_are_day_first_unless_the_numbers_say_otherwise():
    assert parse_date("03/04/2024") == "2024-04-03"
    assert parse_date("03/04/2024", dayfirst=False) == "2024-03-04"
    assert parse_date("12/29/2023") == "2023-12-29"


def test_the_first_date_of_a_text_wins():
    assert parse_date("mis à jour le 2 janvier 2024, publié le 29 décembre 2023") == "2024-01-02"


@pytest.mark.parametrize(
    "line, iso",
    [
        ("Vendredi, 29 décembre 2023", "2023-12-29"),
        ("Publié le 29/12/2023 à 10h30", "2023-12-29"),
        ("Updated: December 29, 2023 - 10:00 GMT", "2023-12-29"),
        ("29 Dec 2023", "2023-12-29"),
    ],
)
def test_date_line_recognises_a_line_that_is_only_a_date(line, iso):
    assert date_line(line) == iso


@pytest.mark.parametrize(
    "line",
    [
        "Le 29 décembre 2023, le ministre a annoncé de nouvelles mesures pour les migrants.",
        "Les délégations se rencontreront en janvier 2024 à Washington.",
        "Tel. +52 55 55 36 39 22",
    ],
)
def test_date_line_leaves_sentences_alone(line):
    assert date_line(line) is None


@pytest.mark.parametrize(
    "line, iso",
    [
        ("25 May, 2016", "2016-05-25"),
        ("12/03/2024 à 10h15", "2024-03-12"),
        ("Publié le 12 mars 2024 par France 24", "2024-03-12"),
        ("Publié le : 12/03/2024 - 10:15", "2024-03-12"),
        # Publication over update, whatever their order in the line.
        ("Publié le 12/03/2024 à 10h15, mis à jour le 13/03/2024 à 08h00", "2024-03-12"),
        ("Mis à jour le 13/03/2024 - Publié le 12/03/2024", "2024-03-12"),
        ("Published: 25 May, 2016 | Updated: 26 May, 2016", "2016-05-25"),
    ],
)
def test_date_lines_of_the_sites_neighbours(line, iso):
    assert date_line(line) == iso


def test_date_lines_say_whether_they_are_publication_or_update_dates():
    from scrapers.dates import dated_line

    assert dated_line("Mis à jour le 13 mars 2024 à 08h00") == ("2024-03-13", "updated")
    assert dated_line("Publié le 12 mars 2024") == ("2024-03-12", "published")
    assert dated_line("12 mars 2024") == ("2024-03-12", None)
    assert dated_line("Le 12 mars 2024, le ministre a annoncé un plan.") is None


def test_the_article_date_is_the_publication_date_not_the_update():
    from scrapers.clean import clean_page

    prose = "Le ministre a annoncé mardi un plan d’accueil pour les personnes déplacées par les inondations du sud."
    for lines in (
        ["Mis à jour le 13/03/2024 à 08h00", "Publié le 12/03/2024 à 10h15"],
        ["Publié le 12/03/2024 à 10h15", "Mis à jour le 13/03/2024 à 08h00"],
    ):
        article = clean_page("\n".join(["Un plan d’accueil pour les déplacés des inondations", *lines, prose, prose]))
        assert article.date == "2024-03-12"
    only_update = clean_page("Un plan d’accueil pour les déplacés des inondations\nMis à jour le 13/03/2024\n" + prose)
    assert only_update.date == "2024-03-13"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Publié le 05/11/2023 à 14h30 | Rubrique : Société", ("2023-11-05", "published")),
        ("Mis à jour le 06/11/2023 à 09h00", ("2023-11-06", "updated")),
        ("Publicado el 5 de noviembre de 2023 a las 14:30 | Sección: Sociedad", ("2023-11-05", "published")),
        ("Actualizado el 6 de noviembre de 2023", ("2023-11-06", "updated")),
        ("5. November 2023 um 14:30 Uhr", ("2023-11-05", None)),
        ("Pubblicato il 5 novembre 2023 alle 14:30", ("2023-11-05", "published")),
        ("Le 5 novembre 2023 | 3 commentaires", ("2023-11-05", None)),
    ],
)
def test_press_date_lines_of_several_languages(line, expected):
    from scrapers.dates import dated_line

    assert dated_line(line) == expected


def test_a_long_sentence_after_a_bar_is_not_part_of_a_date_line():
    from scrapers.dates import dated_line

    assert dated_line("Publié le 05/11/2023 | La mairie a décidé de prolonger la convention pour tout l'hiver") is None
