"""Score newswatch's generic article extractor and plain trafilatura in the same run.

    .venv/bin/python bench/extraction.py [--data ../shared/extraction-benchmark] [--repeat 3]

Data: `html/<id>.html.gz` pages + `ground-truth.json` ({id: {"articleBody", "url"}}).
Metric (the benchmark's README): per page, `\\w+` tokens -> 4-token shingles -> multiset
precision and recall; both averaged over pages; F1 from the two averages.
Speed: pages per second over the whole set, one process, after one warm-up page; pages are
decompressed before the clock starts (both extractors get the same bytes).
"""
from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SHINGLE_SIZE = 4
_WORD = re.compile(r"\w+")


@dataclass
class Page:
    page_id: str
    url: str | None
    data: bytes
    truth: str


@dataclass
class Score:
    name: str
    precision: float
    recall: float
    pages_per_second: float

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def shingles(text: str) -> Counter:
    tokens = _WORD.findall(text)
    if len(tokens) < SHINGLE_SIZE:
        # A text shorter than one shingle is one (short) shingle, so it still counts.
        return Counter([tuple(tokens)]) if tokens else Counter()
    return Counter(tuple(tokens[i:i + SHINGLE_SIZE]) for i in range(len(tokens) - SHINGLE_SIZE + 1))


def precision_recall(truth: str, extracted: str) -> tuple[float, float]:
    expected, got = shingles(truth), shingles(extracted)
    if not expected and not got:
        return 1.0, 1.0
    common = sum((expected & got).values())
    precision = common / sum(got.values()) if got else 0.0
    recall = common / sum(expected.values()) if expected else 0.0
    return precision, recall


def load_pages(data_dir: Path) -> list[Page]:
    truth_file = data_dir / "ground-truth.json"
    if not truth_file.is_file():
        raise SystemExit(f"error: {truth_file} not found; give the benchmark directory with --data")
    truth = json.loads(truth_file.read_text(encoding="utf-8"))
    pages = []
    for page_id, entry in sorted(truth.items()):
        path = data_dir / "html" / f"{page_id}.html.gz"
        if not path.is_file():
            raise SystemExit(f"error: {path} is listed in ground-truth.json but missing")
        pages.append(Page(page_id, entry.get("url"), gzip.decompress(path.read_bytes()), entry.get("articleBody") or ""))
    return pages


def newswatch_extractor() -> Callable[[Page], str]:
    from scrapers.clean import clean_page

    def extract(page: Page) -> str:
        # The ground truth is the article body without the headline (as trafilatura.extract's
        # output is), so the body is what is compared; scoring title + body costs 0.015 of
        # precision for text that is right but not in the ground truth.
        return clean_page(page.data, url=page.url).body

    return extract


def newswatch_html_stage() -> Callable[[Page], str]:
    """The HTML stage alone (decode + extract_html), without the text-level rules."""
    from scrapers.decoding import decode_bytes
    from scrapers.html import extract_html
    from scrapers.profiles import GENERIC

    def extract(page: Page) -> str:
        blocks, _ = extract_html(decode_bytes(page.data), url=page.url, profile=GENERIC)
        return "\n\n".join(blocks)

    return extract


def trafilatura_extractor() -> Callable[[Page], str]:
    import trafilatura

    def extract(page: Page) -> str:
        return trafilatura.extract(page.data, url=page.url, include_comments=False) or ""

    return extract


def score(name: str, extract: Callable[[Page], str], pages: list[Page], repeat: int) -> Score:
    extract(pages[0])  # warm-up: lazy imports and caches are not per-page cost
    outputs: list[str] = []
    timings = []
    for _ in range(repeat):
        outputs = []
        start = time.perf_counter()
        for page in pages:
            outputs.append(extract(page))
        timings.append(time.perf_counter() - start)
    results = [precision_recall(page.truth, text) for page, text in zip(pages, outputs)]
    return Score(
        name=name,
        precision=statistics.fmean(p for p, _ in results),
        recall=statistics.fmean(r for _, r in results),
        pages_per_second=len(pages) / min(timings),  # best of N: least disturbed by neighbours
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "extraction-benchmark",
                        help="benchmark directory (default: ../shared/extraction-benchmark beside the repo)")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes per extractor; the best counts")
    parser.add_argument("--stage", choices=("clean_page", "html"), default="clean_page",
                        help="newswatch stage to score: the whole clean_page (default) or the HTML stage only")
    args = parser.parse_args(argv)

    pages = load_pages(args.data)
    ours = newswatch_extractor() if args.stage == "clean_page" else newswatch_html_stage()
    label = "newswatch clean_page (generic)" if args.stage == "clean_page" else "newswatch extract_html (generic)"
    scores = [
        score(label, ours, pages, args.repeat),
        score("trafilatura.extract (defaults, no comments)", trafilatura_extractor(), pages, args.repeat),
    ]
    print(f"{len(pages)} pages from {args.data}\n")
    print("| extractor | precision | recall | F1 | pages/s |")
    print("|---|---|---|---|---|")
    for s in scores:
        print(f"| {s.name} | {s.precision:.3f} | {s.recall:.3f} | {s.f1:.3f} | {s.pages_per_second:.1f} |")
    ours_score, theirs = scores
    print(f"\nnewswatch / trafilatura: F1 x{ours_score.f1 / theirs.f1:.3f}, "
          f"pages/s x{ours_score.pages_per_second / theirs.pages_per_second:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
