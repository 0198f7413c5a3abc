"""What runs in a cleaning process: the pool's workers (`worker_start`, `in_worker`), the warm-up
of both kinds, and the main loop of the cleaner's own process (`own_process`, started by
`flows/pipeline/clean_process.py`, with the pickles framed on its pipes: `send`, `receive`).
Only the standard library at import: a child imports the cleaner when it unpickles the
cleaning function (`flows/pipeline/clean_stage.py`) or warms up."""

from __future__ import annotations

import faulthandler
import multiprocessing
import multiprocessing.context
import os
import pickle
import signal
import struct
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

R = TypeVar("R")
BACKSTOP_SECONDS = 10.0  # past a page's deadline, an own process nobody killed ends itself
UNPICKLING_SECONDS = 0.05  # a request unpickled slower than this (an import) says when its page starts
HEADER = struct.Struct("!Q")  # each message on the own process's pipes: its length, then its pickle

PRELOAD = "flows.pipeline.clean_preload"  # what the workers' fork server imports
_ARGS: dict[str, tuple] = {}  # the last few argument sets sent, by key


def worker_context() -> multiprocessing.context.BaseContext:
    """How the pool's workers start: forked from a fork server that imported and warmed the
    cleaner once (`flows/pipeline/clean_preload.py`), where there is one; else each a fresh
    interpreter (`spawn`). Never a plain `fork` of the run's process: it has threads (Prefect's
    among them), which a fork would copy in whatever state they are in."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([PRELOAD])  # no effect once the server runs: it has them
    return context


def start_fork_server() -> None:
    """The workers' fork server started now, in the background (it imports and warms the
    cleaner: 0.5 s of a CPU), so that a pool, if the run comes to need one, forks warm workers
    at once instead of waiting for it. It ends with this process."""
    if worker_context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        try:
            forkserver.ensure_running()
        except OSError:
            pass  # the pool's start tries again, and falls back to the own process if it fails


def worker_start() -> None:
    """Worker initializer: Ctrl-C is the run's business; exit when the run's process is gone
    (a killed process cannot shut its pool down, and the workers would wait forever)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The run's process, whether it spawned the worker or had the fork server fork it: its end
    # of the pipe the worker was started through closes when it exits, even killed. (Not the
    # parent process: a fork server's workers are its children, and it ends only after them.)
    run = multiprocessing.parent_process()
    if run is None:  # not a process multiprocessing started: nobody to outlive
        return

    def watch() -> None:
        run.join()
        os._exit(1)

    threading.Thread(target=watch, name="newswatch-parent-watch", daemon=True).start()


def warm_up() -> int:
    """The cleaner's imports and lazy set-up, before the first real page."""
    from scrapers.clean import clean_page

    clean_page(
        b"<html><head><title>warm-up</title></head><body><article><p>"
        + b"A sentence of the warm-up page. " * 20
        + b"</p></article></body></html>",
        url="http://warm-up.invalid/a",
    )
    return os.getpid()


def in_worker(fn: Callable[..., R], key: str, blob: bytes, page: Any) -> R:
    return fn(page, *_args(key, blob))


def _args(key: str, blob: bytes) -> tuple:
    args = _ARGS.get(key)
    if args is None:
        if len(_ARGS) >= 8:
            _ARGS.pop(next(iter(_ARGS)))
        args = _ARGS[key] = pickle.loads(blob)
    return args


def receive(pipe: Any) -> Any:
    data = _message(pipe)
    return None if data is None else pickle.loads(data)


def _message(pipe: Any) -> bytes | None:
    header = pipe.read(HEADER.size)
    if len(header) < HEADER.size:
        return None  # the other side is gone
    (size,) = HEADER.unpack(header)
    data = pipe.read(size)
    return data if len(data) == size else None


def send(pipe: Any, message: tuple) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    pipe.write(HEADER.pack(len(data)) + data)
    pipe.flush()


# ------------------------------------------------------- the cleaner's own process ---


def own_process() -> None:
    """The child: the parent's `sys.path`, a warm-up page, then pages until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    requests, replies = os.fdopen(int(sys.argv[2]), "rb"), os.fdopen(int(sys.argv[3]), "wb")
    try:
        _serve(requests, replies)
    except BrokenPipeError:
        # The run's process is gone (a command that stopped as it started, before this one was
        # ready): nobody reads its stderr's traceback but the user, in the run's output, and
        # the buffered reply would raise again at the interpreter's exit.
        os._exit(0)


def _serve(requests: Any, replies: Any) -> None:
    path = receive(requests)
    if path is None:
        return
    sys.path[:] = path[1]
    warm_up()
    send(replies, ("ready", None, 0.0))
    quiet = open(os.devnull, "w")  # the watchdog's traceback goes there, until exit
    while (request := _message(requests)) is not None:
        unpickling = time.monotonic()
        try:
            kind, *rest = pickle.loads(request)
            if kind == "path":  # a new run of the parent's: its sys.path now
                sys.path[:] = rest[0]
                continue
            fn, key, blob, page, seconds = rest
            args = _args(key, blob)
        except Exception as e:  # noqa: BLE001 - a page that cannot be unpickled here: the caller's error, as in a pool
            send(replies, ("raised", e, 0.0))
            continue
        if time.monotonic() - unpickling > UNPICKLING_SECONDS:  # the function's module imported
            send(replies, ("started", None, 0.0))
        faulthandler.dump_traceback_later(seconds + BACKSTOP_SECONDS, exit=True, file=quiet)
        started = time.thread_time()
        try:
            reply = ("ok", fn(page, *args), time.thread_time() - started)
        except Exception as e:  # noqa: BLE001 - raised to the caller, as if it had called fn itself
            reply = ("raised", e, 0.0)
        faulthandler.cancel_dump_traceback_later()
        try:
            send(replies, reply)
        except (pickle.PicklingError, TypeError, AttributeError) as e:
            send(replies, ("raised", RuntimeError(f"the cleaning process could not send its result: {e}"), 0.0))
