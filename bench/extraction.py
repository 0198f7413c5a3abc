"""Score newswatch's article extraction and trafilatura's in the same run, on two corpora.

    .venv/bin/python bench/extraction.py --benchmark DIR --corpus DIR     # both corpora, both halves
    .venv/bin/python bench/extraction.py --only benchmark --benchmark DIR --half dev --rejected

Corpora (read-only, outside the repository: give their directories with --benchmark and
--corpus; `make bench CORPORA=DIR` gives both from the directory holding them):
  benchmark    `extraction-benchmark/`: 88 news pages, `html/<id>.html.gz` + `ground-truth.json`.
               Metric (its README): `\\w+` tokens -> 4-token shingles -> multiset precision and
               recall per page, both averaged over pages, F1 from the two averages.
  trafilatura  `extraction-corpus-trafilatura/`: 487 varied pages (`pages.tar.xz`, read in
               memory) + `evaldata.json` with "with"/"without" snippets per page. Metric (its
               README): whitespace-normalised substring tests; a "with" snippet found is a true
               positive, missed a false negative; a "without" snippet found is a false
               positive; counts summed over pages, F1 = 2tp / (2tp + fp + fn).
A page an extractor rejects (newswatch: `is_article` false; trafilatura: no output) is scored
as an empty text, and counted in the rejected share.

Halves: every corpus is split by the SHA-256 of the page's file name (`<id>.html.gz`, or the
name inside `pages/`): first byte even -> `dev`, odd -> `held-out`. Rules are tuned looking at
the dev half only; the held-out half decides whether they generalise.

What is scored (all in this one process, on the same bytes, decompressed before the clock):
  newswatch    `clean_page(bytes, url=...)`: its `body` (the ground truths hold no headline);
               the generic path, as an unknown site gets it. `--found-via feed` (or sitemap,
               listing) cleans every page as if discovery had found it that way: a feed's or
               sitemap's entry gets the benefit of the doubt (scrapers/decide.py).
  trafilatura  `trafilatura.extract(bytes, url=..., include_comments=False, include_tables=True)`
               in its default mode and with `fast=True`.
Seeds (`--seeds DIR`, the seed sites' text dumps): each is cleaned and compared with its gold
in `bench/seeds-gold.json` (title, date, verdict, contacts, and every paragraph by its first
four and last three words): paragraph boundaries as precision / recall of those pairs, and the
body's words identical or not. A seed is perfect when everything matches.
`--worst N` lists, per half, the N pages where newswatch loses most against trafilatura's fast
mode, with what each lost (rejected, empty, missed or extra text): classes of loss, not pages
to fix one by one.
Speed: pages/s over each half from the process's CPU time (the machine is shared: wall time
measured what the neighbours did), the best of --repeat passes; the extractors take turns
pass by pass. One warm-up page each before the clock.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import statistics
import sys
import tarfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SHINGLE_SIZE = 4
_WORD = re.compile(r"\w+")
_SPACES = re.compile(r"\s+")
HALVES = ("dev", "held-out")


@dataclass
class Page:
    page_id: str
    url: str | None
    data: bytes
    half: str
    truth: str = ""  # benchmark: the article body
    with_: list[str] = field(default_factory=list)  # trafilatura corpus: snippets
    without: list[str] = field(default_factory=list)


@dataclass
class Output:
    text: str
    rejected: bool
    reason: str | None = None


@dataclass
class Result:
    extractor: str
    precision: float
    recall: float
    f1: float
    rejected: int
    pages: int
    pages_per_second: float
    rejected_pages: list[tuple[str, str | None]]
    outputs: list[Output] = field(default_factory=list)


def half_of(file_name: str) -> str:
    return HALVES[hashlib.sha256(file_name.encode("utf-8")).digest()[0] % 2]


# --- corpora -------------------------------------------------------------------------------


def load_benchmark(data_dir: Path) -> list[Page]:
    truth_file = data_dir / "ground-truth.json"
    if not truth_file.is_file():
        raise SystemExit(f"error: {truth_file} not found; give the benchmark directory with --benchmark")
    truth = json.loads(truth_file.read_text(encoding="utf-8"))
    pages = []
    for page_id, entry in sorted(truth.items()):
        path = data_dir / "html" / f"{page_id}.html.gz"
        if not path.is_file():
            raise SystemExit(f"error: {path} is listed in ground-truth.json but missing")
        pages.append(
            Page(
                page_id,
                entry.get("url"),
                gzip.decompress(path.read_bytes()),
                half_of(path.name),
                truth=entry.get("articleBody") or "",
            )
        )
    return pages


def load_trafilatura_corpus(data_dir: Path) -> list[Page]:
    eval_file, archive = data_dir / "evaldata.json", data_dir / "pages.tar.xz"
    for required in (eval_file, archive):
        if not required.is_file():
            raise SystemExit(f"error: {required} not found; give the corpus directory with --corpus")
    entries = json.loads(eval_file.read_text(encoding="utf-8"))
    with tarfile.open(archive, "r:xz") as tar:
        files = {Path(m.name).name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    pages = []
    for key, entry in sorted(entries.items()):
        name = entry["file"]
        if name not in files:
            raise SystemExit(f"error: {name} is listed in evaldata.json but not in {archive}")
        url = key.strip() if key.startswith(("http://", "https://")) else None
        pages.append(
            Page(
                name, url, files[name], half_of(name), with_=entry.get("with") or [], without=entry.get("without") or []
            )
        )
    return pages


# --- metrics -------------------------------------------------------------------------------


def shingles(text: str) -> Counter:
    tokens = _WORD.findall(text)
    if len(tokens) < SHINGLE_SIZE:
        # A text shorter than one shingle is one (short) shingle, so it still counts.
        return Counter([tuple(tokens)]) if tokens else Counter()
    return Counter(tuple(tokens[i : i + SHINGLE_SIZE]) for i in range(len(tokens) - SHINGLE_SIZE + 1))


def precision_recall(truth: str, extracted: str) -> tuple[float, float]:
    expected, got = shingles(truth), shingles(extracted)
    if not expected and not got:
        return 1.0, 1.0
    common = sum((expected & got).values())
    precision = common / sum(got.values()) if got else 0.0
    recall = common / sum(expected.values()) if expected else 0.0
    return precision, recall


def shingle_scores(pages: list[Page], outputs: list[Output]) -> tuple[float, float, float]:
    results = [precision_recall(page.truth, out.text) for page, out in zip(pages, outputs, strict=True)]
    precision = statistics.fmean(p for p, _ in results)
    recall = statistics.fmean(r for _, r in results)
    total = precision + recall
    return precision, recall, (2 * precision * recall / total if total else 0.0)


def _normalised(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def snippet_scores(pages: list[Page], outputs: list[Output]) -> tuple[float, float, float]:
    tp = fp = fn = 0
    for page, out in zip(pages, outputs, strict=True):
        text = _normalised(out.text)
        for snippet in page.with_:
            if _normalised(snippet) in text:
                tp += 1
            else:
                fn += 1
        fp += sum(1 for snippet in page.without if _normalised(snippet) in text)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return precision, recall, f1


METRICS = {"benchmark": shingle_scores, "trafilatura": snippet_scores}


def page_score(corpus: str, page: Page, out: Output) -> tuple[float, str]:
    """One page's F1 (benchmark: shingles; corpus: its snippets) and what it lost, in words."""
    if corpus == "benchmark":
        precision, recall = precision_recall(page.truth, out.text)
        total = precision + recall
        return (2 * precision * recall / total if total else 0.0), f"P {precision:.2f} R {recall:.2f}"
    text = _normalised(out.text)
    tp = sum(1 for s in page.with_ if _normalised(s) in text)
    fp = sum(1 for s in page.without if _normalised(s) in text)
    fn = len(page.with_) - tp
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
    return f1, f"{fn} of {len(page.with_)} snippets missed, {fp} of {len(page.without)} unwanted found"


