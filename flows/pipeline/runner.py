"""How the stages of a run are executed (`Runner`: directly, sources one after the other;
`flows/orchestration/ingest_flow.py` makes each stage a Prefect task), and how its emails are
sent (`Delivery`)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol, TypeVar

from alerts.email import OncePerRun, send_email
from flows.pipeline.channels import Channel, Stage, overlap
from flows.pipeline.context import RunSource
from flows.pipeline.summary import SourceReport
from storage.outbox import OutboxEntry

T = TypeVar("T")


class Remote(Protocol):
    """The run's side of remote work (`flows.pipeline.remote.RemoteRun`)."""

    def in_process(self, log: logging.Logger | logging.LoggerAdapter) -> list[SourceReport]: ...


class Runner:
    """How the stages of a run are executed. This one: directly, sources one after the other.

    `flows/ingest.py` subclasses it to make each stage a Prefect task and run the sources in
    parallel; the fault suite subclasses it to print `checkpoint`s, the points where a kill
    must leave a consistent archive.
    """

    def stage(self, name: str, source: str | None, fn: Callable[..., T], *args: Any) -> T:
        """Run one stage of one source (`source` None: a stage of the whole run)."""
        return fn(*args)

    def each_source(self, fn: Callable[[RunSource], SourceReport], sources: list[RunSource]) -> list[SourceReport]:
        return [fn(source) for source in sources]

    def overlap(self, source: str, stages: list[Stage], channels: list[Channel]) -> list[Any]:
        """One source's stages at the same time, each through `stage` in a thread of its own;
        their results. A stage that raises stops the others (`channels` are aborted) and is
        raised as `flows.streaming.StageFailed`."""

        def call(s: Stage) -> Any:
            result = self.stage(s.name, source, s.fn, *s.args)
            if s.done:
                self.checkpoint(s.done, source)
            return result

        return overlap([(s.name, functools.partial(call, s)) for s in stages], channels)

    def on_cluster(self, address: str, remote: Remote) -> list[SourceReport]:
        """The sources' discovery, fetching and cleaning on the Dask cluster at `address`, their
        storing here (`flows.pipeline.remote.RemoteRun`). This one: the same path, in this
        process (no cluster; for tests); `flows/orchestration/ingest_flow.py` sends the shards
        to the cluster as Prefect tasks."""
        return remote.in_process(self.logger())

    def logger(self) -> logging.Logger | logging.LoggerAdapter:
        return logging.getLogger("newswatch.ingest")

    def matched(self, matches: list[OutboxEntry]) -> None:
        """Outbox rows a committed batch added (Prefect emits events for them)."""

    def checkpoint(self, step: str, source: str | None = None) -> None:
        """A step of the run is durable (`leased`, `discovered`, `stored`, `state`, `recorded`...)."""


@dataclass(frozen=True)
class Delivery:
    """How alert and health emails are sent: the SMTP call, the wait between retries, the clock."""

    send: Callable = send_email
    retry_delay: float = 5.0
    now: datetime | None = None

    def for_run(self) -> Delivery:
        """This delivery for one run: an SMTP server that times out or cannot be reached is
        tried once in the run, not again by each later email (`alerts.email.OncePerRun`)."""
        return replace(self, send=OncePerRun(self.send))
