"""Schedules proven by the runs they produce, not by their declaration.

Three scenarios, each against its own real Prefect server, with the schedules of the config
file (`schedules:`), as a user runs them:
- serve: `newswatch serve --no-run-now` with `ingest: {interval: 1m}`; the server's scheduler
  must itself produce two completed `ingest` runs, one minute apart, each archiving what the
  local feed published since the previous one;
- pool: `prefect server start`, `newswatch deploy`, `prefect worker start --pool newswatch`;
  the scheduler's first `ingest` run must complete, and `newswatch status` show it;
- silent scheduler: `newswatch serve` against a server whose scheduler does not run (what
  SQLAlchemy 2.1 did to Prefect 3.8.8: schedules active, no run ever created); serve must run
  `ingest` once at start, then warn in its own output that no run is scheduled, and stop
  cleanly on SIGTERM with the server it started.

They mostly wait for the clock (runs on the minute), so the scenarios of the selected tests
are started together, each in a thread, and each test waits for its own. A failure names the
first thing that went wrong (process exit, server health, deployment, schedule, the
scheduler, pickup, the run itself) with the ERROR lines of the server's log.
Run them alone with `make test PYTEST_ARGS="-m schedule -s"` (-s prints their timings).
"""

from __future__ import annotations

import io
import itertools
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from fake_sites import article_page, headline, rss_feed
from httpserver import LocalServer, Reply, Request, html

from core.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
# Only bounds for a hung scenario, never assertions on speed (runs land on the minute).
SERVER_DEADLINE = 240
SCHEDULED_RUNS_DEADLINE = 8 * 60
SILENT_WARNING_DEADLINE = 5 * 60

pytestmark = [pytest.mark.schedule, pytest.mark.flow, pytest.mark.timeout(20 * 60)]


# ---------------------------------------------------------------- processes and output ---


def _env(home: Path, **extra: str) -> dict[str, str]:
    """A user's environment: none of the test session's Prefect or newswatch settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NEWSWATCH_"))}
    env.update(
        PREFECT_HOME=str(home),
        DO_NOT_TRACK="1",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PYTHONUNBUFFERED="1",
        # The server's periodic scheduler pass (default 60 s); new deployments are
        # scheduled within ~5 s by its "recent deployments" pass anyway.
        PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="10",
        **extra,
    )
    return env


class Proc:
    """A subprocess whose output lines are read in a thread and can be waited for."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path = ROOT) -> None:
        self.args = args
        self.popen = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.popen.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self.lines.append("<EOF>")
            self._cond.notify_all()

    def wait_for(self, pattern: str, deadline: float) -> re.Match | None:
        regex = re.compile(pattern)
        with self._cond:
            while True:
                for line in self.lines:
                    if m := regex.search(line):
                        return m
                if "<EOF>" in self.lines or time.monotonic() > deadline:
                    return None
                self._cond.wait(1)

    def text(self, last: int | None = None) -> str:
        with self._cond:
            return "\n".join(self.lines[-last:] if last else self.lines)

    def stop(self, grace: float = 60) -> int | None:
        """SIGTERM (twice: a Prefect worker's first one only starts a graceful shutdown)."""
        for _ in range(2):
            if self.popen.poll() is not None:
                break
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(grace / 2)
            except subprocess.TimeoutExpired:
                pass
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()
            return None
        return self.popen.returncode


def _server_errors(log: Path | Proc | None) -> list[str]:
    """The ERROR records of a Prefect server's log (a file, or a server's output), each with
    its exception line, as `newswatch serve` prints them."""
    from flows.orchestration.server import ServerLogErrors

    if isinstance(log, Proc):
        text = log.text()
    elif log is not None and log.exists():
        text = log.read_text(errors="replace")
    else:
        return []
    out = io.StringIO()
    reader = ServerLogErrors(Path(os.devnull), 0, out)
    for line in text.splitlines():
        reader.feed(line)
    reader.flush()
    return out.getvalue().splitlines()


# ------------------------------------------------------------------- the Prefect server ---


def _get(api: str, path: str) -> httpx.Response:
    return httpx.get(api + path, timeout=10)


def _post(api: str, path: str, body: dict) -> httpx.Response:
    return httpx.post(api + path, json=body, timeout=10)


def _healthy(api: str) -> bool:
    try:
        return _get(api, "/health").status_code == 200
    except httpx.HTTPError:
        return False


def _deployment(api: str, flow: str) -> dict | None:
    response = _get(api, f"/deployments/name/{flow}/{flow}")
    return response.json() if response.status_code == 200 else None


