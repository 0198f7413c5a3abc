"""`newswatch serve`: both flows on their schedules, from one process, on one machine.

- The schedules are the config's `schedules:` (default: `ingest` every 30 minutes, `digest`
  daily at 07:00 Europe/Paris), the same ones `newswatch deploy` gives the work-pool
  deployments (flows/orchestration/schedules.py). Served by a Prefect `Runner` (what `prefect.serve` uses):
  no work pool, no worker. `ingest` runs once at start unless `--no-run-now`.
- Without `PREFECT_API_URL`, a local Prefect server is started first (a subprocess
  `prefect server start --host 127.0.0.1 --port N`, its own session so that a Ctrl-C in the
  terminal reaches newswatch first) and stopped on exit; its log goes to a file, and its
  ERROR lines (with the exception that ends each traceback) are copied to our output.
- While it serves, a state file (flows/orchestration/serve_state.py) tells `newswatch status`
  which server to read; it is removed on exit.
- Once a minute the deployments are checked on the server: a schedule that is active but has
  no run scheduled, or a run that is late, is a warning in our output when it appears, again
  each hour while it lasts, and its end is said. (With SQLAlchemy 2.1
  Prefect's scheduler failed every minute in its log only, and nothing ever ran.)
- Ctrl-C or SIGTERM: serving stops (Prefect pauses the schedules until the next start), then
  the server we started is stopped (SIGTERM, then SIGKILL after a grace period).

Signals only set a flag that the main thread polls; Prefect's runner runs in its own thread.
Raising KeyboardInterrupt from the handler (the first design) lost the stop under load: when
the signal lands while the main thread runs a finaliser (`__del__`), Python prints the
exception and drops it, and serving went on (3 runs in 8 under two CPU burners).

Prefect is imported only once the API address is known: its settings are read at import.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import threading
import time
from pathlib import Path

from errors import ServeError
from flows.cli.shared import add_config_option

HELP = (
    "serve the ingest and digest flows on the config's schedules (run ingest once now), "
    "with a local Prefect server if none is set"
)
EXAMPLE = """\
newswatch serve --config newswatch.yaml          # starts a local Prefect server on 127.0.0.1:4200
newswatch serve --no-run-now                     # wait for the first scheduled run
PREFECT_API_URL=http://127.0.0.1:4200/api newswatch serve   # use a server already running"""

# A signal ends serve within 10 s in every phase: the runner gets this long to cancel its
# runs and pause the schedules, the client to send its last events, the server to stop (then
# SIGKILL).
RUNNER_STOP_GRACE = 5.0
DRAIN_TIMEOUT = 1.5
SERVER_STOP_GRACE = 2.5
POLL_EVERY = 0.2
CHECK_EVERY = 60.0  # seconds between two checks that the schedules produce runs

# The signal that asked us to stop, set by the handler; read by the main thread.
_stop_signal: int | None = None


def configure(parser: argparse.ArgumentParser) -> None:
    add_config_option(parser)
    parser.add_argument(
        "--port",
        type=int,
        default=4200,
        help="port of the local Prefect server started when PREFECT_API_URL is not set "
        "(default 4200; a free port is chosen if it is taken)",
    )
    parser.add_argument(
        "--no-run-now",
        dest="run_now",
        action="store_false",
        help="do not run ingest at start: the first run is the schedule's",
    )


