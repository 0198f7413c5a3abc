"""`newswatch sources`: the configured sources and their state; add, remove, import them.

`add`, `remove` and `import-opml` edit the config file in place (flows/config/editor.py): the
rest of the file keeps its comments and order, and the result is validated before it is saved.
"""

from __future__ import annotations

import argparse
import sys

from flows.cli.shared import add_config_option, print_sources

HELP = "list the configured sources with their state; add, remove or import (OPML) sources"
EXAMPLE = """
newswatch sources --config newswatch.yaml
newswatch sources add infomigrants https://www.infomigrants.net/fr/rss --delay 2
newswatch sources remove lexisveille
newswatch sources import-opml subscriptions.opml
"""


def configure(parser: argparse.ArgumentParser) -> None:
    add_config_option(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object per source")
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    add = sub.add_parser("add", help="check a URL once (fetch, detect the kind, count article links), then add it")
    add.add_argument("name", help="a unique name (letters, digits, . _ -)")
    add.add_argument("url", help="the listing page, RSS/Atom feed or sitemap")
    add.add_argument("--kind", choices=("listing", "feed", "sitemap"), help="default: detected by the check")
    add.add_argument("--profile", help="site profile (default: inferred from the host)")
    add.add_argument("--delay", type=float, help="seconds between two requests to the host (default 2)")
    add.add_argument("--force", action="store_true", help="add it even if the check fails or finds no article link")
    add_config_option(add)
    remove = sub.add_parser("remove", help="remove a source (and its comment lines) from the config")
    remove.add_argument("name", help="the name of the source to remove (its articles stay in the archive)")
    remove.add_argument(
        "--force",
        action="store_true",
        help="remove it even if alert rules name it: it is taken out of their sources: (and said which are left empty)",
    )
    add_config_option(remove)
    opml = sub.add_parser("import-opml", help="add the feeds of an OPML file (a feed reader's export) as sources")
    opml.add_argument("file", help="the OPML file")
    add_config_option(opml)


def run(args: argparse.Namespace) -> int:
    if args.action == "add":
        return _add(args)
    if args.action == "remove":
        return _remove(args)
    if args.action == "import-opml":
        return _import_opml(args)
    return _list(args)


def _add(args: argparse.Namespace) -> int:
    from flows.config.editor import ConfigEditError, ConfigFile
    from flows.config.loader import config_path
    from flows.pipeline.source_check import check_source

    config = ConfigFile(config_path(args.config))
    source = {"name": args.name, "url": args.url}
    for key in ("kind", "profile", "delay"):
        if getattr(args, key) is not None:
            source[key] = getattr(args, key)
    config.add_source(source)  # refuses a taken name before any request is made
    parsed = config.validate()  # a bad name, URL, profile or delay is refused before any request too
    check = check_source(parsed, parsed.source(args.name))
    print(check.describe())
    if not check.ok and not args.force:
        raise ConfigEditError(
            f"{args.name} not added: {check.problem}; fix the URL (or --kind/--profile), or add it anyway with --force"
        )
    if "kind" not in source and check.kind:  # the detected kind, written down: no re-detection each run
        config = ConfigFile(config.path)
        config.add_source(
            {
                "name": args.name,
                "url": args.url,
                "kind": check.kind,
                **{k: v for k, v in source.items() if k not in ("name", "url")},
            }
        )
    config.save()
    print(f"added source {args.name} to {config.path}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    """A source named by alert rules is removed only with --force, which takes it out of their
    `sources:` too: a rule left with none is set aside (it would watch nothing), said here."""
    from errors import QuerySyntaxError
    from flows.config.editor import ConfigEditError, ConfigFile
    from flows.config.loader import config_path
    from storage.query import parse

    config = ConfigFile(config_path(args.config))
    config.remove_source(args.name)  # no such source: said before anything else
    listed, queried = [], []
    for rule in config.rules():
        name, sources = str(rule.get("name")), rule.get("sources")
        sources = [sources] if isinstance(sources, str) else list(sources or [])
        if args.name in sources:
            listed.append((name, sources))
        try:
            restriction = parse(str(rule.get("query") or "")).restriction
        except QuerySyntaxError:
            continue
        if args.name in (*restriction.sources, *restriction.not_sources):
            queried.append(name)
    if (listed or queried) and not args.force:
        named = [f"{n} (sources: {', '.join(sources)})" for n, sources in listed]
        named += [f"{n} (its query says source:{args.name})" for n in queried]
        raise ConfigEditError(
            f"source {args.name} not removed: alert rule(s) name it: {'; '.join(named)}; take it out of "
            "them first (or `newswatch rules remove NAME`), or remove it with --force, which takes it out "
            "of their sources: and says which rules are left with none"
        )
    listed = [(name, [s for s in sources if s != args.name]) for name, sources in listed]
    for name, rest in listed:
        config.set_rule_sources(name, rest)
    config.save()
    print(f"removed source {args.name} from {config.path} (its articles stay in the archive)")
    for name, rest in listed:
        if rest:
            print(f"alert rule {name} now watches {', '.join(rest)}")
        else:
            print(
                f"alert rule {name} is left with no source (sources: []): it is set aside, and `newswatch run` "
                f"exits 3, until you give it sources or remove it (`newswatch rules remove {name}`)"
            )
    for name in queried:
        print(
            f"alert rule {name} says source:{args.name} in its query: it is set aside, and `newswatch run` exits 3, "
            "until its query is changed"
        )
    return 0


def _import_opml(args: argparse.Namespace) -> int:
    from flows.config.editor import ConfigFile
    from flows.config.loader import config_path
    from scrapers.opml import opml_feeds, source_name

    config = ConfigFile(config_path(args.config))
    taken = set(config.source_names())
    from core.urls import canonical_url, url_key

    known = {url_key(canonical_url(u)) for u in config.source_urls()}
    added = 0
    for feed in opml_feeds(args.file):
        if feed.problem:
            print(f"skipped {feed.title or feed.url!r}: {feed.problem}")
            continue
        if url_key(canonical_url(feed.url)) in known:
            print(f"skipped {feed.url}: already configured")
            continue
        name = source_name(feed.title or feed.url, taken)
        config.add_source({"name": name, "url": feed.url, "kind": "feed"})
        taken.add(name)
        known.add(url_key(canonical_url(feed.url)))
        added += 1
        print(f"added {name}: {feed.url}")
    config.save()
    print(f"{added} source(s) added to {config.path}", file=sys.stdout)
    return 0


def _list(args: argparse.Namespace) -> int:
    from flows.config.loader import load_config

    print_sources(load_config(args.config), as_json=args.json)
    return 0
