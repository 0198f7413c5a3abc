"""The article decision (scrapers/decide.py): reject only on strong evidence, on the main content.

Pages written here for the purpose, in the shapes the corpora showed (never copies of them).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scrapers.clean import clean_page
from scrapers.measure import is_prose, units

INTRO = (
    "Le gouvernement a présenté mardi un plan d’accueil des personnes déplacées par les inondations "
    "qui ont frappé le sud du pays, a indiqué le ministère de l’Intérieur dans un communiqué."
)
MORE = (
    "Selon les autorités locales, plus de 12 000 personnes ont dû quitter leur domicile depuis le début "
    "du mois, et les centres d’hébergement provisoires sont déjà saturés dans trois provinces."
)
END = (
    "Les organisations humanitaires demandent que les familles soient relogées avant la saison des pluies, "
    "qui commence dans six semaines, et que les écoles rouvrent au plus vite."
)


def html_page(
    body: str,
    *,
    title: str = "Un plan d’accueil pour les déplacés des inondations",
    og_type: str = "website",
    head: str = "",
) -> bytes:
    return f"""<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>{title} | Le Courrier</title>
<meta property="og:type" content="{og_type}">{head}</head><body>
<nav><a href="/">Accueil</a> <a href="/monde">Monde</a> <a href="/societe">Société</a></nav>
<main><h1>{title}</h1>{body}</main>
<footer><p>© Le Courrier du Sud, tous droits réservés.</p></footer></body></html>""".encode()


# --- running text makes an article -----------------------------------------------------------


def test_an_article_with_a_long_list_is_an_article():
    items = "".join(f"<li>Centre {n} : gymnase municipal</li>" for n in range(12))
    page = html_page(f"<p>{INTRO}</p><p>Les centres ouverts :</p><ul>{items}</ul><p>{MORE}</p><p>{END}</p>")
    article = clean_page(page, url="https://courrier.example/societe/plan-accueil")
    assert article.is_article, article.reason
    assert any("Centre 7" in p for p in article.paragraphs)


def test_questions_and_short_answers_are_an_article():
    qa = "".join(
        f"<h3>Question {n} : qui peut demander un hébergement ?</h3><p>Toute famille sinistrée.</p>" for n in range(8)
    )
    page = html_page(f"<p>{INTRO}</p>{qa}<p>{END}</p>")
    article = clean_page(page, url="https://courrier.example/societe/questions")
    assert article.is_article, article.reason


def test_code_between_paragraphs_is_an_article():
    code = "<pre>" + "\n".join(f"x{n} = load('station-{n}.csv')" for n in range(15)) + "</pre>"
    text = (
        "This post shows how the river gauges were read to estimate the flooded area, and why the "
        "figures published by the ministry differ from ours by almost a third."
    )
    page = html_page(
        f"<p>{text}</p>{code}<p>{text.replace('This post', 'The script')}</p>",
        title="Reading river gauges with a short script",
    )
    article = clean_page(page, url="https://blog.example/2024/gauges")
    assert article.is_article, article.reason


CHINESE = [
    "联合国国际移民组织周二表示，今年以来已有超过两千名移民在地中海中部航线上死亡或失踪，这一数字比去年同期增加了近三成。",
    "该组织呼吁沿岸国家加强海上搜救合作，并为获救人员提供安全的登陆地点和必要的医疗与心理援助。",
    "报告还指出，许多移民在启程前已遭受剥削和暴力，人口贩运网络仍在利用边境管控的漏洞牟取暴利。",
]


def test_chinese_text_counts_in_characters():
    assert units(CHINESE[0]) >= 20 and is_prose(CHINESE[0])
    article = clean_page("\n\n".join(["国际移民组织：地中海移民死亡人数上升", *CHINESE]))
    assert article.is_article, article.reason
    assert article.title == "国际移民组织：地中海移民死亡人数上升"
    assert article.paragraphs == CHINESE


def test_japanese_and_thai_articles_are_articles():
    japanese = [
        "国際移住機関は火曜日、地中海中部ルートで今年に入り二千人以上の移民が死亡または行方不明になったと発表した。",
        "同機関は沿岸国に対し、海上での捜索救助の協力を強化し、救助された人々に安全な上陸地を提供するよう求めた。",
    ]
    thai = [
        "องค์การระหว่างประเทศเพื่อการโยกย้ายถิ่นฐานระบุว่าปีนี้มีผู้อพยพเสียชีวิตหรือสูญหายในทะเลเมดิเตอร์เรเนียนมากกว่าสองพันคน",
        "องค์การฯ เรียกร้องให้ประเทศชายฝั่งร่วมมือกันค้นหาและช่วยเหลือผู้ประสบภัยทางทะเลมากขึ้น",
    ]
    for paragraphs in (japanese, thai):
        html = html_page("".join(f"<p>{p}</p>" for p in paragraphs), title="IOM")
        article = clean_page(html, url="https://news.example/a/1")
        assert article.is_article, article.reason


def test_a_large_menu_around_the_article_does_not_make_a_listing():
    menu = "\n".join(
        [
            "Accueil",
            "Monde",
            "Afrique",
            "Europe",
            "Amériques",
            "Asie",
            "Économie",
            "Sport",
            "Culture",
            "Opinions",
            "Vidéos",
            "Podcasts",
        ]
    )
    footer = "\n".join(["Mentions légales", "Contact", "Publicité", "Plan du site", "Archives", "Flux RSS"])
    dump = f"{menu}\n\nUn plan d’accueil pour les déplacés des inondations\n\n{INTRO}\n\n{MORE}\n\n{END}\n\n{footer}"
    article = clean_page(dump)
    assert article.is_article, article.reason
    assert article.title == "Un plan d’accueil pour les déplacés des inondations"


# --- strong evidence rejects ------------------------------------------------------------------


def teaser_listing_html() -> bytes:
    teasers = "".join(
        f'<article><h2><a href="/societe/article-{n}">'
        f"Inondations : le point sur la situation dans la province numéro {n}</a></h2>"
        f'<time datetime="2024-03-{n + 1:02d}">{n + 1} mars 2024</time>'
        f"<p>Les secours poursuivent l’évacuation des villages isolés par la crue de la rivière.</p></article>"
        for n in range(8)
    )
    return html_page(teasers, title="Société : toute l’actualité")


def test_a_series_of_teasers_is_a_listing():
    article = clean_page(teaser_listing_html(), url="https://courrier.example/societe")
    assert not article.is_article
    assert "listing" in article.reason and "teasers" in article.reason


def test_a_dump_of_headlines_and_dates_is_a_listing():
    entries = [
        f"Inondations : le point sur la situation dans la province numéro {n}\n{n + 1} mars 2024" for n in range(6)
    ]
    article = clean_page("Actualités\n\n" + "\n\n".join(entries))
    assert not article.is_article
    assert "listing" in article.reason


PROJECT_INLINE = """Projects

