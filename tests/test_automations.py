"""`newswatch automations install --webhook URL` against a real `prefect server start` (events,
triggers and actions services on) and a local HTTP receiver: a `newswatch.alert.matched` event
ends as a POST of rule, title and link."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from core.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.flow


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


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory):
    """A real `prefect server start` (with its services) on a free port, temporary PREFECT_HOME."""
    home = tmp_path_factory.mktemp("prefect-server-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false")
    port = free_port()
    log = open(home / "server.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    api = f"http://127.0.0.1:{port}/api"
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


def newswatch(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", "automations", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


EMIT = """
from flows.orchestration.events import emit_match_events
from prefect.events.worker import EventsWorker
from storage.outbox import OutboxEntry
emit_match_events([
    OutboxEntry("passeurs", "ana@example.org", "immediate", 7, 7, 'L\\u2019OIM : "passeurs" <b>arrêtés</b>',
                "iom-fr", None, "http://www.iom.int/fr/news/x", None, id=1),
    OutboxEntry("frontex", "ana@example.org", "digest", 8, 8, "Frontex publie ses chiffres", "apr", None,
                "https://www.apr-news.fr/actualites/frontex", None, id=2),
])
EventsWorker.drain_all()
"""


def test_a_match_event_is_posted_to_the_webhook_by_the_automation(prefect_server):
    receiver = Receiver()
    try:
        every = newswatch(prefect_server, "install", "--webhook", receiver.url + "/every")
        assert every.returncode == 0, every.stderr
        again = newswatch(prefect_server, "install", "--webhook", receiver.url + "/every")  # replaces it
        assert again.returncode == 0, again.stderr
        only = newswatch(
            prefect_server,
            "install",
            "--webhook",
            receiver.url + "/frontex",
            "--rule",
            "frontex",
            "--name",
            "frontex-to-chat",
        )
        assert only.returncode == 0, only.stderr
        listed = newswatch(prefect_server, "list").stdout.splitlines()
        assert sorted(line.split()[0] for line in listed) == ["frontex-to-chat", "newswatch-webhook"]

        emitted = subprocess.run(
            [sys.executable, "-c", EMIT], cwd=ROOT, env=prefect_server, capture_output=True, text=True, timeout=120
        )
        assert emitted.returncode == 0, emitted.stderr

        posts = sorted(receiver.wait_for("/every", 2), key=lambda p: p["rule"])
        assert posts[1] == {
            "rule": "passeurs",
            "title": 'L’OIM : "passeurs" <b>arrêtés</b>',
            "url": "http://www.iom.int/fr/news/x",
            "source": "iom-fr",
            "article_id": "7",
            "text": 'newswatch [passeurs] L’OIM : "passeurs" <b>arrêtés</b> http://www.iom.int/fr/news/x',
        }
        assert posts[0]["rule"] == "frontex" and posts[0]["url"] == "https://www.apr-news.fr/actualites/frontex"
        [frontex] = receiver.wait_for("/frontex", 1)
        assert frontex["title"] == "Frontex publie ses chiffres"
        time.sleep(3)  # the passeurs match never reaches the frontex-only webhook
        assert len([p for p, _ in receiver.posts if p == "/frontex"]) == 1
        assert len([p for p, _ in receiver.posts if p == "/every"]) == 2  # the replaced one posts nothing

        removed = newswatch(prefect_server, "remove", "--name", "frontex-to-chat")
        assert removed.returncode == 0 and newswatch(prefect_server, "list").stdout.count("\n") == 1
    finally:
        receiver.server.shutdown()


def test_install_without_a_prefect_server_says_what_to_do():
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    done = newswatch(env, "install", "--webhook", "http://127.0.0.1:9/hook")
    assert done.returncode == 1 and "PREFECT_API_URL is not set" in done.stderr
