"""`newswatch export`: stream the archive as JSON lines or CSV."""

from __future__ import annotations

import argparse
import csv
import json
import sys

from flows.cli.shared import add_archive_option, iso_date, open_archive

HELP = "stream the archived articles as JSON lines or CSV"
EXAMPLE = """
newswatch export > archive.jsonl
newswatch export --format csv --since 2024-01-01 > recent.csv
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
    parser.add_argument("--since", type=iso_date, metavar="DATE", help="only articles from this day on (YYYY-MM-DD)")
    add_archive_option(parser)


def run(args: argparse.Namespace) -> int:
    out = sys.stdout
    with open_archive(args, read_only=True) as archive:
        articles = archive.iter_articles(since=args.since)
        if args.format == "jsonl":
            for article in articles:
                out.write(json.dumps({k: getattr(article, k) for k in FIELDS}, ensure_ascii=False) + "\n")
        else:
            writer = csv.writer(out)
            writer.writerow(FIELDS)
            for article in articles:
                row = article.to_dict()
                row["contacts"] = json.dumps(row["contacts"], ensure_ascii=False)
                writer.writerow([row[k] for k in FIELDS])
    return 0
