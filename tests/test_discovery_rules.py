"""Discovery rules (issue 11): feeds and sitemaps list articles, profiles accept the real sites'
URL shapes, generic listing pages pick articles and not menus, pagers are followed, a source
narrows discovery with include/exclude.

Every case is a local site on 127.0.0.1 (its own port: its own host), with the URL shapes of
the real sites: `https://apr-news.fr/fr/depeches-breves/<slug>`, `https://www.lexisveille.fr/<slug>`
(a plain slug: no date, no id), `https://www.iom.int/fr/news/<slug>` and `/news/<slug>`.
"""

from __future__ import annotations

import re

import pytest
from httpserver import LocalServer, Reply, html

from scrapers.discover import SourceSpec, discover
from scrapers.fetch import Fetcher, FetchSettings
from scrapers.linkscore import ARTICLE_SCORE, shape_score, text_score
from scrapers.listing import parse_listing
from scrapers.profiles import get_profile

SETTINGS = FetchSettings(
    user_agent="newswatch-test/0.1", connect_timeout=1.0, read_timeout=1.0, attempts=1, default_delay=0.0
)

APR_SLUGS = [
    "le-mexique-et-les-etats-unis-renforcent-leur-cooperation",
    "naufrage-au-large-de-lampedusa-des-dizaines-de-disparus",
    "le-niger-abroge-la-loi-sur-le-trafic-de-migrants",
]
LEXIS_SLUGS = [
    "les-enjeux-migratoires-et-la-cooperation-policiere-dans-la-manche",
    "reforme-du-droit-d-asile-le-conseil-constitutionnel-saisi",
    "titre-de-sejour-pluriannuel-les-conditions-precisees",
]
IOM_SLUGS = ["loim-appelle-a-proteger-les-migrants-au-sahel", "iom-opens-migrant-resource-centre-in-agadez"]


@pytest.fixture
def fetcher():
    with Fetcher(SETTINGS) as f:
        yield f


def rss(base: str, paths: list[str]) -> Reply:
    items = "".join(f"<item><title>Titre {i}</title><link>{base}{p}</link></item>" for i, p in enumerate(paths))
    return Reply(
        body=f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>{base}/</link>'
        f"{items}</channel></rss>",
        content_type="application/rss+xml",
    )


def urlset(base: str, paths: list[str]) -> Reply:
    urls = "".join(
        f"<url><loc>{base}{p}</loc><lastmod>2024-03-0{1 + i % 9}</lastmod></url>" for i, p in enumerate(paths)
    )
    return Reply(
        body=f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>',
        content_type="application/xml",
    )


MENU = """<header class="site-header"><nav class="main-menu"><ul>
<li><a href="/">Accueil</a></li><li><a href="/dossiers/">Dossiers</a></li><li><a href="/chiffres/">Chiffres</a></li>
<li><a href="/contact/">Contact</a></li><li><a href="/qui-sommes-nous">Qui sommes-nous</a></li></ul></nav></header>"""
FOOTER = """<footer><ul><li><a href="/mentions-legales">Mentions légales</a></li>
<li><a href="/politique-de-confidentialite">Politique de confidentialité</a></li>
<li><a href="/plan-du-site">Plan du site</a></li><li><a href="/tag/migrations">#migrations</a></li></ul></footer>"""


def teasers(paths: list[str], title=lambda p: p.rsplit("/", 1)[-1].replace("-", " ").capitalize()) -> str:
    return "".join(
        f'<div class="views-row"><article class="teaser"><h2><a href="{p}">{title(p)}</a></h2>'
        f'<p class="summary">Un résumé de quelques mots pour présenter l’article.</p>'
        f'<a class="more" href="{p}">Lire la suite</a></article></div>'
        for p in paths
    )


