"""`newswatch automations install|list|remove`: webhooks through Prefect automations."""

from __future__ import annotations

import argparse
import os
from urllib.parse import urlsplit

from errors import NewswatchError

HELP = (
    "post every alert match (rule, title, link), or every run that needs attention (--failed-runs), "
    "to a webhook, through a Prefect automation"
)
EXAMPLE = """
PREFECT_API_URL=http://127.0.0.1:4200/api newswatch automations install --webhook https://hooks.slack.com/services/T/B/X
newswatch automations install --webhook http://127.0.0.1:9000/hook --rule passeurs --name passeurs-to-chat
newswatch automations install --webhook https://hooks.slack.com/services/T/B/Y --failed-runs
newswatch automations list
newswatch automations remove --name passeurs-to-chat
"""


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    install = sub.add_parser("install", help="create (or replace) the automation and its webhook block")
    install.add_argument("--webhook", required=True, metavar="URL", help="the URL to POST each match to")
    install.add_argument("--rule", help="only this alert rule's matches (default: every rule)")
    install.add_argument(
        "--failed-runs",
        action="store_true",
        help="post the ingest and digest runs that end Failed (a run that needs attention: `newswatch run` "
        "would exit 3) or Crashed, with the reasons, instead of the alert matches",
    )
    install.add_argument(
        "--name", default=None, help="the automation's name (default: newswatch-webhook, newswatch-failed-runs)"
    )
    sub.add_parser("list", help="the automations on newswatch's event")
    remove = sub.add_parser("remove", help="delete an automation (its webhook block stays)")
    remove.add_argument("--name", default=None, help="the automation's name (default: newswatch-webhook)")


def run(args: argparse.Namespace) -> int:
    if not os.environ.get("PREFECT_API_URL"):
        raise NewswatchError(
            "PREFECT_API_URL is not set: automations live on a Prefect server that stays up "
            "(prefect server start, or newswatch serve); set PREFECT_API_URL=http://HOST:4200/api"
        )
    from flows.orchestration.server import check_server

    check_server(os.environ["PREFECT_API_URL"])
    from flows.orchestration import webhooks

    failed_runs = getattr(args, "failed_runs", False)
    name = getattr(args, "name", None) or (webhooks.FAILED_RUNS_NAME if failed_runs else webhooks.DEFAULT_NAME)
    if args.action == "install":
        parts = urlsplit(args.webhook)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise NewswatchError(f"--webhook {args.webhook!r} is not an http(s) URL")
        if failed_runs:
            if args.rule:
                raise NewswatchError("--rule is for alert matches: --failed-runs posts every run that needs attention")
            done = webhooks.install_failed_runs_webhook(args.webhook, name=name)
            print(
                f"automation {done.automation_name} ({done.automation_id}): every ingest or digest run that ends "
                f"Failed (needs attention) or Crashed -> POST {parts.scheme}://{parts.netloc}/… "
                f"(webhook block {done.block_name})"
            )
            return 0
        done = webhooks.install_webhook(args.webhook, name=name, rule=args.rule)
        what = f"matches of rule {args.rule}" if args.rule else "every alert match"
        print(
            f"automation {done.automation_name} ({done.automation_id}): {what} -> POST "
            f"{parts.scheme}://{parts.netloc}/… (webhook block {done.block_name})"
        )
        return 0
    if args.action == "list":
        for a in webhooks.newswatch_automations():
            state = "enabled" if a.enabled else "disabled"
            print(f"{a.name}  {a.id}  {state}  {a.description}")
        return 0
    removed = webhooks.remove_automations(name)
    if not removed:
        raise NewswatchError(f"no automation named {name!r} on {os.environ['PREFECT_API_URL']}")
    print(f"removed automation {name}")
    return 0
