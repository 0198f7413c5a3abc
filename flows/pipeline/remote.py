"""A run's sources worked on elsewhere (Dask workers: `flows/orchestration/dask_runner.py`),
their pages stored here, by the run's one writer.

    remote = RemoteRun(...)                  # in `run_sources`, when `execution: {dask: ...}` is set
    works = remote.shards(count)             # `ShardWork`s: whole host groups, what their sources need
    worked = work_shard(work, ask, log)      # on a worker: discover, plan (asked), fetch, clean
    reports = remote.store(worked)           # here: dedup, store, alerts, claims, as a local run does

What goes where. A worker discovers, fetches and cleans; it reads nothing of the archive.
"Which of these URLs are known?" and "which pages do I fetch?" (the run's claims,
`max_new_per_run`, the pages kept waiting by earlier runs) are asked of the run's process
(`ask(op, payload)`, answered by `Desk.answer`, small lists of strings). The sources of one
host are in one shard, so one task, on one worker: its politeness gate holds across machines.
What a shard cleaned comes back whole with its task's result and is stored here as a local
run stores it (`store_stream`: batches, one transaction each, the alert outbox, the claims
settled, the immediate emails), then the sources' waiting pages and discovery validators
(`remember_pages`). The run's process stays the only writer of the archive.

A worker that dies mid-shard: Dask runs the task again on another worker (and Prefect its
task run). Nothing of the shard was stored; its sources ask again for their plans and get the
same ones (`Desk` keeps each source's first), so their pages are fetched once more and stored
once. A shard whose task fails for good (Dask gives up after
`distributed.scheduler.allowed-failures` deaths) is reported failed for its sources: nothing
of theirs is stored, their validators are not kept, and the next run finds their pages again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from alerts.settings import AlertRule
from flows.pipeline.channels import Channel, Stage, StageFailed
from flows.pipeline.claims import Plan, UrlClaims
from flows.pipeline.cleaner import Cleaner
from flows.pipeline.context import Archives, RunSource, UrlLedger
from flows.pipeline.groups import Group, host_groups, run_groups, shards
from flows.pipeline.runner import Runner
from flows.pipeline.source import (
    PAGES_WAITING,
    failed_report,
    log_discovery,
    log_plan,
    reported,
    stage_failure,
    stage_of,
)
from flows.pipeline.stages import clean_stream, fetch_stream, plan_source, remember_pages, store_stream, template_of
from flows.pipeline.summary import SourceReport
from flows.pipeline.writer import ArchiveWriter
from scrapers.discover import Discovery, discover
from scrapers.fetch import Fetcher, FetchResult, FetchSettings, Validators
from scrapers.links import Candidate
from scrapers.template import SourceTemplate
from storage import fetchstate
from storage.outbox import OutboxEntry
from storage.outcomes import PageOutcome
from storage.records import Incoming

# (op, payload) -> answer, asked of the run's process; payloads and answers are lists, dicts,
# strings and numbers (they travel through the Dask scheduler).
Ask = Callable[[str, dict], Any]
Outcome = tuple[str, Incoming | PageOutcome]  # the URL asked for, what its page became


@dataclass(frozen=True)
class SourceState:
    """What a source's discovery and cleaning need of the archive, read before the shard goes."""

    validators: dict[str, tuple[str | None, str | None]]  # discovery documents' ETag, Last-Modified
    template: SourceTemplate  # its learned template


@dataclass
class ShardWork:
    """One task's work: whole host groups (a host's sources together, one after the other)."""

    groups: list[Group]
    fetch: FetchSettings
    states: dict[str, SourceState]
    recheck: bool
    workers: int  # host groups at a time

    @property
    def sources(self) -> list[RunSource]:
        return [s for group in self.groups for s in group]


