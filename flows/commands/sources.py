"""`newswatch sources`: the configured sources and their state."""
from __future__ import annotations

import argparse

HELP = "list the configured sources with their state (last success, last error, articles)"
EXAMPLE = "newswatch sources --config newswatch.yaml"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH", help="the config file (default: $NEWSWATCH_CONFIG, else ./newswatch.yaml)")
    parser.add_argument("--json", action="store_true", help="one JSON object per source")


def run(args: argparse.Namespace) -> int:
    import json
    from dataclasses import asdict

    from flows.config import load_config
    from storage.archive import Archive
    from storage.fetchstate import FetchState
    from storage.health import source_health

    config = load_config(args.config)
    names = [s.name for s in config.sources]
    with Archive.open(config.archive) as archive:
        states = {s.source: s for s in FetchState(archive).source_states(names)}
        health = {h.source: h for h in source_health(
            archive, [(s.name, s.expected_interval) for s in config.sources])}
    for source in config.sources:
        st = states[source.name]
        if args.json:
            print(json.dumps({"name": source.name, "url": source.url, "kind": source.kind,
                              "profile": source.profile, "enabled": source.enabled, **asdict(st),
                              "health": health[source.name].to_dict()},
                             ensure_ascii=False))
            continue
        flag = "" if source.enabled else " (disabled)"
        print(f"{source.name}{flag}  {source.url}")
        print(f"  profile {source.profile}, kind {source.kind or 'auto'}, {st.articles} article(s), "
              f"{st.runs} run(s), {st.failing_pages} failing page(s)")
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
    return 0
