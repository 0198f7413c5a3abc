"""Signals end `serve`, `run`, `digest` and `demo` within 10 s in every phase, and a Prefect server
newswatch starts never outlives it (issue 20, item 4); the end of a normal run is quiet: no
traceback, no ERROR line of Prefect's event machinery, over repeated runs on the temporary
server and on a running one (item 5). The commands run in a subprocess, as a user runs them;
the web is a real local server. Other phases are in tests/test_prefect_server.py (a run stopped
mid-fetch, or killed) and tests/test_serve_ops.py (serve idle)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from httpserver import LocalServer, Reply
from processes import alive, children
from test_attention import feed_site
from test_attention import write_config as feed_config
from test_prefect_server import NEWSWATCH, clean_env, write_config
from test_schedule import Proc, _env

STOP_WITHIN = 10.0  # seconds, in every phase
# What Prefect's event machinery says when it loses events at the end of a run.
EVENT_ERRORS = re.compile(r"ERROR.*(Error flushing|EventsWorker|events? (could not|failed)|task_run_recorder)")


def _server_child(pid: int, deadline: float) -> int | None:
    """The Prefect server the process `pid` started (Prefect's temporary `uvicorn`, or
    `prefect server start`), once it exists."""
    while time.monotonic() < deadline:
        found = [c for c, cmd in children(pid).items() if "uvicorn" in cmd or "server start" in cmd]
        if found:
            return found[0]
        time.sleep(0.1)
    return None


def _stop_and_time(process: subprocess.Popen, signum: int) -> float:
    started = time.monotonic()
    process.send_signal(signum)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return 60.0
    return time.monotonic() - started


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
        return False
    return True


@pytest.mark.fault
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("command", ["run", "digest", "demo"])
def test_a_command_stopped_while_its_prefect_server_starts_ends_within_10_s(
    tmp_path: Path, command: str, signum: int
) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/feed.xml")
    args = [str(NEWSWATCH), command] + ([] if command == "demo" else ["--config", str(config)])
    process = subprocess.Popen(
        args, cwd=tmp_path, env=clean_env(tmp_path / "prefect-home"), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    server = _server_child(process.pid, time.monotonic() + 120)
    assert server is not None, f"{command} started no Prefect server: {process.communicate(timeout=60)}"
    took = _stop_and_time(process, signum)
    out, err = process.communicate()
    assert took < STOP_WITHIN, f"{command} took {took:.1f} s to stop: {err.decode()[-2000:]}"
    assert _gone_within(server, STOP_WITHIN), f"the Prefect server of {command} outlived it"
    assert process.returncode in ((130, -signal.SIGINT) if signum == signal.SIGINT else (-signal.SIGTERM,))


@pytest.mark.fault
@pytest.mark.parametrize(
    ("phase", "signum"),
    [
        ("server starting", signal.SIGTERM),
        ("idle", signal.SIGTERM),
        ("run starting", signal.SIGINT),
        ("run in flight", signal.SIGINT),
    ],
    ids=["server-starting-SIGTERM", "idle-SIGTERM", "run-starting-SIGINT", "run-in-flight-SIGINT"],
)
def test_serve_stopped_in_each_phase_ends_within_10_s(
    tmp_path: Path, http_server: LocalServer, phase: str, signum: int
) -> None:
    http_server.routes["/feed.xml"] = Reply(body="<rss/>", content_type="application/rss+xml", delay=120)
    config = write_config(tmp_path, http_server.url("/feed.xml"))
    now = [] if phase.startswith("run") else ["--no-run-now"]
    args = [str(NEWSWATCH), "serve", "--port", "0", *now, "--config", str(config)]
    proc = Proc(args, _env(tmp_path / "home"), cwd=tmp_path)
    deadline = time.monotonic() + 240
    flow_runs: list[int] = []
    try:
        started = proc.wait_for(r"started a local Prefect server \(pid (\d+)", deadline)
        assert started, proc.text()
        server = int(started[1])
        if phase == "idle":
            assert proc.wait_for(r"serving the deployments", deadline), proc.text()
        elif phase == "run starting":  # the run-now run was just created: the runner picks it up
            assert proc.wait_for(r"ingest: one run now", deadline), proc.text()
        elif phase == "run in flight":  # serve's run-now run is fetching the feed that hangs
            while not http_server.requests("/feed.xml") and time.monotonic() < deadline:
                time.sleep(0.2)
            assert http_server.requests("/feed.xml"), proc.text()
            flow_runs = [c for c, cmd in children(proc.popen.pid).items() if "prefect" in cmd and c != server]
            assert flow_runs, children(proc.popen.pid)  # the flow run's own process
        took = _stop_and_time(proc.popen, signum)
    finally:
        if proc.popen.poll() is None:
            proc.popen.kill()
    assert took < STOP_WITHIN, f"serve took {took:.1f} s to stop ({phase}):\n{proc.text(30)}"
    assert proc.popen.returncode == 0, proc.text(30)
    assert _gone_within(server, STOP_WITHIN), f"serve's Prefect server outlived it ({phase})"
    assert all(_gone_within(pid, STOP_WITHIN) for pid in flow_runs), "a flow run's process outlived serve"
    # Nothing of serve's outlives it: no process left with its PREFECT_HOME (a flow run's
    # process started by the runner as it stopped did, before).
    deadline = time.monotonic() + STOP_WITHIN
    while _processes_with(tmp_path / "home") and time.monotonic() < deadline:
        time.sleep(0.2)
    left = _processes_with(tmp_path / "home")
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes of serve outlived it ({phase}): {left}"
    assert not list((tmp_path / "home" / "newswatch-serve").glob("*.json"))  # nothing half-written stays
    assert "Traceback" not in proc.text(), proc.text()


def _processes_with(home: Path) -> dict[int, str]:
    """The live processes whose environment has PREFECT_HOME=`home`: their command lines."""
    wanted = f"PREFECT_HOME={home}".encode()
    found = {}
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if wanted in environ.read_bytes().split(b"\0") and alive(int(environ.parent.name)):
                found[int(environ.parent.name)] = (
                    (environ.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                )
        except (OSError, ValueError):
            continue
    return found


def _quiet_runs(tmp_path: Path, http_server: LocalServer, env: dict, count: int = 3) -> None:
    feed_site(http_server, ["/actualites/accord-sur-la-cooperation-migratoire"])
    config = feed_config(tmp_path, http_server, smtp_port=None, rules="  []\n")
    for n in range(count):
        done = subprocess.run(
            [str(NEWSWATCH), "run", "--config", str(config)], capture_output=True, text=True, env=env, timeout=300
        )
        assert done.returncode == 0, f"run {n + 1}: {done.stdout}{done.stderr}"
        for stream in (done.stdout, done.stderr):
            assert "Traceback" not in stream, f"run {n + 1}:\n{stream}"
            assert not EVENT_ERRORS.search(stream), f"run {n + 1}:\n{stream}"


@pytest.mark.flow
@pytest.mark.slow
def test_runs_on_the_temporary_server_end_quietly(tmp_path: Path, http_server: LocalServer) -> None:
    _quiet_runs(tmp_path, http_server, clean_env(tmp_path / "prefect-home"))


@pytest.mark.flow
def test_runs_on_a_running_server_end_quietly(tmp_path: Path, http_server: LocalServer, prefect_server: dict) -> None:
    _quiet_runs(tmp_path, http_server, prefect_server)


@pytest.mark.flow
def test_the_wait_for_the_servers_records_ends_when_every_task_run_since_is_final(prefect_server: dict) -> None:
    """`wait_recorded` (what the run waits on before it stops its temporary server): a task run
    still Running since the server started keeps it waiting, to its deadline; once its final
    state is recorded it returns at once; one Running from before (a killed run's) is not waited for."""
    from datetime import UTC, datetime

    import httpx

    from flows.orchestration.server import wait_recorded

    api = prefect_server["PREFECT_API_URL"]

    def post(path: str, body: dict) -> dict:
        deadline = time.monotonic() + 60
        while (response := httpx.post(f"{api}{path}", json=body, timeout=30)).status_code == 503:
            assert time.monotonic() < deadline, response.text  # SQLite busy: Prefect's "retry"
            time.sleep(0.5)
        response.raise_for_status()
        return response.json()

    def task_run(name: str) -> str:
        return post("/task_runs/", {"name": name, "task_key": name, "dynamic_key": "0", "state": {"type": "RUNNING"}})[
            "id"
        ]

    task_run("killed-before")
    time.sleep(0.01)
    since = datetime.now(UTC).isoformat()
    running = task_run("still-running")
    started = time.monotonic()
    assert wait_recorded(api, since, timeout=1.0) is False
    assert time.monotonic() - started >= 1.0
    post(f"/task_runs/{running}/set_state", {"state": {"type": "COMPLETED"}, "force": True})
    started = time.monotonic()
    assert wait_recorded(api, since, timeout=30.0) is True
    assert time.monotonic() - started < 10.0