@dataclass
class Worked:
    """What a worker did for one source: its discovery, its pages fetched and cleaned (in
    order, each with the URL asked for), or the stage that failed."""

    source: str
    found: Discovery | None = None
    fetched: int = 0
    failed: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    failure: str | None = None  # "fetch stage failed: ..." (nothing of it is stored)


# ------------------------------------------------------------------------- on the worker ---


def work_shard(work: ShardWork, ask: Ask, log: logging.Logger | logging.LoggerAdapter) -> list[Worked]:
    """A shard's sources, `work.workers` host groups at a time: discovered, planned (asked),
    fetched and cleaned; in source order. Cleaning in the worker's own threads: a Dask worker
    is one process (run several per machine: `dask worker --nworkers`)."""
    with Fetcher(work.fetch) as fetcher, Cleaner(1) as cleaner:
        return run_groups(
            lambda source: work_source(source, fetcher, cleaner, work.states[source.name], ask, work.recheck, log),
            work.groups,
            work.workers,
            failed=lambda source, e: Worked(source.name, failure=f"the source's run failed: {type(e).__name__}: {e}"),
        )


def work_source(
    source: RunSource,
    fetcher: Fetcher,
    cleaner: Cleaner,
    state: SourceState,
    ask: Ask,
    recheck: bool,
    log: logging.Logger | logging.LoggerAdapter,
) -> Worked:
    name = source.name
    worked = Worked(name)
    fetcher = fetcher.for_source(source.url)
    try:
        with stage_of("discover"):
            validators = {} if recheck else {url: Validators(*v) for url, v in state.validators.items()}
            found = discover(
                source.spec,
                fetcher,
                validators=validators,
                is_known=lambda urls: set(ask("known", {"source": name, "urls": list(urls)})),
            )
            worked.found = found
            log_discovery(log, name, found)
            urls = ask(
                "plan",
                {
                    "source": name,
                    "kind": found.kind,
                    "candidates": [[c.url, c.lastmod, c.title] for c in found.candidates],
                },
            )
        pages: Channel[FetchResult] = Channel(PAGES_WAITING)
        outcomes: Channel[Outcome] = Channel(PAGES_WAITING)
        (worked.fetched, worked.failed), _, worked.outcomes = Runner().overlap(
            name,
            [
                Stage("fetch", fetch_stream, (fetcher, urls, pages)),
                Stage("clean", clean_stream, (source, pages, outcomes, found.kind, state.template, cleaner, len(urls))),
                Stage("collect", list, (outcomes,)),
            ],
            [pages, outcomes],
        )
    except StageFailed as e:
        worked.failure = stage_failure(e.stage, e.error)
        log.error("%s: %s", name, worked.failure)
        return worked
    log.info("%s: fetch: %d page(s), %d failed", name, worked.fetched - worked.failed, worked.failed)
    return worked


# ----------------------------------------------------------------------- in the run's process ---


class Desk:
    """The run's answers to its workers: which URLs are known (the archive, the pages not due,
    the claims of the run's other sources: `UrlLedger.known`), and each source's plan
    (`plan_source`: its claims taken, once: asked again, after a worker died, the same plan)."""

    def __init__(self, sources: dict[str, RunSource], archives: Archives, claims: UrlClaims, recheck: bool) -> None:
        self.sources, self.archives, self.claims, self.recheck = sources, archives, claims, recheck
        self._lock = threading.Lock()
        self._ledgers: dict[str, UrlLedger] = {}
        self._plans: dict[str, Plan] = {}
        self._planning: dict[str, threading.Lock] = {}

    def answer(self, op: str, payload: dict) -> Any:
        name = payload["source"]
        if op == "known":
            return sorted(self.ledger(name).known(payload["urls"]))
        if op == "plan":
            candidates = [Candidate(url, lastmod, title) for url, lastmod, title in payload["candidates"]]
            return self.plan(name, payload["kind"], candidates).urls
        raise ValueError(f"no such question: {op!r}")

    def ledger(self, name: str) -> UrlLedger:
        with self._lock:
            ledger = self._ledgers.get(name)
            if ledger is None:
                ledger = self._ledgers[name] = UrlLedger(
                    self.sources[name], self.archives, self.claims, recheck=self.recheck
                )
            return ledger

    def plan(self, name: str, kind: str | None, candidates: list[Candidate]) -> Plan:
        with self._lock:
            lock = self._planning.setdefault(name, threading.Lock())
        with lock:
            plan = self._plans.get(name)
            if plan is None:
                found = Discovery(source=name, kind=kind, candidates=candidates)  # type: ignore[arg-type]
                plan = plan_source(self.sources[name], found, self.archives, self.ledger(name), self.claims)
                self._plans[name] = plan
            return plan

    def planned(self, name: str) -> Plan | None:
        with self._lock:
            return self._plans.get(name)