def page(main: str, *, pager: str = "") -> Reply:
    return html(
        f"<!DOCTYPE html><html lang=fr><head><title>Actualités</title></head><body>{MENU}"
        f'<main id="content"><h1>Actualités</h1><div class="view">{main}</div>{pager}</main>'
        f'<aside class="sidebar"><h3>Nos rubriques</h3><ul><li><a href="/dossiers/asile/">Asile</a></li>'
        f'<li><a href="/dossiers/frontieres/">Frontières</a></li><li><a href="/dossiers/travail/">Travail</a>'
        f"</li></ul></aside>{FOOTER}</body></html>"
    )


# ------------------------------------------------------------- the real URL shapes ---


def test_aprnews_real_article_paths_from_its_feed_and_its_section_listing(make_http_server, fetcher) -> None:
    site: LocalServer = make_http_server()
    paths = [f"/fr/depeches-breves/{s}" for s in APR_SLUGS]
    site.routes["/fr/rss.xml"] = rss(site.base, paths)
    site.routes["/fr/depeches-breves"] = page(teasers(paths))
    profile = get_profile("aprnews")

    from_feed = discover(SourceSpec("apr", site.url("/fr/rss.xml"), "feed", profile), fetcher)
    from_listing = discover(SourceSpec("apr", site.url("/fr/depeches-breves"), "listing", profile), fetcher)

    assert from_feed.urls == [site.url(p) for p in paths]
    assert from_listing.urls == [site.url(p) for p in paths]  # menus, sections, footer left out
    assert from_listing.notes == []  # the profile's own rule took them


def test_lexisveille_real_article_paths_from_its_sitemap_and_its_home_page(make_http_server, fetcher) -> None:
    site: LocalServer = make_http_server()
    paths = [f"/{s}" for s in LEXIS_SLUGS]
    site.routes["/sitemap.xml"] = urlset(
        site.base, [*paths, "/contact", "/tag/asile", "/auteur/jean-dupont", "/logo.png", "/guide.pdf"]
    )
    site.routes["/"] = page(teasers(paths))
    profile = get_profile("lexisveille")

    from_sitemap = discover(SourceSpec("lexis", site.url("/sitemap.xml"), "sitemap", profile), fetcher)
    from_home = discover(SourceSpec("lexis", site.url("/"), "listing", profile), fetcher)

    # A sitemap lists articles: every page of the site, the profile's exclusions (tag and
    # author pages) and files apart; /contact is fetched and judged by the cleaner.
    assert from_sitemap.urls == [site.url(p) for p in paths] + [site.url("/contact")]
    assert from_home.urls == [site.url(p) for p in paths]


@pytest.mark.parametrize("path", [f"/fr/news/{IOM_SLUGS[0]}", f"/news/{IOM_SLUGS[1]}", f"/fr/news/{IOM_SLUGS[0]}/"])
def test_iom_profile_accepts_french_and_english_news_paths(path: str) -> None:
    from scrapers.links import profile_article

    assert profile_article(f"https://www.iom.int{path}", get_profile("iom"))


@pytest.mark.parametrize(
    ("profile", "path"),
    [
        ("iom", "/fr/qui-sommes-nous"),
        ("iom", "/news"),
        ("iom", "/fr/news"),
        ("aprnews", "/fr/depeches-breves"),
        ("aprnews", "/fr/tags/migrations"),
        ("aprnews", "/fr/contact"),
        ("lexisveille", "/contact"),
        ("lexisveille", "/mentions-legales"),
        ("lexisveille", "/qui-sommes-nous"),
        ("lexisveille", "/tag/droit-des-etrangers-et-asile"),
    ],
)
def test_profiles_refuse_their_sites_section_and_service_pages(profile: str, path: str) -> None:
    from scrapers.links import profile_article

    assert not profile_article(f"https://example.org{path}", get_profile(profile))


# ------------------------------------------------------------------ feeds and sitemaps ---


