"""`newswatch rejected`: the pages ingestion fetched that did not become articles, and why."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from flows.cli.shared import add_archive_option, iso_date, open_archive, reason_name

HELP = "list the fetched pages that did not become articles, with their reason (newswatch recheck retries them)"
EXAMPLE = """
newswatch rejected
newswatch rejected --source apr --reason not-article --since 2024-03-01
newswatch rejected --reason gone --json
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", metavar="NAME", help="only this source's pages")
    parser.add_argument(
        "--since", type=iso_date, metavar="YYYY-MM-DD", help="only pages last tried on or after this day"
    )
    parser.add_argument(
        "--reason",
        type=reason_name,
        metavar="REASON",
        help="only this reason: not-article, unreadable, too-large, not-html, gone, client-error, "
        "robots, redirect, bad-url, failing, forgotten (newswatch forget)",
    )
    parser.add_argument(
        "--limit", type=int, default=200, metavar="N", help="at most N pages, newest first (default 200; 0: all)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per page")
    add_archive_option(parser)


def run(args: argparse.Namespace) -> int:
    from storage import fetchstate

    with open_archive(args, read_only=True) as archive:
        state = archive
        pages = fetchstate.rejected(
            state, source=args.source, since=args.since, reason=args.reason, limit=args.limit or None
        )
        counts = fetchstate.rejected_counts(state, source=args.source, since=args.since, reason=args.reason)
    if args.json:
        for page in pages:
            print(json.dumps(asdict(page), ensure_ascii=False))
        return 0
    for page in pages:
        status = str(page.status) if page.status else "-"
        retry = f", next try after {page.next_attempt}" if page.next_attempt else ""
        print(f"{page.last_attempt}  {page.source}  {page.reason}  {status}  {page.url}")
        print(f"    {page.error}{retry}")
    total = sum(counts.values())
    by_reason = ", ".join(f"{n} {reason}" for reason, n in counts.items())
    shown = f" (the {len(pages)} newest shown; --limit 0 shows all)" if len(pages) < total else ""
    print(f"{total} rejected page(s){': ' + by_reason if by_reason else ''}{shown}")
    if total:
        print("`newswatch recheck URL...` or `newswatch recheck --source S --reason R` fetches and cleans them again")
    return 0
