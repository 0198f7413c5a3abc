"""The `ingest` Prefect flow: `flows.pipeline.ingest.ingest_run` with Prefect around it.

The run's order, its outcome classification and counts are in `flows/pipeline/`; this
module only makes them visible in Prefect: the flow run (named after its start, tagged
`source:NAME`), one task per source holding one task per stage (`discover-iom-fr`, then
`fetch-…`, `clean-…`, `store-…` running at the same time), the end-of-run tasks (`alerts`, `feeds`, `health-alerts`),
an event per alert match, and the run's artifacts. Tens of task runs per run, never one per
article or request: the Prefect server records task runs slowly (docs/prefect.md);
per-article detail goes into the artifacts. A run of more than `PER_SOURCE_TASKS` sources
has no per-source tags nor tasks: `SHARDS` tasks (`sources-1-of-8`...) each work on a share
of the hosts, with one log line per source.

States that mean what they say (README "Run states in Prefect"): a source's task run ends
`Failed` when the source FAILED or yields nothing (WARNING), its one-line reason the state's
message; a shard's when one of its sources does; the `alerts`, `health-alerts` and `feeds`
tasks when an email was not sent or a feed not written; the flow run ends `Failed`, with
"needs attention: ..." as its message, whenever `newswatch run`
exits 3 (`flows.pipeline.summary.attention`). The artifacts are written first, whatever the
state. A task that returns a `Failed` state hands its report to the flow through a dict, not
the state's data: Prefect's log line of a failed task would print the data whole.
"""

from __future__ import annotations

import contextvars
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
from prefect.states import Failed, State  # noqa: E402
from prefect.utilities.annotations import opaque  # noqa: E402

from core.text import shorten  # noqa: E402
from flows.config.loader import load_config  # noqa: E402
from flows.pipeline.groups import host_groups, run_groups, shards, workers_per_shard  # noqa: E402
from flows.pipeline.ingest import ingest_run, selected_sources  # noqa: E402
from flows.pipeline.runner import Runner  # noqa: E402
from flows.pipeline.summary import SourceReport, needs_attention_line, shard_attention, source_line_of  # noqa: E402
from storage.outbox import OutboxEntry  # noqa: E402

# Up to this many sources, a run shows one task per source and stage, and its flow run is
# tagged `source:NAME` per source; beyond, one task per shard of sources (see `each_source`):
# the Prefect server records 25-30 task runs a second, and a flow run may have at most 100
# related resources (its tags among them).
PER_SOURCE_TASKS = 20
SHARDS = 8  # tasks of a larger run's sources
ATTENTION_PREFIX = "needs attention: "  # the message of a flow run that ended Failed for it
# End-of-run stages that return (sent or written, errors): their task run fails on an error.
END_STAGES = {
    "alerts": "alert email(s) not sent",
    "health-alerts": "health email(s) not sent",
    "feeds": "feed error(s)",
}


class _ReturnedStateLine(logging.Filter):
    """Drops Prefect's "Task run failed with state: Failed(...)" record, and its "NoneType:
    None" (a traceback of no exception), for a task that returned its Failed state: the next
    record, "Finished in state Failed('...')", says the same in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Task run failed with state: ")


logging.getLogger("prefect.task_runs").addFilter(_ReturnedStateLine())


class _AttentionIsNoCrash(logging.Filter):
    """In a deployment run's process (`serve`, a worker), Prefect's engine takes the flow
    run's result, raises the FailedRun of a Failed state and logs it as "Engine execution
    exited with unexpected exception" with a 30-line traceback. For a run that ended Failed
    because it needs attention that is no crash: the line "Finished in state Failed('needs
    attention: ...')" before it says all; the record is dropped (other exceptions stay)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (
            "exited with unexpected exception" in str(record.msg)
            and type(error).__name__ == "FailedRun"
            and str(error).startswith(ATTENTION_PREFIX)
        )


for _name in ("prefect.flow_runs", "prefect.engine"):  # the run's logger, then the engine's
    logging.getLogger(_name).addFilter(_AttentionIsNoCrash())

# Inside a shard's task: the sources' stages run as plain calls, their per-stage lines go to
# DEBUG (the source's summary line, its warnings and errors stay).
_in_shard: contextvars.ContextVar[bool] = contextvars.ContextVar("newswatch_in_shard", default=False)


