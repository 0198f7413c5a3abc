import codecs

import pytest

from errors import CleanError
from scrapers.decoding import decode_bytes, looks_like_html

FRENCH = "Communiqué : l’OIM à Genève, « œuvre » déjà"


def test_plain_utf8_is_decoded_unchanged():
    assert decode_bytes(FRENCH.encode("utf-8")) == FRENCH


@pytest.mark.parametrize(
    "bom,encoding",
    [
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ],
)
def test_bom_wins_over_declarations(bom, encoding):
    data = bom + f'<meta charset="iso-8859-1"><p>{FRENCH}</p>'.encode(encoding)
    assert FRENCH in decode_bytes(data, "text/html; charset=iso-8859-1")


def test_http_charset_wins_over_meta():
    text = "Привет, мир"
    data = f'<meta charset="utf-8"><p>{text}</p>'.encode("koi8-r")
    assert text in decode_bytes(data, "text/html; charset=KOI8-R")


def test_declared_latin1_is_read_as_cp1252():
    # ’ and œ exist only in the 0x80-0x9F range of windows-1252, not in ISO-8859-1.
    data = f'<meta charset="iso-8859-1"><p>{FRENCH}</p>'.encode("cp1252")
    assert FRENCH in decode_bytes(data)


def test_meta_http_equiv_is_read():
    data = f'<meta http-equiv="Content-Type" content="text/html; charset=windows-1252"><p>{FRENCH}</p>'.encode("cp1252")
    assert FRENCH in decode_bytes(data)


def test_cp1252_page_declared_utf8_decodes():
    data = f'<meta charset="utf-8"><p>{FRENCH}</p>'.encode("cp1252")
    assert FRENCH in decode_bytes(data)


def test_cp1252_bytes_without_declaration_decode():
    assert decode_bytes(FRENCH.encode("cp1252")) == FRENCH


def test_mojibake_is_repaired():
    double_encoded = FRENCH.encode("utf-8").decode("cp1252")
    assert double_encoded != FRENCH
    assert decode_bytes(double_encoded.encode("utf-8")) == FRENCH


def test_mojibake_repair_leaves_clean_accents_on_the_same_line():
    text = "déjà vu, puis dÃ©cidÃ© et lâ€™OIM"
    assert decode_bytes(text.encode("utf-8")) == "déjà vu, puis décidé et l’OIM"


def test_clean_text_with_rare_letters_is_untouched():
    text = "SÃO PAULO, Â (a-circumflex) alone, Ångström"
    assert decode_bytes(text.encode("utf-8")) == text


@pytest.mark.parametrize("data", [b"", b"   \n\t "])
def test_empty_input_is_refused(data):
    with pytest.raises(CleanError, match="empty"):
        decode_bytes(data)


@pytest.mark.parametrize(
    "data,what",
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG"),
        (b"GIF89a\x01\x00\x01\x00", "GIF"),
        (b"PK\x03\x04\x14\x00\x06\x00", "ZIP"),
        (b"abc\x00def\x00", "NUL"),
        (bytes(range(1, 32)) * 20, "binary"),
    ],
)
def test_binary_input_is_refused(data, what):
    with pytest.raises(CleanError, match=what):
        decode_bytes(data)


@pytest.mark.parametrize(
    "text",
    [
        "<!DOCTYPE html><html><body><p>x</p></body></html>",
        "  <html lang='fr'><head><title>t</title></head>",
        "<div class='article'><p>Un paragraphe.</p><p>Un autre.</p></div>",
    ],
)
def test_html_is_recognised(text):
    assert looks_like_html(text)


@pytest.mark.parametrize(
    "text",
    [
        "Communiqué\nGlobal\n\nLe titre\n\nUn paragraphe qui cite <b> une fois.",
        'Email "mailto:x@iom.int">x@iom.int',
    ],
)
def test_text_dumps_are_not_html(text):
    assert not looks_like_html(text)


# --- charsets by the WHATWG Encoding Standard -------------------------------------------------

