"""The deduplication layers, each a plain function: URL, exact content, near content.

1. URL              — `core.urls.url_key`: two URLs that name the same page compare equal.
2. `content_hash`   — two bodies that differ only by typography (Unicode forms, case,
                      whitespace, curly vs straight quotes) hash equal.
3. `minhash` + `band_keys` + `near_duplicates` — the same story republished with other
   boilerplate or an edited sentence: MinHash over word shingles, LSH band keys stored in an
   indexed table so a lookup reads a handful of index entries, whatever the archive size.

Thresholds (documented in docs/internals.md, "The archive"):
  NearConfig.threshold  estimated Jaccard similarity of word 3-shingles at or above which a
                        new text is folded into an existing article (default 0.7).
  NearConfig.min_words  texts shorter than this skip the near layer: on a few words the
                        Jaccard estimate is noise (default 30).
  NUM_PERM / BANDS      64 hash functions in 16 bands of 4 rows: a pair becomes a candidate
                        with probability 1-(1-J^4)^16 — 0.64 at J=0.5, 0.988 at J=0.7, >0.999
                        at J=0.8; candidates are then verified against `threshold`. These two
                        are stored in the archive (archive_meta) because the stored keys
                        depend on them.
"""

from __future__ import annotations

import hashlib
import random
import re
import sqlite3
import struct
import unicodedata
from array import array
from dataclasses import dataclass

import numpy as np

# ---------------------------------------------------------------------------------------------
# 2. Exact content
# ---------------------------------------------------------------------------------------------

_QUOTE_MAP = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u02bc": "'",
    "\u2032": "'",
    "`": "'",
    "\u00b4": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u201f": '"',
    "\u00ab": '"',
    "\u00bb": '"',
    "\u2033": '"',
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u2212": "-",
    "\u2026": "...",
}
# A regex that visits only the characters to replace: `str.translate` looked up every
# character and was half the cost of normalising a body.
_QUOTE_CHARS = re.compile("[" + re.escape("".join(_QUOTE_MAP)) + "]")
# Only whitespace that changes: a run of two or more, or one that is not a plain space.
_SPACE_RUN = re.compile(r"\s{2,}|[^\S ]")
_SPACE_BEFORE_PUNCT = re.compile(r'\s+([;:!?"])')
_SPACE_AFTER_QUOTE = re.compile(r'(")\s+')


def normalize_body(body: str) -> str:
    """NFKC, casefold, quotes/apostrophes/dashes folded, whitespace (NBSP included) collapsed."""
    text = _QUOTE_CHARS.sub(_replace_quote, unicodedata.normalize("NFKC", body)).casefold()
    # French typography puts a (thin) space before « » ; : ! ? — other outlets do not.
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    text = _SPACE_AFTER_QUOTE.sub(r"\1", text)
    return _SPACE_RUN.sub(" ", text).strip()


def _replace_quote(match: re.Match) -> str:
    return _QUOTE_MAP[match.group()]


def content_hash(body: str) -> str:
    """SHA-256 (hex) of `normalize_body(body)`: equal for bodies that differ only by typography."""
    return _hash_normalized(normalize_body(body))


def _hash_normalized(normalized: str) -> str:
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------------
# 3. Near content: MinHash + LSH
# ---------------------------------------------------------------------------------------------

NUM_PERM = 64
BANDS = 16
ROWS = NUM_PERM // BANDS
SHINGLE = 3
_MASK64 = (1 << 64) - 1
# Multiply-shift hashing (odd multiplier, keep the high 32 bits): as good as modular
# permutations for MinHash and ~2x faster in pure Python. Fixed seed: signatures must be
# comparable across runs and machines.
_rng = random.Random(20240615)
_PERMS = [(_rng.getrandbits(64) | 1, _rng.getrandbits(64)) for _ in range(NUM_PERM)]
_PERM_A = np.array([a for a, _ in _PERMS], dtype=np.uint64)
_PERM_B = np.array([b for _, b in _PERMS], dtype=np.uint64)
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class NearConfig:
    threshold: float = 0.7
    min_words: int = 30


@dataclass(frozen=True)
class NearMatch:
    article_id: int
    similarity: float  # estimated Jaccard similarity of word 3-shingles


def shingle_words(body: str) -> list[str]:
    """The words compared by the near layer: typography, case and accents folded."""
    return _words_of_normalized(normalize_body(body))