def loss_class(out: Output, detail: str) -> str:
    if out.rejected:
        return f"rejected ({out.reason})"
    if not out.text.strip():
        return "empty body"
    return detail


# --- extractors ----------------------------------------------------------------------------


def newswatch_extractor(found_via: str | None = None) -> Callable[[Page], Output]:
    from scrapers.clean import clean_page

    def extract(page: Page) -> Output:
        article = clean_page(page.data, url=page.url, found_via=found_via)
        if not article.is_article:
            return Output("", True, article.reason)
        return Output(article.body, False)

    return extract


def trafilatura_extractor(**settings) -> Callable[[Page], Output]:
    import trafilatura

    def extract(page: Page) -> Output:
        text = trafilatura.extract(page.data, url=page.url, include_comments=False, include_tables=True, **settings)
        return Output(text or "", not text, None if text else "no output")

    return extract


EXTRACTORS: dict[str, Callable[[], Callable[[Page], Output]]] = {
    "newswatch clean_page": newswatch_extractor,
    "trafilatura.extract": trafilatura_extractor,
    "trafilatura.extract fast": lambda: trafilatura_extractor(fast=True),
}


def run_half(
    corpus: str, pages: list[Page], extractors: dict[str, Callable[[Page], Output]], repeat: int
) -> list[Result]:
    outputs: dict[str, list[Output]] = {}
    timings: dict[str, list[float]] = {name: [] for name in extractors}
    for extract in extractors.values():
        extract(pages[0])  # warm-up: lazy imports and caches are not per-page cost
    for _ in range(repeat):
        for name, extract in extractors.items():
            start = time.process_time()
            outputs[name] = [extract(page) for page in pages]
            timings[name].append(time.process_time() - start)
    results = []
    for name in extractors:
        precision, recall, f1 = METRICS[corpus](pages, outputs[name])
        rejected = [(page.page_id, out.reason) for page, out in zip(pages, outputs[name], strict=True) if out.rejected]
        results.append(
            Result(
                name,
                precision,
                recall,
                f1,
                len(rejected),
                len(pages),
                len(pages) / min(timings[name]),
                rejected,
                outputs[name],
            )
        )
    return results


