"""Webhooks the Prefect way: an automation on `newswatch.alert.matched` that calls a webhook.

Every alert match is a Prefect event `newswatch.alert.matched` (flows/orchestration/events.py:
`emit_match_events`; the article is the event's resource, the rule and the source its related
resources, and its payload carries rule, title, clean link and source). This module creates,
on the Prefect server of `PREFECT_API_URL`:
- a `Webhook` block named like the automation, holding the URL (a secret field: the UI shows
  it masked);
- an automation `<name>` whose trigger is each such event (reactive, threshold 1; optionally
  only one rule's) and whose action is "call a webhook" with a JSON body rendered by the
  server from the event: `text` (one line, what Slack, Mattermost and Rocket.Chat incoming
  webhooks post), `rule`, `title`, `url`, `source`, `article_id`.

`install_failed_runs_webhook` does the same for the runs that need attention: an automation
`newswatch-failed-runs` on the flow-run events `prefect.flow-run.Failed` and
`prefect.flow-run.Crashed` of the flows `ingest` and `digest` (an ingest run that needs
attention ends Failed, its reasons the state's message: flows/orchestration/ingest_flow.py),
posting the run's name, state, message and page.

Installing again under the same name replaces both, so the command can be re-run safely.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from flows.orchestration.events import MATCH_EVENT

DEFAULT_NAME = "newswatch-webhook"
FAILED_RUNS_NAME = "newswatch-failed-runs"
# The flow-run events of the states that are not green (Prefect names each such event after
# the state's name: an ingest run that needs attention is `Failed`, one killed `Crashed`).
FAILED_RUN_EVENTS = {"prefect.flow-run.Failed", "prefect.flow-run.Crashed"}
WATCHED_FLOWS = ["ingest", "digest"]

# Rendered by the Prefect server (Jinja, sandboxed) for each event; `tojson` quotes and escapes
# page text (a title with quotes or markup stays one JSON string).
PAYLOAD_TEMPLATE = """{
  "text": {{ ("newswatch [" ~ event.payload.rule ~ "] " ~ event.payload.title ~ " " ~ event.payload.url) | tojson }},
  "rule": {{ event.payload.rule | tojson }},
  "title": {{ event.payload.title | tojson }},
  "url": {{ event.payload.url | tojson }},
  "source": {{ event.payload.source | tojson }},
  "article_id": {{ event.resource.id | replace("newswatch.article.", "") | tojson }}
}"""


# Rendered for each failed or crashed run; `flow_run` is read from the Prefect API by the
# server, `ui_url` is the run's page (the server's PREFECT_UI_URL).
FAILED_RUN_TEMPLATE = """{
  "text": {{ ("newswatch: " ~ flow.name ~ " run " ~ flow_run.name ~ " " ~ flow_run.state.name ~ ": "
              ~ (flow_run.state.message or "") ~ " " ~ (flow_run | ui_url or "")) | tojson }},
  "flow": {{ flow.name | tojson }},
  "flow_run": {{ flow_run.name | tojson }},
  "state": {{ flow_run.state.name | tojson }},
  "message": {{ (flow_run.state.message or "") | tojson }},
  "url": {{ (flow_run | ui_url or "") | tojson }}
}"""


@dataclass(frozen=True)
class Installed:
    automation_id: str
    automation_name: str
    block_name: str


def _block_name(name: str) -> str:
    """The Webhook block's name: the automation's, as a block slug (lower case, dashes)."""
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or DEFAULT_NAME


def install_webhook(url: str, *, name: str = DEFAULT_NAME, rule: str | None = None) -> Installed:
    """Create (or replace) the webhook block and the automation; needs PREFECT_API_URL."""
    from prefect.automations import Automation
    from prefect.events.actions import CallWebhook
    from prefect.events.schemas.automations import EventTrigger, Posture

    block_name, block_id = _save_block(url, name)
    remove_automations(name)
    match_related = {"prefect.resource.id": f"newswatch.rule.{rule}"} if rule else {}
    created = Automation(
        name=name,
        description=f"newswatch: POST rule, title and link of every alert match"
        f"{f' of rule {rule}' if rule else ''} to a webhook (block {block_name}).",
        trigger=EventTrigger(
            expect={MATCH_EVENT},
            match_related=match_related,
            for_each={"prefect.resource.id"},
            posture=Posture.Reactive,
            threshold=1,
            within=timedelta(0),
        ),
        actions=[CallWebhook(block_document_id=block_id, payload=PAYLOAD_TEMPLATE)],
    ).create()
    if not isinstance(created, Automation):  # Prefect's dispatch returns a coroutine inside an event loop
        raise RuntimeError("install_webhook: call it outside an event loop (Automation.create went async)")
    return Installed(str(created.id), name, block_name)


def install_failed_runs_webhook(url: str, *, name: str = FAILED_RUNS_NAME) -> Installed:
    """Create (or replace) the webhook block and an automation that posts every ingest or
    digest run ending Failed or Crashed; needs PREFECT_API_URL."""
    from prefect.automations import Automation
    from prefect.events.actions import CallWebhook
    from prefect.events.schemas.automations import EventTrigger, Posture

    block_name, block_id = _save_block(url, name)
    remove_automations(name)
    created = Automation(
        name=name,
        description=f"newswatch: POST every {' or '.join(WATCHED_FLOWS)} run that ends Failed (an ingest run that "
        f"needs attention) or Crashed, with its state's message and page, to a webhook (block {block_name}).",
        trigger=EventTrigger(
            expect=set(FAILED_RUN_EVENTS),
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.role": "flow", "prefect.resource.name": WATCHED_FLOWS},
            for_each={"prefect.resource.id"},
            posture=Posture.Reactive,
            threshold=1,
            within=timedelta(0),
        ),
        actions=[CallWebhook(block_document_id=block_id, payload=FAILED_RUN_TEMPLATE)],
    ).create()
    if not isinstance(created, Automation):
        raise RuntimeError("install_failed_runs_webhook: call it outside an event loop (Automation.create went async)")
    return Installed(str(created.id), name, block_name)


def _save_block(url: str, name: str):
    """The Webhook block named after the automation, saved (replaced): (its name, its id)."""
    from prefect.blocks.webhook import Webhook

    block_name = _block_name(name)
    block_id = Webhook(url=url, method="POST", headers={"Content-Type": "application/json"}).save(
        block_name, overwrite=True
    )
    return block_name, block_id


def _all_automations() -> list:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return list(client.read_automations())


def newswatch_automations() -> list:
    """The automations this module installed (they watch newswatch's event, or its runs' failures)."""
    return [
        a for a in _all_automations() if {MATCH_EVENT, *FAILED_RUN_EVENTS} & set(getattr(a.trigger, "expect", set()))
    ]


def remove_automations(name: str) -> int:
    """Delete the automations called `name` (and not their webhook block); how many."""
    from prefect.client.orchestration import get_client

    found = [a for a in _all_automations() if a.name == name]
    with get_client(sync_client=True) as client:
        for automation in found:
            client.delete_automation(automation.id)
    return len(found)
