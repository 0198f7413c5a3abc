"""`newswatch import PATH...`: clean saved pages and add them to the archive."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from errors import NewswatchError
from flows.cli.shared import add_archive_option, add_max_bytes_option, archive_path, cleaned_files

HELP = "clean saved pages (HTML, .gz, text dumps, or folders of them) and add them to the archive"
EXAMPLE = """
newswatch import tests/fixtures/pages/
newswatch import page.html --url https://www.iom.int/fr/news/x --source iom-fr
"""
GIVEN_UP = "it was not imported: import the file again, and report the page if it happens again"
PAGE_SUFFIXES = {".html", ".htm", ".txt", ".gz", ".xhtml"}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", type=Path, help="files or folders")
    parser.add_argument("--source", default="import", help="source name recorded in the archive (default: import)")
    parser.add_argument("--url", help="the address the page was saved from (one file only)")
    parser.add_argument("--profile", help="site profile to clean with (default: from --url, else generic)")
    parser.add_argument(
        "--batch-size", type=int, default=200, metavar="N", help="pages written per transaction (default: 200)"
    )
    add_max_bytes_option(parser)
    add_archive_option(parser)


def page_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in PAGE_SUFFIXES)
        elif path.exists():  # a FIFO or a device is refused, with its kind, when read
            files.append(path)
        else:
            raise NewswatchError(f"{path}: no such file or folder")
    return files


@dataclass
class ImportReport:
    new: int = 0
    exact: int = 0
    near: int = 0
    same_url: int = 0
    not_articles: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def run(args: argparse.Namespace) -> int:
    from flows.pipeline.clean_saved import clean_saved
    from flows.pipeline.cleaner import Cleaner
    from flows.pipeline.stages import learn_template, template_of
    from storage.archive import Archive
    from storage.db import utc_iso

    files = page_files(args.paths)
    if args.url and len(files) != 1:
        raise NewswatchError("--url names the address of one page: give exactly one file with it")
    report = ImportReport()
    # Pages are cleaned as a run's are (flows/pipeline/cleaner.py): in processes of their own,
    # on every CPU, each page within a deadline; one the cleaner loops on costs that file only.
    with Archive.open(archive_path(args)) as archive, Cleaner(given_up=GIVEN_UP) as cleaner:
        # The source's learned template as the import starts, for every file of it; the new
        # articles then join it (scrapers/template.py).
        learned = template_of(archive, args.source)
        cleaner.expect(len(files))
        args_ = (args.source, args.url, args.profile, learned, utc_iso())
        cleaned = cleaned_files(files, args.max_bytes, cleaner, clean_saved, args_)
        while chunk := list(islice(cleaned, max(1, args.batch_size))):
            batch, names = [], []
            for page, outcome in chunk:
                if isinstance(outcome, str):  # why the file has no article
                    report.errors.append(f"{page.path}: {outcome}")
                    continue
                batch.append(outcome)
                names.append(page.path)
            result = archive.add_batch(batch)
            learn_template(archive, batch, result)
            for file, item in zip(names, result.items, strict=True):
                if item.status == "not_article":
                    report.not_articles.append(f"{file}: {item.reason or 'not an article'}")
                elif item.status == "new":
                    report.new += 1
                else:
                    setattr(report, item.kind, getattr(report, item.kind) + 1)
    print(
        f"{len(files)} files: {report.new} new, "
        f"{report.exact + report.near + report.same_url} duplicates "
        f"(exact {report.exact}, near {report.near}, same URL {report.same_url}), "
        f"{len(report.not_articles)} not articles, {len(report.errors)} errors"
    )
    for line in report.not_articles:
        print(f"  not an article: {line}")
    for line in report.errors:
        print(f"  error: {line}")
    return 1 if report.errors and not (report.new or report.exact or report.near or report.same_url) else 0
