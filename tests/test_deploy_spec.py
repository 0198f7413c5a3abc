"""The pieces of scheduling that need no server: prefect.yaml and the config agree, the deploy
file `newswatch deploy` writes, reading a Prefect server's log for ERROR records, and what a
deployment's status says is wrong. (tests/test_schedule.py runs the real thing.)"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flows.cli.serve import ScheduleWarnings
from flows.config.loader import parse_config
from flows.config.model import Schedules
from flows.config.yaml_text import load_yaml
from flows.orchestration.deployment_status import DeploymentStatus, RunInfo, format_status
from flows.orchestration.schedules import (
    CHECK_STEP,
    CHECKOUT,
    DEPLOYMENTS,
    WORK_POOL,
    check_deployment_schedules,
    deploy_file,
    schedule_spec,
)
from flows.orchestration.server import ServerLogErrors

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "prefect"
NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def _spec() -> dict:
    return load_yaml((ROOT / "prefect.yaml").read_text(encoding="utf-8"))


def test_prefect_yaml_declares_the_default_schedules_and_runs_the_checkout():
    assert CHECKOUT == ROOT
    spec = _spec()
    deployments = {d["name"]: d for d in spec["deployments"]}
    assert set(deployments) == {d.flow for d in DEPLOYMENTS}
    defaults = Schedules()
    for d in DEPLOYMENTS:
        declared = deployments[d.flow]
        assert declared["entrypoint"] == d.entrypoint
        assert (ROOT / d.entrypoint.split(":")[0]).is_file()
        assert declared["work_pool"]["name"] == WORK_POOL
        assert declared["schedules"] == [schedule_spec(getattr(defaults, d.flow))]
        assert declared["parameters"]["config_path"] == "newswatch.yaml"
    # Pulled from the checkout prefect deploy ran in: no clone, no network.
    (pull,) = spec["pull"]
    assert list(pull) == ["prefect.deployments.steps.set_working_directory"]
    # The check step sees exactly what the deployments declare (YAML anchors).
    (check,) = [step[CHECK_STEP] for step in spec["build"] if CHECK_STEP in step]
    assert check["ingest"] == deployments["ingest"]["schedules"]
    assert check["digest"] == deployments["digest"]["schedules"]


def test_deploy_file_carries_the_config_schedules_and_absolute_path(tmp_path):
    config = parse_config(
        "schedules:\n  ingest: {interval: 1m}\n  digest: {cron: '30 6 * * 1-5', timezone: UTC, enabled: false}\n",
        tmp_path / "newswatch.yaml",
    )
    spec = deploy_file(config)
    deployments = {d["name"]: d for d in spec["deployments"]}
    assert deployments["ingest"]["schedules"] == [{"interval": 60, "timezone": "Europe/Paris", "active": True}]
    assert deployments["digest"]["schedules"] == [{"cron": "30 6 * * 1-5", "timezone": "UTC", "active": False}]
    for d in deployments.values():
        assert d["parameters"]["config_path"] == str(tmp_path / "newswatch.yaml")
    (check,) = [step[CHECK_STEP] for step in spec["build"] if CHECK_STEP in step]
    (tmp_path / "newswatch.yaml").write_text(
        "schedules:\n  ingest: {interval: 1m}\n  digest: {cron: '30 6 * * 1-5', timezone: UTC, enabled: false}\n"
    )
    assert check_deployment_schedules(**{k: v for k, v in check.items() if k != "id"}) == {
        "config_path": str(tmp_path / "newswatch.yaml")
    }


def test_prefect_deploy_by_hand_refuses_schedules_that_are_not_the_config(tmp_path):
    (tmp_path / "newswatch.yaml").write_text("schedules:\n  ingest: {interval: 5m}\n")
    (check,) = [step[CHECK_STEP] for step in _spec()["build"] if CHECK_STEP in step]
    inputs = {k: v for k, v in check.items() if k != "id"}
    inputs["config_path"] = str(tmp_path / "newswatch.yaml")
    with pytest.raises(ValueError, match=r"ingest: every 30 min here, every 5 min in the config.*newswatch deploy"):
        check_deployment_schedules(**inputs)


def test_server_log_errors_are_printed_with_their_exception():
    """The real log of Prefect 3.8.8's scheduler under SQLAlchemy 2.1 (captured on this project's
    machines; paths shortened), between two ordinary records."""
    text = (
        "23:28:05.001 | INFO    | prefect.server - started\n"
        + (FIXTURES / "scheduler-sqlalchemy-2.1.log").read_text()
        + "23:29:10.000 | INFO    | uvicorn.access - 127.0.0.1 GET /api/health 200\n"
        + "ERROR:    Exception in ASGI application\nTraceback (most recent call last):\n"
        + '  File "x.py", line 1\nRuntimeError: boom\n'
    )
    out = io.StringIO()
    reader = ServerLogErrors(Path("/dev/null"), 0, out)
    for line in text.splitlines():
        reader.feed(line)
    reader.flush()
    assert out.getvalue().splitlines() == [
        "newswatch serve: Prefect server ERROR: docket.dependencies - ↩ [   100ms] "
        "schedule_recent_deployments(){schedule_recent_deployments} -> sqlalchemy.exc.InvalidRequestError: "
        "Can't evaluate bulk DML statement; please supply a bulk_dml decorated function",
        "newswatch serve: Prefect server ERROR: Exception in ASGI application -> RuntimeError: boom",
    ]


def test_server_log_errors_follow_a_growing_log_from_where_the_server_started(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("00:00:00.000 | ERROR   | old - from an earlier server\n")
    out = io.StringIO()
    reader = ServerLogErrors(log, log.stat().st_size, out, poll=0.05)
    reader.start()
    with log.open("a") as f:
        f.write(
            "00:00:01.000 | ERROR   | prefect.server.services.scheduler - Unexpected error\n"
            "Traceback (most recent call last):\nValueError: bad\n"
        )
    deadline = datetime.now() + timedelta(seconds=30)
    while "ValueError" not in out.getvalue() and datetime.now() < deadline:
        reader.join(0.05)
    assert out.getvalue() == (
        "newswatch serve: Prefect server ERROR: prefect.server.services.scheduler - "
        "Unexpected error -> ValueError: bad\n"
    )


def _status(**kw) -> DeploymentStatus:
    base = dict(
        deployment=DEPLOYMENTS[0], exists=True, active=True, polled=True, schedules=["every 30 min (Europe/Paris)"]
    )
    return DeploymentStatus(**{**base, **kw})


def _run(name: str, state: str, minutes: int, auto: bool = True) -> RunInfo:
    return RunInfo(name, state, NOW + timedelta(minutes=minutes), auto)


def test_status_problems_name_what_keeps_a_schedule_from_running():
    assert _status(next_runs=[_run("a", "Scheduled", 10)]).problems(now=NOW) == []
    assert _status(exists=False).problems(now=NOW) == [
        "ingest: no deployment ingest/ingest on this Prefect server (start `newswatch serve`, "
        "or run `newswatch deploy`)"
    ]
    # A manual run waiting is not the scheduler's: the schedule still produced nothing.
    assert _status(next_runs=[_run("now", "Scheduled", 0, auto=False)]).problems(now=NOW) == [
        "ingest: no run scheduled although the schedule is active"
    ]
    assert _status(active=False, paused=True).problems(now=NOW) == []
    late = _status(next_runs=[_run("b", "Scheduled", 20)], late_runs=[_run("a", "Late", -10)], late_count=2)
    (problem,) = late.problems(now=NOW)
    assert problem.startswith("ingest: 2 scheduled run(s) late: a, due at ")
    assert "has not started 10 min later" in problem


def test_serve_says_a_lasting_problem_once_an_hour_and_says_when_it_ends():
    out = io.StringIO()
    warnings = ScheduleWarnings(out)
    late = _status(next_runs=[_run("b", "Scheduled", 20)], late_runs=[_run("a", "Late", -10)], late_count=1)
    later = _status(next_runs=[_run("b", "Scheduled", 20)], late_runs=[_run("a", "Late", -11)], late_count=1)
    stuck = _status(next_runs=[])
    where = ": see the log"
    warnings.report(late.problem_items(now=NOW) + stuck.problem_items(now=NOW), where, now=0)
    # A minute later the late run's line reads one minute more: the same problem, not said again.
    warnings.report(later.problem_items(now=NOW + timedelta(minutes=1)) + stuck.problem_items(now=NOW), where, now=60)
    assert out.getvalue().splitlines() == [
        f"newswatch serve: WARNING: {late.problems(now=NOW)[0]}: see the log",
        "newswatch serve: WARNING: ingest: no run scheduled although the schedule is active: see the log",
    ]
    out.truncate(0), out.seek(0)
    warnings.report(stuck.problem_items(now=NOW), where, now=3600)  # the late run started
    assert out.getvalue().splitlines() == [
        "newswatch serve: WARNING: still: ingest: no run scheduled although the schedule is active: see the log",
        "newswatch serve: resolved: ingest: late runs",
    ]
    out.truncate(0), out.seek(0)
    warnings.report([], where, now=3660)
    warnings.report([], where, now=3720)
    assert out.getvalue().splitlines() == ["newswatch serve: resolved: ingest: no run scheduled"]


def test_status_format_shows_last_next_and_late_runs():
    text = format_status(
        [
            _status(
                last_run=_run("ingest-2026-11-28T09:30:00", "Completed", -30),
                next_runs=[_run("calm-fox", "Scheduled", 0)],
                late_runs=[_run("old", "Late", -5)],
                late_count=1,
            ),
            DeploymentStatus(DEPLOYMENTS[1]),
        ],
        now=NOW,
    )
    lines = text.splitlines()
    assert lines[0] == "ingest/ingest: every 30 min (Europe/Paris); active; served by newswatch serve"
    assert lines[1].startswith("  last run:  ingest-2026-11-28T09:30:00 Completed at ")
    assert lines[2].startswith("  next run:  calm-fox at ")
    assert lines[3].startswith("  late runs: 1, the first due at ")
    assert lines[4].startswith("  PROBLEM: 1 scheduled run(s) late: old")
    assert lines[5:] == [
        "digest/digest: not deployed on this server",
        "  PROBLEM: no deployment digest/digest on this Prefect server (start "
        "`newswatch serve`, or run `newswatch deploy`)",
    ]


def _config(directory: Path, schedules: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "newswatch.yaml"
    path.write_text(
        f"archive: {directory / 'archive.db'}\n{schedules}sources:\n  - {{name: a, url: 'http://127.0.0.1:9/feed.xml'}}\n",
        encoding="utf-8",
    )
    return path


def test_status_problems_name_a_deployment_that_disagrees_with_the_config(tmp_path: Path) -> None:
    from flows.config.loader import load_config

    config = load_config(_config(tmp_path / "mine", "schedules: {ingest: {interval: 1m}}\n"))
    agreeing = _status(
        next_runs=[_run("a", "Scheduled", 1)],
        schedules=["every 1 min (Europe/Paris)"],
        schedule_keys=[(60.0, "Europe/Paris", True)],
        config_path=Path(config.path).resolve(),
    )
    assert agreeing.problems(now=NOW, config=config) == []
    elsewhere = tmp_path / "checkout" / "newswatch.yaml"
    other = _status(
        next_runs=[_run("a", "Scheduled", 10)],
        schedule_keys=[(1800.0, "Europe/Paris", True)],
        config_path=elsewhere,
    )
    redeploy = f"run `newswatch deploy --config {config.path}` (or `newswatch serve`) to make them agree"
    assert other.problems(now=NOW, config=config) == [
        f"ingest: the deployment's schedule is every 30 min (Europe/Paris), the config's every 1 min: {redeploy}",
        f"ingest: the deployment's runs read {elsewhere}, not this config ({Path(config.path).resolve()}): {redeploy}",
    ]
    assert other.problems(now=NOW) == []  # no config: nothing to compare with
    # Another time zone, or a schedule switched off, is another schedule.
    assert (
        _status(schedule_keys=[(60.0, "UTC", True)], next_runs=[_run("a", "Scheduled", 1)])
        .problems(now=NOW, config=config)[0]
        .startswith("ingest: the deployment's schedule is")
    )


@pytest.mark.flow
def test_newswatch_status_flags_deployments_that_disagree_with_the_config(tmp_path: Path, prefect_api_url: str) -> None:
    """A real Prefect server holding the deployments a hand `prefect deploy --all` in a checkout
    makes (the file's 30 min, the checkout's newswatch.yaml; paused, so nothing runs):
    `newswatch status` agrees with that checkout's config, and flags both deployments against
    another config (exit 1)."""
    import os
    import subprocess

    import httpx

    checkout = tmp_path / "checkout"
    _config(checkout)  # the defaults: ingest every 30 min, digest at 07:00, Europe/Paris
    mine = _config(tmp_path / "mine", "schedules: {ingest: {interval: 1m}}\n")
    api = prefect_api_url.rstrip("/")
    created = []
    with httpx.Client(base_url=api, timeout=30) as client:
        for d in DEPLOYMENTS:
            flow_id = client.post("/flows/", json={"name": d.flow}).raise_for_status().json()["id"]
            spec = schedule_spec(getattr(Schedules(), d.flow))
            schedule = {k: v for k, v in spec.items() if k != "active"}
            response = client.post(
                "/deployments/",
                json={
                    "name": d.name,
                    "flow_id": flow_id,
                    "entrypoint": d.entrypoint,
                    "paused": True,
                    "schedules": [{"schedule": schedule, "active": True}],
                    "parameters": {"config_path": "newswatch.yaml"},
                    "pull_steps": [{"prefect.deployments.steps.set_working_directory": {"directory": str(checkout)}}],
                },
            )
            created.append(response.raise_for_status().json()["id"])
        try:
            env = {**os.environ, "PREFECT_API_URL": prefect_api_url}
            status = [
                subprocess.run(
                    [str(ROOT / ".venv" / "bin" / "newswatch"), "status", "--config", str(config)],
                    capture_output=True,
                    text=True,
                    env=env,
                    timeout=120,
                )
                for config in (checkout / "newswatch.yaml", mine)
            ]
        finally:
            for deployment_id in created:
                client.delete(f"/deployments/{deployment_id}")
    agree, disagree = status
    assert agree.returncode == 0 and "PROBLEM" not in agree.stdout, agree.stdout + agree.stderr
    assert "ingest/ingest: every 30 min (Europe/Paris); PAUSED" in agree.stdout
    assert disagree.returncode == 3, disagree.stdout + disagree.stderr  # needs attention
    redeploy = f"run `newswatch deploy --config {mine}` (or `newswatch serve`) to make them agree"
    problems = [line for line in disagree.stdout.splitlines() if "PROBLEM" in line]
    assert problems == [
        f"  PROBLEM: the deployment's schedule is every 30 min (Europe/Paris), the config's every 1 min: {redeploy}",
        f"  PROBLEM: the deployment's runs read {checkout / 'newswatch.yaml'}, not this config ({mine}): {redeploy}",
        f"  PROBLEM: the deployment's runs read {checkout / 'newswatch.yaml'}, not this config ({mine}): {redeploy}",
    ]


def test_a_prefect_server_that_never_becomes_healthy_is_given_up_at_the_deadline(tmp_path):
    """`serve`'s wait for its Prefect server: a process that lives but never answers its health
    check is a ServeError naming the address and the log once `timeout` has passed, not a wait
    for ever; one that exits first is one as soon as it has."""
    import subprocess
    import sys
    import time

    from core.ports import free_port
    from errors import ServeError
    from flows.orchestration.server import LocalPrefectServer

    log = tmp_path / "server.log"
    log.write_text("")
    silent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        server = LocalPrefectServer(silent, free_port(), log, 0)
        started = time.monotonic()
        with pytest.raises(ServeError, match=r"no healthy Prefect server at http://127\.0\.0\.1:\d+/api after 1 s"):
            server.wait_healthy(timeout=1.0)
        assert 1.0 <= time.monotonic() - started < 10.0
    finally:
        silent.kill()
        silent.wait()
    log.write_text("boom: the port is taken\n")
    gone = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    gone.wait()
    with pytest.raises(ServeError, match=r"exited \(code 3\) before it was ready(.|\n)*boom: the port is taken"):
        LocalPrefectServer(gone, free_port(), log, 0).wait_healthy(timeout=60.0)
