"""A run's sources on a Dask cluster through Prefect (`execution: {dask: "tcp://HOST:8786"}`).

The sources go in shards of whole host groups (`flows.pipeline.remote.RemoteRun.shards`),
each shard one Prefect task run submitted with prefect-dask's `DaskTaskRunner` to the
scheduler at the configured address: a worker discovers, fetches and cleans its sources
(`work_shard`); the run's process answers its questions (`_DeskServer`: which URLs are
known, which pages a source fetches: through Dask queues, on the scheduler every worker
and the run's process already reach) and stores each shard's pages as its task completes.

The workers need newswatch installed (`pip install 'newswatch[dask]'`, the same version as
the run's), and `PREFECT_API_URL` pointing at the Prefect server the run uses (their task
runs and log lines are recorded there). Starting a scheduler and workers: README, "Scaling".
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flows.pipeline.remote import Ask, RemoteRun, ShardWork, Worked, work_shard
from flows.pipeline.summary import SourceReport

ASK_TIMEOUT = 600.0  # seconds a worker waits for the run's answer before its source fails
SHARDS_PER_THREAD = 2  # shards per worker thread of the cluster: a dead worker costs a smaller one
ANSWERING = 8  # the run's threads answering the workers' questions


def on_dask(
    address: str,
    remote: RemoteRun,
    log: logging.Logger | logging.LoggerAdapter,
    shard_task: Any,
    stored: Any,
) -> list[SourceReport]:
    """`remote`'s sources on the cluster at `address`: one Prefect task (`shard_task`, made of
    `work_on_worker`) per shard; each shard's results stored as it completes (`stored(work,
    worked)` -> its reports, called in a thread of the run's process). Reports in source order."""
    from prefect_dask import DaskTaskRunner

    with DaskTaskRunner(address=address) as task_runner:
        client = task_runner.client
        threads = sum(client.nthreads().values())
        if not threads:
            log.info("dask: no worker connected to %s yet: waiting for one", address)
            client.wait_for_workers(1, timeout=ASK_TIMEOUT)
            threads = sum(client.nthreads().values())
        works = remote.shards(max(1, SHARDS_PER_THREAD * threads), remote.fetch.max_parallel_hosts)
        log.info(
            "dask: %d source(s) in %d task(s) on %s (%d worker(s), %d thread(s))",
            len(remote.sources),
            len(works),
            address,
            len(client.nthreads()),
            threads,
        )
        desk = f"newswatch-desk-{uuid.uuid4().hex}"
        with _DeskServer(client, desk, remote.desk.answer, log):
            futures = [
                task_runner.submit(
                    shard_task.with_options(name=f"sources-{i + 1}-of-{len(works)}"),
                    {"work": work, "desk": desk, "detail": len(remote.sources) > 20},
                )
                for i, work in enumerate(works)
            ]

            def one(work: ShardWork, future: Any) -> list[SourceReport]:
                try:
                    worked = future.result()
                except Exception as e:  # noqa: BLE001 - the shard's task failed for good (its workers died)
                    message = f"its task on the Dask cluster failed: {type(e).__name__}: {e}"
                    return remote.failed(work, message)
                reports = stored(work, worked)
                _failed_if_attention(future, reports, log)
                return reports

            with ThreadPoolExecutor(max_workers=len(works), thread_name_prefix="dask-results") as pool:
                parts = [
                    pool.submit(contextvars.copy_context().run, one, work, future)
                    for work, future in zip(works, futures, strict=True)
                ]
                by_name = {r.source: r for part in parts for r in part.result()}
    return [by_name[s.name] for s in remote.sources]


def _failed_if_attention(future: Any, reports: list[SourceReport], log: logging.Logger | logging.LoggerAdapter) -> None:
    """A shard's task ran on a worker and ended Completed; what its sources did is known once
    stored here. A shard with a source that FAILED or yields nothing is then set Failed, with
    the message a local shard's task would have (flows/orchestration/ingest_flow.py)."""
    from flows.pipeline.summary import shard_attention

    message = shard_attention(reports)
    if message is None:
        return
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.states import Failed

    try:
        with get_client(sync_client=True) as client:
            # The server records a task run from its events, a moment after its future
            # resolved: its Completed state is waited for, then replaced.
            deadline = time.monotonic() + RECORDED_WITHIN
            while True:
                try:
                    recorded = client.read_task_run(future.task_run_id)
                except ObjectNotFound:
                    recorded = None
                if (recorded is not None and recorded.state is not None and recorded.state.is_final()) or (
                    time.monotonic() > deadline
                ):
                    break
                time.sleep(0.2)
            client.set_task_run_state(future.task_run_id, Failed(message=message), force=True)
    except Exception as e:  # noqa: BLE001 - the run goes on; its summary and flow run state say it all the same
        log.warning("dask: could not set the state of the task of %s: %s", ", ".join(r.source for r in reports), e)


RECORDED_WITHIN = 15.0  # seconds for the server to record a shard's task run from its events


def work_on_worker(work: ShardWork, desk: str, log: logging.Logger | logging.LoggerAdapter) -> list[Worked]:
    """A shard, on a Dask worker: its questions asked of the run's process through the queue
    `desk`, one reply queue per thread."""
    from distributed import Queue, get_client

    client = get_client()
    requests = Queue(desk, client=client)
    local = threading.local()
    replies: list[Queue] = []
    lock = threading.Lock()

    def ask(op: str, payload: dict) -> Any:
        reply = getattr(local, "reply", None)
        if reply is None:
            reply = local.reply = Queue(f"{desk}-{uuid.uuid4().hex}", client=client)
            with lock:
                replies.append(reply)
        requests.put({"reply": reply.name, "op": op, "payload": payload})
        answer = reply.get(timeout=ASK_TIMEOUT)
        if "error" in answer:
            raise RuntimeError(f"the run's process could not answer ({op}): {answer['error']}")
        return answer["answer"]

    try:
        return work_shard(work, ask, log)
    finally:
        for reply in replies:
            reply.close()


class _DeskServer:
    """The run's process answering its workers: requests from the queue `name`, each answered
    (`answer(op, payload)`) in a thread of its own into the reply queue it names."""

    def __init__(self, client: Any, name: str, answer: Ask, log: logging.Logger | logging.LoggerAdapter) -> None:
        self.client, self.name, self.answer, self.log = client, name, answer, log
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="newswatch-dask-desk", daemon=True)
        self._replies: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> _DeskServer:
        from distributed import Queue

        self._requests = Queue(self.name, client=self.client)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._requests.close()

    def _serve(self) -> None:
        with ThreadPoolExecutor(max_workers=ANSWERING, thread_name_prefix="dask-desk") as pool:
            while not self._stop.is_set():
                try:
                    request = self._requests.get(timeout=0.5)
                except TimeoutError:
                    continue
                except Exception as e:  # noqa: BLE001 - the scheduler went away: the tasks fail and say so
                    if not self._stop.is_set():
                        self.log.error("dask: cannot read the workers' questions: %s: %s", type(e).__name__, e)
                        self._stop.wait(1.0)
                    continue
                pool.submit(self._answer, request)

    def _answer(self, request: dict) -> None:
        from distributed import Queue

        try:
            body = {"answer": self.answer(request["op"], request["payload"])}
        except Exception as e:  # noqa: BLE001 - the worker is told, its source fails with it
            self.log.error("dask: a worker's question (%s) failed: %s: %s", request.get("op"), type(e).__name__, e)
            body = {"error": f"{type(e).__name__}: {e}"}
        with self._lock:
            reply = self._replies.get(request["reply"])
            if reply is None:
                reply = self._replies[request["reply"]] = Queue(request["reply"], client=self.client)
        reply.put(body)
