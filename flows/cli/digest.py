"""`newswatch digest`: send the digest emails (matches of digest-mode rules since the last one)."""

from __future__ import annotations

import argparse

from flows.cli.shared import SMTP_CONFIG_HELP, add_config_option

HELP = "send each recipient the digest of digest-mode alert matches since the last digest"
EXAMPLE = """
newswatch digest --config newswatch.yaml
"""


def configure(parser: argparse.ArgumentParser) -> None:
    add_config_option(parser, help=SMTP_CONFIG_HELP)


def run(args: argparse.Namespace) -> int:
    from alerts.settings import require_smtp
    from flows.config.loader import load_config
    from flows.orchestration.server import flow_server, prefect_for_this_run

    # The config first: a missing or bad file is one line, before Prefect's ~10 s start.
    config = load_config(args.config)
    require_smtp(config.smtp)
    flow_server("digest")
    with prefect_for_this_run():
        from flows.orchestration.digest_flow import digest  # runs a Prefect flow: imported only here

        result = digest(str(config.path))
    for recipient in result["sent"]:
        print(f"digest sent to {recipient}")
    for recipient, error in result["failed"].items():
        print(f"digest NOT sent to {recipient}: {error}")
    if not result["sent"] and not result["failed"]:
        print("digest: nothing pending")
    return 1 if result["failed"] else 0
