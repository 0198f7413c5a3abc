"""The `ingest` Prefect flow: `flows.pipeline.ingest.ingest_run` with Prefect around it.

The run's order, its outcome classification and counts are in `flows/pipeline/`; this
module only makes them visible in Prefect: the flow run (named after its start, tagged
`source:NAME`), one task per source holding one task per stage (`discover-iom-fr`, then
`fetch-…`, `clean-…`, `store-…` running at the same time), the end-of-run tasks (`alerts`, `feeds`, `health-alerts`),
an event per alert match, and the run's artifacts. Tens of task runs per run, never one per
article or request: the Prefect server records task runs slowly (docs/prefect.md);
per-article detail goes into the artifacts.
"""

from __future__ import annotations

import functools
import logging
import sys
from datetime import datetime
from uuid import UUID

from flows.orchestration.server import prepare_prefect_environment

prepare_prefect_environment()  # before Prefect is imported: it reads its settings then

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402
from prefect.exceptions import MissingContextError  # noqa: E402
from prefect.utilities.annotations import opaque  # noqa: E402

from flows.config.loader import load_config  # noqa: E402
from flows.pipeline.ingest import ingest_run, selected_sources  # noqa: E402
from flows.pipeline.runner import Runner  # noqa: E402
from flows.pipeline.summary import SourceReport  # noqa: E402
from storage.outbox import OutboxEntry  # noqa: E402


class PrefectRunner(Runner):
    """Each stage a Prefect task; the sources in parallel, one task each, on the flow's task runner."""

    def stage(self, name, source, fn, *args):
        task_name = f"{name}-{source}" if source else name
        # `opaque`: Prefect does not walk the arguments (a thousand pages, the fetcher) looking
        # for futures to resolve.
        return _task(fn).with_options(name=task_name)(*[opaque(a) for a in args])

    def each_source(self, fn, sources) -> list[SourceReport]:
        # Task runs carry no tags: Prefect asks the server for a concurrency slot per tag of
        # every task run, and those requests serialised the sources (bench/ingest.py). The
        # flow run is tagged instead.
        futures = [_task(fn).with_options(name=f"source-{s.name}").submit(opaque(s)) for s in sources]
        reports = []
        for source, future in zip(sources, futures, strict=True):
            try:
                reports.append(future.result())
            except Exception as e:  # noqa: BLE001 - run_source reports its stages' failures; this is a bug
                message = f"the source's task failed: {type(e).__name__}: {e}"
                self.logger().error("%s: %s", source.name, message)
                reports.append(SourceReport(source=source.name, failed=message))
        return reports

    def logger(self) -> logging.Logger | logging.LoggerAdapter:
        try:
            return get_run_logger()
        except MissingContextError:
            return super().logger()

    def matched(self, matches: list[OutboxEntry]) -> None:
        from flows.orchestration.events import emit_match_events

        emit_match_events(matches)


@functools.cache
def _task(fn):
    return task(fn, cache_policy=NO_CACHE, persist_result=False)


def _run_name() -> str:
    # To the second: two runs in one minute (a schedule and a manual run) get distinct names.
    return "ingest-" + datetime.now().strftime("%Y-%m-%dT%H:%M:%S")


@flow(name="ingest", flow_run_name=_run_name, persist_result=False, log_prints=False)
def ingest(config_path: str | None = None, sources: list[str] | None = None, recheck: bool = False) -> dict:
    """One ingestion run of the configured sources; returns the summary (see IngestSummary)."""
    from prefect.runtime import flow_run

    config = load_config(config_path)
    _tag_run_with_sources([s.name for s in selected_sources(config, sources)])
    summary = ingest_run(
        config,
        sources,
        recheck=recheck,
        holder=f"flow-run:{flow_run.id}" if flow_run.id else None,
        runner=PrefectRunner(),
    )
    from flows.orchestration.artifacts import publish_ingest_artifacts

    publish_ingest_artifacts(summary)
    return summary.to_dict()


def _tag_run_with_sources(names: list[str]) -> None:
    """Tag this flow run `source:NAME` per source, however it was started (schedule, deployment
    run, `newswatch run`), so the UI finds a source's runs by tag."""
    from prefect.client.orchestration import get_client
    from prefect.runtime import flow_run

    if not flow_run.id:
        return
    wanted = {f"source:{name}" for name in names}
    with get_client(sync_client=True) as client:
        current = set(client.read_flow_run(flow_run.id).tags or [])
        if not wanted <= current:
            client.update_flow_run(flow_run.id, tags=sorted(current | wanted))


def run_ingest_flow(command: str, config_path: str, **params) -> tuple[dict | None, UUID | None]:
    """The `ingest` flow through Prefect: (its summary, its flow run id). The summary is None,
    and why is printed as `newswatch COMMAND: ...`, when the run could not complete. A SIGTERM
    meanwhile stops the temporary Prefect server, if one was started, before the process ends."""
    from flows.orchestration.server import temporary_server_stopped_on_signals

    with temporary_server_stopped_on_signals():
        state = ingest(config_path=config_path, return_state=True, **params)
    if not state.is_completed():
        try:
            state.result()
        except Exception as e:  # noqa: BLE001 - whatever failed the flow run, it is said in one line
            print(f"newswatch {command}: the run could not complete: {e}", file=sys.stderr)
        return None, state.state_details.flow_run_id
    return state.result(), state.state_details.flow_run_id