# Combining marks are never ASCII: only the non-ASCII characters are looked up, which made
# dropping accents ~10x faster than testing every character of the text.
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def _drop_combining(match: re.Match) -> str:
    return "".join(c for c in match.group() if not unicodedata.combining(c))


def _words_of_normalized(normalized: str) -> list[str]:
    return _WORD.findall(_NON_ASCII.sub(_drop_combining, unicodedata.normalize("NFKD", normalized)))


def content_keys(body: str, min_words: int = NearConfig.min_words) -> tuple[str, bytes | None]:
    """`(content_hash(body), minhash(body, min_words))`, normalising the body once."""
    normalized = normalize_body(body)
    return _hash_normalized(normalized), _minhash_of_words(_words_of_normalized(normalized), min_words)


def minhash(body: str, min_words: int = NearConfig.min_words) -> bytes | None:
    """MinHash signature (NUM_PERM 32-bit values, packed) of the body's word 3-shingles.

    None when the body has fewer than `min_words` words: too short to compare reliably.
    """
    return _minhash_of_words(shingle_words(body), min_words)


def _minhash_of_words(words: list[str], min_words: int) -> bytes | None:
    if len(words) < max(min_words, SHINGLE):
        return None
    shingles = {" ".join(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)}
    # One bytes object read as little-endian integers: ~25 % faster than an int per shingle.
    blake2b = hashlib.blake2b
    digests = b"".join([blake2b(s.encode(), digest_size=8).digest() for s in shingles])
    hashes = np.frombuffer(digests, dtype="<u8").astype(np.uint64)
    # uint64 arithmetic wraps modulo 2**64: the same values as `(a * h + b) & _MASK64`, for all
    # permutations at once (the per-permutation Python loop was 80% of storing an article).
    with np.errstate(over="ignore"):
        values = np.multiply.outer(_PERM_A, hashes) + _PERM_B[:, None]
    return (values.min(axis=1) >> np.uint64(32)).astype(np.uint32).tobytes()  # as array("I")


def similarity(sig_a: bytes, sig_b: bytes) -> float:
    """Estimated Jaccard similarity: the share of equal MinHash values."""
    a, b = array("I", sig_a), array("I", sig_b)
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def band_keys(signature: bytes) -> list[int]:
    """One signed 64-bit key per band (band number mixed in), as stored in `near_keys`."""
    values = array("I", signature)
    keys = []
    for band in range(BANDS):
        chunk = struct.pack(f"<B{ROWS}I", band, *values[band * ROWS : (band + 1) * ROWS])
        keys.append(int.from_bytes(hashlib.blake2b(chunk, digest_size=8).digest(), "little", signed=True))
    return keys


def near_duplicates(
    conn: sqlite3.Connection,
    signature: bytes,
    *,
    threshold: float = NearConfig.threshold,
    language: str | None = None,
) -> list[NearMatch]:
    """Archived articles whose estimated similarity to `signature` is >= `threshold`, best first.

    Reads only the index entries of the signature's band keys (sub-linear in archive size),
    then verifies each candidate against its stored signature. An article in another declared
    language is never a near-duplicate: a translation is kept as an article of its own.
    """
    keys = band_keys(signature)
    rows = conn.execute(
        f"SELECT s.article_id, s.signature, a.language FROM near_signatures s "
        f"LEFT JOIN articles a ON a.id = s.article_id "
        f"WHERE s.article_id IN (SELECT article_id FROM near_keys WHERE band_key IN ({','.join('?' * len(keys))}))",
        keys,
    ).fetchall()
    matches = []
    for article_id, other, other_language in rows:
        if language and other_language and language.split("-")[0] != other_language.split("-")[0]:
            continue
        score = similarity(signature, other)
        if score >= threshold:
            matches.append(NearMatch(article_id, score))
    matches.sort(key=lambda m: (-m.similarity, m.article_id))
    return matches


def index_signature(conn: sqlite3.Connection, article_id: int, signature: bytes | None) -> None:
    """Add an archived article to the near-duplicate index: its signature and band keys.

    A text too short for a signature (None) is not indexed; run inside the caller's transaction.
    """
    if signature is None:
        return
    conn.execute(
        "INSERT OR REPLACE INTO near_signatures (article_id, signature) VALUES (?, ?)", (article_id, signature)
    )
    conn.executemany(
        "INSERT OR IGNORE INTO near_keys (band_key, article_id) VALUES (?, ?)",
        [(key, article_id) for key in band_keys(signature)],
    )