def run(args: argparse.Namespace) -> int:
    from core.ports import free_port, port_is_free
    from flows.config.loader import load_config
    from flows.orchestration.schedules import describe
    from flows.orchestration.serve_state import remove_state, write_state
    from flows.orchestration.server import (
        SERVER_START_TIMEOUT,
        LocalPrefectServer,
        ServerLogErrors,
        check_server,
        drain_prefect_client,
    )
    from storage.archive import Archive

    # Fail fast on what would make every scheduled run fail.
    config = load_config(args.config)
    with Archive.open(config.archive) as archive:
        archive.ensure_writable()
    config_file = str(config.file.resolve())
    from alerts.settings import set_aside_notice

    for problem in config.rule_errors:
        print(f"newswatch serve: warning: {set_aside_notice(problem)}", flush=True)

    # Installed before anything slow, so a signal during the server's start is not lost.
    # SIGINT explicitly too: a process started in the background inherits it ignored.
    signal.signal(signal.SIGTERM, _note_signal)
    signal.signal(signal.SIGINT, _note_signal)
    server: LocalPrefectServer | None = None
    log: Path | None = None
    state_file: Path | None = None  # where `newswatch status` finds this serve (serve_state.py)
    try:
        api_url = os.environ.get("PREFECT_API_URL")
        if api_url:
            check_server(api_url, wait=10.0)  # one that is starting gets a little time
        else:
            port = args.port if args.port and port_is_free(args.port) else free_port()
            home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
            server = LocalPrefectServer.start(port, home / "newswatch-serve-server.log")
            api_url, log = server.api_url, server.log
            print(f"newswatch serve: started a local Prefect server (pid {server.pid}, log {log})", flush=True)
            ServerLogErrors(server.log, server.log_start).start()
            server.wait_healthy(SERVER_START_TIMEOUT, stopping=lambda: _stop_signal is not None)
            os.environ["PREFECT_API_URL"] = api_url
        if _stop_signal is None:
            state_file = write_state(api_url, config_file, server.pid if server else None)
            ui = api_url.rstrip("/").removesuffix("/api")
            print(f"newswatch serve: Prefect UI at {ui}", flush=True)
            print(f"newswatch serve: {describe(config)}, config {config_file}; Ctrl-C to stop", flush=True)
            _serve(config, config_file, api_url, log, run_now=args.run_now)
    finally:
        if state_file is not None:
            remove_state(state_file)
        _stop_children(keep=server.pid if server is not None else None)
        if server is not None:
            # Prefect's client sends its pending events at exit: to a server already stopped,
            # that blocked for minutes, deaf to signals. Sent (or given up) now, then the stop.
            drain_prefect_client(timeout=DRAIN_TIMEOUT)
            server.stop(SERVER_STOP_GRACE)
            print("newswatch serve: Prefect server stopped", flush=True)
    print("newswatch serve: stopped", flush=True)
    return 0


def _serve(config, config_file: str, api_url: str, log: Path | None, *, run_now: bool) -> None:
    """Serve both deployments until a signal, then stop the runner and wait for it."""
    from flows.orchestration.server import prepare_prefect_environment, watch_unresponsive_runs

    prepare_prefect_environment()
    watch_unresponsive_runs("serve", api_url)
    from prefect import Flow
    from prefect.deployments.runner import RunnerDeployment
    from prefect.runner import Runner

    from flows.orchestration.digest_flow import digest
    from flows.orchestration.ingest_flow import ingest
    from flows.orchestration.schedules import DEPLOYMENTS, TAGS, runner_schedules

    params = {"config_path": config_file}
    flows: dict[str, Flow] = {"ingest": ingest, "digest": digest}
    # What `prefect.serve(...)` does, minus its signal handling: pause_on_shutdown, so the
    # schedules stop creating runs nobody will pick up while we are down.
    runner = Runner(pause_on_shutdown=True)
    ids = {}
    for d in DEPLOYMENTS:
        deployment = flows[d.flow].to_deployment(
            d.name, parameters=params, tags=TAGS, schedules=runner_schedules(d.schedule(config))
        )
        if not isinstance(deployment, RunnerDeployment):  # Prefect's dispatch goes async inside an event loop
            raise ServeError("newswatch serve: call _serve outside an event loop (to_deployment went async)")
        ids[d.flow] = runner.add_deployment(deployment)

    loop_ready = threading.Event()
    failure: list[BaseException] = []
    loop: asyncio.AbstractEventLoop | None = None

    def run_runner() -> None:
        # Outside the main thread Prefect's runner installs no SIGTERM handler of its own.
        async def main() -> None:
            nonlocal loop
            loop = asyncio.get_running_loop()
            loop_ready.set()
            await runner.start()

        try:
            asyncio.run(main())
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            failure.append(e)
        finally:
            loop_ready.set()

    thread = threading.Thread(target=run_runner, name="newswatch-serve-runner", daemon=True)
    thread.start()
    loop_ready.wait()
    print("newswatch serve: serving the deployments " + " and ".join(d.full_name for d in DEPLOYMENTS), flush=True)
    if run_now:
        _run_ingest_now(ids["ingest"])
    next_check = time.monotonic() + CHECK_EVERY
    warnings = ScheduleWarnings()
    while _stop_signal is None and thread.is_alive():
        time.sleep(POLL_EVERY)
        if time.monotonic() >= next_check:
            _check_schedules(api_url, log, warnings)
            next_check = time.monotonic() + CHECK_EVERY
    if thread.is_alive():  # the loop ended on a signal
        received = signal.Signals(_stop_signal).name if _stop_signal is not None else "a signal"
        print(f"newswatch serve: {received} received, stopping", flush=True)
        _stop_runner(runner, loop, thread)
    elif failure and not isinstance(failure[0], (KeyboardInterrupt, SystemExit)):
        raise ServeError(f"serving stopped: {type(failure[0]).__name__}: {failure[0]}")


