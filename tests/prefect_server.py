"""One real `prefect server start` for the whole pytest session (`prefect_server` fixture), with
its services on (events, triggers, actions: the automations run), unlike the harness's
temporary server; `Receiver`, a webhook receiver on 127.0.0.1; `final_task_runs`, a flow run's
task runs once the server has recorded their final states. Registered in tests/conftest.py
through `pytest_plugins`; the tests of the automations, of run states and of `status` share it
(a start costs ~7-15 s)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from core.ports import free_port


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The environment of a command that records on the server: PREFECT_API_URL and a
    temporary PREFECT_HOME, no other PREFECT_ variable."""
    home = tmp_path_factory.mktemp("prefect-server-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false")
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    log = open(home / "server.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env={**env, "PREFECT_UI_URL": f"http://127.0.0.1:{port}", "PREFECT_UI_API_URL": api},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(api + "/health", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail("prefect server start did not become healthy: " + (home / "server.log").read_text()[-3000:])
        time.sleep(0.5)
    yield {**env, "PREFECT_API_URL": api}
    server.terminate()
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    log.close()


def final_task_runs(api: str, flow_run_id: str, names: set[str] = frozenset()) -> list[dict]:
    """The flow run's task runs (its tasks `names` among them), once each has a final state.
    The server records them from the run's events, a moment after the run: the command that
    ran it may have exited before (a busy server on SQLite retries its writes), so they are
    waited for, 60 s at most (then returned as they are, for the test to say what is missing)."""
    body = {"flow_runs": {"id": {"any_": [flow_run_id]}}, "limit": 200}
    deadline = time.monotonic() + 60
    while True:
        runs = httpx.post(f"{api.rstrip('/')}/task_runs/filter", json=body, timeout=30).json()
        # A task run is named after its task and a suffix Prefect adds: source-apr-4f2.
        tasks = {r["name"].rsplit("-", 1)[0] for r in runs}
        final = [r["state"] and r["state"]["type"] not in ("SCHEDULED", "PENDING", "RUNNING") for r in runs]
        if (runs and all(final) and names <= tasks) or time.monotonic() > deadline:
            return runs
        time.sleep(0.2)


class Receiver:
    """A webhook receiver on 127.0.0.1: keeps (path, body) of every POST."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, bytes]] = []
        received = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append((self.path, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, path: str, count: int, timeout: float = 120) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            bodies = [self._json(b) for p, b in list(self.posts) if p == path]
            if len(bodies) >= count:
                return bodies
            time.sleep(0.5)
        pytest.fail(f"{path}: {len([p for p, _ in self.posts if p == path])} of {count} POSTs after {timeout} s")

    @staticmethod
    def _json(body: bytes) -> dict:
        # The automation renders its payload template per event: a body that is not JSON is a
        # failure of that rendering, and the body itself is what says which.
        try:
            return json.loads(body)
        except ValueError as e:
            pytest.fail(f"a webhook POST whose body is not JSON ({e}): {body[:2000]!r}")
