"""`newswatch automations install --webhook URL` against a real `prefect server start` (events,
triggers and actions services on: the session's `prefect_server`, tests/prefect_server.py) and
a local HTTP receiver: a `newswatch.alert.matched` event ends as a POST of rule, title and link."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prefect_server import Receiver

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.flow


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
        # newswatch-unresponsive-runs is there too once a run recorded on this server (another test's)
        names = sorted(line.split()[0] for line in listed if not line.startswith("newswatch-unresponsive-runs "))
        assert names == ["frontex-to-chat", "newswatch-webhook"]

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
        left = newswatch(prefect_server, "list").stdout.splitlines()
        assert removed.returncode == 0
        assert [n.split()[0] for n in left if not n.startswith("newswatch-unresponsive-runs ")] == ["newswatch-webhook"]
    finally:
        receiver.server.shutdown()


def test_install_without_a_prefect_server_says_what_to_do():
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    done = newswatch(env, "install", "--webhook", "http://127.0.0.1:9/hook")
    assert done.returncode == 1 and "PREFECT_API_URL is not set" in done.stderr