def _run_ingest_now(deployment_id) -> None:
    """A run of the ingest deployment now, outside the schedule; the runner picks it up."""
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            client.create_flow_run_from_deployment(deployment_id, tags=["run-now"])
    except Exception as e:  # noqa: BLE001 - serving goes on: the schedule will run it
        print(
            f"newswatch serve: could not start the ingest run now ({type(e).__name__}: {e}); the schedule's runs go on",
            flush=True,
        )
        return
    print("newswatch serve: ingest: one run now (--no-run-now skips it), then on the schedule", flush=True)


class ScheduleWarnings:
    """What `serve` has said about the schedules: a problem is printed when it appears, again
    once an hour while it lasts (a log read hours later still shows it), and its end is said."""

    REPEAT_EVERY = 3600.0

    def __init__(self, out=None) -> None:
        self.out = out
        self.said: dict[str, float] = {}

    def report(self, problems: list[tuple[str, str]], where: str, now: float) -> None:
        current = dict(problems)
        for key, text in problems:
            last = self.said.get(key)
            if last is None or now - last >= self.REPEAT_EVERY:
                again = "" if last is None else "still: "
                print(f"newswatch serve: WARNING: {again}{text}{where}", file=self.out, flush=True)
                self.said[key] = now
        for key in [k for k in self.said if k not in current]:
            print(f"newswatch serve: resolved: {key}", file=self.out, flush=True)
            del self.said[key]


def _check_schedules(api_url: str, log: Path | None, warnings: ScheduleWarnings) -> None:
    """Warn, in our own output, about a schedule that produces no run, and about late runs."""
    from flows.orchestration.deployment_status import PrefectApiError, deployment_statuses

    where = f": see {log}" if log else ": see the Prefect server's log"
    try:
        statuses = deployment_statuses(api_url)
    except PrefectApiError as e:
        print(f"newswatch serve: WARNING: cannot check the schedules: {e}", flush=True)
        return
    warnings.report([item for status in statuses for item in status.problem_items()], where, time.monotonic())


def _stop_runner(runner, loop: asyncio.AbstractEventLoop | None, thread: threading.Thread) -> None:
    deadline = time.monotonic() + RUNNER_STOP_GRACE
    asked = False
    while thread.is_alive() and time.monotonic() < deadline:
        # Prefect refuses to stop a runner that has not finished starting: ask again shortly.
        if not asked and loop is not None and runner.started:
            stopping = asyncio.run_coroutine_threadsafe(runner.astop(), loop)
            try:
                stopping.result(max(0.1, deadline - time.monotonic()))
                asked = True
            except RuntimeError:
                pass
            except Exception as e:  # noqa: BLE001 - stopping goes on whatever the runner raised
                print(f"newswatch serve: stopping Prefect's runner failed: {e}", flush=True)
                asked = True
        thread.join(POLL_EVERY)
    if thread.is_alive():
        print(
            f"newswatch serve: Prefect's runner did not stop within {RUNNER_STOP_GRACE:.0f} s; exiting without it",
            flush=True,
        )


def _stop_children(keep: int | None, grace: float = 1.0) -> None:
    """Stop this process's children but `keep` (the server): a flow run's process that Prefect's
    runner started while it was being stopped outlived serve (found still running minutes
    later, retrying towards the server serve had stopped). SIGTERM, then SIGKILL."""
    me = os.getpid()
    mine = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == me and int(stat.parent.name) != keep:
                mine.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue
    for pid in mine:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while mine and time.monotonic() < deadline:
        mine = [pid for pid in mine if _reaped(pid) is False]
        time.sleep(0.05)
    for pid in mine:
        _signal(pid, signal.SIGKILL)
        _reaped(pid)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _reaped(pid: int) -> bool:
    """Whether child `pid` has ended (reaped now if so)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not ours to wait for (or already reaped): gone?
        return not Path(f"/proc/{pid}").exists()
    return done == pid


def _note_signal(signum, frame) -> None:
    global _stop_signal
    if _stop_signal is None:
        _stop_signal = signum
