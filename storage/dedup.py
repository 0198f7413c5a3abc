"""The three deduplication layers, each a plain function: URL, exact content, near content.

1. `canonical_url`  — two URLs that name the same page compare equal.
2. `content_hash`   — two bodies that differ only by typography (Unicode forms, case,
                      whitespace, curly vs straight quotes) hash equal.
3. `minhash` + `band_keys` + `near_duplicates` — the same story republished with other
   boilerplate or an edited sentence: MinHash over word shingles, LSH band keys stored in an
   indexed table so a lookup reads a handful of index entries, whatever the archive size.

Thresholds (documented in the README, "The archive"):
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
from typing import TypeGuard
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
from courlan import normalize_url

# ---------------------------------------------------------------------------------------------
# 1. URL
# ---------------------------------------------------------------------------------------------

# Parameters that never select content on any site; courlan removes the common trackers
# (utm_*, fbclid, gclid, ...) already, these are the ones seen on news sites besides.
GLOBAL_TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "_ga",
        "yclid",
        "xtor",
        "at_medium",
        "at_campaign",
    }
)


def canonical_url(
    url: str | None,
    declared_canonical: str | None = None,
    tracking_params: tuple[str, ...] | frozenset[str] = (),
) -> str | None:
    """The page's clean address: what the archive stores, and what emails, feeds, search,
    `show` and Datasette link to.

    The page's own `<link rel=canonical>` wins when it is an absolute http(s) URL. Then:
    lower-case host, no default port, no fragment, no tracking parameters (courlan's list,
    `GLOBAL_TRACKING_PARAMS`, and the site profile's `tracking_params`), sorted query. The
    scheme, `www.` and the path are kept as served: a site that serves only http, or only
    `www.`, must stay reachable from the link. Returns None for anything that is not an
    http(s) URL (a local file has no web address).

    Two spellings of one page (http/https, with or without `www.` or a trailing slash) get
    one `url_key`: that, not this, is what deduplication compares.
    """
    chosen = declared_canonical if _is_web_url(declared_canonical) else url
    if not _is_web_url(chosen):
        return None
    try:
        normalized = normalize_url(chosen.strip())
    except (ValueError, TypeError):
        normalized = chosen.strip()
    parts = urlsplit(normalized)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    default = {"http": 80, "https": 443}[scheme]
    netloc = host if port in (None, default) else f"{host}:{port}"
    drop = {p.lower() for p in tracking_params} | GLOBAL_TRACKING_PARAMS
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in drop and not k.lower().startswith("utm_")
    ]
    return urlunsplit((scheme, netloc, parts.path or "/", urlencode(sorted(query)), ""))


def url_key(canonical: str | None) -> str | None:
    """The deduplication key of a canonical URL: two addresses of one page compare equal.

    Scheme-free, host without `www.`, no trailing slash: `http://www.x.org/a/` and
    `https://x.org/a` are one page. Computed from the stored `canonical_url`, so it is the
    same for canonical URLs written by earlier versions (which forced https and dropped
    `www.`): archive migration 7 fills it for existing rows.
    """
    if not _is_web_url(canonical):
        return None
    parts = urlsplit(canonical.strip())
    host = (parts.hostname or "").lower().removeprefix("www.")
    port = parts.port
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    key = netloc + parts.path.rstrip("/")
    return f"{key}?{parts.query}" if parts.query else key


def _is_web_url(url: str | None) -> TypeGuard[str]:
    return url is not None and urlsplit(url.strip()).scheme.lower() in ("http", "https")


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
    hashes = np.fromiter(
        (int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little") for s in shingles),
        dtype=np.uint64,
        count=len(shingles),
    )
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
