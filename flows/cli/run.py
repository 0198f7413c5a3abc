"""`newswatch run`: one ingestion run through Prefect, then the summary."""

from __future__ import annotations

import argparse
import sys

from flows.cli.shared import add_config_option

HELP = "run the ingest flow once (discover, fetch, clean, dedup, store, alert) and print a summary"
EXAMPLE = """\
newswatch run --config newswatch.yaml
newswatch run --source iom-fr --source apr
PREFECT_API_URL=http://127.0.0.1:4200/api newswatch run   # record the run on a running Prefect server"""


def configure(parser: argparse.ArgumentParser) -> None:
    add_config_option(parser)
    parser.add_argument(
        "--source",
        metavar="NAME",
        action="append",
        dest="sources",
        help="run only this source (repeatable); default: every enabled source",
    )
    parser.add_argument(
        "--recheck",
        action="store_true",
        help="ignore stored ETags and known URLs: fetch everything again (duplicates are still folded)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args: argparse.Namespace) -> int:
    from errors import NewswatchError
    from flows.config.loader import load_config
    from flows.orchestration.server import flow_server
    from flows.pipeline.summary import format_summary
    from storage.archive import Archive

    # Fail fast, before Prefect's start-up, on what would make the whole run impossible.
    config = load_config(args.config)
    for name in args.sources or []:
        config.source(name)
    if not args.sources and not config.enabled_sources():
        what = (
            "no source" if not config.sources else f"no enabled source (all {len(config.sources)} have enabled: false)"
        )
        raise NewswatchError(
            f"{config.path} has {what}: a run would monitor nothing; add one "
            "(newswatch sources add NAME URL) or enable one"
        )
    with Archive.open(config.archive) as archive:
        archive.ensure_writable(waiting=lambda line: print(f"newswatch run: {line}", file=sys.stderr, flush=True))
    prestart_cleaner(config)
    api = flow_server("run")  # a server that does not answer: one line, before Prefect's start
    from flows.orchestration.ingest_flow import run_ingest_flow

    summary, flow_run_id = run_ingest_flow("run", str(config.path), sources=args.sources, recheck=args.recheck)
    if summary is None:
        return 1
    if api:  # a server that outlives the run: its page stays
        from prefect.utilities.urls import url_for

        summary["ui_url"] = url_for("flow-run", obj_id=flow_run_id)
    if args.json:
        import json

        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        print(format_summary(summary))
    return run_exit_status(summary)


def prestart_cleaner(config) -> None:
    """The run's cleaning process started on another CPU while this one imports Prefect and
    creates the flow run: the first page finds it ready. Not where it would take the run's
    only CPU, nor where the run cleans nothing itself (in its thread: clean_processes 0; on Dask)."""
    from flows.pipeline.cleaner import default_processes

    if config.clean_processes != 0 and default_processes() > 1 and not config.execution.dask:
        from flows.pipeline.clean_process import prestart
        from flows.pipeline.clean_worker import start_fork_server

        prestart()
        if config.clean_processes != 1:
            start_fork_server()  # the pool's, should the run need one: its workers then start warm


EXIT_ATTENTION = 3  # the run completed and needs attention (flows.summary.attention; docs/operations.md "Exit status")


def run_exit_status(summary: dict) -> int:
    """0: the run completed and nothing needs attention; 3: it completed, but a source FAILED
    or yields nothing, alert emails did not go out, an alert rule was set aside or the feeds
    were not written (a monitor or cron job can tell it from 1, elsewhere: the run could not
    complete)."""
    from flows.pipeline.summary import attention

    return EXIT_ATTENTION if attention(summary) else 0
