"""`newswatch stats`: what the archive holds."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from flows.cli.shared import add_archive_option, open_archive

HELP = "articles per source and per day, duplicates folded, last sighting per source"
EXAMPLE = """
newswatch stats
newswatch stats --days 30 --json
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, default=14, metavar="N", help="show the N most recent days (default: 14)")
    parser.add_argument("--json", action="store_true", help="everything, as one JSON object")
    add_archive_option(parser)


def run(args: argparse.Namespace) -> int:
    with open_archive(args, read_only=True) as archive:
        stats = archive.stats()
        path = archive.path
    if args.json:
        print(json.dumps(asdict(stats), ensure_ascii=False, indent=2))
        return 0
    folded = sum(stats.duplicates_folded.values())
    by_reason = ", ".join(f"{k} {v}" for k, v in stats.duplicates_folded.items()) or "none"
    print(
        f"{path}: {stats.articles} articles, {stats.sightings} sightings, {folded} duplicates folded "
        f"({by_reason}), schema v{stats.schema_version}"
        + (
            f"; {stats.forgotten} forgotten article(s) not counted (`newswatch rejected --reason forgotten`)"
            if stats.forgotten
            else ""
        )
    )
    print("\nper source                      articles  last seen")
    for source in sorted(set(stats.per_source) | set(stats.last_seen_per_source)):
        print(f"  {source:<30}{stats.per_source.get(source, 0):>8}  {stats.last_seen_per_source.get(source, '-')}")
    print(f"\nper day (latest {args.days})")
    for day, count in list(stats.per_day.items())[: args.days]:
        print(f"  {day}  {count:>6}")
    return 0