PAGES = {
    "fr": (
        "fr",
        "Le centre d’accueil ouvre à Agadez",
        "Le centre d’accueil de l’OIM à Agadez reçoit depuis mardi les migrants secourus dans le désert, "
        "qui arrivent souvent sans eau ni papiers.",
    ),
    "en": (
        "en",
        "A reception centre opens in Agadez",
        "IOM's reception centre in Agadez has been receiving migrants rescued in the desert since Tuesday, "
        "who often arrive without water or papers.",
    ),
}


def _page(language: str, charset: str, title: str | None = None) -> str:
    lang, headline, text = PAGES[language]
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="{charset}"><title>{title or headline}</title>'
        f"</head><body><h1>{headline}</h1><p>{text}</p><p>{text}</p></body></html>"
    )


@pytest.mark.parametrize("language", sorted(PAGES))
def test_utf7_is_never_honoured(language):
    """Browsers do not know UTF-7: the label declares nothing, and '+ADw-script+AD4-' stays
    inert text instead of becoming a <script> tag in the title."""
    page = _page(language, "utf-7", title="+ADw-script+AD4-alert(1)+ADw-/script+AD4-")
    for content_type in (None, "text/html; charset=utf-7"):
        text = decode_bytes(page.encode("ascii", errors="xmlcharrefreplace"), content_type)
        assert "<script>" not in text
        assert "+ADw-script+AD4-" in text


@pytest.mark.parametrize("language", sorted(PAGES))
def test_a_meta_declaring_utf16_on_utf8_bytes_is_read_as_utf8(language):
    page = _page(language, "utf-16")
    assert decode_bytes(page.encode("utf-8")) == page


@pytest.mark.parametrize("language", sorted(PAGES))
def test_utf16_declared_by_http_without_a_bom_is_decoded_as_declared(language):
    page = _page(language, "utf-16")
    assert decode_bytes(page.encode("utf-16-le"), "text/html; charset=utf-16") == page
    assert decode_bytes(page.encode("utf-16-be"), "text/html; charset=UTF-16BE") == page


@pytest.mark.parametrize("language", sorted(PAGES))
def test_utf8_bytes_declared_utf16_by_http_are_unreadable_not_cjk_garbage(language):
    with pytest.raises(CleanError, match="unreadable.*CJK|unreadable.*script"):
        decode_bytes(_page(language, "utf-8").encode("utf-8"), "text/html; charset=utf-16")


@pytest.mark.parametrize("label", ["iso-2022-kr", "csiso2022kr", "hz-gb-2312", "iso-2022-cn"])
def test_a_charset_browsers_replace_is_unreadable(label):
    with pytest.raises(CleanError, match="browsers refuse"):
        decode_bytes(_page("fr", label).encode("utf-8"))


@pytest.mark.parametrize("language", sorted(PAGES))
def test_text_mostly_made_of_replacement_characters_is_unreadable(language):
    lang, headline, _text = PAGES[language]
    replaced = "\ufffd" * 300
    page = f'<html lang="{lang}"><body><h1>{headline}</h1><p>{replaced}</p></body></html>'
    with pytest.raises(CleanError, match="replacement characters"):
        decode_bytes(page.encode("utf-8"))


@pytest.mark.parametrize("language", sorted(PAGES))
def test_a_legacy_charset_that_makes_another_script_is_unreadable(language):
    """Latin text read as Shift_JIS or KOI8-R comes out in a script its declared language
    is not written in."""
    page = _page(language, "koi8-r").replace(PAGES[language][2], "é à è ù ç ô î œ " * 40)
    with pytest.raises(CleanError, match="script"):
        decode_bytes(page.encode("cp1252"))


def test_valid_utf8_in_another_script_than_the_declared_language_is_kept():
    """A template's wrong lang="en" on a Russian page: valid UTF-8 is what its author wrote."""
    text = "Мигранты прибыли в лагерь на границе, сообщили местные власти во вторник. " * 5
    page = f'<html lang="en"><head><meta charset="utf-8"></head><body><p>{text}</p></body></html>'
    assert text in decode_bytes(page.encode("utf-8"))
