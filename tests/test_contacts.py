"""Press-contact sections: out of the body, parsed into Contact."""

from __future__ import annotations

import pytest

from core.article import Contact
from scrapers.contacts import extract_contacts, find_phones, parse_contacts, repair_mailto


@pytest.mark.parametrize(
    "text, repaired",
    [
        ('Email "mailto:rjeanbaptiste@iom.int">rjeanbaptiste@iom.int', "Email rjeanbaptiste@iom.int"),
        ('Email: <a href="mailto:x@iom.int">x@iom.int</a>', "Email: x@iom.int"),
        ("écrire à mailto:presse@example.org", "écrire à presse@example.org"),
        ("Email: plain@iom.int", "Email: plain@iom.int"),
    ],
)
def test_repair_mailto(text, repaired):
    assert repair_mailto(text) == repaired


def test_find_phones_splits_alternatives_and_ignores_short_numbers():
    assert find_phones("Tel: +509 2943 0380 or +509 (0) 3701 22 88") == ["+509 2943 0380", "+509 (0) 3701 22 88"]
    assert find_phones("Tel: +41.22.717.9486") == ["+41.22.717.9486"]
    assert find_phones("En 2011, 280 000 migrants") == []


def test_french_contact_section_leaves_the_body():
    blocks = [
        "Premier paragraphe de l'article, avec une phrase complète.",
        "Pour plus d’informations, veuillez contacter",
        "Mariama Tanko",
        "OIM Niamey",
        "Tel: +227 20 75 23 31",
        "Email: mtanko@iom.int",
    ]
    body, contacts = extract_contacts(blocks)
    assert body == blocks[:1]
    assert contacts == [Contact("Mariama Tanko", "OIM Niamey", ["mtanko@iom.int"], ["+227 20 75 23 31"])]


def test_two_people_separated_by_or():
    body, contacts = extract_contacts(
        [
            "Pour plus d’informations, veuillez contacter",
            "Ricardo Jean-Baptiste",
            "OIM Port-au-Prince",
            "Tel: +509 2943 0380",
            'Email "mailto:rjeanbaptiste@iom.int">rjeanbaptiste@iom.int',
            "ou",
            "Sophie Marchand",
            "OIM Haïti",
            "Tel. +509 29 43 03 81",
            "Email: smarchand@iom.int",
        ]
    )
    assert body == []
    assert [c.name for c in contacts] == ["Ricardo Jean-Baptiste", "Sophie Marchand"]
    assert contacts[0].emails == ["rjeanbaptiste@iom.int"]
    assert contacts[1].organisation == "OIM Haïti"


def test_an_or_joined_to_the_end_of_a_contact_line_ends_that_person():
    # "ou" on its own line, without blank lines around it, is joined to the e-mail line above.
    body, contacts = extract_contacts(
        [
            "Pour plus d’informations, veuillez contacter",
            "Awa Sow, OIM Dakar",
            "Tél. : +221 33 869 62 00",
            "Courriel : asow@iom.int ou",
            "Pierre Diouf, OIM Dakar",
            "Courriel : pdiouf@iom.int",
        ]
    )
    assert body == []
    assert contacts == [
        Contact("Awa Sow", "OIM Dakar", ["asow@iom.int"], ["+221 33 869 62 00"]),
        Contact("Pierre Diouf", "OIM Dakar", ["pdiouf@iom.int"], []),
    ]


def test_english_intro_without_comma():
    body, contacts = extract_contacts(
        ["For more information please contact", "Jane Doe", "IOM Geneva", "Email: jdoe@iom.int"]
    )
    assert body == []
    assert contacts == [Contact("Jane Doe", "IOM Geneva", ["jdoe@iom.int"], [])]


def test_older_inline_form_inside_the_last_paragraph():
    paragraph = (
        "The programme runs until 2025. For further information, please contact Jean Dupont at IOM Geneva, "
        "Tel: +41 22 717 9111, Email: jdupont@iom.int or Ann Lee, Tel: +41 22 717 9222, Email: alee@iom.int"
    )
    body, contacts = extract_contacts(["First paragraph of the release, a full sentence.", paragraph])
    assert body == ["First paragraph of the release, a full sentence.", "The programme runs until 2025."]
    assert contacts == [
        Contact("Jean Dupont", "IOM Geneva", ["jdupont@iom.int"], ["+41 22 717 9111"]),
        Contact("Ann Lee", None, ["alee@iom.int"], ["+41 22 717 9222"]),
    ]


def test_a_flattened_contact_line_splits_name_and_office_at_the_acronym():
    assert parse_contacts(["Mariama Tanko OIM Niamey Tel: +227 20 75 23 31 Email: mt@iom.int"]) == [
        Contact("Mariama Tanko", "OIM Niamey", ["mt@iom.int"], ["+227 20 75 23 31"])
    ]


def test_the_section_ends_at_the_next_paragraph_of_running_text():
    later = "This paragraph comes after the contacts and is a real sentence of the page body."
    body, contacts = extract_contacts(["Press contacts", "Jane Doe", "Email: jdoe@iom.int", later])
    assert body == [later]
    assert contacts[0].name == "Jane Doe"


@pytest.mark.parametrize(
    "text",
    [
        "For more information, please visit our website.",
        "Il a demandé plus d’informations aux autorités sur les migrants.",
    ],
)
def test_phrases_that_lead_to_no_contact_stay_in_the_body(text):
    assert extract_contacts([text]) == ([text], [])
