"""Runs whose process died: a Prefect automation sets them Crashed.

A run killed before it could say so (SIGKILL, the out-of-memory killer, a machine that stops)
stays Running in Prefect for good: the runs list shows it working, the failed-runs webhook
(`newswatch automations install --failed-runs`) never hears of it. Prefect's answer is its
flow-run heartbeats (an event every `PREFECT_FLOWS_HEARTBEAT_FREQUENCY` seconds, 180 by
default, from a thread of the run's process) and a proactive automation: after a run's
heartbeat, expect another one or a final state within `MISSED_HEARTBEATS` intervals; when
none comes, set the run Crashed, with a message that says why and what happens next.

`ensure_unresponsive_runs_automation()` installs it (`NAME`, on the flows ingest and digest)
when it is missing or would take a live run for a dead one (a silence allowed shorter than
this process's heartbeat interval: the frequency was raised since). One that allows longer
is kept (a run then found later, never wrongly); disabled by hand, it stays disabled. `newswatch run` and `digest` call
it when they record on a Prefect server that outlives them (PREFECT_API_URL), and `newswatch
serve` when it starts: the automation lives on that server. A temporary server dies with its
run, so there is nothing left to watch.
"""

from __future__ import annotations

from datetime import timedelta

from flows.orchestration.webhooks import WATCHED_FLOWS

NAME = "newswatch-unresponsive-runs"
MISSED_HEARTBEATS = 3
# A heartbeat comes from a thread that needs the interpreter: it may be a little late.
HEARTBEAT_SLACK = timedelta(seconds=5)
HEARTBEAT_EVENT = "prefect.flow-run.heartbeat"
# A run that ends says so with one of these (Prefect names the event after the state).
FINAL_EVENTS = {f"prefect.flow-run.{state}" for state in ("Completed", "Failed", "Crashed", "Cancelled")}
CRASHED_MESSAGE = (
    "no heartbeat from the run's process for {seconds} s: it was killed or its machine stopped. "
    "What it stored stays; the next run fetches the pages it did not store, and alerts not sent are sent then"
)


def heartbeat_seconds() -> int | None:
    """The interval of the flow-run heartbeats this process's runs send (None: turned off)."""
    from prefect.flow_engine import MINIMUM_HEARTBEAT_INTERVAL
    from prefect.settings import get_current_settings

    value = get_current_settings().flows.heartbeat_frequency
    return None if value is None else max(int(value), MINIMUM_HEARTBEAT_INTERVAL)


def ensure_unresponsive_runs_automation(silence: timedelta | None = None) -> str:
    """Install the automation unless one is there that never sets a live run of this process
    Crashed (its silence allowed is at least a heartbeat interval and `HEARTBEAT_SLACK`); what
    was done, in words. `silence`: install it with this silence allowed (replacing any), not
    `MISSED_HEARTBEATS` intervals. Needs the Prefect API of PREFECT_API_URL; raises what Prefect's
    client raises."""
    from prefect.client.orchestration import get_client

    heartbeat = heartbeat_seconds()
    if heartbeat is None:
        return "flow-run heartbeats are off (PREFECT_FLOWS_HEARTBEAT_FREQUENCY): a killed run stays Running"
    with get_client(sync_client=True) as client:
        found = client.read_automations_by_name(NAME)
        if silence is None and len(found) == 1:
            within = getattr(found[0].trigger, "within", None) or timedelta(0)
            if within >= timedelta(seconds=heartbeat) + HEARTBEAT_SLACK:
                return f"{NAME} present"
        silence = silence or timedelta(seconds=MISSED_HEARTBEATS * heartbeat)
        for automation in found:
            client.delete_automation(automation.id)
        client.create_automation(_automation(silence))
    return f"{NAME} installed: a run silent for {int(silence.total_seconds())} s is set Crashed"


def _automation(silence: timedelta):
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

    seconds = int(silence.total_seconds())
    return AutomationCore(
        name=NAME,
        description=f"newswatch: an {' or '.join(WATCHED_FLOWS)} run without a heartbeat for {seconds} s "
        "(its process killed, its machine stopped) is set Crashed.",
        trigger=EventTrigger(
            after={HEARTBEAT_EVENT},
            expect={HEARTBEAT_EVENT, *FINAL_EVENTS},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.role": "flow", "prefect.resource.name": WATCHED_FLOWS},
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=silence,
        ),
        actions=[ChangeFlowRunState(state=StateType.CRASHED, message=CRASHED_MESSAGE.format(seconds=seconds))],
    )
