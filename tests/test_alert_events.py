"""Alert matches become Prefect events (`newswatch.alert.matched`) that automations can use."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from flows.orchestration.events import emit_match_events
from storage.outbox import OutboxEntry

pytestmark = pytest.mark.flow


def _matched_events(since: datetime) -> list[dict]:
    from prefect.client.orchestration import get_client

    body = {
        "filter": {"event": {"name": ["newswatch.alert.matched"]}, "occurred": {"since": since.isoformat()}},
        "limit": 50,
    }
    with get_client(sync_client=True) as client:
        return client.request("POST", "/events/filter", json=body).json()["events"]


def test_each_recorded_match_is_emitted_once_with_rule_and_source(prefect_harness):
    from prefect.events.worker import EventsWorker

    since = datetime.now(UTC) - timedelta(seconds=5)
    matches = [
        OutboxEntry(
            "passeurs", "ana@example.org", "immediate", 7, 7, "Passeurs arrêtés", "iom-fr", None, None, None, id=1
        ),
        # The same rule and article for a second recipient: still one event.
        OutboxEntry(
            "passeurs", "ben@example.org", "immediate", 7, 7, "Passeurs arrêtés", "iom-fr", None, None, None, id=2
        ),
    ]
    assert emit_match_events(matches) == 1
    EventsWorker.drain_all()
    events: list[dict] = []
    for _ in range(60):  # the server persists events in the background
        events = _matched_events(since)
        if events:
            break
        time.sleep(0.5)
    [event] = events
    assert event["resource"]["prefect.resource.id"] == "newswatch.article.7"
    roles = {r["prefect.resource.role"]: r["prefect.resource.id"] for r in event["related"]}
    # Prefect adds the flow run the event was emitted in (inside the ingest flow, that links
    # the match to its run); the rule and the source are ours.
    assert roles["alert-rule"] == "newswatch.rule.passeurs"
    assert roles["source"] == "newswatch.source.iom-fr"
    assert event["payload"] == {
        "rule": "passeurs",
        "mode": "immediate",
        "story_id": 7,
        "title": "Passeurs arrêtés",
        "url": "",
        "source": "iom-fr",
    }