def profile_newswatch(corpora, half: str | None, top: int) -> int:
    import cProfile
    import pstats

    extract = newswatch_extractor()
    pages = [p for _, _, corpus_pages in corpora for p in corpus_pages if half is None or p.half == half]
    extract(pages[0])
    profiler = cProfile.Profile()
    profiler.enable()
    for page in pages:
        extract(page)
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return 0


def score_seeds(seed_dir: Path) -> bool:
    from extraction_seeds import score_seeds as score  # bench/extraction_seeds.py

    return score(seed_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--benchmark",
        type=Path,
        metavar="DIR",
        help="the extraction-benchmark directory (not in the repository; needed unless --only trafilatura)",
    )
    parser.add_argument(
        "--corpus",
        type=Path,
        metavar="DIR",
        help="the extraction-corpus-trafilatura directory (not in the repository; needed unless --only benchmark)",
    )
    parser.add_argument(
        "--seeds", type=Path, metavar="DIR", help="also check the seed dumps in DIR against bench/seeds-gold.json"
    )
    parser.add_argument("--only", choices=("benchmark", "trafilatura", "seeds"), help="score one corpus only")
    parser.add_argument(
        "--worst",
        type=int,
        metavar="N",
        default=0,
        help="list the N pages per half where newswatch loses most against trafilatura fast, and how",
    )
    parser.add_argument("--half", choices=HALVES, help="score one half only (default: both)")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes per extractor; the best counts")
    parser.add_argument(
        "--extractors", default=",".join(EXTRACTORS), help=f"comma-separated subset of: {', '.join(EXTRACTORS)}"
    )
    parser.add_argument("--rejected", action="store_true", help="list the pages newswatch rejected, with the reason")
    parser.add_argument(
        "--found-via",
        choices=("feed", "sitemap", "listing"),
        help="clean every page as found through this kind of discovery document (default: none said)",
    )
    parser.add_argument(
        "--profile",
        type=int,
        metavar="N",
        default=0,
        help="instead of scoring, profile newswatch (cProfile) over the chosen pages "
        "and print the N costliest functions by cumulative and by own time",
    )
    args = parser.parse_args(argv)

    names = [n.strip() for n in args.extractors.split(",") if n.strip()]
    unknown = [n for n in names if n not in EXTRACTORS]
    if unknown:
        raise SystemExit(f"error: unknown extractor(s) {unknown}; known: {list(EXTRACTORS)}")
    extractors = {
        name: newswatch_extractor(args.found_via) if name == "newswatch clean_page" else EXTRACTORS[name]()
        for name in names
    }
    corpora = []
    if args.only == "seeds" or args.seeds:
        if args.seeds is None:
            raise SystemExit("error: give the seeds directory with --seeds DIR")
        seeds_ok = score_seeds(args.seeds)
        if args.only == "seeds":
            return 0 if seeds_ok else 1
    if args.only in (None, "benchmark"):
        if args.benchmark is None:
            raise SystemExit(
                "error: give the extraction-benchmark directory with --benchmark DIR "
                "(or score the other corpus alone: --only trafilatura)"
            )
        corpora.append(("benchmark", args.benchmark, load_benchmark(args.benchmark)))
    if args.only in (None, "trafilatura"):
        if args.corpus is None:
            raise SystemExit(
                "error: give the extraction-corpus-trafilatura directory with --corpus DIR "
                "(or score the other corpus alone: --only benchmark)"
            )
        corpora.append(("trafilatura", args.corpus, load_trafilatura_corpus(args.corpus)))

    if args.profile:
        return profile_newswatch(corpora, args.half, args.profile)

    print("| corpus | half | pages | extractor | precision | recall | F1 | rejected | pages/s |")
    print("|---|---|---:|---|---:|---:|---:|---:|---:|")
    report = []
    for corpus, _path, pages in corpora:
        for half in HALVES:
            if args.half and half != args.half:
                continue
            chosen = [p for p in pages if p.half == half]
            results = run_half(corpus, chosen, extractors, args.repeat)
            report.append((corpus, half, results))
            for r in results:
                print(
                    f"| {corpus} | {half} | {r.pages} | {r.extractor} | {r.precision:.3f} | {r.recall:.3f} | "
                    f"{r.f1:.3f} | {r.rejected / r.pages:.1%} ({r.rejected}) | {r.pages_per_second:.1f} |",
                    flush=True,
                )
    print()
    ours = "newswatch clean_page"
    for corpus, half, results in report:
        by_name = {r.extractor: r for r in results}
        if ours not in by_name:
            continue
        mine = by_name[ours]
        for name, theirs in by_name.items():
            if name != ours and theirs.f1 and theirs.pages_per_second:
                print(
                    f"{corpus} {half}: newswatch / {name}: F1 {mine.f1 - theirs.f1:+.3f}, "
                    f"pages/s x{mine.pages_per_second / theirs.pages_per_second:.2f}"
                )
    if args.rejected:
        for corpus, half, results in report:
            for r in results:
                if r.extractor == ours and r.rejected_pages:
                    print(f"\n{corpus} {half}: rejected by newswatch ({len(r.rejected_pages)})")
                    for page_id, reason in r.rejected_pages:
                        print(f"  {page_id}: {reason}")
    if args.worst:
        for corpus, half, results in report:
            by_name = {r.extractor: r for r in results}
            if ours not in by_name:
                continue
            pages = [p for name, _, corpus_pages in corpora if name == corpus for p in corpus_pages if p.half == half]
            print_worst(corpus, half, pages, by_name[ours], by_name.get("trafilatura.extract fast"), args.worst)
    return 0


def print_worst(corpus: str, half: str, pages: list[Page], mine: Result, fast: Result | None, count: int) -> None:
    rows = []
    for k, page in enumerate(pages):
        f1, detail = page_score(corpus, page, mine.outputs[k])
        theirs = page_score(corpus, page, fast.outputs[k])[0] if fast else 1.0
        rows.append((f1 - theirs, f1, theirs, page.page_id, loss_class(mine.outputs[k], detail)))
    rows.sort()
    print(f"\n{corpus} {half}: the {count} pages where newswatch loses most (F1 newswatch / trafilatura fast)")
    for delta, f1, theirs, page_id, what in rows[:count]:
        print(f"  {delta:+.2f}  {f1:.2f} / {theirs:.2f}  {page_id}: {what}")


if __name__ == "__main__":
    raise SystemExit(main())
