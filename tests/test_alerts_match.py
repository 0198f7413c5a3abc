"""Which new articles an alert rule matches: title and cleaned body, language-insensitively."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alerts.match import HIGHLIGHT_END, HIGHLIGHT_START, BatchArticle, BatchIndex
from alerts.settings import AlertRule, SmtpSettings, load_alert_rules
from scrapers.clean import clean_page


def rule(query: str, name: str = "r", **extra) -> AlertRule:
    return AlertRule(name=name, query=query, to=["analyst@example.org"], **extra)


def matches(rules: list[AlertRule], batch: list[BatchArticle]) -> list[tuple[str, int, str]]:
    """(rule, article id, snippet) per match, as record_matches finds and highlights them."""
    with BatchIndex(batch) as index:
        return [(r.name, batch[p].article_id, index.snippet(r, p)) for r in rules for p in index.match(r)]


def matched(query: str, title: str | None, body: str, **extra) -> bool:
    candidate = BatchArticle(article_id=1, story_id=1, title=title, body=body, source="iom-fr")
    return bool(matches([rule(query, **extra)], [candidate]))


@pytest.mark.parametrize(
    "query, title, body",
    [
        ("passeurs", None, "Des PASSEURS arrêtés à Agadez."),  # case
        ("migration irreguliere", None, "La migration irrégulière augmente."),  # accents, query side
        ('"traite des êtres humains"', None, "Lutte contre la TRAITE DES ETRES HUMAINS."),
        ("l'immigration", None, "Le débat sur l’immigration reprend."),  # ’ vs '
        ('"réseaux de passeurs"', None, "Trois réseaux\u00a0de\u00a0passeurs démantelés."),  # NBSP
        ("passeur", None, "Les passeurs ont été arrêtés."),  # singular finds plural
        ("migrants", None, "Un migrant secouru en mer."),  # plural finds singular
        ("Grupos Beta", "Los Grupos Beta en la frontera", "Rescates en el desierto."),  # title counts
        ("migr*", None, "Les migrations saisonnières."),
        ("NEAR(passeurs Manche, 8)", None, "Des passeurs opèrent sur la côte de la Manche."),
        ("passeurs OR Frontex", None, "Rapport de Frontex."),
        ("oeuvre", None, "Les ONG à l’œuvre sur la côte."),  # ligatures, both ways
        ("cœur", "Au coeur de la Manche", "Traversées en hausse."),
        ('"ex aequo"', None, "Deux pays ex æquo."),
    ],
)
def test_variants_match(query, title, body):
    assert matched(query, title, body)


@pytest.mark.parametrize(
    "query, body",
    [
        ("passeur", "Une passerelle piétonne a été inaugurée."),  # plural forms, not a prefix
        ("passeurs -Libye", "Des passeurs arrêtés en Libye."),
        ("mois", "Moi, je pense que non."),  # invariable word: no false singular
        ('"réseaux de passeurs"', "Des passeurs et des réseaux de trafiquants."),
    ],
)
def test_unrelated_text_does_not_match(query, body):
    assert not matched(query, None, body)


PAGE = """<html><head><title>Des passeurs arrêtés à Agadez</title></head><body>
<nav><ul><li><a href="/">Accueil</a></li><li><a href="/t">Traite des êtres humains</a></li>
<li><a href="/f">Frontex</a></li></ul></nav>
<main><article><h1>Des passeurs arrêtés à Agadez</h1>
<p>La police nigérienne a arrêté mardi plusieurs passeurs présumés à Agadez, dans le nord du pays,
selon les autorités locales qui évoquent un réseau actif depuis des mois.</p>
<p>Les migrants secourus ont été pris en charge par les services humanitaires de la ville, qui leur
ont fourni de l’eau, de la nourriture et des soins médicaux.</p>
<p>Les enquêteurs poursuivent leurs investigations pour identifier les autres membres du réseau et
leurs soutiens financiers dans la région.</p>
</article></main>
<aside><h3>Lire aussi</h3><ul><li><a href="/x">Grupos Beta : rapport annuel</a></li></ul></aside>
<footer>Contact presse</footer></body></html>"""


def test_keywords_only_in_navigation_or_sidebar_do_not_match():
    article = clean_page(PAGE, url="https://example.org/agadez")
    candidate = BatchArticle(1, 1, article.title, article.body, "iom-fr")
    rules = [
        rule('"traite des êtres humains"', "nav"),
        rule("Frontex", "nav2"),
        rule('"Grupos Beta"', "sidebar"),
        rule("passeurs", "article"),
    ]
    assert [name for name, _, _ in matches(rules, [candidate])] == ["article"]


def test_rule_sources_restrict_matching_and_snippet_highlights_terms():
    batch = [
        BatchArticle(1, 1, "A", "Des passeurs arrêtés.", "iom-fr"),
        BatchArticle(2, 2, "B", "Des passeurs condamnés.", "apr"),
    ]
    found = matches([rule("passeur", sources=["apr"])], batch)
    assert [(article_id, snippet) for _, article_id, snippet in found] == [
        (2, f"Des {HIGHLIGHT_START}passeurs{HIGHLIGHT_END} condamnés.")
    ]


def test_broken_rule_reported_with_name_and_position_others_kept():
    rules, errors = load_alert_rules(
        [
            {"name": "passeurs", "query": "passeurs", "to": ["a@example.org"]},
            {"name": "cassée", "query": "frontex OR", "to": ["a@example.org"]},
            {"name": "no-address", "query": "x", "to": ["not an address"]},
            {"name": "passeurs", "query": "autre", "to": ["a@example.org"]},
        ]
    )
    assert [r.name for r in rules] == ["passeurs"]
    assert [(e.rule, e.position) for e in errors] == [("cassée", 11), ("no-address", None), ("passeurs", None)]
    assert "column 11" in str(errors[0]) and "'cassée'" in str(errors[0])


def test_smtp_password_is_never_read_from_the_file(monkeypatch):
    with pytest.raises(ValidationError, match="password_env"):
        SmtpSettings.model_validate({"host": "mail.example.org", "password": "hunter2"})
    monkeypatch.setenv("NW_TEST_SMTP_PASSWORD", "s3cret")
    smtp = SmtpSettings.model_validate(
        {"host": "mail.example.org", "security": "ssl", "username": "nw", "password_env": "NW_TEST_SMTP_PASSWORD"}
    )
    assert (smtp.effective_port, smtp.password()) == (465, "s3cret")
    assert "s3cret" not in repr(smtp)