class PrefectRunner(Runner):
    """Each stage a Prefect task; the sources in parallel, one task each, on the flow's task
    runner; a run of more than `PER_SOURCE_TASKS` sources in `SHARDS` tasks."""

    def __init__(self, parallel_hosts: int = 8) -> None:
        self.parallel_hosts = parallel_hosts

    def stage(self, name, source, fn, *args):
        if source and _in_shard.get():
            return fn(*args)
        task_name = f"{name}-{source}" if source else name
        # `opaque`: Prefect does not walk the arguments (a thousand pages, the fetcher) looking
        # for futures to resolve.
        if source is None and name in END_STAGES:
            done: list = []
            state = _task(_end_stage).with_options(name=task_name)(
                opaque(fn), opaque(args), opaque(done), name, return_state=True
            )
            return done[0] if done else state.result()  # what the stage raised, raised
        return _task(fn).with_options(name=task_name)(*[opaque(a) for a in args])

    def each_source(self, fn, sources) -> list[SourceReport]:
        if len(sources) > PER_SOURCE_TASKS:
            return self._in_shards(fn, sources)
        # Task runs carry no tags: Prefect asks the server for a concurrency slot per tag of
        # every task run, and those requests serialised the sources (bench/ingest.py). The
        # flow run is tagged instead.
        done: dict[str, SourceReport] = {}
        futures = [
            _task(_source).with_options(name=f"source-{s.name}").submit(opaque(fn), opaque(s), opaque(done))
            for s in sources
        ]
        reports = []
        for source, future in zip(sources, futures, strict=True):
            future.wait()
            if source.name in done:  # its task run Completed, or Failed on the source's state
                reports.append(done[source.name])
                continue
            try:
                future.result()
                message = "the source's task returned no report"
            except Exception as e:  # noqa: BLE001 - run_source reports its stages' failures; this is a bug
                message = f"the source's task failed: {type(e).__name__}: {e}"
            self.logger().error("%s: %s", source.name, message)
            reports.append(SourceReport(source=source.name, failed=message))
        return reports

    def _in_shards(self, fn, sources) -> list[SourceReport]:
        """One task per shard (`flows.pipeline.groups`: a host's sources in one shard), each
        working on `parallel_hosts / SHARDS` hosts at a time; the reports in source order."""
        parts = shards(host_groups(sources), SHARDS)
        workers = workers_per_shard(self.parallel_hosts, len(parts))
        done: dict[int, list[SourceReport]] = {}
        futures = [
            _task(_shard)
            .with_options(name=f"sources-{i + 1}-of-{len(parts)}")
            .submit(opaque(fn), opaque(part), workers, opaque(self.logger()), i, opaque(done))
            for i, part in enumerate(parts)
        ]
        by_name: dict[str, SourceReport] = {}
        for i, (part, future) in enumerate(zip(parts, futures, strict=True)):
            future.wait()
            reports = done.get(i)
            if reports is None:
                try:
                    future.result()
                    problem = "returned no report"
                except Exception as e:  # noqa: BLE001 - a shard's task failed (a bug): its sources are reported failed
                    problem = f"failed: {type(e).__name__}: {e}"
                reports = [
                    SourceReport(source=s.name, failed=f"its shard's task {problem}") for group in part for s in group
                ]
            by_name.update((r.source, r) for r in reports)
        return [by_name[s.name] for s in sources]

    def on_cluster(self, address, remote) -> list[SourceReport]:
        """The sources' discovery, fetching and cleaning on the Dask cluster at `address`: one
        task per shard of whole host groups (`flows/orchestration/dask_runner.py`), each
        shard's pages stored here as its task completes; a large run's sources one line each."""
        from flows.orchestration.dask_runner import on_dask

        many = len(remote.sources) > PER_SOURCE_TASKS
        log = self.logger()

        def stored(work, worked) -> list[SourceReport]:
            _in_shard.set(many)
            reports = remote.store(worked)
            if many:
                for report in reports:
                    log.info("%s", source_line_of(report))
            return reports

        return on_dask(address, remote, log, _task(_remote_shard), stored)

    def logger(self) -> logging.Logger | logging.LoggerAdapter:
        try:
            log = get_run_logger()
        except MissingContextError:
            log = super().logger()
        return _Detail(log) if _in_shard.get() else log

    def matched(self, matches: list[OutboxEntry]) -> None:
        from flows.orchestration.events import emit_match_events

        emit_match_events(matches)


def _source(fn, source, done: dict[str, SourceReport]) -> SourceReport | State:
    """A source's task: its report, in `done` too; a Failed state when it needs attention."""
    report = fn(source)
    done[source.name] = report
    line = needs_attention_line(report)
    return Failed(message=line) if line else report


def _shard(
    fn, groups, workers: int, log, index: int, done: dict[int, list[SourceReport]]
) -> list[SourceReport] | State:
    """A shard's task: its host groups, `workers` at a time; one line per source in its log.
    Its reports go in `done[index]`; a Failed state when one of its sources needs attention."""
    _in_shard.set(True)

    def source_line(source) -> SourceReport:
        report = fn(source)
        log.info("%s", source_line_of(report))
        return report

    reports = run_groups(source_line, groups, workers)
    done[index] = reports
    attention = shard_attention(reports)
    return Failed(message=attention) if attention else reports


