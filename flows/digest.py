"""The `digest` Prefect flow: per recipient, every digest-rule match since the last digest.

One task for the whole delivery (never one per email: the Prefect server records only
~25-30 task runs/s here); what was sent or failed is in the task's return value and log.
Schedule it (e.g. daily) as a deployment of `flows/digest.py:digest`.
"""
from __future__ import annotations

import logging
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import MissingContextError

from alerts.config import load_smtp_settings
from alerts.deliver import deliver_digest
from flows.config import load_config
from storage.archive import Archive


def _log() -> logging.Logger | logging.LoggerAdapter:
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("newswatch.digest")


@task(name="send-digest", cache_policy=NO_CACHE, persist_result=False)
def send_digest(archive_path: Path, smtp_section: dict | None) -> dict:
    smtp = load_smtp_settings(smtp_section)
    with Archive.open(archive_path) as archive:
        report = deliver_digest(archive.conn, smtp)
    for line in report.summary().splitlines():
        _log().info(line)
    return {"sent": [s.recipient for s in report.sent],
            "failed": {f.recipient: f.error for f in report.failed}}


@flow(name="digest", persist_result=False, log_prints=False)
def digest(config_path: str | None = None) -> dict:
    """Send the digest emails; failures stay pending for the next digest (and are returned)."""
    config = load_config(config_path)
    return send_digest(Path(config.archive), config.smtp)
