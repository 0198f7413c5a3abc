"""What follows an article (lists of other items, comment rules and forms) and who signed it
(bylines, signatures -> `author`), on pages written for these tests in two languages each:
text dumps of video pages (tests/fixtures/dumps/video-page-*-other-videos.txt) and old-school
regional press pages in ISO-8859-1 (tests/fixtures/html/regional-press-*.latin1.html)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.article import Removal
from scrapers.byline import signature_name
from scrapers.clean import clean_page

FIXTURES = Path(__file__).resolve().parent / "fixtures"

VIDEO_PAGES = {
    "video-page-fr-other-videos.txt": dict(
        author="TV5 Info",
        first="À Sfax, des centaines de migrants",
        items=["Lampedusa : le centre d'accueil", "Maroc : les saisonnières", "Sénégal : à Mbour", "02:41"],
        rules_line="Les commentaires sont modérés",
    ),
    "video-page-en-other-videos.txt": dict(
        author="Channel 8 News",
        first="Migrants rescued in the central Mediterranean",
        items=["Italy: Lampedusa reception", "Morocco: seasonal workers", "Canary Islands", "13 Sep 2024"],
        rules_line="Comments are moderated",
    ),
}


@pytest.mark.parametrize("name", sorted(VIDEO_PAGES))
def test_other_videos_with_times_and_the_comment_rules_leave_a_video_page(name):
    expected = VIDEO_PAGES[name]
    removed: list[Removal] = []
    article = clean_page((FIXTURES / "dumps" / name).read_bytes(), removed=removed)
    assert article.is_article, article.reason
    assert len(article.paragraphs) == 1 and article.paragraphs[0].startswith(expected["first"])
    assert article.author == expected["author"]
    assert article.date == "2024-09-14"
    for furniture in [*expected["items"], expected["rules_line"], expected["author"]]:
        assert furniture not in article.body
    rules = {r.rule for r in removed}
    assert {"list of other items (titles with times or dates)", "comment rules and form"} <= rules
    assert "byline (kept as author)" in rules


REGIONAL = {
    "regional-press-fr.latin1.html": dict(
        title="Un collectif d'habitants ouvre un accueil de jour pour les demandeurs d'asile",
        author="Marie D.",
        first="Depuis lundi, une ancienne salle paroissiale",
        furniture=["Marie D.", "Réagir à cet article", "Votre nom", "Envoyer", "Publié le", "Rubrique", "Agenda"],
    ),
    "regional-press-es.latin1.html": dict(
        title="Un grupo de vecinos abre un centro de día para solicitantes de asilo",
        author="Carmen R.",
        first="Desde el lunes, un antiguo local parroquial",
        furniture=["Carmen R.", "Deja tu comentario", "Nombre", "Enviar", "Publicado el", "Sección", "Agenda"],
    ),
}


@pytest.mark.parametrize("name", sorted(REGIONAL))
def test_an_old_school_press_page_keeps_its_signature_as_author_and_its_date(name):
    """Tables, font tags, ISO-8859-1: the signature under the text goes to `author`, the
    comment form and its heading leave, the "Publié le dd/mm/yyyy à HHhMM | Rubrique : …" line
    dates the article (an undated one would count as today)."""
    expected = REGIONAL[name]
    article = clean_page((FIXTURES / "html" / name).read_bytes())
    assert article.is_article, article.reason
    assert article.title == expected["title"]
    assert article.date == "2023-11-05"
    assert article.author == expected["author"]
    assert len(article.paragraphs) == 3 and article.paragraphs[0].startswith(expected["first"])
    for furniture in expected["furniture"]:
        assert furniture not in article.body, furniture


PROSE_EN = (
    "The shelter opened on Monday in a former parish hall and now welcomes about sixty asylum seekers "
    "every morning, the volunteers who run it said."
)
MORE_EN = "Local officials said the town would keep the hall open through the winter if the volunteers asked for it."
MORE_FR = "La mairie a indiqué qu'elle prolongerait la mise à disposition de la salle pendant tout l'hiver."
PROSE_FR = (
    "L'accueil a ouvert lundi dans une ancienne salle paroissiale et reçoit chaque matin une soixantaine "
    "de demandeurs d'asile, selon les bénévoles qui le font vivre."
)


@pytest.mark.parametrize(
    ("text", "author"),
    [
        (f"Volunteers open a day centre for asylum seekers\nBy Jane Doe\n{PROSE_EN}\n{MORE_EN}", "Jane Doe"),
        (f"Un accueil de jour pour les demandeurs d'asile\nPar Marie Dupont\n{PROSE_FR}\n{MORE_FR}", "Marie Dupont"),
        (f"Volunteers open a day centre for asylum seekers\n{PROSE_EN}\n{MORE_EN}\nJ. Martin", "J. Martin"),
        (
            f"Un accueil de jour pour les demandeurs d'asile\n{PROSE_FR}\n{MORE_FR}\nJean-Pierre Martin",
            "Jean-Pierre Martin",
        ),
        (f"Un accueil de jour pour les demandeurs d'asile\nM. Dupont\n{PROSE_FR}\n{MORE_FR}", "M. Dupont"),
    ],
)
def test_bylines_and_signatures_go_to_author_not_the_body(text, author):
    article = clean_page(text)
    assert article.author == author
    assert all(author not in p for p in article.paragraphs)
    assert len(article.paragraphs) == 2


@pytest.mark.parametrize(
    ("line", "closing", "name"),
    [
        ("Marie D.", False, "Marie D."),
        ("— Carmen R.", True, "Carmen R."),
        ("Jean-Pierre Martin", True, "Jean-Pierre Martin"),
        ("Jean-Pierre Martin", False, None),  # without an initial, only closing the text
        ("Key findings", True, None),
        ("Read the full report", True, None),
        ("The ministry said so.", True, None),
        ("Ana de la Fuente", True, "Ana de la Fuente"),
    ],
)
def test_what_a_signature_looks_like(line, closing, name):
    assert signature_name(line, closing=closing) == name


@pytest.mark.parametrize(
    "tail",
    [
        "Les commentaires sont soumis à modération et doivent respecter notre charte.",
        "Comments are moderated according to our community rules.",
        "Kommentare werden moderiert, bitte beachten Sie unsere Regeln.",
    ],
)
def test_a_comment_rules_line_after_the_article_leaves_it(tail):
    text = f"Volunteers open a day centre for asylum seekers\n{PROSE_EN}\n{MORE_EN}\n{tail}"
    article = clean_page(text)
    assert article.paragraphs == [PROSE_EN, MORE_EN]


def test_a_sentence_about_comments_inside_the_article_stays():
    """The rules act once most of the running text is behind: an article about moderation keeps it."""
    opening = "Comments are moderated by a team of twelve people, the newspaper's editor said on Monday."
    text = f"A newspaper explains how it moderates its readers\n{opening}\n{PROSE_EN}\n{MORE_EN}"
    assert clean_page(text).paragraphs[0] == opening
