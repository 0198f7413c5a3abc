"""`newswatch rules test QUERY`: what an alert rule would have matched in the archive;
`newswatch rules add`: a rule written into the config file (comments and order kept)."""

from __future__ import annotations

import argparse
import sys

from flows.cli.shared import add_archive_option, add_config_option, iso_date, open_archive

HELP = "try an alert rule's query against the archive, or add a rule to the config"
EXAMPLE = """
newswatch rules test 'passeurs OR "réseaux de passeurs"' --since 2024-01-01
newswatch rules test 'NEAR(Grupos Beta, 5) -México' --source iom-es --limit 50
newswatch rules add passeurs 'passeurs OR "réseaux de passeurs"' --to analyst@example.org --mode digest
"""


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    test = sub.add_parser("test", help="list the archived articles the query matches, newest first")
    test.add_argument(
        "query",
        nargs="+",
        help="the rule's query (same language as `newswatch search`; several words unquoted are all required)",
    )
    test.add_argument("--since", type=iso_date, metavar="DATE", help="only articles from this day on (YYYY-MM-DD)")
    test.add_argument("--source", help="only this source (as a rule's sources: would)")
    test.add_argument("--limit", type=int, default=20, metavar="N", help="show at most N (default: 20)")
    add_archive_option(test)
    add = sub.add_parser("add", help="add an alert rule to the config file (validated before saving)")
    add.add_argument("name", help="the rule's unique name")
    add.add_argument("query", help="the query (same language as `newswatch search`)")
    add.add_argument("--to", action="append", required=True, metavar="ADDR", help="a recipient (repeatable)")
    add.add_argument(
        "--mode",
        choices=("immediate", "digest"),
        default="immediate",
        help="immediate: an email per run with matches; digest: in the daily digest (default: immediate)",
    )
    add.add_argument("--source", action="append", metavar="NAME", help="only this source (repeatable; default all)")
    add_config_option(add)


def _add(args: argparse.Namespace) -> int:
    from flows.config.editor import ConfigFile
    from flows.config.loader import config_path, load_config

    config = ConfigFile(config_path(args.config))
    rule = {"name": args.name, "query": args.query, "to": list(args.to)}
    if args.mode != "immediate":
        rule["mode"] = args.mode
    if args.source:
        rule["sources"] = list(args.source)
    config.add_rule(rule)
    config.save()
    print(f"added alert rule {args.name} to {config.path}")
    if load_config(config.path).smtp is None:
        from alerts.settings import NO_SMTP

        print(
            f"newswatch rules: warning: {NO_SMTP}; until then its matches wait in the outbox (newswatch run "
            "says so and exits 3), and `newswatch alerts retry` sends them once it is added",
            file=sys.stderr,
        )
    return 0


def run(args: argparse.Namespace) -> int:
    if args.action == "add":
        return _add(args)
    from alerts.match import HIGHLIGHT_END, HIGHLIGHT_START
    from storage.query import parse

    query = parse(" ".join(args.query))
    with open_archive(args, read_only=True) as archive:
        hits = archive.search(
            query, since=args.since, source=args.source, limit=None, highlight=(HIGHLIGHT_START, HIGHLIGHT_END)
        )
    color = sys.stdout.isatty()
    start, end = ("\033[1;33m", "\033[0m") if color else ("[", "]")
    for hit in hits[: args.limit]:
        print(f"#{hit.id}  {hit.published or '----------'}  {hit.source}  {hit.title or '(no title)'}")
        print(f"    {hit.url}")
        print("    " + hit.snippet.replace(HIGHLIGHT_START, start).replace(HIGHLIGHT_END, end))
    since = f" since {args.since}" if args.since else ""
    shown = f" (showing {args.limit})" if len(hits) > args.limit else ""
    print(f"{len(hits)} article{'s' if len(hits) != 1 else ''} would have matched{since}{shown}", file=sys.stderr)
    print(f"fts5: {query.fts}", file=sys.stderr)
    return 0
