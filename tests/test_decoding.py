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
