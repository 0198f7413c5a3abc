"""How a run's sources are spread: by host (`host_groups`: the sources of one host one after
the other, so they never compete for its politeness gate while other hosts wait), groups in
`shards` (a Prefect task or a Dask task each), a shard's groups on a few threads
(`run_groups`).

A thousand sources were a thousand Prefect task runs plus four per stage, all started at
once: the server records 25-30 task runs a second, and every source held threads, a
connection and its pages at the same time. Now at most `max_parallel_hosts` hosts are worked
on at once, and a large run has a handful of task runs.
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from core.urls import host_key
from flows.pipeline.context import RunSource
from flows.pipeline.summary import SourceReport

Group = list[RunSource]  # the sources of one host, in config order
R = TypeVar("R")


def host_groups(sources: list[RunSource]) -> list[Group]:
    """The sources by the host of their URL (`scheme://host:port`), in order of first appearance."""
    groups: dict[str, Group] = {}
    for source in sources:
        groups.setdefault(host_key(source.url), []).append(source)
    return list(groups.values())


def shards(groups: list[Group], count: int) -> list[list[Group]]:
    """`groups` spread over at most `count` shards of about as many sources each: the largest
    group first to the shard holding fewest sources; a host's group is never split."""
    count = max(1, min(count, len(groups)))
    bins: list[list[Group]] = [[] for _ in range(count)]
    sizes = [0] * count
    for group in sorted(groups, key=len, reverse=True):
        i = sizes.index(min(sizes))
        bins[i].append(group)
        sizes[i] += len(group)
    return [b for b in bins if b]


def run_groups(
    fn: Callable[[RunSource], R],
    groups: list[Group],
    workers: int,
    failed: Callable[[RunSource, Exception], R] | None = None,
) -> list[R]:
    """Each group's sources one after the other, `workers` groups at a time (threads that
    start with the caller's context: Prefect finds its task run there); the results in
    source order. A source whose call raises (a bug: `run_source` reports its stages'
    failures) gets `failed(source, error)` (by default a failed `SourceReport`); its group
    goes on."""
    on_error: Callable[[RunSource, Exception], Any] = failed or _failed_report

    def one_group(group: Group) -> list[R]:
        return [_result(fn, source, on_error) for source in group]

    if not groups:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(groups))), thread_name_prefix="sources") as pool:
        futures = [pool.submit(contextvars.copy_context().run, one_group, group) for group in groups]
        return [report for future in futures for report in future.result()]


def _result(fn: Callable[[RunSource], R], source: RunSource, failed: Callable[[RunSource, Exception], R]) -> R:
    try:
        return fn(source)
    except Exception as e:  # noqa: BLE001 - one source's bug must not end the others
        return failed(source, e)


def _failed_report(source: RunSource, e: Exception) -> SourceReport:
    return SourceReport(source=source.name, failed=f"the source's run failed: {type(e).__name__}: {e}")


def workers_per_shard(parallel: int, shard_count: int) -> int:
    return max(1, math.ceil(parallel / max(1, shard_count)))
