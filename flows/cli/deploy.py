"""`newswatch deploy`: the ingest and digest deployments on a Prefect server's `process` work
pool, with the config's schedules, for `prefect worker start --pool newswatch` to run.

It checks the config (before Prefect is imported), creates the work pool when missing, runs
`prefect --no-prompt deploy --all` in the checkout on a copy of prefect.yaml with the config's
schedules and path written in (flows/orchestration/schedules.py), then waits until the server's scheduler
has scheduled a run of each active schedule, and says so: a deployment whose schedule
produces nothing is reported here, not discovered days later.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from flows.cli.shared import add_config_option

HELP = "create or update the work-pool deployments (prefect.yaml) with the config's schedules"
EXAMPLE = """\
PREFECT_API_URL=http://127.0.0.1:4200/api newswatch deploy --config newswatch.yaml
prefect worker start --pool newswatch       # then: a worker runs what is scheduled"""

DEPLOY_TIMEOUT = 300.0  # seconds for `prefect deploy`: ~5 s here, a bound for a hung one
SCHEDULED_WITHIN = 30.0  # seconds for the scheduler to schedule the first runs (~5 s here)


def configure(parser: argparse.ArgumentParser) -> None:
    add_config_option(parser)


def run(args: argparse.Namespace) -> int:
    from errors import DeployError
    from flows.config.loader import load_config
    from flows.config.yaml_text import dump_yaml
    from flows.orchestration.schedules import CHECKOUT, WORK_POOL, api_url, deploy_file, describe
    from flows.orchestration.server import check_server
    from storage.archive import Archive

    config = load_config(args.config)
    with Archive.open(config.archive) as archive:
        archive.ensure_writable()
    config_file = config.file.resolve()
    if not (CHECKOUT / "prefect.yaml").is_file():
        raise DeployError(
            f"no prefect.yaml in {CHECKOUT}: deploy from a checkout of newswatch "
            "(pip install -e), whose code the worker will run"
        )
    from alerts.settings import set_aside_notice

    for problem in config.rule_errors:
        print(f"newswatch deploy: warning: {set_aside_notice(problem)}", flush=True)
    api = api_url()
    if not api:
        raise DeployError(
            "no Prefect server to deploy to: start one (prefect server start) and set "
            "PREFECT_API_URL=http://127.0.0.1:4200/api; or use newswatch serve, "
            "which needs no work pool"
        )
    check_server(api)
    if _ensure_work_pool(api):
        print(f"newswatch deploy: created the work pool {WORK_POOL} (type process)", flush=True)
    print(f"newswatch deploy: {describe(config)}, config {config_file}, code {CHECKOUT}", flush=True)
    env = {**os.environ, "PREFECT_API_URL": api}
    with tempfile.TemporaryDirectory(prefix="newswatch-deploy-") as tmp:
        spec_file = Path(tmp) / "prefect.yaml"
        spec_file.write_text(dump_yaml(deploy_file(config)), encoding="utf-8")
        try:
            done = subprocess.run(
                [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all", "--prefect-file", str(spec_file)],
                cwd=CHECKOUT,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=DEPLOY_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise DeployError(f"prefect deploy did not finish within {DEPLOY_TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip().splitlines()
        tail = "\n".join(output[-25:])
        raise DeployError(f"prefect deploy failed (exit {done.returncode}):\n{tail}")
    from flows.orchestration.deployment_status import local_time

    statuses = _wait_scheduled(api)
    for status in statuses:
        d = status.deployment
        nxt = status.next_runs[0] if status.next_runs else None
        when = f"next run {local_time(nxt.time)}" if nxt else "no run scheduled"
        print(f"newswatch deploy: {d.full_name}: {', '.join(status.schedules) or 'no schedule'}, {when}", flush=True)
    problems = [p for s in statuses for p in s.problems(config=config)]
    for problem in problems:
        print(f"newswatch deploy: WARNING: {problem}: see the Prefect server's log", flush=True)
    print(
        f"newswatch deploy: done; a worker runs them: {Path(sys.executable).parent / 'prefect'} "
        f"worker start --pool {WORK_POOL}   (`newswatch status` shows their runs)",
        flush=True,
    )
    return 1 if problems else 0


def _ensure_work_pool(api: str) -> bool:
    """Create the `process` work pool when it is missing; True when created."""
    import httpx

    from errors import DeployError
    from flows.orchestration.schedules import WORK_POOL

    found = httpx.get(f"{api.rstrip('/')}/work_pools/{WORK_POOL}", timeout=10)
    if found.status_code == 200:
        kind = found.json().get("type")
        if kind != "process":
            raise DeployError(
                f"the work pool {WORK_POOL} is of type {kind!r}, not 'process': the deployments need a process pool"
            )
        return False
    os.environ["PREFECT_API_URL"] = api  # Prefect reads it at import
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client:
        client.create_work_pool(
            WorkPoolCreate(
                name=WORK_POOL, type="process", base_job_template=ProcessWorker.get_default_base_job_template()
            )
        )
    return True


def _wait_scheduled(api: str):
    """The deployments' status once each active schedule has a run scheduled (or time is up)."""
    from flows.orchestration.deployment_status import deployment_statuses

    deadline = time.monotonic() + SCHEDULED_WITHIN
    while True:
        statuses = deployment_statuses(api)
        waiting = [s for s in statuses if s.active and not s.next_runs]
        if not waiting or time.monotonic() > deadline:
            return statuses
        time.sleep(1)