def test_feed_entries_outside_the_listing_pattern_are_all_taken(make_http_server, fetcher) -> None:
    site: LocalServer = make_http_server()
    # None of these is /fr/<section>/<slug>: a date path, a bare slug, a node id, a query.
    paths = [
        "/2024/03/12/arrivees-en-hausse",
        "/breve",
        "/node/18231",
        "/index.php?id=77",
        f"/fr/depeches-breves/{APR_SLUGS[0]}",
    ]
    site.routes["/rss.xml"] = rss(
        site.base, [*paths, "/fr/tags/migrations", "/categorie/europe", "/recherche?q=asile", "/podcast.mp3"]
    )
    found = discover(SourceSpec("apr", site.url("/rss.xml"), "feed", get_profile("aprnews")), fetcher)
    assert found.urls == [site.url(p) for p in paths]
    assert (found.entries, found.links, found.seen) == (9, 8, 5)


def test_feed_items_declared_as_media_are_not_fetched(make_http_server, fetcher) -> None:
    site: LocalServer = make_http_server()
    site.routes["/feed"] = Reply(
        body=(
            '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>u</id>'
            f'<entry><title>a</title><id>1</id><link href="{site.base}/episode-12" type="audio/mpeg"/></entry>'
            f'<entry><title>b</title><id>2</id><link href="{site.base}/un-article-sur-le-podcast"'
            ' type="text/html"/></entry>'
            "</feed>"
        ),
        content_type="application/atom+xml",
    )
    found = discover(SourceSpec("f", site.url("/feed"), "feed"), fetcher)
    assert found.urls == [site.url("/un-article-sur-le-podcast")]


def test_empty_feed_and_empty_sitemap_say_so(make_http_server, fetcher) -> None:
    site: LocalServer = make_http_server()
    site.routes["/rss.xml"] = rss(site.base, [])
    site.routes["/sitemap.xml"] = urlset(site.base, [])
    feed = discover(SourceSpec("f", site.url("/rss.xml"), "feed"), fetcher)
    sitemap = discover(SourceSpec("s", site.url("/sitemap.xml"), "sitemap"), fetcher)
    assert feed.ok and feed.urls == [] and feed.why_no_links() == "the feed has no items"
    assert sitemap.ok and sitemap.why_no_links() == "the sitemap lists no pages"


# ----------------------------------------------------------------------- listing pages ---


def test_listing_whose_links_the_profile_rejects_falls_back_to_scoring(make_http_server, fetcher) -> None:
    site: LocalServer = make_http_server()
    # The site moved its articles to /fr/articles/<year>/<slug>: not the profile's shape.
    paths = [f"/fr/articles/2024/{s}" for s in IOM_SLUGS + ["nouvelle-route-migratoire-dans-latlantique"]]
    site.routes["/fr/news"] = page(teasers(paths))
    found = discover(SourceSpec("iom-fr", site.url("/fr/news"), "listing", get_profile("iom"), max_pages=1), fetcher)
    assert found.urls == [site.url(p) for p in paths]
    [note] = found.notes
    assert note.startswith(site.url("/fr/news") + ": profile iom accepts none of its")
    assert "generic link scoring took 3" in note


def test_menu_heavy_listing_gives_only_article_links_and_follows_page_suivante(make_http_server, fetcher) -> None:
    site: LocalServer = make_http_server()
    first = [
        "/actualites/2024/03/12/des-centaines-de-migrants-secourus-en-mediterranee",
        "/actualites/le-gouvernement-presente-son-projet-de-loi-sur-limmigration",
        "/actualites/article-18231",
    ]
    second = ["/actualites/2024/03/01/frontex-publie-son-rapport-annuel-sur-les-frontieres"]
    title = {p: f"Titre de l’article numéro {i} sur les migrations" for i, p in enumerate(first + second)}
    pager = '<div class="nav-links"><a href="/actualites/?p=2">Page suivante</a></div>'
    site.routes["/actualites/"] = page(teasers(first, title.get), pager=pager)
    site.routes["/actualites/?p=2"] = page(teasers(second, title.get))

    found = discover(SourceSpec("g", site.url("/actualites/"), "listing"), fetcher)

    assert found.urls == [site.url(p) for p in first + second]
    assert site.paths() == ["/actualites/", "/actualites/?p=2"]  # no menu page fetched: discovery only


