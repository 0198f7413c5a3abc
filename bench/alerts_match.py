"""Benchmark: matching 1,000 alert rules against 1,000 new articles (goal: under 1 s).

Reference, measured in the same run on the same data: a plain Python scan testing each rule's
words as lowercase substrings of each article (no accents, plurals, phrases or NOT: a floor for
"any per-rule work at all", not an equivalent). Reported as a ratio so machines compare.

    .venv/bin/python bench/alerts_match.py [--rules 1000] [--articles 1000]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerts.match import BatchArticle, BatchIndex
from alerts.settings import AlertRule

WORDS = (
    "migrant passeur frontière réseau traite être humain bateau désert camp réfugié asile "
    "garde côte police enquête rapport chiffre mer route village ville santé école aide "
    "retour intégration travail emploi famille enfant femme homme sauvetage naufrage "
    "Frontex Europol Niger Libye Tunisie Mexique Agadez Lampedusa Manche Calais"
).split()


def synthetic(rules: int, articles: int, seed: int = 7):
    """News-like text: a Zipf-distributed vocabulary of 20,000 words (the real terms among the
    frequent ones); rules use real terms and random vocabulary words, so most rules match a
    few articles and some match many, as analysts' keywords do."""
    rnd = random.Random(seed)
    vocabulary = WORDS + [
        "".join(rnd.choice("abcdefghijklmnoprstuvé") for _ in range(rnd.randint(4, 10))) for _ in range(20_000)
    ]
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]

    def text(n: int) -> str:
        return " ".join(w + "s" if rnd.random() < 0.2 else w for w in rnd.choices(vocabulary, weights, k=n))

    def word():
        return rnd.choice(WORDS) if rnd.random() < 0.5 else rnd.choice(vocabulary[:5000])

    batch = [
        BatchArticle(i, i, text(8).capitalize(), text(400) + ".", rnd.choice(["iom-fr", "apr", "iom-en"]))
        for i in range(articles)
    ]
    shapes = [
        lambda: f"{word()} {word()}",
        lambda: f'"{word()} {word()}"',
        lambda: f"{word()} OR {word()}",
        lambda: f"{word()} -{word()}",
        lambda: f"{word()[:4]}*",
        lambda: f"NEAR({word()} {word()}, 5)",
    ]
    ruleset = [
        AlertRule(name=f"rule{i}", query=rnd.choice(shapes)(), to=[f"a{i % 50}@example.org"]) for i in range(rules)
    ]
    return ruleset, batch


def substring_scan(rules, batch) -> int:
    texts = [((c.title or "") + " " + c.body).lower() for c in batch]
    found = 0
    for rule in rules:
        words = [w.strip('"()*-,0123456789').lower() for w in rule.query.split() if w not in ("OR",)]
        words = [w.removeprefix("near(") for w in words if w]
        for text in texts:
            if all(w in text for w in words):
                found += 1
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--articles", type=int, default=1000)
    args = parser.parse_args()
    rules, batch = synthetic(args.rules, args.articles)

    t0 = time.perf_counter()
    with BatchIndex(batch) as index:  # what alerts.outbox.record_matches does for a batch
        found = [(rule, position) for rule in rules for position in index.match(rule)]
        fts = time.perf_counter() - t0
        t0 = time.perf_counter()
        for rule, position in found:  # a snippet per match, as if every match were a new row
            index.snippet(rule, position)
        with_snippets = fts + time.perf_counter() - t0
    t0 = time.perf_counter()
    scanned = substring_scan(rules, batch)
    reference = time.perf_counter() - t0

    print(f"{args.rules} rules x {args.articles} articles (~400 words each, 20,000-word Zipf vocabulary)")
    print(f"  BatchIndex.match (in-memory FTS5, one MATCH per rule): {fts:.3f} s, {len(found)} matches")
    print(
        f"  same with a highlighted snippet per match:             {with_snippets:.3f} s "
        f"({(with_snippets - fts) / max(1, len(found)) * 1e6:.0f} µs per snippet)"
    )
    print(f"  reference substring scan (Python):                     {reference:.3f} s, {scanned} hits")
    print(f"  ratio match / reference: {fts / reference:.2f}")
    print(f"  goal < 1 s: {'met' if fts < 1 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
