"""The `digest` Prefect flow: per recipient, every digest-rule match since the last digest.

One task for the whole delivery (never one per email: the Prefect server records only
~25-30 task runs/s here); what was sent or failed is in the task's return value and log.
Schedule it (e.g. daily) as a deployment of `flows/orchestration/digest_flow.py:digest`.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import MissingContextError

from alerts.deliver import deliver_digest
from alerts.settings import SmtpSettings
from flows.config.loader import load_config
from storage.archive import Archive


def _log() -> logging.Logger | logging.LoggerAdapter:
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("newswatch.digest")


@task(name="send-digest", cache_policy=NO_CACHE, persist_result=False)
def send_digest(archive_path: Path, smtp: SmtpSettings | None) -> dict:
    smtp = smtp or SmtpSettings()  # a scheduled digest with no smtp: section tries the defaults, as it did
    with Archive.open(archive_path) as archive:
        report = deliver_digest(archive, smtp)
    for line in report.summary().splitlines():
        _log().info(line)
    return {"sent": [s.recipient for s in report.sent], "failed": {f.recipient: f.error for f in report.failed}}


def _run_name() -> str:
    # To the second: two runs in one minute (a schedule and a manual run) get distinct names.
    return "digest-" + datetime.now().strftime("%Y-%m-%dT%H:%M:%S")


@flow(name="digest", flow_run_name=_run_name, persist_result=False, log_prints=False)
def digest(config_path: str | None = None) -> dict:
    """Send the digest emails; failures stay pending for the next digest (and are returned)."""
    config = load_config(config_path)
    result = send_digest(Path(config.archive), config.smtp)
    lines = ["# Digest", ""]
    from flows.orchestration.artifacts import md_text

    lines += [f"- sent to {md_text(r)}" for r in result["sent"]] or ["- nothing pending: no email sent"]
    lines += [f"- NOT sent to {md_text(r)} (kept pending): {md_text(e)}" for r, e in result["failed"].items()]
    create_markdown_artifact(markdown="\n".join(lines), key="digest-summary", description="What this digest run sent")
    return result
