"""Bytes of a saved or fetched page -> text, and a cheap "is this HTML?" test.

Charsets are read as browsers read them (WHATWG Encoding Standard, through `webencodings`).
Order of evidence: byte-order mark (UTF-8, UTF-16), then the HTTP Content-Type charset, then
a `<meta charset>` / `http-equiv` declaration near the top of the page. A label browsers do
not know (UTF-7, UTF-32) declares nothing; one they map to "replacement" makes the page
unreadable; a `<meta>` saying UTF-16 means UTF-8, an HTTP header saying UTF-16 without a BOM
means UTF-16LE/BE as declared. A decoded text that is not readable (`scrapers.readable`) is
refused with its reason, never archived. UTF-8 is always
tried strictly first when it is declared or nothing is declared, because French pages
served in windows-1252 but declared as UTF-8 are common on the sites we follow: strict
UTF-8 fails on them and windows-1252 is the right fallback. Latin-1 / ASCII declarations
are read as windows-1252 (what browsers do: the 0x80-0x9F range holds ’ “ ” € œ there).
Text that was double-encoded (UTF-8 read as cp1252, "Ã©", "â€™") is repaired run by run.
"""

from __future__ import annotations

import codecs
import re

import webencodings

from errors import CleanError
from scrapers.readable import check_readable

# The byte-order marks browsers honour (WHATWG Encoding, "BOM sniff"): no UTF-32.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# What a body starts with when it is no text at all: (magic, media type, what to call it).
_BINARY_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"%PDF-", "application/pdf", "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "a PNG image"),
    (b"\xff\xd8\xff", "image/jpeg", "a JPEG image"),
    (b"GIF87a", "image/gif", "a GIF image"),
    (b"GIF89a", "image/gif", "a GIF image"),
    (b"PK\x03\x04", "application/zip", "a ZIP archive (or an office document)"),
    (b"\x1f\x8b", "application/gzip", "gzip-compressed data (decompress it first)"),
)

_HEAD_BYTES = 2048
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13))
_CONTENT_TYPE_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.I)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.I)


# UTF-8 lead byte read as cp1252 ("Ã", "Â", "Å", "â€") followed by a continuation
# byte read as cp1252: the fingerprint of double-encoded text.
_MOJIBAKE_MARKER = re.compile(
    "[ÃÂÅ][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]|â€[\u0080-\u00bf\u02dc\u2018-\u201e\u2020-\u2022\u2026\u2122\u0153\u0161\u017e]?"
)
_MOJIBAKE_LEADS = ("Ã", "Â", "Å", "â€")
# Double-encoding turns each non-ASCII character into a run of 2-4 non-ASCII characters,
# so maximal non-ASCII runs are the units to re-decode: ASCII around them is unaffected,
# and clean accented letters elsewhere on the line are never touched.
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]{2,}")
_LONE_A_GRAVE = re.compile(r"(?<![^\W\d_])Ã (?=\s)")


def decode_bytes(data: bytes, content_type: str | None = None) -> str:
    """Decode a page's bytes to text as browsers do (WHATWG Encoding Standard); raise
    CleanError for empty, binary or unreadable input (a charset browsers refuse, text that is
    mostly replacement characters or in a script its language is not written in)."""
    if not data or not data.strip():
        raise CleanError("the page is empty: there is nothing to clean (check the file or the download)")
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            text = data[len(bom) :].decode(encoding, errors="replace")
            check_readable(text, data, encoding)
            return _repair_mojibake(text)
    from_http = _charset_from_content_type(content_type)
    if from_http in ("utf-16-le", "utf-16-be"):
        # Declared by the HTTP header without a BOM: browsers decode it as declared.
        text = data.decode(from_http, errors="replace")
        check_readable(text, data, from_http)
        return text
    _refuse_binary(data)
    # A <meta> that says UTF-16 was read by an ASCII-compatible prescan, so the page is not
    # UTF-16: browsers read it as UTF-8 (HTML, "prescan a byte stream").
    from_meta = _charset_from_meta(data[:_HEAD_BYTES])
    declared = from_http or ("utf-8" if from_meta in ("utf-16-le", "utf-16-be") else from_meta)
    text, encoding = _decode_declared(data, declared)
    check_readable(text, data, encoding)
    return _repair_mojibake(text)


