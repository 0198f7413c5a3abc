"""`newswatch import PATH...`: clean saved pages and add them to the archive."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from errors import NewswatchError
from flows.cli.shared import add_archive_option, add_max_bytes_option, archive_path, read_saved_page

HELP = "clean saved pages (HTML, .gz, text dumps, or folders of them) and add them to the archive"
EXAMPLE = """
newswatch import tests/fixtures/pages/
newswatch import page.html --url https://www.iom.int/fr/news/x --source iom-fr
"""
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
    from flows.pipeline.stages import learn_template, template_of
    from scrapers.clean import clean_page, gunzip_page
    from storage.archive import Archive
    from storage.records import Incoming

    files = page_files(args.paths)
    if args.url and len(files) != 1:
        raise NewswatchError("--url names the address of one page: give exactly one file with it")
    report = ImportReport()
    with Archive.open(archive_path(args)) as archive:
        # The source's learned template as the import starts, for every file of it; the new
        # articles then join it (scrapers/template.py).
        learned = template_of(archive, args.source)
        for start in range(0, len(files), max(1, args.batch_size)):
            batch, names = [], []
            for file in files[start : start + args.batch_size]:
                try:
                    data = gunzip_page(read_saved_page(file, args.max_bytes), args.max_bytes)
                    article = clean_page(data, url=args.url, profile=args.profile, template=learned)
                except (NewswatchError, OSError) as e:
                    report.errors.append(f"{file}: {e}")
                    continue
                batch.append(
                    Incoming(article, source=args.source, url=args.url or article.url or file.resolve().as_uri())
                )
                names.append(file)
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