def test_changed_layout_listing_has_no_article_link_and_says_why(make_http_server, fetcher) -> None:
    site: LocalServer = make_http_server()
    site.routes["/fr/depeches-breves"] = page(
        '<p>Cette rubrique a déménagé. <a href="/contact">Contactez-nous</a>'
        ' ou consultez les <a href="/tag/migrations">migrations</a>.</p>'
    )
    found = discover(SourceSpec("apr", site.url("/fr/depeches-breves"), "listing", get_profile("aprnews")), fetcher)
    assert found.ok and found.urls == []
    assert (
        found.why_no_links()
        == f"0 of {found.links} links look like articles (profile aprnews, then generic link scoring)"
    )
    assert found.links >= 10


def test_include_and_exclude_narrow_discovery(make_http_server, fetcher) -> None:
    site: LocalServer = make_http_server()
    paths = [f"/fr/depeches-breves/{APR_SLUGS[0]}", f"/fr/sport/{APR_SLUGS[1]}", f"/fr/depeches-breves/{APR_SLUGS[2]}"]
    site.routes["/rss.xml"] = rss(site.base, paths)
    spec = SourceSpec(
        "apr",
        site.url("/rss.xml"),
        "feed",
        get_profile("aprnews"),
        include=(re.compile(r"^/fr/(depeches-breves|sport)/"),),
        exclude=(re.compile("sport|loi"),),
    )
    found = discover(spec, fetcher)
    assert found.urls == [site.url(paths[0])]


@pytest.mark.parametrize(
    ("pager", "expected"),
    [
        ('<a rel="next" href="/liste/page/2/">2</a>', "/liste/page/2/"),
        ('<a href="/liste?page=1">1</a><a href="/liste?page=2">2</a><a href="/liste?page=3">3</a>', "/liste?page=2"),
        ('<a href="/liste?page=0">1</a><a href="/liste?page=1">2</a>', "/liste?page=1"),  # Drupal counts from 0
        ('<a href="/liste/page/2/">2</a><a href="/liste/page/3/">3</a>', "/liste/page/2/"),
        ('<a href="/liste?start=20">Suivant ›</a>', "/liste?start=20"),
        ('<a href="/liste?o=2">»</a>', "/liste?o=2"),
        ('<a href="/liste?x=2" aria-label="Page suivante"><span class="icon"></span></a>', "/liste?x=2"),
        ('<a href="/liste?next=1">Next</a>', "/liste?next=1"),
    ],
)
def test_next_page_of_a_listing(pager: str, expected: str) -> None:
    listing = parse_listing(
        f"<html><body><main>{pager}</main></body></html>".encode(), "text/html", "http://example.org/liste"
    )
    assert listing.next_url == "http://example.org" + expected


def test_next_page_after_the_first_counts_from_the_current_number() -> None:
    body = '<a href="/liste?page=1">1</a><a href="/liste?page=3">3</a><a href="/liste?page=4">4</a>'
    listing = parse_listing(body.encode(), "text/html", "http://example.org/liste?page=3")
    assert listing.next_url == "http://example.org/liste?page=4"


# ------------------------------------------------------------------------ link scoring ---


@pytest.mark.parametrize(
    ("path", "article"),
    [
        ("/2024/03/12/migrants", True),
        ("/actualites/le-gouvernement-presente-son-projet", True),
        ("/monde/article-18231.html", True),
        ("/dossiers/", False),
        ("/contact", False),
        ("/mentions-legales", False),
        ("/", False),
        ("/fr/politique-de-confidentialite", False),
    ],
)
def test_shape_of_article_paths(path: str, article: bool) -> None:
    assert (shape_score(path) > 0) is article


def test_a_headline_scores_and_a_menu_word_does_not() -> None:
    assert text_score("Le gouvernement présente son projet de loi") == 2
    assert text_score("Dossiers") < 0 and text_score("2") < 0 and text_score("Lire la suite") == 0
    assert text_score("移民政策改革法案在议会获得通过") == 2  # written without spaces
    assert ARTICLE_SCORE > 2 + 1  # a headline text and a good shape alone are not enough in a menu
