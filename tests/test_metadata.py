import lxml.html
import pytest

from scrapers.metadata import extract_metadata

URL = "https://www.iom.int/fr/news/un-communique"


def meta_of(head: str, body: str = "", url: str | None = URL, lang: str = ""):
    tree = lxml.html.document_fromstring(f"<html{lang}><head>{head}</head><body>{body}<p>x</p></body></html>")
    return extract_metadata(tree, url)


def test_og_title_wins():
    m = meta_of('<meta property="og:title" content="Le vrai titre"><title>Autre | Site</title>', "<h1>Titre h1</h1>")
    assert m.title == "Le vrai titre"


def test_json_ld_headline_then_h1_then_title_without_site_suffix():
    assert (
        meta_of(
            '<script type="application/ld+json">{"@type":"NewsArticle","headline":"Titre LD"}</script>',
            "<h1>Titre h1</h1>",
        ).title
        == "Titre LD"
    )
    assert meta_of("<title>T | Site</title>", "<h1>Titre  h1</h1>").title == "Titre h1"
    assert meta_of("<title>Le Mexique et les Etats-Unis | APRNEWS</title>").title == "Le Mexique et les Etats-Unis"


def test_date_sources_in_order():
    assert (
        meta_of(
            '<meta property="article:published_time" content="2012-03-16T12:00:00+01:00">'
            '<meta name="dc.date" content="2001-01-01">'
        ).date
        == "2012-03-16"
    )
    assert (
        meta_of(
            '<script type="application/ld+json">[{"@type":"WebSite","name":"x"},'
            '{"@graph":[{"@type":"NewsArticle","datePublished":"2023-12-29"}]}]</script>'
        ).date
        == "2023-12-29"
    )
    assert meta_of("", '<time datetime="2021-11-30T08:00">30 novembre</time>').date == "2021-11-30"
    assert meta_of('<meta name="DC.date" content="20200102">').date == "2020-01-02"


def test_broken_json_ld_is_ignored():
    m = meta_of('<script type="application/ld+json">{not json</script><meta name="date" content="2019-05-06">')
    assert m.date == "2019-05-06"


@pytest.mark.parametrize(
    "value, iso",
    [
        ("2023-12-29T23:30:00-05:00", "2023-12-29"),  # the day as written, not shifted to UTC
        ("2023-12-29", "2023-12-29"),
        ("2023-13-45T00:00:00", None),
        ("soon", None),
        ("", None),
    ],
)
def test_metadata_date_is_the_day_written(value, iso):
    assert meta_of(f'<meta property="article:published_time" content="{value}">').date == iso


def test_impossible_date_is_none():
    assert meta_of('<meta property="article:published_time" content="2012-13-45">').date is None


def test_language_from_html_lang_then_og_locale():
    assert meta_of("", lang=' lang="fr-FR"').language == "fr"
    assert meta_of('<meta property="og:locale" content="en_GB">').language == "en"
    assert meta_of('<meta http-equiv="content-language" content="es">').language == "es"


def test_canonical_and_translations_are_absolute_without_self_and_x_default():
    m = meta_of(
        '<link rel="canonical" href="/fr/news/un-communique">'
        '<link rel="alternate" hreflang="fr" href="/fr/news/un-communique">'
        '<link rel="alternate" hreflang="en" href="/news/a-press-release">'
        '<link rel="alternate" hreflang="es" href="https://www.iom.int/es/news/un-comunicado">'
        '<link rel="alternate" hreflang="x-default" href="/news/a-press-release">'
    )
    assert m.canonical_url == "https://www.iom.int/fr/news/un-communique"
    assert m.translations == {
        "en": "https://www.iom.int/news/a-press-release",
        "es": "https://www.iom.int/es/news/un-comunicado",
    }


def test_relative_links_on_a_url_less_page_are_dropped():
    m = meta_of('<link rel="canonical" href="/x"><link rel="alternate" hreflang="en" href="/en/x">', url=None)
    assert m.canonical_url is None and m.translations == {}


def test_site_name_and_page_type():
    m = meta_of('<meta property="og:site_name" content="OIM"><meta property="og:type" content="Article">')
    assert (m.site_name, m.page_type) == ("OIM", "article")
    assert meta_of('<script type="application/ld+json">{"@type":"NewsArticle"}</script>').page_type == "NewsArticle"


def test_empty_page_gives_empty_metadata():
    m = meta_of("")
    assert (m.title, m.date, m.language, m.canonical_url, m.translations) == (None, None, None, None, {})
