"""The deployments' schedules, from the config's `schedules:` section, for every way of running
them: `newswatch serve` (a Prefect Runner) and `newswatch deploy` (prefect.yaml with the
config's schedules written in). prefect.yaml's build step `check_deployment_schedules` stops a
`prefect deploy` whose schedules are not the config's: the two cannot disagree.

Importing this module does not import Prefect; `runner_schedules` does, when called.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from flows.config.loader import load_config
from flows.config.model import Config, Schedule

# The checkout: where prefect.yaml is, and the root its entrypoints are relative to.
CHECKOUT = Path(__file__).resolve().parents[2]
TAGS = ["newswatch"]
WORK_POOL = "newswatch"  # prefect.yaml's work_pool; a `process` pool


@dataclass(frozen=True)
class FlowDeployment:
    """One of newswatch's two deployments (`FLOW/NAME` on the server, e.g. `ingest/ingest`)."""

    flow: str
    entrypoint: str  # relative to CHECKOUT, as prefect.yaml writes it

    @property
    def name(self) -> str:
        return self.flow

    @property
    def full_name(self) -> str:
        return f"{self.flow}/{self.name}"

    def schedule(self, config: Config) -> Schedule:
        return getattr(config.schedules, self.flow)


# Their descriptions are the flows' docstrings.
DEPLOYMENTS = (
    FlowDeployment("ingest", "flows/orchestration/ingest_flow.py:ingest"),
    FlowDeployment("digest", "flows/orchestration/digest_flow.py:digest"),
)


def schedule_spec(schedule: Schedule) -> dict:
    """A prefect.yaml `schedules:` entry."""
    if schedule.interval is not None:
        seconds = schedule.interval.total_seconds()
        spec: dict = {"interval": int(seconds) if seconds.is_integer() else seconds}
    else:
        spec = {"cron": schedule.cron}
    return {**spec, "timezone": schedule.timezone, "active": schedule.enabled}


def runner_schedules(schedule: Schedule) -> list:
    """The same schedule as Prefect objects, for `flow.to_deployment(schedules=...)`."""
    from prefect.schedules import Cron, Interval

    if schedule.interval is not None:
        return [Interval(schedule.interval, timezone=schedule.timezone, active=schedule.enabled)]
    assert schedule.cron is not None  # a Schedule has an interval or a cron (Schedule._one_kind)
    return [Cron(schedule.cron, timezone=schedule.timezone, active=schedule.enabled)]


def describe(config: Config) -> str:
    """ "ingest every 30 min, digest cron '0 7 * * *' (Europe/Paris)" """
    return ", ".join(f"{d.flow} {d.schedule(config).describe()}" for d in DEPLOYMENTS)


def deploy_file(config: Config) -> dict:
    """prefect.yaml with the config's schedules and path written in: what `newswatch deploy`
    hands to `prefect deploy --all --prefect-file`."""
    from flows.config.yaml_text import load_yaml

    spec = load_yaml((CHECKOUT / "prefect.yaml").read_text(encoding="utf-8"))
    config_file = str(config.file.resolve())
    schedules = {d.flow: [schedule_spec(d.schedule(config))] for d in DEPLOYMENTS}
    for step in spec["build"]:
        if CHECK_STEP in step:
            step[CHECK_STEP].update(config_path=config_file, **schedules)
    for deployment in spec["deployments"]:
        # Deployments added by hand (docs/operations.md "Beyond one machine") keep what they declare.
        if deployment["name"] in schedules:
            deployment.setdefault("parameters", {})["config_path"] = config_file
            deployment["schedules"] = schedules[deployment["name"]]
    return spec


CHECK_STEP = "flows.orchestration.schedules.check_deployment_schedules"


def check_deployment_schedules(config_path: str, **declared: list[dict]) -> dict:
    """prefect.yaml's build step, run by `prefect deploy` in the checkout: the schedules the
    file gives the deployments must be the config's, or nothing is deployed."""
    config = load_config(config_path)
    wrong = []
    for d in DEPLOYMENTS:
        expected = [schedule_spec(d.schedule(config))]
        given = [{"active": True, **entry} for entry in declared.get(d.flow) or []]
        if given != expected:
            wrong.append(f"{d.flow}: {_describe_specs(given)} here, {d.schedule(config).describe()} in the config")
    if wrong:
        raise ValueError(
            f"the schedules in this deploy file are not those of {config.path} "
            f"({'; '.join(wrong)}): deploy with `newswatch deploy`, which writes the config's"
        )
    return {"config_path": str(config.file.resolve())}


def _describe_specs(entries: list[dict]) -> str:
    described = []
    for e in entries:
        try:
            described.append(
                Schedule(
                    interval=e.get("interval"),
                    cron=e.get("cron"),
                    timezone=e.get("timezone") or "UTC",
                    enabled=e.get("active", True),
                ).describe()
            )
        except ValueError:
            described.append(repr(e))
    return " and ".join(described) or "no schedule"


def api_url() -> str | None:
    """The Prefect API in use: $PREFECT_API_URL, else the active Prefect profile's (which
    imports Prefect's settings, ~1 s; only when the variable is not set)."""
    url = os.environ.get("PREFECT_API_URL")
    if url:
        return url
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url) if url else None