def _flow_runs(api: str, flow: str) -> list[dict]:
    """The runs of deployment FLOW/FLOW, oldest expected start first."""
    body = {"deployments": {"name": {"any_": [flow]}}, "sort": "EXPECTED_START_TIME_ASC", "limit": 200}
    return [r for r in _post(api, "/flow_runs/filter", body).json()]


def _state(run: dict) -> str:
    return (run.get("state") or {}).get("type") or "?"


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _run_log(api: str, run_id: str, lines: int = 15) -> str:
    body = {"logs": {"flow_run_id": {"any_": [run_id]}}, "sort": "TIMESTAMP_ASC", "limit": 200}
    try:
        logs = _post(api, "/logs/filter", body).json()
    except httpx.HTTPError as e:
        return f"(its log could not be read: {e})"
    return "\n".join(f"    {log['level']} {log['message']}" for log in logs[-lines:])


def diagnose(api: str | None, proc: Proc | None, server_log: Path | Proc | None, *, wanted: int, what: str) -> str:
    """The first thing that went wrong on the way from a started process to `wanted`
    completed scheduled `ingest` runs, then the evidence."""
    first = None
    if proc is not None and proc.popen.poll() is not None:
        first = f"{' '.join(proc.args[1:4])}... exited with code {proc.popen.returncode}"
    elif api is None:
        first = "no Prefect API address was printed"
    elif not _healthy(api):
        first = f"the Prefect server at {api} does not answer /health"
    else:
        deployment = _deployment(api, "ingest")
        runs = _flow_runs(api, "ingest")
        scheduled = [r for r in runs if r.get("auto_scheduled")]
        if deployment is None:
            first = "the deployment ingest/ingest was never registered"
        elif deployment.get("paused") or not any(s["active"] for s in deployment["schedules"]):
            first = (
                f"the schedule is not active (paused={deployment.get('paused')}, schedules={deployment['schedules']})"
            )
        elif not scheduled:
            first = (
                f"the scheduler created no run although the schedule is active "
                f"({deployment['schedules'][0]['schedule']}); other runs: "
                f"{[(r['name'], _state(r)) for r in runs]}"
            )
        elif bad := [r for r in scheduled if _state(r) in ("FAILED", "CRASHED", "CANCELLED")]:
            r = bad[0]
            first = (
                f"scheduled run {r['name']} ended {_state(r)}: {(r.get('state') or {}).get('message')}\n"
                + _run_log(api, r["id"])
            )
        elif not [r for r in scheduled if _state(r) != "SCHEDULED"]:
            first = (
                f"runs were scheduled but none was picked up (is the runner/worker polling? "
                f"deployment status {deployment.get('status')}): "
                f"{[(r['name'], r['state']['name'], r['expected_start_time']) for r in scheduled[:4]]}"
            )
        else:
            done = [r for r in scheduled if _state(r) == "COMPLETED"]
            first = (
                f"only {len(done)} of {wanted} scheduled run(s) completed in time: "
                f"{[(r['name'], (r.get('state') or {}).get('name')) for r in scheduled[:6]]}"
            )
    errors = _server_errors(server_log)
    return "\n".join(
        [
            f"{what}: {first}",
            "server log ERROR lines:" if errors else "server log: no ERROR line",
            *errors[-10:],
            "output (last 40 lines):" if proc else "",
            proc.text(40) if proc else "",
        ]
    )


def _wait_scheduled_completed(
    api: str, wanted: int, deadline: float, *, alive: Callable[[], bool]
) -> list[dict] | None:
    while time.monotonic() < deadline and alive():
        try:
            done = [r for r in _flow_runs(api, "ingest") if r.get("auto_scheduled") and _state(r) == "COMPLETED"]
        except httpx.HTTPError:
            done = []
        if len(done) >= wanted:
            return done
        time.sleep(2)
    return None


# --------------------------------------------------------------------------- the site ---

ARTICLES = [f"/actualites/depeche-{i:02d}-sur-les-migrations" for i in range(12)]


def _growing_site() -> LocalServer:
    """A feed that lists one more article each time it is read: every run has news."""
    reads = itertools.count(1)

    def feed(request: Request) -> Reply:
        listed = ARTICLES[: min(next(reads), len(ARTICLES))]
        return Reply(
            body=rss_feed(site.base, [(p, headline(p)) for p in listed]),
            content_type="application/rss+xml; charset=utf-8",
        )

    site = LocalServer({"/rss.xml": feed, "/robots.txt": Reply(status=404)})
    for path in ARTICLES:
        site.routes[path] = html(article_page("aprnews", path))
    return site.start()


