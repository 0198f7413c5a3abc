"""`newswatch sources`: the configured sources and their state; add, remove, import them.

`add`, `remove` and `import-opml` edit the config file in place (flows/config_edit.py): the
rest of the file keeps its comments and order, and the result is validated before it is saved.
"""

from __future__ import annotations

import argparse
import sys

HELP = "list the configured sources with their state; add, remove or import (OPML) sources"
EXAMPLE = """
newswatch sources --config newswatch.yaml
newswatch sources add infomigrants https://www.infomigrants.net/fr/rss --delay 2
newswatch sources remove lexisveille
newswatch sources import-opml subscriptions.opml
"""


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", metavar="PATH", help="the config file (default: $NEWSWATCH_CONFIG, else ./newswatch.yaml)"
    )


def configure(parser: argparse.ArgumentParser) -> None:
    _config_option(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object per source")
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    add = sub.add_parser("add", help="check a URL once (fetch, detect the kind, count article links), then add it")
    add.add_argument("name", help="a unique name (letters, digits, . _ -)")
    add.add_argument("url", help="the listing page, RSS/Atom feed or sitemap")
    add.add_argument("--kind", choices=("listing", "feed", "sitemap"), help="default: detected by the check")
    add.add_argument("--profile", help="site profile (default: inferred from the host)")
    add.add_argument("--delay", type=float, help="seconds between two requests to the host (default 2)")
    add.add_argument("--force", action="store_true", help="add it even if the check fails or finds no article link")
    _config_option(add)
    remove = sub.add_parser("remove", help="remove a source (and its comment lines) from the config")
    remove.add_argument("name", help="the name of the source to remove (its articles stay in the archive)")
    _config_option(remove)
    opml = sub.add_parser("import-opml", help="add the feeds of an OPML file (a feed reader's export) as sources")
    opml.add_argument("file", help="the OPML file")
    _config_option(opml)


def run(args: argparse.Namespace) -> int:
    if args.action == "add":
        return _add(args)
    if args.action == "remove":
        return _remove(args)
    if args.action == "import-opml":
        return _import_opml(args)
    return _list(args)


def _add(args: argparse.Namespace) -> int:
    from flows.config import config_path
    from flows.config_edit import ConfigEditError, ConfigFile
    from flows.source_check import check_source

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
    from flows.config import config_path
    from flows.config_edit import ConfigFile

    config = ConfigFile(config_path(args.config))
    config.remove_source(args.name)
    config.save()
    print(f"removed source {args.name} from {config.path} (its articles stay in the archive)")
    return 0


def _import_opml(args: argparse.Namespace) -> int:
    from flows.config import config_path
    from flows.config_edit import ConfigFile
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
    from flows.config import load_config

    print_sources(load_config(args.config), as_json=args.json)
    return 0


def print_sources(config, *, as_json: bool = False) -> None:
    """Each configured source: its state in the archive and its health; then each alert rule set
    aside (a PROBLEM line; on stderr with `as_json`). Also `newswatch status`."""
    import json
    from dataclasses import asdict
    from pathlib import Path

    from flows.commands._common import warn_if_newer
    from flows.summary import state_label
    from storage import fetchstate
    from storage.archive import Archive
    from storage.health import source_health

    names = [s.name for s in config.sources]
    if Path(config.archive).exists():
        archive = warn_if_newer(Archive.open(config.archive, read_only=True), "sources")
    else:  # nothing has run yet: every source is as new, and no archive is made for saying so
        print(f"(no archive yet at {config.archive}: no source has run)", file=sys.stderr if as_json else sys.stdout)
        archive = Archive.open(":memory:")
    with archive:
        states = {s.source: s for s in fetchstate.source_states(archive, names)}
        health = {h.source: h for h in source_health(archive, [(s.name, s.expected_interval) for s in config.sources])}
    for source in config.sources:
        st = states[source.name]
        if as_json:
            print(
                json.dumps(
                    {
                        "name": source.name,
                        "url": source.url,
                        "kind": source.kind,
                        "profile": source.profile,
                        "enabled": source.enabled,
                        **asdict(st),
                        "health": health[source.name].to_dict(),
                    },
                    ensure_ascii=False,
                )
            )
            continue
        flag = "" if source.enabled else " (disabled)"
        print(f"{source.name}{flag}  {source.url}")
        print(
            f"  profile {source.profile}, kind {source.kind or 'auto'}, {st.articles} article(s), "
            f"{st.runs} run(s), {st.failing_pages} failing page(s), {st.rejected_pages} rejected page(s)"
        )
        if st.last_state == "warning":
            print(f"  state: WARNING: {st.last_warning}")
        elif st.last_state:
            print(f"  state: {state_label(st.last_state)}")
        print(f"  last success: {st.last_success or 'never'}")
        if st.last_error:
            print(f"  last error:   {st.last_error_at}: {st.last_error}")
        h = health[source.name]
        if not h.runs:
            print("  health: not judged yet (never run)")
        elif h.healthy:
            print("  health: ok")
        for problem in h.problems:
            print(f"  UNHEALTHY: {problem}")
    from alerts.config import set_aside_notice

    if config.rule_errors and not as_json:
        print()
    for error in config.rule_errors:
        print(f"PROBLEM: {set_aside_notice(error)}", file=sys.stderr if as_json else sys.stdout)
