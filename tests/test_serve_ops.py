"""`newswatch serve` as an operator meets it (issue 20, items 2 and 3), on one real serve shared by
the module: its port taken, so it falls back to a free one; its UI's /ui-settings and a run page
in headless Chromium talk to that server's API; `newswatch status` without PREFECT_API_URL finds
it through its state file, says which server it read, and exits 3 for a failed source and a
last run that needs attention; Ctrl-C ends serve, its server and its state file; a state file
left by a killed serve is stale and said so."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from httpserver import LocalServer
from processes import alive
from smtpserver import closed_port
from test_attention import feed_site
from test_reading_room_browser import CHROMIUM, CHROMIUM_ARGS, _require
from test_run_states import write_config
from test_schedule import Proc, _env

ROOT = Path(__file__).resolve().parent.parent
NEWSWATCH = str(ROOT / ".venv" / "bin" / "newswatch")
pytestmark = pytest.mark.flow


@dataclass
class Serve:
    proc: Proc
    env: dict[str, str]
    config: Path
    ui: str
    taken_port: int
    server_pid: int
    run: dict  # the ingest run serve made at start, ended

    @property
    def api(self) -> str:
        return self.ui + "/api"


def _ended_ingest_run(api: str, deadline: float) -> dict | None:
    body = {
        "flows": {"name": {"any_": ["ingest"]}},
        "flow_runs": {"state": {"type": {"any_": ["FAILED", "COMPLETED", "CRASHED"]}}},
    }
    while time.monotonic() < deadline:
        runs = httpx.post(api + "/flow_runs/filter", json=body, timeout=10).json()
        if runs:
            return runs[0]
        time.sleep(1)
    return None


@pytest.fixture(scope="module")
def serve() -> Iterator[Serve]:
    site = LocalServer().start()
    feed_site(site, ["/actualites/accord-sur-la-cooperation-migratoire"])
    work = Path(tempfile.mkdtemp(prefix="newswatch-serve-ops-"))
    config = write_config(work / "cfg", site, down_port=closed_port(), smtp_port=None)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    env = _env(work / "prefect-home")
    proc = Proc([NEWSWATCH, "serve", "--port", str(port), "--config", str(config)], env, cwd=work)
    try:
        deadline = time.monotonic() + 240
        ui = proc.wait_for(r"newswatch serve: Prefect UI at (\S+)", deadline)
        started = proc.wait_for(r"started a local Prefect server \(pid (\d+)", deadline)
        assert ui and started, proc.text()
        run = _ended_ingest_run(ui[1] + "/api", deadline)
        assert run is not None, proc.text()
        yield Serve(proc, env, config, ui[1], port, int(started[1]), run)
    finally:
        if proc.popen.poll() is None:
            proc.stop()
        taken.close()
        site.stop()
        shutil.rmtree(work, ignore_errors=True)


def test_the_ui_of_a_serve_whose_port_was_taken_talks_to_its_own_api(serve: Serve) -> None:
    assert not serve.ui.endswith(f":{serve.taken_port}")  # the free-port fallback
    settings = httpx.get(serve.ui + "/ui-settings", timeout=10).json()
    assert settings["api_url"] == serve.api


@pytest.mark.slow
def test_a_run_page_of_that_ui_shows_the_run_in_headless_chromium(serve: Serve, tmp_path: Path) -> None:
    if CHROMIUM is None:
        _require("Chromium", "apt-get install -y chromium (or set CHROMIUM to a Chromium binary)")
    url = f"{serve.ui}/runs/flow-run/{serve.run['id']}"
    dom = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            *CHROMIUM_ARGS,
            f"--user-data-dir={tmp_path / 'chromium'}",
            "--window-size=1600,1000",
            "--virtual-time-budget=15000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert serve.run["name"] in dom, dom[-3000:]  # the run's own page, read from this server's API
    assert "Can't connect to Server API" not in dom
    assert "needs attention: down: FAILED" in dom  # its state's message


def test_status_finds_the_running_serve_and_exits_3_for_what_needs_attention(serve: Serve) -> None:
    assert "PREFECT_API_URL" not in serve.env
    done = subprocess.run(
        [NEWSWATCH, "status", "--config", str(serve.config)], capture_output=True, text=True, env=serve.env, timeout=120
    )
    assert done.returncode == 3, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    state_file = Path(serve.env["PREFECT_HOME"]) / "newswatch-serve" / f"{serve.proc.popen.pid}.json"
    assert (
        f"Prefect server: {serve.api} (of the newswatch serve running as pid {serve.proc.popen.pid}; "
        f"state file {state_file})"
    ) in lines
    assert json.loads(state_file.read_text())["api_url"] == serve.api
    problem = [
        line for line in lines if line.startswith(f"  PROBLEM: its last run {serve.run['name']} ended Failed at ")
    ]
    assert len(problem) == 1 and problem[0].endswith(": needs attention: down: FAILED"), done.stdout
    assert lines[-1] == "needs attention: ingest: last run Failed; down: FAILED", done.stdout


def test_ctrl_c_ends_serve_its_server_and_its_state_file(serve: Serve) -> None:
    state_file = Path(serve.env["PREFECT_HOME"]) / "newswatch-serve" / f"{serve.proc.popen.pid}.json"
    assert state_file.exists()
    started = time.monotonic()
    serve.proc.popen.send_signal(signal.SIGINT)
    serve.proc.popen.wait(30)
    took = time.monotonic() - started
    assert took < 10, f"serve took {took:.1f} s to stop:\n{serve.proc.text(20)}"
    assert serve.proc.popen.returncode == 0, serve.proc.text(20)
    assert not state_file.exists() and not alive(serve.server_pid)
    assert "Traceback" not in serve.proc.text(), serve.proc.text()

    done = subprocess.run(
        [NEWSWATCH, "status", "--config", str(serve.config)], capture_output=True, text=True, env=serve.env, timeout=120
    )
    assert "no Prefect server: PREFECT_API_URL is not set and no `newswatch serve` is running" in done.stdout
    assert done.returncode == 3  # the source that failed still needs attention


def test_a_state_file_left_by_a_killed_serve_is_stale_said_and_removed(tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    home = tmp_path / "prefect-home"
    (home / "newswatch-serve").mkdir(parents=True)
    left = home / "newswatch-serve" / f"{gone.pid}.json"
    left.write_text(
        json.dumps(
            {"pid": gone.pid, "started": "1", "api_url": "http://127.0.0.1:9/api", "config": "x", "server_pid": None}
        )
    )
    config = tmp_path / "newswatch.yaml"
    config.write_text("archive: archive.db\nsources:\n  - {name: a, url: 'http://127.0.0.1:9/feed.xml'}\n")
    done = subprocess.run(
        [NEWSWATCH, "status", "--config", str(config)], capture_output=True, text=True, env=_env(home), timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        f"(a state file of newswatch serve, pid {gone.pid}, was left by a process that is gone, killed or "
        f"crashed: removed {left})"
    ) in done.stdout.splitlines()
    assert not left.exists()
    assert re.search(r"^no Prefect server: ", done.stdout, re.M)
