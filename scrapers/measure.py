"""How much text a line holds and whether it reads as running text, in any script.

Counting words by spaces fails on Chinese, Japanese and Thai, which write no spaces between
words: a whole Chinese paragraph is one "word". Text in those scripts is counted in
characters instead, converted to word equivalents, so one threshold serves every language.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Scripts written without spaces between words: Thai, Lao, Myanmar, Khmer, Japanese kana,
# CJK ideographs (and their extensions / compatibility block).
_DENSE = re.compile("[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Characters of a dense script per word of a spaced one (Chinese words average ~1.7 characters;
# Thai and Japanese runs are longer, which only makes their counts conservative).
DENSE_CHARS_PER_WORD = 2
# Ends a sentence: terminal punctuation of Latin, CJK (full and half width), Arabic, Devanagari
# and Armenian scripts, possibly inside closing quotes or brackets.
SENTENCE_PUNCTUATION = ".!?…。！？｡؟।։"
_CLOSERS = '"»”’)\\]」』）】'
ENDS_SENTENCE = re.compile(f"[{SENTENCE_PUNCTUATION}:;][{_CLOSERS}]*$")
# A sentence end inside a line: Latin punctuation needs a following space, CJK full stops do not.
SENTENCE_END = re.compile(f"(?:[.!?…؟।][{_CLOSERS}]*(?:\\s|$))|[。！？｡]")
PROSE_MIN_UNITS = 8
_CACHE = 8192


# The rules ask the same questions about the same lines many times over (a line is measured
# by the junk rules, the boilerplate classes, the title search and the decision): cached.
@lru_cache(maxsize=_CACHE)
def units(text: str) -> int:
    """Words of `text`, where a run of a dense script counts one word per two characters."""
    if text.isascii():
        return len(text.split())
    dense = len(_DENSE.findall(text))
    if not dense:
        return len(text.split())
    spaced = sum(1 for token in _DENSE.sub(" ", text).split() if any(c.isalnum() for c in token))
    return spaced + -(-dense // DENSE_CHARS_PER_WORD)


def is_dense(text: str) -> bool:
    """Mostly written in a script without spaces between words."""
    return len(_DENSE.findall(text)) * 2 > len(text)


@lru_cache(maxsize=_CACHE)
def is_prose(line: str) -> bool:
    """Running text: at least a short sentence's worth of words, with a sentence end."""
    return units(line) >= PROSE_MIN_UNITS and bool(SENTENCE_END.search(line))


_ALNUM_RUN = re.compile(r"[^\W_]+")


@lru_cache(maxsize=_CACHE)
def headline_key(text: str) -> str:
    """Casefolded runs of letters and digits: two texts with the same key say the same words
    (a headline repeated with other punctuation, case or a source prefix's separator)."""
    return " ".join(_ALNUM_RUN.findall(text.casefold()))


def forget() -> None:
    """Empty the caches: each page is measured afresh (a cache kept across pages would only
    flatter a benchmark that cleans the same pages again)."""
    units.cache_clear()
    is_prose.cache_clear()
    headline_key.cache_clear()