def looks_like_html(text: str) -> bool:
    """True when the text is markup (a document or a fragment), not a plain-text dump."""
    head = text[:_HEAD_BYTES].lstrip().lower()
    if head.startswith(("<!doctype html", "<html", "<?xml")) and "<html" in text[:20000].lower():
        return True
    if head.startswith("<!doctype html") or head.startswith("<html"):
        return True
    # A fragment or a page with leading junk: enough structural tags near the top.
    return len(re.findall(r"<(?:p|div|body|head|br|a|span|h[1-6]|article|meta|title)\b", head)) >= 2


def binary_signature(data: bytes) -> tuple[str, str] | None:
    """(media type, description) when `data` starts like a known binary format, else None."""
    for magic, media, what in _BINARY_SIGNATURES:
        if data.startswith(magic):
            return media, what
    return None


def _refuse_binary(data: bytes) -> None:
    signature = binary_signature(data)
    if signature is not None:
        raise CleanError(f"the input is {signature[1]}, not a web page or a text dump; give newswatch HTML or text")
    sample = data[: _HEAD_BYTES * 4]
    # UTF-16 without a BOM has NUL bytes on every other position for Latin text; we do not
    # guess it: a page that needs that is vanishingly rare and NUL means binary otherwise.
    if b"\x00" in sample:
        raise CleanError("the input contains NUL bytes: it is binary data, not a web page or a text dump")
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    if controls > len(sample) * 0.05:
        raise CleanError(
            f"the input looks binary ({controls} control bytes in its first {len(sample)}); give newswatch HTML or text"
        )


def _charset_from_content_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    match = _CONTENT_TYPE_CHARSET.search(content_type)
    return _normalise_charset(match.group(1)) if match else None


def _charset_from_meta(head: bytes) -> str | None:
    match = _META_CHARSET.search(head)
    return _normalise_charset(match.group(1).decode("ascii", errors="ignore")) if match else None


def _normalise_charset(name: str) -> str | None:
    """The Python codec of a charset label, by the WHATWG Encoding Standard's label table: a
    label browsers do not know (UTF-7, UTF-32, a typo) is no declaration at all; one they map
    to the "replacement" encoding (ISO-2022-KR, HZ-GB-2312…) makes the page unreadable."""
    encoding = webencodings.lookup(name.strip())
    if encoding is None:
        return None
    if encoding.name == "replacement":
        raise CleanError(
            f"the page declares the charset {name.strip()!r}, which browsers refuse to decode "
            "(WHATWG Encoding: replacement): it is unreadable"
        )
    # latin-1, ascii and their aliases are windows-1252 for browsers (0x80-0x9F hold ’ “ ” € œ)
    if encoding.name in ("windows-1252", "x-user-defined"):
        return "cp1252"
    return encoding.codec_info.name


def _decode_declared(data: bytes, declared: str | None) -> tuple[str, str]:
    """(text, the codec it was decoded with)."""
    if declared in (None, "utf-8", "cp1252"):
        # UTF-8 is tried strictly first: French pages served in windows-1252 but declared as
        # UTF-8 fail it, and a page declared latin-1 but really UTF-8 passes it (a real
        # cp1252 page almost never does: its accented letters are not valid UTF-8).
        try:
            return data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            return data.decode("cp1252", errors="replace"), "cp1252"
    return data.decode(declared, errors="replace"), declared


def _repair_mojibake(text: str) -> str:
    # Substring tests first: they cost microseconds where the regex costs milliseconds.
    if not any(lead in text for lead in _MOJIBAKE_LEADS) or not _MOJIBAKE_MARKER.search(text):
        return text
    repaired = _NON_ASCII_RUN.sub(_repair_run, text)
    # "à" is C3 A0: its mojibake "Ã" + NBSP often had the NBSP turned into a plain space
    # on the way, leaving a one-character run; fix it only in text proven double-encoded.
    return _LONE_A_GRAVE.sub("à", repaired) if repaired != text else repaired


def _repair_run(match: re.Match) -> str:
    run = match.group(0)
    if not _MOJIBAKE_MARKER.search(run):
        return run
    try:
        repaired = run.encode("cp1252").decode("utf-8")
    except UnicodeError:
        return run
    # Keep the repair only when it makes things better: clean text that merely contains
    # "Â" next to punctuation is left as it was.
    if len(_MOJIBAKE_MARKER.findall(repaired)) < len(_MOJIBAKE_MARKER.findall(run)):
        return repaired
    return run
