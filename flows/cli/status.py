"""`newswatch status`: are the schedules producing runs, and what did the sources do?

Per deployment (from the Prefect server): its schedules, the last run (state, time), the next
scheduled run, the late runs, and what keeps it from running. Per source: what
`newswatch sources` shows. Then one line with what needs attention, and an exit status a
script can use (docs/operations.md "Exit status"): 0 nothing needs attention; 1 the Prefect
server to read does not answer; 3 a deployment, a source, a deployment's last run or an
alert rule needs attention.

The server read: `PREFECT_API_URL`, else the one of a running `newswatch serve` (its state
file, flows/orchestration/serve_state.py), else the Prefect profile's; the line `Prefect
server:` says which. Prefect itself is not imported unless the profile is read.
"""

from __future__ import annotations

import argparse
import os

from flows.cli.shared import add_config_option, print_sources

HELP = (
    "show the deployments' last, next and late runs (Prefect server), each source's state and the "
    "alert rules set aside; exit 3 when something needs attention, 1 when the server does not answer"
)
EXAMPLE = """\
newswatch status --config newswatch.yaml          # the server of a running newswatch serve, found by itself
PREFECT_API_URL=http://127.0.0.1:4200/api newswatch status --config newswatch.yaml"""

EXIT_UNREADABLE = 1
EXIT_ATTENTION = 3


def configure(parser: argparse.ArgumentParser) -> None:
    add_config_option(parser)


def run(args: argparse.Namespace) -> int:
    from flows.config.loader import load_config
    from flows.orchestration.deployment_status import PrefectApiError, deployment_statuses, format_status
    from flows.orchestration.schedules import describe

    config = load_config(args.config)
    unreadable = False
    attention: list[str] = []
    print(f"== deployments (config: {describe(config)})")
    api, where = _server(str(config.file.resolve()))
    if not api:
        print(
            "no Prefect server: PREFECT_API_URL is not set and no `newswatch serve` is running: start "
            "`newswatch serve`, or set PREFECT_API_URL to the server that runs the deployments"
        )
    else:
        print(f"Prefect server: {api} ({where})")
        try:
            statuses = deployment_statuses(api)
        except PrefectApiError as e:
            print(f"PROBLEM: {e}")
            unreadable = True
        else:
            print(format_status(statuses, config=config))
            for s in statuses:
                problems = s.problems(config=config)
                if problems:
                    attention.append(f"{s.deployment.full_name}: {len(problems)} problem(s)")
                if s.last_run_problem() is not None and s.last_finished is not None:
                    attention.append(f"{s.deployment.flow}: last run {s.last_finished.state}")
    print(f"\n== sources ({config.file.resolve()})")
    attention += print_sources(config)  # with a PROBLEM line per alert rule set aside
    if attention:
        print(f"\nneeds attention: {'; '.join(attention)}")
    if unreadable:
        return EXIT_UNREADABLE
    return EXIT_ATTENTION if attention else 0


def _server(config: str) -> tuple[str | None, str]:
    """The Prefect API to read, and where it was found (said next to it)."""
    from flows.orchestration.serve_state import find_serve

    api = os.environ.get("PREFECT_API_URL")
    if api:
        return api, "from PREFECT_API_URL"
    serve, live, stale = find_serve(config)
    for gone in stale:
        print(
            f"(a state file of newswatch serve, pid {gone.pid}, was left by a process that is gone, "
            f"killed or crashed: removed {gone.file})"
        )
    if serve is not None:
        other = "" if serve.config == config else f", serving another config: {serve.config}"
        return serve.api_url, f"of the newswatch serve running as pid {serve.pid}{other}; state file {serve.file}"
    if live:
        print(
            f"{len(live)} newswatch serve processes are running (pids {', '.join(str(s.pid) for s in live)}), "
            "none with this config: set PREFECT_API_URL to the server to read"
        )
    from flows.orchestration.schedules import api_url

    profile = api_url()
    return profile, "the Prefect profile's PREFECT_API_URL"
