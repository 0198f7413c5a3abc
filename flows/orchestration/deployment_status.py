"""What a Prefect server says about newswatch's deployments: schedules, the last run, the next
scheduled run, the late ones, and what is wrong with them.

A schedule can be "active" and still produce nothing (the SQLAlchemy 2.1 trap: the server's
scheduler fails in its own log, every minute, and nothing else shows it). So this reads what
the scheduler actually created: `newswatch status` prints it, and `newswatch serve` checks it
once a minute. Plain REST calls with httpx: no Prefect import, a command stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from errors import PrefectApiError
from flows.config.model import Config, human_duration
from flows.orchestration.schedules import CHECKOUT, DEPLOYMENTS, FlowDeployment, schedule_spec

# A scheduled run still waiting this long after its time is late: a runner or worker polls
# every ~10 s, so a run that nobody picked up within a minute will not be picked up by itself.
LATE_AFTER = timedelta(minutes=1)
FINAL = ["COMPLETED", "FAILED", "CRASHED", "CANCELLED"]
FINAL_OR_ACTIVE = [*FINAL, "RUNNING", "PENDING", "CANCELLING", "PAUSED"]


@dataclass
class RunInfo:
    name: str
    state: str  # the state's name: Completed, Failed, Scheduled, Late...
    time: datetime | None  # start time, else expected start time
    auto_scheduled: bool
    type: str = ""  # the state's type: COMPLETED, FAILED, CRASHED, SCHEDULED...
    message: str = ""  # the state's message ("needs attention: ..." for an ingest run)

    @classmethod
    def from_api(cls, run: dict) -> RunInfo:
        when = run.get("start_time") or run.get("expected_start_time")
        state = run.get("state") or {}
        return cls(
            name=run["name"],
            state=state.get("name") or "?",
            time=_parse_time(when),
            auto_scheduled=bool(run.get("auto_scheduled")),
            type=state.get("type") or "",
            message=state.get("message") or "",
        )


@dataclass
class DeploymentStatus:
    deployment: FlowDeployment
    exists: bool = False
    paused: bool = False
    schedules: list[str] = field(default_factory=list)  # "every 30 min (Europe/Paris)", ...
    active: bool = False  # some schedule is active and the deployment is not paused
    polled: bool = False  # something (serve, a worker) polls for its runs (status READY)
    work_pool: str | None = None
    last_run: RunInfo | None = None
    last_finished: RunInfo | None = None  # the last run that ended (Completed, Failed, Crashed, Cancelled)
    next_runs: list[RunInfo] = field(default_factory=list)  # scheduled, not yet late, earliest first
    late_runs: list[RunInfo] = field(default_factory=list)  # earliest first
    late_count: int = 0
    schedule_keys: list[tuple] = field(default_factory=list)  # `_schedule_key`s, to compare with a config
    config_path: Path | None = None  # the config its runs read (its `config_path` parameter), absolute

    def problems(self, *, now: datetime | None = None, config: Config | None = None) -> list[str]:
        """One line per thing that keeps the schedule from producing runs, and, given the
        config, per way the deployment disagrees with it (another schedule, another config
        file: a hand `prefect deploy`, a `newswatch deploy` of another config)."""
        return [text for _, text in self.problem_items(now=now, config=config)]

    def problem_items(self, *, now: datetime | None = None, config: Config | None = None) -> list[tuple[str, str]]:
        """`problems()` with a key per problem that stays the same while the problem lasts
        (a late run's line changes every minute; its key does not)."""
        name = self.deployment.flow
        if not self.exists:
            return [
                (
                    f"{name}: no deployment",
                    f"{name}: no deployment {self.deployment.full_name} on this Prefect server "
                    "(start `newswatch serve`, or run `newswatch deploy`)",
                )
            ]
        out = self.disagreements(config) if config is not None else []
        if self.active and not any(r.auto_scheduled for r in self.next_runs):
            out.append((f"{name}: no run scheduled", f"{name}: no run scheduled although the schedule is active"))
        if self.late_runs:
            first = self.late_runs[0]
            late_by = _ago((now or _now()) - first.time) if first.time else "?"
            out.append(
                (
                    f"{name}: late runs",
                    f"{name}: {self.late_count} scheduled run(s) late: {first.name}, due at "
                    f"{local_time(first.time)}, has not started {late_by} later (is `newswatch "
                    "serve` or a worker for its pool running?)",
                )
            )
        return out

    def last_run_problem(self) -> str | None:
        """The last run that ended needs attention: it ended Failed (an ingest run that needs
        attention, or one that failed on an error) or Crashed; None otherwise."""
        run = self.last_finished
        if run is None or run.type not in ("FAILED", "CRASHED"):
            return None
        why = f": {run.message}" if run.message else ""
        return f"{self.deployment.flow}: its last run {run.name} ended {run.state} at {local_time(run.time)}{why}"

    def disagreements(self, config: Config) -> list[tuple[str, str]]:
        """(key, line) per way the deployment is not what the config says."""
        name = self.deployment.flow
        out = []
        wanted = self.deployment.schedule(config)
        redeploy = f"run `newswatch deploy --config {config.path}` (or `newswatch serve`) to make them agree"
        if self.schedule_keys != [_schedule_key(schedule_spec(wanted))]:
            out.append(
                (
                    f"{name}: another schedule",
                    f"{name}: the deployment's schedule is {', '.join(self.schedules) or 'none'}, the config's "
                    f"{wanted.describe()}: {redeploy}",
                )
            )
        mine = Path(config.path).resolve() if config.path is not None else None
        if self.config_path is not None and mine is not None and self.config_path != mine:
            out.append(
                (
                    f"{name}: another config",
                    f"{name}: the deployment's runs read {self.config_path}, not this config ({mine}): {redeploy}",
                )
            )
        return out


def _schedule_key(entry: dict) -> tuple:
    """A schedule as the server or `schedule_spec` gives it, in a form that compares:
    (interval seconds or cron, timezone, active)."""
    sched = entry.get("schedule", entry)
    what = float(sched["interval"]) if sched.get("interval") is not None else (sched.get("cron") or "rrule")
    return what, sched.get("timezone") or "UTC", bool(entry.get("active", True))


def _config_path(deployment: dict) -> Path | None:
    """The config file the deployment's runs read: its `config_path` parameter, relative to
    the runs' working directory (the pull step's, else this checkout)."""
    value = (deployment.get("parameters") or {}).get("config_path")
    if not value:
        return None
    cwd = CHECKOUT
    for step in deployment.get("pull_steps") or []:
        directory = (step.get("prefect.deployments.steps.set_working_directory") or {}).get("directory")
        if directory:
            cwd = Path(directory)
    return (cwd / value).resolve()


def deployment_statuses(api_url: str, *, timeout: float = 10.0, now: datetime | None = None) -> list[DeploymentStatus]:
    now = now or _now()
    api = api_url.rstrip("/")
    try:
        with httpx.Client(base_url=api, timeout=timeout) as client:
            return [_status(client, d, now) for d in DEPLOYMENTS]
    except httpx.HTTPError as e:
        raise PrefectApiError(f"cannot ask the Prefect server at {api}: {e}") from None


def _status(client: httpx.Client, deployment: FlowDeployment, now: datetime) -> DeploymentStatus:
    status = DeploymentStatus(deployment)
    response = client.get(f"/deployments/name/{deployment.flow}/{deployment.name}")
    if response.status_code == 404:
        return status
    _check(response)
    d = response.json()
    status.exists = True
    status.paused = bool(d.get("paused"))
    status.work_pool = d.get("work_pool_name")
    status.polled = d.get("status") == "READY"
    status.schedules = [_describe_schedule(s) for s in d.get("schedules") or []]
    status.schedule_keys = [_schedule_key(s) for s in d.get("schedules") or []]
    status.config_path = _config_path(d)
    status.active = not status.paused and any(s.get("active") for s in d.get("schedules") or [])
    deployment_filter = {"deployments": {"id": {"any_": [d["id"]]}}}
    late_before = (now - LATE_AFTER).isoformat()

    def runs(flow_runs: dict, sort: str, limit: int) -> list[dict]:
        body = {**deployment_filter, "flow_runs": flow_runs, "sort": sort, "limit": limit}
        return _check(client.post("/flow_runs/filter", json=body)).json()

    scheduled = {"type": {"any_": ["SCHEDULED"]}}
    last = runs({"state": {"type": {"any_": FINAL_OR_ACTIVE}}}, "EXPECTED_START_TIME_DESC", 1)
    status.last_run = RunInfo.from_api(last[0]) if last else None
    ended = runs({"state": {"type": {"any_": FINAL}}}, "END_TIME_DESC", 1)
    status.last_finished = RunInfo.from_api(ended[0]) if ended else None
    status.next_runs = [
        RunInfo.from_api(r)
        for r in runs(
            {"state": scheduled, "expected_start_time": {"after_": late_before}}, "EXPECTED_START_TIME_ASC", 3
        )
    ]
    late_filter = {"state": scheduled, "expected_start_time": {"before_": late_before}}
    status.late_runs = [RunInfo.from_api(r) for r in runs(late_filter, "EXPECTED_START_TIME_ASC", 3)]
    if status.late_runs:
        count = client.post("/flow_runs/count", json={**deployment_filter, "flow_runs": late_filter})
        status.late_count = int(_check(count).json())
    return status


def format_status(
    statuses: list[DeploymentStatus], *, now: datetime | None = None, config: Config | None = None
) -> str:
    lines = []
    for s in statuses:
        d = s.deployment
        if not s.exists:
            lines.append(f"{d.full_name}: not deployed on this server")
        else:
            where = f"work pool {s.work_pool}" if s.work_pool else "served by newswatch serve"
            state = "PAUSED" if s.paused else ("active" if s.active else "no active schedule")
            polled = "" if s.polled else "; nothing is polling for its runs (serve or worker not running)"
            lines.append(f"{d.full_name}: {', '.join(s.schedules) or 'no schedule'}; {state}; {where}{polled}")
            last = s.last_run
            lines.append(
                f"  last run:  {last.name} {last.state} at {local_time(last.time)}" if last else "  last run:  none yet"
            )
            nxt = s.next_runs[0] if s.next_runs else None
            lines.append(f"  next run:  {nxt.name} at {local_time(nxt.time)}" if nxt else "  next run:  none scheduled")
            if s.late_count:
                lines.append(f"  late runs: {s.late_count}, the first due at {local_time(s.late_runs[0].time)}")
        last_run = s.last_run_problem()
        problems = s.problems(now=now, config=config) + ([last_run] if last_run else [])
        lines += [f"  PROBLEM: {p.split(': ', 1)[1]}" for p in problems]
    return "\n".join(lines)


def _describe_schedule(entry: dict) -> str:
    sched = entry.get("schedule") or {}
    tz = sched.get("timezone") or "UTC"
    if sched.get("interval") is not None:
        what = f"every {human_duration(timedelta(seconds=float(sched['interval'])))}"
    elif sched.get("cron"):
        what = f"cron {sched['cron']!r}"
    else:
        what = "rrule"
    return f"{what} ({tz})" + ("" if entry.get("active") else " [inactive]")


def _check(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        raise PrefectApiError(
            f"the Prefect server answered {response.status_code} to "
            f"{response.request.method} {response.request.url.path}: {response.text[:200]}"
        )
    return response


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _now() -> datetime:
    return datetime.now(UTC)


def local_time(when: datetime | None) -> str:
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z") if when else "?"


def _ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"
