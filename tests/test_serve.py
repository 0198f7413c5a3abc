"""`newswatch serve` for real: a local Prefect server, both deployments on their schedules,
a clean stop on SIGTERM (serve and the server it started); and prefect.yaml's schedules."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml

from flows.commands import serve as serve_command

ROOT = Path(__file__).resolve().parent.parent
START_DEADLINE = 240  # seconds: only a bound for a hung start, never an assertion on speed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Lines:
    """The subprocess's output lines, read in a thread, waitable by pattern."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc) -> None:
        for line in proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self.lines.append("<EOF>")
            self._cond.notify_all()

    def wait_for(self, pattern: str, deadline: float) -> re.Match:
        regex = re.compile(pattern)
        with self._cond:
            while True:
                for line in self.lines:
                    if m := regex.search(line):
                        return m
                if "<EOF>" in self.lines or time.monotonic() > deadline:
                    pytest.fail(f"no line matching {pattern!r}; output:\n" + "\n".join(self.lines))
                self._cond.wait(1)

    def text(self) -> str:
        with self._cond:
            return "\n".join(self.lines)


def _deployments(api: str, deadline: float) -> dict[str, dict]:
    """name -> deployment, once both are registered."""
    while True:
        found = {d["name"]: d for d in httpx.post(f"{api}/deployments/filter", json={}, timeout=10).json()}
        if {"ingest", "digest"} <= found.keys() or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def _final_state(api: str, flow_run_id: str, deadline: float) -> str | None:
    while time.monotonic() < deadline:
        state = httpx.get(f"{api}/flow_runs/{flow_run_id}", timeout=10).json()["state"]
        if state and state["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return state["type"]
        time.sleep(0.5)
    return None


@pytest.mark.flow
def test_serve_starts_a_server_serves_both_schedules_runs_and_stops_on_sigterm(tmp_path):
    config = tmp_path / "newswatch.yaml"
    config.write_text("archive: archive.db\nsources: []\n")
    # Not the test session's Prefect settings (the shared harness server may be running): the
    # command must start its own server, as it does for a user.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NEWSWATCH_"))}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), DO_NOT_TRACK="1",
               PREFECT_SERVER_ANALYTICS_ENABLED="false", PYTHONUNBUFFERED="1")
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "serve", "--config", str(config), "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = _Lines(proc)
    server_pid = None
    try:
        deadline = time.monotonic() + START_DEADLINE
        server_pid = int(out.wait_for(r"started a local Prefect server \(pid (\d+)", deadline)[1])
        ui = out.wait_for(r"Prefect UI at (http://\S+)", deadline)[1]
        assert ui == f"http://127.0.0.1:{port}"
        api = ui + "/api"
        assert httpx.get(api + "/health", timeout=10).json() is True

        found = _deployments(api, deadline)
        assert {"ingest", "digest"} <= found.keys(), out.text()
        ingest, digest = found["ingest"], found["digest"]
        assert [s["schedule"]["interval"] for s in ingest["schedules"]] == [1800.0]
        assert [s["schedule"]["timezone"] for s in ingest["schedules"]] == ["Europe/Paris"]
        assert [(s["schedule"]["cron"], s["schedule"]["timezone"]) for s in digest["schedules"]] == \
            [("0 7 * * *", "Europe/Paris")]
        assert all(s["active"] for s in ingest["schedules"] + digest["schedules"])
        assert ingest["parameters"] == digest["parameters"] == {"config_path": str(config.resolve())}
        # Served by this process, not by a work pool.
        assert ingest["work_pool_name"] is None

        # A run outside the schedule is picked up and executed by the serving process.
        for _ in range(10):
            response = httpx.post(f"{api}/deployments/{ingest['id']}/create_flow_run", json={}, timeout=30)
            # Once, in a fresh-clone CI run, the answer had no id (status not kept). A new
            # server's own services write to its SQLite meanwhile: a 5xx is tried again, as a
            # user would; anything else fails here with its status and body.
            if response.status_code < 500:
                break
            time.sleep(1)
        assert response.status_code == 201, (response.status_code, response.text)
        run_id = response.json()["id"]
        state = _final_state(api, run_id, time.monotonic() + START_DEADLINE)
        assert state == "COMPLETED", out.text()
        # The flow itself ran (it names its run), in the serving process: its log is ours.
        name = httpx.get(f"{api}/flow_runs/{run_id}", timeout=10).json()["name"]
        assert re.fullmatch(r"ingest-\d{4}-\d\d-\d\dT\d\d:\d\d", name), name
        out.wait_for(re.escape(f"Flow run '{name}' - Finished in state Completed()"),
                     time.monotonic() + 30)

        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(120)
        except subprocess.TimeoutExpired:
            pytest.fail("serve did not exit within 120 s of SIGTERM; output:\n" + out.text())
        assert code == 0, out.text()
        assert "SIGTERM received, stopping" in out.text()
        out.wait_for(r"newswatch serve: stopped", time.monotonic() + 10)
        assert "Prefect server stopped" in out.text()
        with pytest.raises(ProcessLookupError):
            os.kill(server_pid, 0)  # the server was stopped and reaped by serve
        with pytest.raises(httpx.ConnectError):
            httpx.get(api + "/health", timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if server_pid is not None:
            try:
                os.kill(server_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_prefect_yaml_declares_the_schedules_serve_uses():
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    deployments = {d["name"]: d for d in spec["deployments"]}
    assert deployments["ingest"]["entrypoint"] == "flows/ingest.py:ingest"
    assert deployments["digest"]["entrypoint"] == "flows/digest.py:digest"
    assert deployments["ingest"]["schedules"] == [
        {"interval": serve_command.INGEST_EVERY.total_seconds(), "timezone": serve_command.TIMEZONE}]
    assert deployments["digest"]["schedules"] == [
        {"cron": serve_command.DIGEST_CRON, "timezone": serve_command.TIMEZONE}]
    for d in deployments.values():
        assert d["work_pool"]["name"] == "newswatch"
        assert "config_path" in d["parameters"]
        assert (ROOT / d["entrypoint"].split(":")[0]).is_file()
    # Pulled from the checkout prefect deploy ran in: no clone, no network.
    (pull,) = spec["pull"]
    assert list(pull) == ["prefect.deployments.steps.set_working_directory"]