Strengthening Border Management in the Sahel

Start date: 01 January 2019
End date: 31 December 2021
Project status: Ongoing
Budget: USD 2,450,000
Donor: European Union
Region: West and Central Africa

The project supports national authorities in improving the management of their borders, with training for border officials and new equipment at twelve crossing points.
"""  # noqa: E501 (a page dump: one line per paragraph)

PROJECT_TWO_LINES = """Strengthening Border Management in the Sahel

Start Date
01 Jan 2019
End Date
31 Dec 2021
Project Status
Ongoing
Budget
USD 2,450,000
Project Code
BM.0345

The project supports national authorities in improving the management of their borders, with training for border officials and new equipment at twelve crossing points.
"""  # noqa: E501 (a page dump: one line per paragraph)


@pytest.mark.parametrize("dump", [PROJECT_INLINE, PROJECT_TWO_LINES])
def test_a_project_page_is_a_database_record(dump):
    article = clean_page(dump)
    assert not article.is_article
    assert "database record" in article.reason
    assert article.date is None or article.date != "2019-01-01" or not article.is_article


def test_an_article_with_a_small_fact_box_stays_an_article():
    facts = "Date : 12 mars 2024\nLieu : Niamey\nOrganisateur : OIM Niger\nParticipants : 40\n\n"
    dump = (
        f"Un atelier sur la gestion des frontières à Niamey\n\n{INTRO}\n\n{facts}{MORE}\n\n{END}\n\n"
        f"{INTRO.replace('mardi', 'jeudi')}\n\n{MORE.replace('12 000', '8 000')}"
    )
    article = clean_page(dump)
    assert article.is_article, article.reason


def test_menus_only_and_a_few_words_are_not_articles():
    assert not clean_page("Accueil\nQui sommes nous\nNotre travail\nPartenariats\nAgir").is_article
    short = clean_page("Un titre assez long pour être un titre\n\nUne seule phrase courte ici.")
    assert not short.is_article and "words" in short.reason


# --- a page announced by a feed or a sitemap gets the benefit of the doubt ---------------------

VIDEO_CAPTION = html_page(
    "<p>Images de la crue de la rivière à Tillabéri filmées par un habitant depuis le pont principal de la ville</p>",
    title="Vidéo : la crue à Tillabéri",
)


def test_a_short_page_is_rejected_unless_a_feed_announced_it():
    url = "https://courrier.example/videos/crue-tillaberi"
    assert not clean_page(VIDEO_CAPTION, url=url).is_article
    assert clean_page(VIDEO_CAPTION, url=url, found_via="feed").is_article
    assert clean_page(VIDEO_CAPTION, url=url, found_via="sitemap").is_article
    assert not clean_page(VIDEO_CAPTION, url=url, found_via="listing").is_article


def test_a_page_announced_by_a_feed_is_not_judged_a_listing():
    assert clean_page(teaser_listing_html(), url="https://courrier.example/societe", found_via="feed").is_article


def test_a_page_that_declares_itself_an_article_needs_fewer_words():
    page = html_page(
        "<p>« Je ne sais pas où nous irons » – Aïcha, 34 ans, mère de trois enfants</p>",
        og_type="article",
        title="Paroles de sinistrés",
    )
    assert clean_page(page, url="https://courrier.example/temoignages/aicha").is_article


def test_every_rejection_says_why():
    for page, url in [
        (teaser_listing_html(), "https://courrier.example/societe"),
        (PROJECT_INLINE, None),
        ("Accueil\nMonde\nSport", None),
        ("-\n\n—", None),
    ]:
        article = clean_page(page, url=url)
        assert not article.is_article
        assert article.reason and len(article.reason) > 20


def test_the_ingest_pipeline_passes_the_discovery_kind():
    """flows/pipeline/ cleans each page with its source's discovery kind (Discovery.kind)."""
    from errors import NotAnArticle
    from flows.pipeline.clean_stage import clean_result
    from scrapers.fetch import FetchResult
    from storage.records import Incoming

    url = "https://courrier.example/videos/crue-tillaberi"
    fetched = FetchResult(url, url, 200, "text/html; charset=utf-8", VIDEO_CAPTION)
    from_feed = clean_result(fetched, "courrier", None, (), "2024-03-12T10:00:00+00:00", found_via="feed")
    from_listing = clean_result(fetched, "courrier", None, (), "2024-03-12T10:00:00+00:00", found_via="listing")
    assert isinstance(from_feed, Incoming)
    assert isinstance(from_listing.error, NotAnArticle) and "words" in str(from_listing.error)


