"""How well stories group the versions of one event: pairwise precision, recall and F1.

    .venv/bin/python bench/stories_eval.py --part dev                      # tune on this
    .venv/bin/python bench/stories_eval.py --part heldout                  # measure at the end
    .venv/bin/python bench/stories_eval.py --part dev --errors             # + every wrong pair
    .venv/bin/python bench/stories_eval.py --part dev --no-distractors     # the invented set alone

The set is `tests/fixtures/stories/` (invented events in 1-7 versions, English, French,
Spanish, Italian; `make_stories.py` wrote it, `manifest.json` says which file tells which
event). Real pages are added as distractors, read at measure time from the two corpora
(`--benchmark`, `--corpus`, default under /work/shared; the corpus half that matches the
part: their pages are split by file-name hash as in bench/extraction.py), each its own story.
Every page goes through what `newswatch import` does (`clean_page`, `Archive.add_batch`) into
a fresh archive, day by day in publication order (distractors spread over the same days).

Reported, per part: pairwise precision / recall / F1 over every pair of pages (same story
predicted vs same event), the share of events of 2+ versions kept whole (all versions in one
story; "pure": and nothing else in it), and the share of hard-negative event pairs merged
(any version of one in a story with any version of the other). The reference, in the same
run: what deduplication alone folds (each archived article its own story).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import combinations
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(1, str(REPO / "bench"))

from extraction import load_benchmark, load_trafilatura_corpus  # noqa: E402

from scrapers.clean import clean_page  # noqa: E402
from storage import stories, story_assignment  # noqa: E402
from storage.archive import Archive  # noqa: E402
from storage.records import Incoming  # noqa: E402

FIXTURES = REPO / "tests" / "fixtures" / "stories"
CORPUS_HALF = {"dev": "dev", "heldout": "held-out"}


@dataclass
class Page:
    key: str  # a fixture file, or "distractor:NAME"
    event: str  # the truth: an event id, or the page itself for a distractor
    day: date
    data: bytes
    url: str
    source: str


def fixture_pages(part: str) -> tuple[list[Page], list[dict]]:
    manifest = json.loads((FIXTURES / "manifest.json").read_text(encoding="utf-8"))
    pages = []
    for doc in manifest["documents"]:
        if doc["part"] != part:
            continue
        name = Path(doc["file"]).stem
        source = f"{doc['style']}-{doc['lang']}"
        pages.append(
            Page(
                doc["file"],
                doc["event"],
                date.fromisoformat(doc["published"]),
                (FIXTURES / doc["file"]).read_bytes(),
                f"https://{source}.example.org/news/{name}",
                source,
            )
        )
    negatives = [n for n in manifest["hard_negatives"] if n["a"].startswith(part + "-")]
    return pages, negatives


def distractor_pages(part: str, first: date, last: date, benchmark: Path | None, corpus: Path | None) -> list[Page]:
    loaded = []
    if benchmark:
        loaded += load_benchmark(benchmark)
    if corpus:
        loaded += load_trafilatura_corpus(corpus)
    span = (last - first).days + 1
    pages = []
    for page in loaded:
        if page.half != CORPUS_HALF[part]:
            continue
        digest = hashlib.sha256(page.page_id.encode()).digest()
        day = first + timedelta(days=digest[0] % span)
        key = f"distractor:{page.page_id}"
        url = page.url or f"https://distractor.example.org/{page.page_id}"
        pages.append(Page(key, key, day, page.data, url, "distractor"))
    return pages


def build(pages: list[Page], path: Path) -> tuple[dict[str, int], dict[str, int], float]:
    """Import the pages day by day; returns page -> story, page -> article, seconds spent
    adding (cleaning excluded)."""
    cleaned = []
    for page in pages:
        article = clean_page(page.data, url=page.url)
        cleaned.append((page, article))
    by_day: dict[date, list] = defaultdict(list)
    for page, article in cleaned:
        by_day[page.day].append((page, article))
    article_of: dict[str, int] = {}
    spent = 0.0
    with Archive.open(path) as archive:
        for day in sorted(by_day):
            batch = sorted(by_day[day], key=lambda pa: hashlib.sha256(pa[0].key.encode()).digest())
            items = [
                Incoming(article, source=page.source, url=page.url, fetched_at=f"{day.isoformat()}T09:00:00+00:00")
                for page, article in batch
            ]
            started = time.perf_counter()
            result = archive.add_batch(items)
            spent += time.perf_counter() - started
            for (page, _), item in zip(batch, result.items, strict=True):
                if item.article_id is not None:
                    article_of[page.key] = item.article_id
        story_of = {key: stories.story_of(archive, article) for key, article in article_of.items()}
    return {k: v for k, v in story_of.items() if v is not None}, article_of, spent


@dataclass
class Scores:
    precision: float
    recall: float
    f1: float
    whole: int
    pure: int
    multi: int
    merged_negatives: int
    negatives: int
    false_pairs: list[tuple[str, str]]
    missed_pairs: list[tuple[str, str]]


def score(truth: dict[str, str], predicted: dict[str, int], negatives: list[dict]) -> Scores:
    keys = sorted(k for k in truth if k in predicted)
    tp = fp = fn = 0
    false_pairs, missed = [], []
    for a, b in combinations(keys, 2):
        same_truth = truth[a] == truth[b]
        same_pred = predicted[a] == predicted[b]
        if same_truth and same_pred:
            tp += 1
        elif same_pred:
            fp += 1
            false_pairs.append((a, b))
        elif same_truth:
            fn += 1
            missed.append((a, b))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    events: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        events[truth[key]].append(key)
    members: dict[int, set[str]] = defaultdict(set)
    for key in keys:
        members[predicted[key]].add(key)
    multi = whole = pure = 0
    for versions in events.values():
        if len(versions) < 2:
            continue
        multi += 1
        found = {predicted[v] for v in versions}
        if len(found) == 1:
            whole += 1
            if members[found.pop()] == set(versions):
                pure += 1
    merged = 0
    for negative in negatives:
        stories_a = {predicted[v] for v in events.get(negative["a"], [])}
        stories_b = {predicted[v] for v in events.get(negative["b"], [])}
        merged += bool(stories_a & stories_b)
    return Scores(precision, recall, f1, whole, pure, multi, merged, len(negatives), false_pairs, missed)


def report(name: str, s: Scores) -> str:
    return (
        f"{name:<26} P {s.precision:.3f}  R {s.recall:.3f}  F1 {s.f1:.3f}  "
        f"whole {s.whole}/{s.multi} ({s.whole / max(s.multi, 1):.0%}, pure {s.pure})  "
        f"hard negatives merged {s.merged_negatives}/{s.negatives} ({s.merged_negatives / max(s.negatives, 1):.0%})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("dev", "heldout"), default="dev")
    parser.add_argument("--benchmark", type=Path, default=Path("/work/shared/extraction-benchmark"))
    parser.add_argument("--corpus", type=Path, default=Path("/work/shared/extraction-corpus-trafilatura"))
    parser.add_argument("--no-distractors", action="store_true")
    parser.add_argument("--errors", action="store_true", help="list every wrongly joined and wrongly split pair")
    parser.add_argument("--decisions", action="store_true", help="every candidate judged, right or wrong")
    parser.add_argument("--keep", type=Path, help="write the archive here (to explore with newswatch/sqlite)")
    args = parser.parse_args()

    pages, negatives = fixture_pages(args.part)
    first, last = min(p.day for p in pages), max(p.day for p in pages)
    if not args.no_distractors:
        pages += distractor_pages(args.part, first, last, args.benchmark, args.corpus)
    truth = {p.key: p.event for p in pages}
    with tempfile.TemporaryDirectory(prefix="nw-stories-") as tmp:
        path = args.keep or Path(tmp) / "archive.db"
        if path.exists():
            path.unlink()
        if args.decisions:
            story_assignment.TRACE = []
        predicted, articles, spent = build(pages, path)
    events = {p.event for p in pages if not p.key.startswith("distractor:")}
    distractors = sum(p.key.startswith("distractor:") for p in pages)
    print(
        f"part {args.part}: {len(pages) - distractors} versions of {len(events)} events, "
        f"{distractors} distractor pages, "
        f"{len(negatives)} hard-negative pairs; {len(set(articles.values()))} articles archived, "
        f"{len(set(predicted.values()))} stories; adding took {spent * 1000 / max(len(articles), 1):.2f} ms per page"
    )
    baseline = score(truth, articles, negatives)
    print(report("deduplication alone", baseline))
    result = score(truth, predicted, negatives)
    print(report("stories", result))
    invented = {k: v for k, v in truth.items() if not k.startswith("distractor:")}
    print(report("stories, invented only", score(invented, predicted, negatives)))
    if args.decisions and story_assignment.TRACE is not None:
        event_of_article: dict[int, set[str]] = defaultdict(set)
        for key, article in articles.items():
            event_of_article[article].add(truth[key])
        founder_event = {}
        for key, article in articles.items():
            founder_event.setdefault(article, truth[key])
        print("\ncandidates judged (right: the article's event is the story founder's):")
        print(f"{'right':>5} {'joins':>5} {'score':>6} {'strong':>6} {'share':>6} {'days':>4}  article -> story")
        for article, story, v in story_assignment.TRACE:
            right = founder_event.get(story) in event_of_article[article]
            share = "-" if v.share is None else f"{v.share:.2f}"
            print(
                f"{right!s:>5} {v.joins!s:>5} {v.score:6.2f} {v.strong:6d} {share:>6} {v.days_apart:4d}  "
                f"{sorted(event_of_article[article])[0]} -> {founder_event.get(story)}"
            )
            if v.joins and not right:
                print("        " + ", ".join(f"{x.fact.kind}:{x.fact.text}={x.weight:.2f}" for x in v.shared))
    if args.errors:
        print("\nwrongly joined pairs:")
        for a, b in result.false_pairs:
            print(f"  {a}  +  {b}")
        print("\nwrongly split pairs:")
        for a, b in result.missed_pairs:
            print(f"  {a}  /  {b}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
