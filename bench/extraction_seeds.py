"""The seeds of bench/extraction.py (`--seeds DIR`): the seed sites' text dumps against their gold.

Each seed is cleaned as it is and as four other dumps of the same page print it (rewrapped at
72, at 64 without blank lines, at 80 with a blank line after each line, CRLF line ends), and
compared with `bench/seeds-gold.json`: title, date, verdict, contacts, and every paragraph by
its first four and last three words (paragraph boundaries as precision / recall of those
pairs), and the body's words identical or not.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import sys
import textwrap
from collections import Counter
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

_WORD = re.compile(r"\w+")


SEEDS_GOLD = REPO / "bench" / "seeds-gold.json"


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def _rewrapped(text: str, width: int, *, blank: str) -> str:
    """The dump with every line longer than `width` hard-wrapped; `blank`: "keep" the blank
    lines, "none" (no blank line at all), "every" (a blank line after every line)."""
    lines = []
    for line in text.splitlines():
        if not line.strip():
            if blank == "keep":
                lines.append("")
            continue
        for piece in textwrap.wrap(line, width) if len(line) > width else [line]:
            lines.extend([piece, ""] if blank == "every" else [piece])
    return "\n".join(lines)


# Each seed as it is, then as other dumps of the same page print it: the gold stays the same.
SEED_VARIANTS: dict[str, Callable[[str], str]] = {
    "as is": lambda text: text,
    "wrapped at 72": lambda text: _rewrapped(text, 72, blank="keep"),
    "wrapped at 64, no blank line": lambda text: _rewrapped(text, 64, blank="none"),
    "wrapped at 80, blank line after each": lambda text: _rewrapped(text, 80, blank="every"),
    "CRLF line ends": lambda text: text.replace("\n", "\r\n"),
}


def score_seeds(seed_dir: Path) -> bool:
    """Print one line per seed and variant; True when every one is perfect."""
    from scrapers.clean import clean_page

    gold = json.loads(SEEDS_GOLD.read_text(encoding="utf-8"))
    print("| seed | variant | title | date | verdict | contacts | paragraphs P / R | body words | perfect |")
    print("|---|---|---|---|---|---|---:|---|---|")
    perfect_all = True
    for (name, expected), (variant, rewrite) in itertools.product(sorted(gold.items()), SEED_VARIANTS.items()):
        path = seed_dir / name
        if not path.is_file():
            raise SystemExit(f"error: {path} not found; give the seeds directory with --seeds")
        article = clean_page(rewrite(path.read_text(encoding="utf-8")))
        pairs = [[" ".join(_words(p)[:4]), " ".join(_words(p)[-3:])] for p in article.paragraphs]
        wanted = [tuple(p) for p in expected["paragraphs"]]
        got = [tuple(p) for p in pairs]
        common = sum((Counter(wanted) & Counter(got)).values())
        precision = common / len(got) if got else 0.0
        recall = common / len(wanted) if wanted else 1.0
        words = " ".join(_words(article.body))
        same_words = hashlib.sha256(words.encode("utf-8")).hexdigest() == expected["body_sha256"]
        checks = {
            "title": article.title == expected["title"],
            "date": article.date == expected["date"],
            "verdict": article.is_article == expected["is_article"],
            "contacts": [c.name for c in article.contacts] == expected["contacts"],
        }
        perfect = all(checks.values()) and got == wanted and same_words
        perfect_all &= perfect
        marks = " | ".join("ok" if ok else "WRONG" for ok in checks.values())
        print(
            f"| {name} | {variant} | {marks} | {precision:.2f} / {recall:.2f} | "
            f"{'same' if same_words else 'DIFFERENT'} ({len(_words(article.body))}/{expected['body_words']}) | "
            f"{'yes' if perfect else 'NO'} |"
        )
    print()
    return perfect_all