# --- record pages in any language: label/value runs ahead of the prose ------------------------

RECORD_DUMPS = Path(__file__).resolve().parent / "fixtures" / "dumps"


@pytest.mark.parametrize("name", ["oim-fr-projet.txt", "oim-es-proyecto.txt", "iom-en-project.txt"])
def test_a_project_record_is_not_an_article_in_any_language(name):
    """Three label/value pairs (an end date, a status, a budget) ahead of a short description,
    no date line, no article markup: the French twin of the English project page, and a
    Spanish one with "Label: value" lines and a project code."""
    article = clean_page((RECORD_DUMPS / name).read_bytes())
    assert not article.is_article
    assert article.reason.startswith("looks like a database record")
    assert article.title != "3 150 000 USD"


FACT_BOX_STORY = {
    "fr": (
        "Un centre d'accueil ouvre ses portes à Agadez\nPublié le 12/03/2024 à 10h15\n"
        "Capacité\n400 places\nOuverture\nmars 2024\nBudget\n2,4 millions d'euros\n"
        "Le centre d'Agadez accueille depuis mardi les migrants refoulés ou secourus dans le désert, "
        "qui arrivent souvent sans eau ni papiers, a indiqué l'organisation qui le gère."
    ),
    "en": (
        "A reception centre opens its doors in Agadez\nPublished 12 March 2024\n"
        "Capacity\n400 places\nOpening\nMarch 2024\nBudget\n2.4 million euros\n"
        "The Agadez centre has been receiving since Tuesday migrants turned back or rescued in the desert, "
        "who often arrive without water or papers, the organisation running it said."
    ),
}


@pytest.mark.parametrize("language", sorted(FACT_BOX_STORY))
def test_a_dated_story_with_a_short_fact_box_stays_an_article(language):
    article = clean_page(FACT_BOX_STORY[language])
    assert article.is_article, article.reason