def _config(directory: Path, site: LocalServer | None, schedules: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    sources = (
        f"sources:\n  - {{name: feed, url: '{site.url('/rss.xml')}', kind: feed, delay: 0}}\n"
        if site
        else "sources: []\n"
    )
    path = directory / "newswatch.yaml"
    path.write_text(
        f"archive: archive.db\nuser_agent: 'newswatch-test/0.1 (+mailto:t@example.org)'\n{sources}{schedules}",
        encoding="utf-8",
    )
    return path


def _articles(archive: Path) -> int:
    with sqlite3.connect(archive) as conn:
        return conn.execute("SELECT count(*) FROM articles").fetchone()[0]


# ---------------------------------------------------------------------- the scenarios ---


@dataclass
class Outcome:
    """What a scenario saw, for its test to check; `failure` names the first thing wrong."""

    failure: str | None = None
    facts: dict = field(default_factory=dict)


class Scenarios:
    def __init__(self, tmp: Callable[[str], Path]) -> None:
        self.tmp = tmp
        self.procs: list[Proc] = []
        self.sites: list[LocalServer] = []
        self.pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="scenario")
        self.futures: dict[str, Future] = {}

    def start(self, name: str, scenario: Callable[[Scenarios], Outcome]) -> None:
        self.futures[name] = self.pool.submit(scenario, self)

    def outcome(self, name: str) -> Outcome:
        return self.futures[name].result()

    def proc(self, args: list[str], env: dict[str, str]) -> Proc:
        proc = Proc(args, env)
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.stop(grace=30)
        self.pool.shutdown(wait=True, cancel_futures=True)
        for site in self.sites:
            site.stop()


def serve_scenario(s: Scenarios) -> Outcome:
    """newswatch serve --no-run-now, ingest every minute: two runs made by the scheduler."""
    tmp = s.tmp("serve")
    site = _growing_site()
    s.sites.append(site)
    config = _config(tmp, site, "schedules:\n  ingest: {interval: 1m}\n")
    home = tmp / "prefect-home"
    started = time.time()
    proc = s.proc(
        [
            sys.executable,
            "-m",
            "flows.cli",
            "serve",
            "--no-run-now",
            "--config",
            str(config),
            "--port",
            str(free_port()),
        ],
        _env(home),
    )
    log = home / "newswatch-serve-server.log"
    deadline = time.monotonic() + SERVER_DEADLINE
    ui = proc.wait_for(r"Prefect UI at (http://\S+)", deadline)
    api = ui[1] + "/api" if ui else None
    done = api and _wait_scheduled_completed(
        api, 2, time.monotonic() + SCHEDULED_RUNS_DEADLINE, alive=lambda: proc.popen.poll() is None
    )
    if not done:
        return Outcome(diagnose(api, proc, log, wanted=2, what="serve: two scheduled ingest runs"))
    runs = _flow_runs(api, "ingest")
    facts = {
        "runs": runs,
        "output": proc.text(),
        "articles": _articles(tmp / "archive.db"),
        "first_completed_after": (_time(done[0]["end_time"]).timestamp() - started),
        "deployment": _deployment(api, "ingest"),
    }
    facts["exit"] = proc.stop()
    return Outcome(facts=facts)


