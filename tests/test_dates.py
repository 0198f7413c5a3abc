"""French and English dates written on pages -> ISO dates."""
from __future__ import annotations

import pytest

from scrapers.dates import date_line, iso_date_from_meta, parse_date


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


@pytest.mark.parametrize("text", ["le 24 novembre", "31/02/2023", "30 février 2024", "en 2011", "", "242.418 détentions"])
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
    "value, iso",
    [
        ("2023-12-29T23:30:00-05:00", "2023-12-29"),  # the day as written, not shifted to UTC
        ("2023-12-29", "2023-12-29"),
        ("Fri, 29 Dec 2023 10:00:00 GMT", "2023-12-29"),
        ("29 décembre 2023", "2023-12-29"),
        ("2023-13-45T00:00:00", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_iso_date_from_meta(value, iso):
    assert iso_date_from_meta(value) == iso
