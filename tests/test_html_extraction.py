"""The HTML half of the cleaner: HTML fixtures of the seed sites give the same articles as the
text dumps of the same pages (tests/fixtures/pages/)."""

import gzip
from pathlib import Path

import pytest

from errors import CleanError
from scrapers.clean import clean_page
from scrapers.decoding import decode_bytes
from scrapers.html import extract_html, parse_html, text_blocks
from scrapers.profiles import GENERIC, get_profile

HTML = Path(__file__).resolve().parent / "fixtures" / "html"

PAGES = Path(__file__).resolve().parent / "fixtures" / "pages"

IOM_FR_URL = (
    "https://www.iom.int/fr/news/"
    "loim-forme-des-agents-de-la-police-frontaliere-haitienne-lidentification-des-victimes-de-la-traite"
)
IOM_EN_URL = "https://www.iom.int/news/iom-trains-haitian-border-police-identify-victims-trafficking"
APRNEWS_URL = (
    "https://www.apr-news.fr/actualites/le-senegal-et-lespagne-elargissent-leur-programme-de-migration-circulaire"
)
LEXIS_URL = (
    "https://www.lexisveille.fr/calais-le-conseil-detat-suspend-linterdiction-des-distributions-alimentaires-aux-exiles"
)

# (HTML fixture, text dump of the same page, page URL)
SAME_ARTICLE = [
    ("iom-fr-press-release.html", "iom-fr-wrapped-haiti.txt", IOM_FR_URL),
    ("iom-fr-press-release.html.gz", "iom-fr-wrapped-haiti.txt", IOM_FR_URL),
    ("aprnews-article.html", "aprnews-fr-saisonniers.txt", APRNEWS_URL),
    ("aprnews-article.cp1252.html", "aprnews-fr-saisonniers.txt", APRNEWS_URL),
    ("lexisveille-article.html", "lexisveille-calais.txt", LEXIS_URL),
]


def blocks_of(name: str, url: str, profile: str):
    return extract_html(decode_bytes((HTML / name).read_bytes()), url=url, profile=get_profile(profile))


def joined(blocks: list[str]) -> str:
    return "\n".join(blocks)


def test_iom_blocks_keep_article_and_drop_page_furniture():
    blocks, meta = blocks_of("iom-fr-press-release.html", IOM_FR_URL, "iom")
    text = joined(blocks)
    assert blocks[:3] == [
        "Communiqué",
        "Amériques et Caraïbes",
        "L’OIM forme des agents de la police frontalière haïtienne à l’identification des victimes de la traite",
    ]
    # Source line breaks inside <p> are spaces in HTML; the paragraph is one line.
    assert blocks[3].startswith("Trente agents de la Police nationale d’Haïti affectés aux postes frontaliers")
    assert "\n" not in blocks[3]
    assert 'Email "mailto:rjeanbaptiste@iom.int">rjeanbaptiste@iom.int' in blocks
    for boilerplate in (
        "Qui sommes nous",
        "Structure organisationnelle",
        "cookies",
        "Partager",
        "Accueil",
        "Actualités connexes",
        "Retour en haut",
        "search-icon",
        "gtag",
        "Haïti\nTraite",
    ):
        assert boilerplate not in text
    assert meta.date == "2013-05-24"
    assert meta.language == "fr"
    assert meta.translations == {"en": IOM_EN_URL}
    assert meta.canonical_url == IOM_FR_URL
    assert meta.page_type == "article"


def test_aprnews_blocks_drop_breadcrumb_and_back_to_top():
    blocks, meta = blocks_of("aprnews-article.html", APRNEWS_URL, "aprnews")
    text = joined(blocks)
    assert "Vous êtes ici" not in text and "Back to top" not in text and "Les plus lus" not in text
    assert "Version imprimable" not in text and "Tags" not in text and "Tous droits" not in text
    assert blocks[2] == "Mardi, 5 mars 2024"
    assert sum(b.endswith("de migration circulaire pour les travailleurs saisonniers") for b in blocks) == 3
    assert blocks[-1].startswith("Une première évaluation du programme")
    assert meta.language == "fr"


def test_lexisveille_blocks_drop_svg_sprite_and_badge():
    blocks, meta = blocks_of("lexisveille-article.html", LEXIS_URL, "lexisveille")
    text = joined(blocks)
    for noise in (
        "accordion-icon",
        "Created with Sketch",
        "onlinewebfonts",
        "Abonnés",
        "Connexion",
        "Lire plus tard",
        "À lire aussi",
        "Partager",
    ):
        assert noise not in text
    assert blocks[0].startswith("Calais : le Conseil d'État suspend l'interdiction")
    assert len(blocks) == 4
    assert "le 6 février" in blocks[1] and "3 000 euros" in blocks[3]  # NBSP collapsed to a space
    assert meta.date == "2024-02-08"


def test_cp1252_page_declared_utf8_gives_the_same_blocks():
    assert (
        blocks_of("aprnews-article.cp1252.html", APRNEWS_URL, "aprnews")[0]
        == blocks_of("aprnews-article.html", APRNEWS_URL, "aprnews")[0]
    )


def test_profile_container_missing_falls_back_to_the_generic_extractor():
    html = (HTML / "aprnews-article.html").read_text(encoding="utf-8").replace('id="content"', 'id="contenu"')
    blocks, _ = extract_html(html, url=APRNEWS_URL, profile=get_profile("aprnews"))
    assert any(b.startswith("Le texte prévoit que les candidats") for b in blocks)
    assert "Les plus lus" not in joined(blocks)


