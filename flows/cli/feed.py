"""`newswatch feed [RULE]`: an Atom feed of an alert rule's matches (or of all new articles)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from errors import NewswatchError
from flows.cli.shared import add_archive_option, add_config_option, open_archive

HELP = "print the Atom feed of an alert rule's matches (no RULE: all new articles), or --write them all"
EXAMPLE = """
newswatch feed passeurs > passeurs.atom
newswatch feed                   # the feed of all new articles
newswatch feed --write           # every feed into the config's feeds_dir, as a run does
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rule", nargs="?", help="an alert rule's name (default: the feed of all new articles)")
    add_config_option(
        parser, help="config file with the alerts: rules (default: $NEWSWATCH_CONFIG, else newswatch.yaml)"
    )
    parser.add_argument(
        "--write",
        action="store_true",
        help="write every feed (one per rule, one of all new articles) into the config's feeds_dir",
    )
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="at most N entries (default: 50)")
    add_archive_option(parser)


def run(args: argparse.Namespace) -> int:
    from alerts.atom import FEED_ENTRIES, feed_location, new_articles_feed, render_feed, rule_feed, write_feeds
    from flows.config.loader import load_config

    config = load_config(args.config)
    rules = config.alerts
    if args.archive is None:
        args.archive = Path(config.archive)
    with open_archive(args, read_only=True) as archive:
        if args.write:
            if config.feeds_dir is None:
                raise NewswatchError(f"{config.path} has no feeds_dir: add `feeds_dir: feeds` to write the feeds")
            feeds_url = str(config.feeds_url) if config.feeds_url else None
            for path in write_feeds(archive, rules, config.feeds_dir, feeds_url=feeds_url):
                print(path)
            return 0
        limit = args.limit or FEED_ENTRIES
        if args.rule is None:
            feed = new_articles_feed(archive, limit)
        else:
            if args.rule not in {r.name for r in rules}:
                known = ", ".join(r.name for r in rules) or "none"
                raise NewswatchError(f"no alert rule named {args.rule!r} in {config.path}; rules: {known}")
            feed = rule_feed(archive, args.rule, limit)
    where = feed_location(feed.key, config.feeds_dir, str(config.feeds_url) if config.feeds_url else None)
    sys.stdout.buffer.write(render_feed(feed, self_url=where))
    sys.stdout.flush()
    return 0