@dataclass
class RemoteRun:
    """The run's side of remote work: the shards to send, the answers, the storing."""

    sources: list[RunSource]  # the leased sources, in order
    desk: Desk
    fetch: FetchSettings
    rules: list[AlertRule]
    writer: ArchiveWriter
    runner: Runner
    committed: Callable[[list[OutboxEntry]], None] | None = None

    @property
    def archives(self) -> Archives:
        return self.desk.archives

    def shards(self, count: int, workers: int) -> list[ShardWork]:
        """The sources in at most `count` shards of whole host groups, each with what its
        sources need of the archive; `workers`: host groups a shard works on at a time."""
        works = []
        for part in shards(host_groups(self.sources), count):
            states = {}
            with self.archives.reading() as archive:
                for group in part:
                    for source in group:
                        states[source.name] = SourceState(
                            {} if self.desk.recheck else fetchstate.validators(archive, source.name),
                            template_of(archive, source.name),
                        )
            works.append(ShardWork(part, self.fetch, states, self.desk.recheck, workers))
        return works

    def store(self, worked: list[Worked]) -> list[SourceReport]:
        """A shard's results stored, source by source, as a local run stores them."""
        return [self.store_source(w) for w in worked]

    def store_source(self, worked: Worked) -> SourceReport:
        runner, name = self.runner, worked.source
        source = self.desk.sources[name]
        plan = self.desk.planned(name)
        if worked.failure is not None or worked.found is None or plan is None:
            return failed_report(runner, name, worked.failure or "discover stage failed: no plan was asked")
        found = worked.found
        log_plan(runner.logger(), source, plan)
        ledger = self.desk.ledger(name)
        pages: Channel[Outcome] = Channel(len(worked.outcomes) + 1)
        for outcome in worked.outcomes:
            pages.put(outcome)
        pages.close()
        try:
            with stage_of("store"):
                cleaned, stored, owed = store_stream(
                    self.writer, source, pages, self.rules, ledger, self.desk.claims, plan, runner, self.committed
                )
                self.writer.call(remember_pages, source, found, plan.waiting, owed)
        except StageFailed as e:
            return failed_report(runner, name, stage_failure(e.stage, e.error))
        runner.checkpoint("state", name)
        log = runner.logger()
        log.info(
            "%s: clean: %d article(s), %d not article(s) or unreadable", name, len(cleaned.items), len(cleaned.outcomes)
        )
        return reported(runner, self.archives, name, found, plan, cleaned, stored)

    def in_process(self, log: logging.Logger | logging.LoggerAdapter) -> list[SourceReport]:
        """The remote path without a cluster (the plain `Runner`'s, for tests): each shard
        worked on here, its questions answered by the desk directly, then stored."""
        reports: list[SourceReport] = []
        for work in self.shards(1, self.fetch.max_parallel_hosts):
            reports += self.store(work_shard(work, self.desk.answer, log))
        return reports

    def failed(self, work: ShardWork, message: str) -> list[SourceReport]:
        """A shard whose task failed for good: each of its sources reported failed."""
        return [failed_report(self.runner, s.name, message) for s in work.sources]
