"""`newswatch rules test QUERY`: what an alert rule would have matched in the archive;
`newswatch rules list`: the config's rules and what they matched lately;
`newswatch rules add` / `rules remove`: a rule written into or taken out of the config file
(comments and order kept)."""

from __future__ import annotations

import argparse
import sys

from flows.cli.shared import add_archive_option, add_config_option, iso_date, open_archive

HELP = "list, add or remove the config's alert rules, or try a query against the archive"
EXAMPLE = """
newswatch rules list
newswatch rules test 'passeurs OR "réseaux de passeurs"' --since 2024-01-01
newswatch rules test 'NEAR(Grupos Beta, 5) -México site:iom.int' --limit 50
newswatch rules add passeurs 'passeurs OR "réseaux de passeurs"' --to ana@example.org,ben@example.org --mode digest
newswatch rules add frontex 'title:Frontex' --to ana@example.org --source apr-news
newswatch rules remove passeurs
"""
RECENT_DAYS = 30


def _recipients(text: str) -> list[str]:
    """argparse type for --to: one address, or several separated by commas."""
    addresses = [a.strip() for a in text.split(",")]
    if not all(addresses):
        raise argparse.ArgumentTypeError(f"{text!r}: an empty address between commas")
    return addresses


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = sub.add_parser(
        "list", help=f"each rule: query, mode, recipients, sources, matches in the last {RECENT_DAYS} days"
    )
    listing.add_argument("--json", action="store_true", help="one JSON object per rule")
    add_config_option(listing)
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
    add.add_argument(
        "--to",
        action="append",
        required=True,
        type=_recipients,
        metavar="ADDR[,ADDR...]",
        help="recipients, comma-separated (or --to repeated)",
    )
    add.add_argument(
        "--mode",
        choices=("immediate", "digest"),
        default="immediate",
        help="immediate: an email per run with matches; digest: in the daily digest (default: immediate)",
    )
    add.add_argument(
        "--source",
        action="append",
        metavar="NAME",
        help="only this configured source (repeatable, or comma-separated; default all)",
    )
    add.add_argument(
        "--per",
        choices=("story", "article"),
        default="story",
        help="story: one alert per story, its later versions listed as 'also in' by the next email; "
        "article: every article alerted (default: story)",
    )
    add_config_option(add)
    remove = sub.add_parser("remove", help="take an alert rule (and its comment lines) out of the config file")
    remove.add_argument("name", help="the rule's name (`newswatch rules list` shows them)")
    add_config_option(remove)


def _add(args: argparse.Namespace) -> int:
    from flows.config.editor import ConfigFile
    from flows.config.loader import config_path, load_config

    config = ConfigFile(config_path(args.config))
    to = list(dict.fromkeys(a for group in args.to for a in group))
    rule: dict = {"name": args.name, "query": args.query, "to": to}
    if args.mode != "immediate":
        rule["mode"] = args.mode
    if args.source:
        rule["sources"] = list(dict.fromkeys(s.strip() for group in args.source for s in group.split(",")))
    if args.per != "story":
        rule["per"] = args.per
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


def _remove(args: argparse.Namespace) -> int:
    from flows.config.editor import ConfigFile
    from flows.config.loader import config_path, load_config

    config = ConfigFile(config_path(args.config))
    config.remove_rule(args.name)
    config.save()
    print(f"removed alert rule {args.name} from {config.path}")
    pending = _activity(load_config(config.path)).get(args.name, {}).get("pending", 0)
    if pending:
        print(
            f"{pending} match(es) of it wait in the outbox and will still be sent "
            "(`newswatch alerts list --pending` lists them)"
        )
    return 0


def _activity(config) -> dict[str, dict]:
    """rule -> its matches in the archive (last RECENT_DAYS days, last match, pending), from the
    config's archive; empty when there is no archive yet."""
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    from flows.cli.shared import warn_if_newer
    from storage.archive import Archive
    from storage.db import utc_iso
    from storage.outbox import rule_activity

    if not Path(config.archive).is_file():
        return {}
    since = utc_iso(datetime.now(UTC) - timedelta(days=RECENT_DAYS))
    with warn_if_newer(Archive.open(config.archive, read_only=True), "rules") as archive:
        return rule_activity(archive, since=since)


def _list(args: argparse.Namespace) -> int:
    import json

    from flows.config.editor import ConfigFile
    from flows.config.loader import config_path, load_config

    config = load_config(args.config)
    written = ConfigFile(config_path(args.config)).rules()
    problems = {
        str(raw.get("name")): e
        for raw in written
        for e in config.rule_errors
        if e.startswith(f"alert rule {str(raw.get('name'))!r} set aside")
    }
    activity = _activity(config)
    for raw in written:
        name = str(raw.get("name") or "")
        seen = activity.get(name, {})
        sources = raw.get("sources")
        to = raw.get("to")
        row = {
            "name": name,
            "query": str(raw.get("query") or ""),
            "mode": str(raw.get("mode") or "immediate"),
            "per": str(raw.get("per") or "story"),
            "to": [to] if isinstance(to, str) else list(to or []),
            "sources": None if sources is None else ([sources] if isinstance(sources, str) else list(sources)),
            f"matches_{RECENT_DAYS}d": seen.get("recent", 0),
            "last_match": seen.get("last"),
            "problem": problems.get(name),
        }
        if args.json:
            print(json.dumps(row, ensure_ascii=False))
            continue
        print(f"{name}  {row['query']}")
        print(
            f"  {row['mode']} to {', '.join(row['to']) or '-'}; sources: "
            + ("all" if row["sources"] is None else ", ".join(row["sources"]) or "none")
            + ("" if row["per"] == "story" else f"; per {row['per']}")
        )
        recent = row[f"matches_{RECENT_DAYS}d"]
        print(f"  {recent} match(es) in the last {RECENT_DAYS} days, last {row['last_match'] or 'never'}")
        if row["problem"]:
            from alerts.settings import set_aside_notice

            print(f"  PROBLEM: {set_aside_notice(row['problem'])}")
    if not written and not args.json:
        print(f"no alert rule in {config.path}: `newswatch rules add NAME QUERY --to ADDR` adds one")
    return 1 if problems else 0


def run(args: argparse.Namespace) -> int:
    if args.action == "add":
        return _add(args)
    if args.action == "remove":
        return _remove(args)
    if args.action == "list":
        return _list(args)
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