def test_generic_extractor_on_an_unknown_site():
    html = (HTML / "lexisveille-article.html").read_text(encoding="utf-8")
    blocks, meta = extract_html(html, url="https://example.org/a", profile=GENERIC)
    text = joined(blocks)
    assert "L'ordonnance enjoint au préfet de réexaminer la situation" in text
    assert "accordion-icon" not in text and "À lire aussi" not in text
    assert meta.title.startswith("Calais : le Conseil d'État")


def test_br_and_inline_markup_inside_blocks():
    tree = parse_html(
        "<html><body><div id='a'>Jeremy <b>MacGillivray</b><br>OIM Mexique<br/>"
        "<p>Un <a href='#'>lien</a>\n  dans\u00a0le texte.</p><ul><li>un</li><li>deux</li></ul>"
        "texte direct</div></body></html>"
    )
    assert text_blocks(tree.get_element_by_id("a")) == [
        "Jeremy MacGillivray\nOIM Mexique",
        "Un lien dans le texte.",
        "un",
        "deux",
        "texte direct",
    ]


@pytest.mark.parametrize(
    "html",
    [
        "<html><body><p>Un paragraphe tronqué <b>en plein",
        "<p>fragment</p><div>sans html<span>",
        "<?xml version='1.0' encoding='utf-8'?><html><body><p>Une page XHTML.</p></body></html>",
        "</div></div><p>balises orphelines</p>",
    ],
)
def test_malformed_markup_does_not_crash(html):
    blocks, _ = extract_html(html, url=None, profile=get_profile("iom"))
    assert isinstance(blocks, list)


def test_empty_html_is_a_clean_error():
    with pytest.raises(CleanError, match="empty"):
        extract_html("   ", url=None, profile=GENERIC)


# --- end to end, through clean_page: the HTML and the text dump give one article ------------


@pytest.mark.parametrize("fixture,dump,url", SAME_ARTICLE)
def test_html_fixture_gives_the_same_article_as_its_text_dump(fixture, dump, url):
    from_dump = clean_page((PAGES / dump).read_bytes(), url=url)
    from_html = clean_page((HTML / fixture).read_bytes(), url=url)
    assert from_html.is_article and from_dump.is_article
    assert from_html.title == from_dump.title
    assert from_html.paragraphs == from_dump.paragraphs
    assert from_html.contacts == from_dump.contacts
    if from_dump.date:
        assert from_html.date == from_dump.date


def test_iom_fixture_article_details():
    article = clean_page((HTML / "iom-fr-press-release.html").read_bytes(), url=IOM_FR_URL)
    assert article.title.startswith("L’OIM forme des agents de la police frontalière")
    assert article.date == "2013-05-24"
    assert article.language == "fr"
    assert article.translations == {"en": IOM_EN_URL}
    assert article.profile == "iom"
    assert {e for c in article.contacts for e in c.emails} == {"rjeanbaptiste@iom.int", "smarchand@iom.int"}
    assert "mailto" not in article.body and "Communiqué" not in article.body


def test_iom_english_translation():
    article = clean_page((HTML / "iom-en-press-release.html").read_bytes(), url=IOM_EN_URL)
    assert article.is_article
    assert article.title == "IOM Trains Haitian Border Police to Identify Victims of Trafficking"
    assert article.language == "en"
    assert article.translations == {"fr": IOM_FR_URL}
    assert article.paragraphs[0].startswith("Haiti - Thirty officers of the Haitian National Police")
    assert [c.emails for c in article.contacts] == [["rjeanbaptiste@iom.int"]]
    assert "For more information" not in article.body and not article.body.startswith("News")


def test_gzipped_fixture_is_the_gzip_of_the_page():
    assert (
        gzip.decompress((HTML / "iom-fr-press-release.html.gz").read_bytes())
        == (HTML / "iom-fr-press-release.html").read_bytes()
    )


def test_listing_page_is_not_an_article():
    article = clean_page((HTML / "iom-fr-listing.html").read_bytes(), url="https://www.iom.int/fr/news")
    assert article.is_article is False
    assert article.reason


def test_control_characters_xml_forbids_do_not_crash_the_cleaner():
    # Found by the fault suite's fuzzing: lxml parsed the \x0b into a text node, then refused
    # to write that text back when a nested block was separated from its paragraph.
    page = "<html><body><span>Migrants\x0b secourus<div>au large de Lampedusa</div></span></body></html>"
    article = clean_page(page, url="https://example.org/a")
    assert "\x0b" not in (article.title or "") + article.body


def test_control_characters_in_the_text_do_not_lose_the_article():
    """trafilatura gives up on a tree whose text holds characters XML forbids (a form feed
    pasted from a word processor): the page is read again without them."""
    paragraphs = "".join(
        f"<p>Paragraph {n} of a report on the reception centres\x0c opened by the prefecture in the "
        f"north of the region, where 300 people were housed during the winter.</p>"
        for n in range(4)
    )
    page = (
        f"<html><head><title>Reception centres in the north</title></head><body><nav><a href='/'>Home</a></nav>"
        f"<article><h1>Reception centres in the north</h1>{paragraphs}</article></body></html>"
    )
    article = clean_page(page.encode(), url="https://example.org/news/reception-centres")
    assert article.is_article, article.reason
    assert len(article.paragraphs) == 4 and "\x0c" not in article.body
