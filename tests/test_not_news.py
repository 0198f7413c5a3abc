"""A page that declares itself no article is rejected even when a feed or a sitemap announced
it (issue 21, item 3): og:type website or profile (or a schema.org WebSite, AboutPage,
ContactPage, ProfilePage), no date anywhere, no article markup, a top-level address. Pages
written here for the purpose; the corpora measure it (bench/extraction.py --found-via)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from fake_sites import article_page, sitemap
from httpserver import LocalServer, Reply, html

from flows.cli.main import main
from flows.config.loader import load_config
from flows.pipeline.ingest import ingest_run
from scrapers.clean import clean_page

MISSION = [
    "Notre association accompagne depuis sa création les personnes exilées qui arrivent sur le littoral, "
    "et les aide à faire valoir leurs droits face aux passeurs et aux administrations.",
    "Nos bénévoles tiennent des permanences juridiques, organisent des distributions de repas et orientent "
    "les familles vers les structures d'hébergement de la région.",
    "Nous travaillons avec les collectivités, les associations locales et les organisations internationales "
    "pour que chaque personne soit accueillie dignement, quelle que soit sa situation administrative.",
    "Pour nous rejoindre comme bénévole, ou pour soutenir nos actions par un don, écrivez-nous : nous vous "
    "répondrons dans les meilleurs délais.",
]


def about_page(
    *, og_type: str = "website", head: str = "", body_extra: str = "", title: str = "Qui sommes-nous"
) -> str:
    paragraphs = "".join(f"<p>{p}</p>" for p in MISSION)
    return f"""<!doctype html><html lang="fr"><head><meta charset="utf-8">
<title>{title} | Littoral Solidaire</title><meta property="og:type" content="{og_type}">
<meta property="og:title" content="{title}">{head}</head><body>
<header><nav><a href="/">Accueil</a> <a href="/actualites">Actualités</a> <a href="/qui-sommes-nous">Qui sommes-nous</a>
<a href="/contact">Contact</a></nav></header>
<main><h1>{title}</h1>{paragraphs}{body_extra}</main>
<footer><a href="/mentions-legales">Mentions légales</a></footer></body></html>"""


@pytest.mark.parametrize("found_via", ["sitemap", "feed", "listing", None])
def test_an_about_page_is_rejected_with_the_evidence_that_decided(found_via):
    article = clean_page(about_page(), url="https://littoral.example/qui-sommes-nous", found_via=found_via)
    assert not article.is_article
    assert article.reason == (
        "the page declares itself no article: og:type website, no date anywhere (metadata, date lines, text), "
        "no article markup (og:type article, schema.org Article, NewsArticle, BlogPosting), and "
        "/qui-sommes-nous is a top-level page of the site (a section, about, contact or legal page)"
    )


@pytest.mark.parametrize(
    "url, head",
    [
        ("https://littoral.example/fr/contact", ""),  # a language prefix
        ("https://littoral.example/mentions-legales.html", ""),
        ("https://littoral.example/", ""),
        ("https://littoral.example/equipe", '<script type="application/ld+json">{"@type": "ProfilePage"}</script>'),
    ],
)
def test_other_top_level_pages_that_say_so_are_rejected(url, head):
    article = clean_page(about_page(head=head), url=url, found_via="sitemap")
    assert not article.is_article and "declares itself no article" in (article.reason or "")


@pytest.mark.parametrize(
    "why, url, kw",
    [
        ("og:type article", "https://littoral.example/qui-sommes-nous", {"og_type": "article"}),
        (
            "JSON-LD NewsArticle",
            "https://littoral.example/qui-sommes-nous",
            {"head": '<script type="application/ld+json">{"@type": "NewsArticle", "headline": "x"}</script>'},
        ),
        (
            "microdata BlogPosting",
            "https://littoral.example/qui-sommes-nous",
            {"body_extra": '<div itemscope itemtype="https://schema.org/BlogPosting"></div>'},
        ),
        (
            "a publication date",
            "https://littoral.example/qui-sommes-nous",
            {"head": '<meta property="article:published_time" content="2024-03-12T09:00:00Z">'},
        ),
        (
            "a date in the text",
            "https://littoral.example/qui-sommes-nous",
            {"body_extra": "<p>Mis à jour le 12 mars 2024.</p>"},
        ),
        ("no declared type", "https://littoral.example/qui-sommes-nous", {"og_type": ""}),
        ("a story's slug", "https://littoral.example/les-passeurs-arretes-a-calais", {}),
        ("under a section", "https://littoral.example/actualites/calais", {}),
        ("an id", "https://littoral.example/node/1234", {}),
        ("an id in the query", "https://littoral.example/?p=1234", {}),
    ],
)
def test_any_evidence_of_news_keeps_the_page(why, url, kw):
    article = clean_page(about_page(**kw), url=url, found_via="sitemap")
    assert article.is_article, (why, article.reason)


def test_the_about_page_of_a_sitemap_is_recorded_with_its_reason_not_archived_nor_alerted(
    tmp_path: Path, http_server: LocalServer, capsys
):
    """QA's case: a sitemap listed the site's "about us" page; it was archived and emailed
    under two rules. Now it is a rejected page, and `newswatch rejected` says why."""
    site = http_server
    story = "/fr/news/loim-appelle-a-proteger-les-migrants-exposes-aux-passeurs"
    site.routes[story] = html(article_page("iom-fr", story))
    site.routes["/qui-sommes-nous"] = html(about_page())
    site.routes["/sitemap.xml"] = Reply(
        body=sitemap(site.base, [story, "/qui-sommes-nous"]), content_type="application/xml"
    )
    config = tmp_path / "newswatch.yaml"
    config.write_text(
        f"archive: {tmp_path / 'archive.db'}\nretries: {{attempts: 1}}\nsources:\n"
        f"  - {{name: littoral, url: '{site.url('/sitemap.xml')}', kind: sitemap, delay: 0}}\n"
        "alerts:\n  - {name: passeurs, query: passeurs, to: ana@example.org}\n"
        "  - {name: exiles, query: 'exilées OR bénévoles', to: ana@example.org}\n",
        encoding="utf-8",
    )
    summary = ingest_run(load_config(config)).to_dict()
    [source] = summary["sources"]
    assert (source["new"], source["not_articles"], source["rejected"]) == (1, 1, {"not-article": 1})
    assert main(["rejected", "--archive", str(tmp_path / "archive.db")]) == 0
    out = capsys.readouterr().out
    assert f"littoral  not-article  200  {site.url('/qui-sommes-nous')}" in out
    assert "the page declares itself no article: og:type website, no date anywhere" in out
    with sqlite3.connect(tmp_path / "archive.db") as conn:
        assert conn.execute("SELECT url FROM articles").fetchall() == [(site.url(story),)]
        assert conn.execute("SELECT count(*) FROM alert_matches WHERE title LIKE 'Qui%'").fetchone() == (0,)