def pool_scenario(s: Scenarios) -> Outcome:
    """prefect server start + newswatch deploy + prefect worker start: one scheduled run."""
    tmp = s.tmp("pool")
    site = _growing_site()
    s.sites.append(site)
    config = _config(tmp, site, "schedules:\n  ingest: {interval: 1m}\n  digest: {cron: '30 6 * * *', timezone: UTC}\n")
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = _env(tmp / "prefect-home")
    server = s.proc(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)], env
    )
    deadline = time.monotonic() + SERVER_DEADLINE
    while not _healthy(api):
        if time.monotonic() > deadline or server.popen.poll() is not None:
            return Outcome(diagnose(api, server, server, wanted=1, what="pool: prefect server start"))
        time.sleep(0.5)
    env = {**env, "PREFECT_API_URL": api}
    started = time.time()
    deploy = subprocess.run(
        [sys.executable, "-m", "flows.cli", "deploy", "--config", str(config)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if deploy.returncode != 0:
        return Outcome(f"pool: newswatch deploy exited {deploy.returncode}:\n{deploy.stdout}{deploy.stderr}")
    worker = s.proc([sys.executable, "-m", "prefect", "worker", "start", "--pool", "newswatch"], env)
    done = _wait_scheduled_completed(
        api, 1, time.monotonic() + SCHEDULED_RUNS_DEADLINE, alive=lambda: worker.popen.poll() is None
    )
    if not done:
        return Outcome(diagnose(api, worker, server, wanted=1, what="pool: a scheduled ingest run by the worker"))
    status = subprocess.run(
        [sys.executable, "-m", "flows.cli", "status", "--config", str(config)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Outcome(
        facts={
            "config": config,
            "deploy": deploy.stdout,
            "status": status.stdout,
            "status_exit": status.returncode,
            "runs": _flow_runs(api, "ingest"),
            "articles": _articles(tmp / "archive.db"),
            "deployments": {f: _deployment(api, f) for f in ("ingest", "digest")},
            "first_completed_after": (_time(done[0]["end_time"]).timestamp() - started),
            "worker_output": worker.text(),
        }
    )


def silent_scheduler_scenario(s: Scenarios) -> Outcome:
    """newswatch serve (runs ingest now) against a server whose scheduler never runs."""
    tmp = s.tmp("silent")
    config = _config(tmp, None, "")  # no schedules: section: the defaults
    home = tmp / "prefect-home"
    proc = s.proc(
        [sys.executable, "-m", "flows.cli", "serve", "--config", str(config), "--port", str(free_port())],
        _env(home, PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false"),
    )
    log = home / "newswatch-serve-server.log"
    deadline = time.monotonic() + SERVER_DEADLINE
    pid = proc.wait_for(r"started a local Prefect server \(pid (\d+)", deadline)
    ui = proc.wait_for(r"Prefect UI at (http://\S+)", deadline)
    if not (pid and ui):
        return Outcome(diagnose(None, proc, log, wanted=0, what="silent scheduler: serve start"))
    api = ui[1] + "/api"
    warning = proc.wait_for(
        r"WARNING: ingest: no run scheduled although the schedule is active: see (\S+)",
        time.monotonic() + SILENT_WARNING_DEADLINE,
    )
    ran_now = proc.wait_for(r"Flow run '(ingest-[^']+)' - Finished in state (\w+)", time.monotonic() + 60)
    facts = {
        "ui": ui[1],
        "server_pid": int(pid[1]),
        "log": log,
        "warning_log": warning[1] if warning else None,
        "ran_now": (ran_now[1], ran_now[2]) if ran_now else None,
        "deployments": {f: _deployment(api, f) for f in ("ingest", "digest")},
        "runs": _flow_runs(api, "ingest"),
        "config": config,
    }
    proc.popen.send_signal(signal.SIGTERM)
    try:
        facts["exit"] = proc.popen.wait(120)
    except subprocess.TimeoutExpired:
        facts["exit"] = None
    proc.wait_for(r"newswatch serve: stopped", time.monotonic() + 10)
    facts["output"] = proc.text()
    facts["health_after"] = _healthy(api)
    try:
        os.kill(facts["server_pid"], 0)
        facts["server_alive_after"] = True
    except ProcessLookupError:
        facts["server_alive_after"] = False
    if not warning:
        return Outcome(
            diagnose(api, proc, log, wanted=0, what="silent scheduler: serve's warning")
            + "\n(no 'no run scheduled' warning in serve's output)",
            facts,
        )
    return Outcome(facts=facts)


SCENARIOS: dict[str, Callable[[Scenarios], Outcome]] = {
    "test_serve_schedule_produces_two_runs_one_minute_apart": serve_scenario,
    "test_deploy_and_worker_run_the_scheduled_ingest": pool_scenario,
    "test_serve_runs_now_and_warns_when_the_scheduler_creates_nothing": silent_scheduler_scenario,
}


@pytest.fixture(scope="module")
def scenarios(request, tmp_path_factory) -> Iterator[Scenarios]:
    """Starts, at once, the scenarios of the tests of this module that were selected."""
    selected = {item.originalname for item in request.session.items if item.module is request.module}
    s = Scenarios(lambda name: tmp_path_factory.mktemp(name))
    for name, scenario in SCENARIOS.items():
        if name in selected:
            s.start(name, scenario)
    yield s
    s.close()


def _outcome(scenarios: Scenarios, name: str) -> Outcome:
    outcome = scenarios.outcome(name)
    if outcome.failure:
        pytest.fail(outcome.failure, pytrace=False)
    return outcome


# -------------------------------------------------------------------------- the tests ---


def test_serve_schedule_produces_two_runs_one_minute_apart(scenarios):
    facts = _outcome(scenarios, "test_serve_schedule_produces_two_runs_one_minute_apart").facts
    runs = facts["runs"]
    # --no-run-now: every run of the deployment was made by the scheduler.
    assert all(r["auto_scheduled"] for r in runs), [(r["name"], r["auto_scheduled"]) for r in runs]
    done = [r for r in runs if _state(r) == "COMPLETED"]
    first, second = done[0], done[1]
    # The config's interval, not a default: consecutive scheduled times one minute apart.
    gap = _time(second["expected_start_time"]) - _time(first["expected_start_time"])
    assert gap.total_seconds() == 60, gap
    assert [s["schedule"]["interval"] for s in facts["deployment"]["schedules"]] == [60.0]
    # Each run did the job: the feed had news for each, and each was archived.
    assert facts["articles"] >= len(done) >= 2
    # Named by the flow itself, to the second.
    assert all(re.fullmatch(r"ingest-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", r["name"]) for r in done), done
    assert "one run now" not in facts["output"]
    assert facts["exit"] == 0, facts["output"][-3000:]
    print(f"\nserve: first scheduled run completed {facts['first_completed_after']:.0f} s after serve started")


def test_deploy_and_worker_run_the_scheduled_ingest(scenarios):
    facts = _outcome(scenarios, "test_deploy_and_worker_run_the_scheduled_ingest").facts
    ingest, digest = facts["deployments"]["ingest"], facts["deployments"]["digest"]
    assert ingest["work_pool_name"] == digest["work_pool_name"] == "newswatch"
    assert [s["schedule"]["interval"] for s in ingest["schedules"]] == [60.0]
    assert [(s["schedule"]["cron"], s["schedule"]["timezone"]) for s in digest["schedules"]] == [("30 6 * * *", "UTC")]
    # The worker ran the code of this checkout, reading this config.
    assert ingest["pull_steps"] == [{"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}]
    assert ingest["parameters"] == digest["parameters"] == {"config_path": str(facts["config"].resolve())}
    assert "ingest/ingest: every 1 min" in facts["deploy"] and "next run" in facts["deploy"]
    done = [r for r in facts["runs"] if r["auto_scheduled"] and _state(r) == "COMPLETED"]
    assert done and facts["articles"] >= 1
    assert re.search(r"ingest/ingest: every 1 min .*; active; work pool newswatch", facts["status"]), facts["status"]
    assert re.search(r"last run:  ingest-\S+ Completed", facts["status"]), facts["status"]
    assert re.search(r"next run:  \S+ at ", facts["status"]), facts["status"]
    assert facts["status_exit"] == 0, facts["status"]
    print(f"\npool: first scheduled run completed {facts['first_completed_after']:.0f} s after newswatch deploy")


def test_serve_runs_now_and_warns_when_the_scheduler_creates_nothing(scenarios):
    outcome = _outcome(scenarios, "test_serve_runs_now_and_warns_when_the_scheduler_creates_nothing")
    facts = outcome.facts
    # Served from the config's schedules (here the defaults), by this process, not a pool.
    ingest, digest = facts["deployments"]["ingest"], facts["deployments"]["digest"]
    assert [(s["schedule"]["interval"], s["schedule"]["timezone"]) for s in ingest["schedules"]] == [
        (1800.0, "Europe/Paris")
    ]
    assert [(s["schedule"]["cron"], s["schedule"]["timezone"]) for s in digest["schedules"]] == [
        ("0 7 * * *", "Europe/Paris")
    ]
    assert all(s["active"] for s in ingest["schedules"] + digest["schedules"])
    assert ingest["parameters"] == {"config_path": str(facts["config"].resolve())}
    assert ingest["work_pool_name"] is None
    # The run at start happened, completed, and was not the scheduler's.
    assert facts["ran_now"] is not None and facts["ran_now"][1] == "Completed", facts["output"]
    now_runs = [r for r in facts["runs"] if r["name"] == facts["ran_now"][0]]
    assert len(now_runs) == 1 and not now_runs[0]["auto_scheduled"]
    assert re.fullmatch(r"ingest-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", facts["ran_now"][0])
    # The silent scheduler was said in plain sight, pointing to the server's log.
    assert facts["warning_log"] == str(facts["log"])
    # SIGTERM: serve stops, then stops the server it started.
    assert facts["exit"] == 0, facts["output"]
    assert "SIGTERM received, stopping" in facts["output"] and "Prefect server stopped" in facts["output"]
    assert facts["server_alive_after"] is False and facts["health_after"] is False