def _end_stage(fn, args: tuple, done: list, name: str) -> tuple[int, list[str]] | State:
    """An end-of-run stage's task (`END_STAGES`): its result, in `done` too; a Failed state
    with the first error when there is one."""
    result = fn(*args)
    done.append(result)
    _, errors = result
    if errors:
        return Failed(message=shorten(f"{len(errors)} {END_STAGES[name]}: {errors[0]}"))
    return result


def _remote_shard(work, desk: str, detail: bool):
    """A shard's task, on a Dask worker (`flows.orchestration.dask_runner.work_on_worker`); a
    large run's per-stage lines at DEBUG."""
    from flows.orchestration.dask_runner import work_on_worker

    log = get_run_logger()
    return work_on_worker(work, desk, _Detail(log) if detail else log)


class _Detail(logging.LoggerAdapter):
    """A source's per-stage lines inside a shard: INFO becomes DEBUG (a thousand sources would
    send five thousand lines to the Prefect API); warnings and errors stay as they are."""

    def log(self, level, msg, *args, **kwargs):
        self.logger.log(logging.DEBUG if level == logging.INFO else level, msg, *args, **kwargs)

    def info(self, msg, *args, **kwargs):
        self.log(logging.INFO, msg, *args, **kwargs)


@functools.cache
def _task(fn):
    return task(fn, cache_policy=NO_CACHE, persist_result=False)


def _run_name() -> str:
    # To the second: two runs in one minute (a schedule and a manual run) get distinct names.
    return "ingest-" + datetime.now().strftime("%Y-%m-%dT%H:%M:%S")


@flow(name="ingest", flow_run_name=_run_name, persist_result=False, log_prints=False)
def ingest(config_path: str | None = None, sources: list[str] | None = None, recheck: bool = False) -> dict | State:
    """One ingestion run of the configured sources; returns the summary (see IngestSummary),
    or a Failed state ("needs attention: ...") when the run needs attention (`summary_of`
    gives the summary from the flow run's final state, in this process)."""
    from prefect.runtime import flow_run

    config = load_config(config_path)
    names = [s.name for s in selected_sources(config, sources)]
    if len(names) <= PER_SOURCE_TASKS:
        _tag_run_with_sources(names)
    summary = ingest_run(
        config,
        sources,
        recheck=recheck,
        holder=f"flow-run:{flow_run.id}" if flow_run.id else None,
        runner=PrefectRunner(config.max_parallel_hosts),
    )
    from flows.orchestration.artifacts import publish_ingest_artifacts

    publish_ingest_artifacts(summary)  # first: what worked stays visible, whatever the state
    data = summary.to_dict()
    _remember(str(flow_run.id), data)
    if data["attention"]:
        return Failed(message=attention_message(data["attention"]))
    return data


# The summaries of this process's flow runs, by id: what `summary_of` reads, not the final
# state's data. Prefect resolves a Failed state's data into an exception (a deployment run's
# process printed a TypeError traceback for a dict), and a Completed state the server sent
# back has none: when setting the final state timed out (a Prefect server on SQLite, its
# database locked for 60 s) and was tried again, `state.result()` raised MissingResult, and a
# run that had stored every page ended with exit 1 and no summary. The last few only: `serve`
# runs flows in one process for months, and nobody reads its summaries back.
_summaries: dict[str, dict] = {}
_KEPT_SUMMARIES = 16


def _remember(flow_run_id: str, data: dict) -> None:
    _summaries[flow_run_id] = data
    while len(_summaries) > _KEPT_SUMMARIES:
        _summaries.pop(next(iter(_summaries)))


def attention_message(reasons: list[str]) -> str:
    """The message of the Failed state of a run that needs attention."""
    return shorten(ATTENTION_PREFIX + "; ".join(reasons))


def summary_of(state: State) -> dict | None:
    """The summary of an `ingest` flow run of this process from its final state: a Completed
    run's result, or the summary of one that ended Failed for needing attention; None when the
    run could not complete (crashed, cancelled, failed on an exception)."""
    kept = _summaries.pop(str(state.state_details.flow_run_id), None)
    if state.is_completed():
        return kept if kept is not None else state.result()
    if state.is_failed():
        return kept
    return None


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
    and why is printed as `newswatch COMMAND: ...`, when the run could not complete. Prefect's
    temporary server, when one is needed, is this process's child (`prefect_for_this_run`: it
    dies with it, a SIGTERM stops it first, it is stopped after the client's last events)."""
    from flows.orchestration.server import prefect_for_this_run

    with prefect_for_this_run():
        state = ingest(config_path=config_path, return_state=True, **params)
    summary = summary_of(state)
    if summary is None:
        try:
            state.result()
        except Exception as e:  # noqa: BLE001 - whatever failed the flow run, it is said in one line
            print(f"newswatch {command}: the run could not complete: {e}", file=sys.stderr)
    return summary, state.state_details.flow_run_id
