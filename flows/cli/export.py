"""`newswatch export`: stream the archive as JSON lines or CSV."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys

from flows.cli.shared import add_archive_option, iso_date, open_archive

HELP = "stream the archived articles as JSON lines or CSV"
EXAMPLE = """
newswatch export > archive.jsonl
newswatch export --format csv --since 2024-01-01 > recent.csv     # opens in a spreadsheet as it is
newswatch export --format csv --no-bom > for-a-script.csv
newswatch export --include-forgotten > backup.jsonl                # every article, the forgotten ones too
"""
FIELDS = (
    "id",
    "url",
    "canonical_url",
    "source",
    "title",
    "published",
    "language",
    "fetched_at",
    "content_hash",
    "profile",
    "contacts",
    "body",
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("jsonl", "csv"), default="jsonl", help="default: jsonl")
    parser.add_argument(
        "--no-bom",
        action="store_true",
        help="CSV without the UTF-8 byte order mark that spreadsheets (Excel, LibreOffice) read the encoding from",
    )
    parser.add_argument(
        "--include-forgotten",
        action="store_true",
        help="the articles taken out by `newswatch forget` too (left out by default): a backup or a salvage",
    )
    parser.add_argument("--since", type=iso_date, metavar="DATE", help="only articles from this day on (YYYY-MM-DD)")
    add_archive_option(parser)


def _without(articles, ids: set[int], dropped: list[int]):
    """`articles` but those of `ids`, whose ids go to `dropped`."""
    for article in articles:
        if article.id in ids:
            dropped.append(article.id)
        else:
            yield article


def run(args: argparse.Namespace) -> int:
    out = sys.stdout
    skipped: list[int] = []
    # A damaged archive too: export is how what can still be read is salvaged from it.
    with open_archive(args, read_only=True, damaged_ok=True) as archive:
        from storage.forget import forgotten_ids

        # A forgotten article (`newswatch forget`) is out of the export, unless asked for; a damaged
        # archive that cannot say which they are exports them all.
        left_out = set() if args.include_forgotten else forgotten_ids(archive)
        everything = archive.salvage_articles(since=args.since, skipped=skipped)
        dropped: list[int] = []
        articles = _without(everything, left_out or set(), dropped)
        if args.format == "jsonl":
            for article in articles:
                out.write(json.dumps({k: getattr(article, k) for k in FIELDS}, ensure_ascii=False) + "\n")
        else:
            # UTF-8 whatever the locale, with a byte order mark unless --no-bom: without it a
            # spreadsheet reads the file in the machine's legacy encoding (é shown as Ã©).
            # Rows end in CRLF (RFC 4180); a body's own line breaks stay inside its quoted cell.
            sys.stdout.flush()
            text = io.TextIOWrapper(out.buffer, encoding="utf-8" if args.no_bom else "utf-8-sig", newline="")
            try:
                writer = csv.writer(text)
                writer.writerow(FIELDS)
                for article in articles:
                    row = article.to_dict()
                    row["contacts"] = json.dumps(row["contacts"], ensure_ascii=False)
                    writer.writerow([row[k] for k in FIELDS])
            finally:
                text.flush()
                text.detach()  # sys.stdout's buffer stays open
    if dropped:
        print(
            f"newswatch export: {len(dropped)} forgotten article(s) left out "
            "(`newswatch rejected --reason forgotten` lists them; --include-forgotten exports them too)",
            file=sys.stderr,
        )
    elif left_out is None:
        print(
            f"newswatch export: {archive.path} cannot say which articles are forgotten: every article "
            "that can be read is in the export",
            file=sys.stderr,
        )
    if skipped:
        ids = f"#{skipped[0]}" if len(skipped) == 1 else f"#{skipped[0]} to #{skipped[-1]}"
        print(
            f"newswatch export: {archive.path} is damaged: {len(skipped)} article id(s) could not be read "
            f"({ids}) and are not in the export; every other article is",
            file=sys.stderr,
        )
        return 1
    return 0
