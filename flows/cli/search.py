"""`newswatch search QUERY`: full-text search of the archive, newest first."""

from __future__ import annotations

import argparse
import json
import sys

from flows.cli.shared import add_archive_option, iso_date, open_archive

HELP = 'search the archive (words, "phrases", OR, NOT/-, prefix*, NEAR(a b, N), title:, site:, source:)'
EXAMPLE = """
newswatch search naufrage Manche                  # both words
newswatch search 'passeurs NEAR(Manche traversée, 15) -Darmanin' --since 2021-01-01
newswatch search '"traite des êtres humains" OR trafic*' --source iom-fr --json
newswatch search 'title:Frontex site:iom.int -source:apr'
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "query",
        nargs="+",
        help="the query (same language as alert rules); several words unquoted "
        "are all required, as in the query `naufrage Manche`",
    )
    parser.add_argument("--since", type=iso_date, metavar="DATE", help="only articles from this day on (YYYY-MM-DD)")
    parser.add_argument("--source", help="only this source")
    parser.add_argument("--limit", type=int, default=20, metavar="N", help="at most N results (default: 20)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    add_archive_option(parser)


def run(args: argparse.Namespace) -> int:
    from storage.query import parse

    query = parse(" ".join(args.query))  # a syntax error is reported before the archive is opened
    color = sys.stdout.isatty() and not args.json
    marks = ("\033[1;33m", "\033[0m") if color else ("[", "]")
    with open_archive(args, read_only=True) as archive:
        hits = archive.search(query, since=args.since, source=args.source, limit=args.limit, highlight=marks)
    for hit in hits:
        if args.json:
            print(json.dumps(hit.__dict__, ensure_ascii=False))
        else:
            print(f"#{hit.id}  {hit.published or '----------'}  {hit.source}  {hit.title or '(no title)'}")
            print(f"    {hit.url}")
            print(f"    {hit.snippet}")
    if not args.json:
        print(f"{len(hits)} result{'s' if len(hits) != 1 else ''}", file=sys.stderr)
    return 0
