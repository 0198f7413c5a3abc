"""Is a decoded page readable text? A page decoded with the wrong charset is not archived.

Two signs, measured on the decoded text, neither tied to a language list of words:
  * mostly U+FFFD replacement characters: the bytes were not in the charset they were read in;
  * letters in a script the page cannot be written in: its declared language (`<html lang>`,
    `Content-Language`) is written in another script (a French page of CJK ideographs), or,
    with no language declared, bytes that are mostly ASCII came out mostly as CJK ideographs
    (what UTF-8 or ASCII bytes become when read as UTF-16: "<html>" reads "格浴㹬").
"""

from __future__ import annotations

import re
import unicodedata

from errors import CleanError

_MIN_LETTERS = 40
_REPLACEMENT_SHARE = 0.25
_FOREIGN_SHARE = 0.5
_ASCII_BYTES_SHARE = 0.9
_SAMPLE = 20000
_LETTER = re.compile(r"[^\W\d_]")
_LANG = re.compile(
    rb"""<html[^>]*?\blang\s*=\s*["']?\s*([A-Za-z]{2,3})\b|content-language["']?\s+content\s*=\s*["']?\s*([A-Za-z]{2,3})\b""",
    re.I,
)

# The script each declared language is written in (languages of other scripts are not judged).
_SCRIPT_OF_LANGUAGE: dict[str, str] = {
    **dict.fromkeys(
        "fr en es de it pt nl pl cs sk sl hr bs sq ro hu fi et lv lt sv no nb nn da is ga cy eu ca gl "
        "tr az uz id ms tl sw ha yo so vi mt lb af".split(),
        "LATIN",
    ),
    **dict.fromkeys("ru uk bg mk be kk ky tg mn sr".split(), "CYRILLIC"),
    **dict.fromkeys("ar fa ur ps".split(), "ARABIC"),
    "el": "GREEK",
    "he": "HEBREW",
    "yi": "HEBREW",
}


def check_readable(text: str, raw: bytes, encoding: str) -> None:
    """Raise CleanError (recorded as `unreadable`) when `text`, decoded from `raw` as
    `encoding`, is not readable text (see the module). Text that was valid UTF-8 is judged by
    its replacement characters only: a template's wrong `lang` does not make it unreadable."""
    sample = text[:_SAMPLE]
    replaced = sample.count("\ufffd")
    if replaced < _MIN_LETTERS and encoding == "utf-8":
        return  # the common case, decided without looking at every character
    letters = len(_LETTER.findall(sample)) + replaced
    if letters < _MIN_LETTERS:
        return
    if replaced > _REPLACEMENT_SHARE * letters:
        raise CleanError(
            f"the text is unreadable: {replaced * 100 // letters}% of its letters are replacement "
            f"characters once decoded as {encoding} (the page's charset is wrong or missing)"
        )
    if encoding == "utf-8":
        return  # valid UTF-8 is what the page's author wrote, whatever its declared language
    scripts = _scripts(sample)
    script = _declared_script(raw)
    if script:
        foreign = letters - replaced - scripts.get(script, 0)
        if foreign > _FOREIGN_SHARE * letters:
            raise CleanError(
                f"the text is unreadable: decoded as {encoding}, {foreign * 100 // letters}% of its letters "
                f"are not in the {script.lower()} script its declared language is written in (wrong charset)"
            )
        return
    head = raw[:_SAMPLE]
    ascii_share = sum(1 for b in head if b < 0x80) / max(1, len(head))
    cjk = scripts.get("CJK", 0)
    if ascii_share >= _ASCII_BYTES_SHARE and cjk > _FOREIGN_SHARE * letters:
        raise CleanError(
            f"the text is unreadable: bytes that are {ascii_share:.0%} ASCII came out as {cjk * 100 // letters}% "
            f"CJK ideographs once decoded as {encoding} (a wrong UTF-16 declaration)"
        )


def _declared_script(raw: bytes) -> str | None:
    match = _LANG.search(raw[:_SAMPLE].replace(b"\x00", b""))
    if not match:
        return None
    code = (match.group(1) or match.group(2)).decode("ascii").lower()
    return _SCRIPT_OF_LANGUAGE.get(code)


def _scripts(text: str) -> dict[str, int]:
    """Letters of `text` per script."""
    counts: dict[str, int] = {}
    for char in _LETTER.findall(text):
        script = _script(char)
        counts[script] = counts.get(script, 0) + 1
    return counts


def _script(char: str) -> str:
    if ord(char) < 0x250:
        return "LATIN" if char.isalpha() else "COMMON"
    name = unicodedata.name(char, "")
    if name.startswith("CJK") or "HIRAGANA" in name or "KATAKANA" in name or "HANGUL" in name:
        return "CJK"
    for script in ("LATIN", "CYRILLIC", "ARABIC", "GREEK", "HEBREW"):
        if name.startswith(script):
            return script
    return "OTHER"
