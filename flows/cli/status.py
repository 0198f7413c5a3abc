"""`newswatch status`: are the schedules producing runs, and what did the sources do?

Per deployment (from the Prefect server): its schedules, the last run (state, time), the next
scheduled run, the late runs, and what keeps it from running. Per source: what
`newswatch sources` shows. Prefect itself is not imported when PREFECT_API_URL is set.
"""

from __future__ import annotations

import argparse

from flows.cli.shared import add_config_option, print_sources

HELP = (
    "show the deployments' last, next and late runs (Prefect server), each source's state and the "
    "alert rules set aside; exit 1 on a problem"
)
EXAMPLE = """\
PREFECT_API_URL=http://127.0.0.1:4200/api newswatch status --config newswatch.yaml"""


def configure(parser: argparse.ArgumentParser) -> None:
    add_config_option(parser)


def run(args: argparse.Namespace) -> int:
    from flows.config.loader import load_config
    from flows.orchestration.deployment_status import PrefectApiError, deployment_statuses, format_status
    from flows.orchestration.schedules import api_url, describe

    config = load_config(args.config)
    code = 0
    api = api_url()
    print(f"== deployments (config: {describe(config)})")
    if not api:
        print(
            "no Prefect server configured (PREFECT_API_URL): start `newswatch serve`, or set "
            "PREFECT_API_URL to the server that runs the deployments"
        )
    else:
        print(f"Prefect server: {api}")
        try:
            statuses = deployment_statuses(api)
        except PrefectApiError as e:
            print(f"PROBLEM: {e}")
            code = 1
        else:
            print(format_status(statuses, config=config))
            if any(s.problems(config=config) for s in statuses):
                code = 1
    print(f"\n== sources ({config.file.resolve()})")
    print_sources(config)  # with a PROBLEM line per alert rule set aside
    return 1 if config.rule_errors else code
