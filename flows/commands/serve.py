"""`newswatch serve`: both flows on their schedules, from one process, on one machine.

- `ingest` every 30 minutes and `digest` daily at 07:00 Europe/Paris (the same schedules as
  the deployments of `prefect.yaml`), served by a Prefect `Runner` (what `prefect.serve` uses): no work pool, no worker.
- Without `PREFECT_API_URL`, a local Prefect server is started first (a subprocess
  `prefect server start --host 127.0.0.1 --port N`, its own session so that a Ctrl-C in the
  terminal reaches newswatch first) and stopped on exit; its log goes to a file.
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
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

from errors import ServeError

HELP = "serve the ingest (every 30 min) and digest (daily 07:00) flows on their schedules, with a local Prefect server if none is set"
EXAMPLE = """\
newswatch serve --config newswatch.yaml          # starts a local Prefect server on 127.0.0.1:4200
PREFECT_API_URL=http://127.0.0.1:4200/api newswatch serve   # use a server already running"""

# The schedules; prefect.yaml declares the same ones (tests/test_serve.py checks they agree).
TIMEZONE = "Europe/Paris"
INGEST_EVERY = timedelta(minutes=30)
DIGEST_CRON = "0 7 * * *"

SERVER_START_TIMEOUT = 180.0  # seconds: ~7 s here, ~15 s on a new database, more under load
SERVER_STOP_GRACE = 30.0
RUNNER_STOP_GRACE = 60.0  # seconds for Prefect's runner to cancel its loops and pause schedules
POLL_EVERY = 0.2

# The signal that asked us to stop, set by the handler; read by the main thread.
_stop_signal: int | None = None


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH", help="the config file (default: $NEWSWATCH_CONFIG, else ./newswatch.yaml)")
    parser.add_argument("--port", type=int, default=4200,
                        help="port of the local Prefect server started when PREFECT_API_URL is not set "
                             "(default 4200; a free port is chosen if it is taken)")


def run(args: argparse.Namespace) -> int:
    from flows.config import load_config
    from storage.archive import Archive

    # Fail fast on what would make every scheduled run fail.
    config = load_config(args.config)
    with Archive.open(config.archive) as archive:
        archive.ensure_writable()
    config_file = str(Path(config.path).resolve())

    # Installed before anything slow, so a signal during the server's start is not lost.
    # SIGINT explicitly too: a process started in the background inherits it ignored.
    signal.signal(signal.SIGTERM, _note_signal)
    signal.signal(signal.SIGINT, _note_signal)
    server: subprocess.Popen | None = None
    try:
        api_url = os.environ.get("PREFECT_API_URL")
        if api_url:
            _wait_healthy(api_url, None, timeout=10.0)
        else:
            port = args.port if _port_free(args.port) else _free_port()
            api_url = f"http://127.0.0.1:{port}/api"
            server, log = _start_server(port)
            print(f"newswatch serve: started a local Prefect server (pid {server.pid}, log {log})",
                  flush=True)
            _wait_healthy(api_url, server, timeout=SERVER_START_TIMEOUT, log=log)
            os.environ["PREFECT_API_URL"] = api_url
        if _stop_signal is None:
            ui = api_url.rstrip("/").removesuffix("/api")
            print(f"newswatch serve: Prefect UI at {ui}", flush=True)
            print(f"newswatch serve: ingest every {int(INGEST_EVERY.total_seconds() // 60)} min, digest "
                  f"daily at 07:00 {TIMEZONE}, config {config_file}; Ctrl-C to stop", flush=True)
            _serve(config_file)
    finally:
        if server is not None:
            _stop_server(server)
            print("newswatch serve: Prefect server stopped", flush=True)
    print("newswatch serve: stopped", flush=True)
    return 0


def _serve(config_file: str) -> None:
    """Serve both deployments until a signal, then stop the runner and wait for it."""
    from flows.commands.run import prepare_prefect_environment

    prepare_prefect_environment()
    from prefect.runner import Runner
    from prefect.schedules import Cron, Interval

    from flows.digest import digest
    from flows.ingest import ingest

    params = {"config_path": config_file}
    # What `prefect.serve(...)` does, minus its signal handling: pause_on_shutdown, so the
    # schedules stop creating runs nobody will pick up while we are down.
    runner = Runner(pause_on_shutdown=True)
    for deployment in (
        ingest.to_deployment("ingest", parameters=params, tags=["newswatch"],
                             schedules=[Interval(INGEST_EVERY, timezone=TIMEZONE)],
                             description="One ingestion run of every enabled source"),
        digest.to_deployment("digest", parameters=params, tags=["newswatch"],
                             schedules=[Cron(DIGEST_CRON, timezone=TIMEZONE)],
                             description="Digest emails of every digest-rule match since the last digest"),
    ):
        runner.add_deployment(deployment)

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
        except BaseException as e:  # reported by the main thread
            failure.append(e)
        finally:
            loop_ready.set()

    thread = threading.Thread(target=run_runner, name="newswatch-serve-runner", daemon=True)
    thread.start()
    loop_ready.wait()
    print("newswatch serve: serving the deployments ingest/ingest and digest/digest", flush=True)
    while _stop_signal is None and thread.is_alive():
        time.sleep(POLL_EVERY)
    if thread.is_alive():
        print(f"newswatch serve: {signal.Signals(_stop_signal).name} received, stopping", flush=True)
        _stop_runner(runner, loop, thread)
    elif failure and not isinstance(failure[0], (KeyboardInterrupt, SystemExit)):
        raise ServeError(f"serving stopped: {type(failure[0]).__name__}: {failure[0]}")


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
            except Exception as e:
                print(f"newswatch serve: stopping Prefect's runner failed: {e}", flush=True)
                asked = True
        thread.join(POLL_EVERY)
    if thread.is_alive():
        print(f"newswatch serve: Prefect's runner did not stop within {RUNNER_STOP_GRACE:.0f} s; "
              "exiting without it", flush=True)


def _note_signal(signum, frame) -> None:
    global _stop_signal
    if _stop_signal is None:
        _stop_signal = signum


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(port: int) -> tuple[subprocess.Popen, Path]:
    home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
    home.mkdir(parents=True, exist_ok=True)
    log = home / "newswatch-serve-server.log"
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": os.environ.get(
        "PREFECT_SERVER_ANALYTICS_ENABLED", "false")}
    env.pop("PREFECT_API_URL", None)
    with open(log, "ab") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
            start_new_session=True)
    return server, log


def _wait_healthy(api_url: str, server: subprocess.Popen | None, *, timeout: float,
                  log: Path | None = None) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    last = ""
    while _stop_signal is None:
        if server is not None and server.poll() is not None:
            raise ServeError(f"the Prefect server exited (code {server.returncode}) before it was ready; "
                             f"see {log}:\n{_tail(log)}")
        try:
            if httpx.get(api_url.rstrip("/") + "/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError as e:
            last = str(e)
        if time.monotonic() > deadline:
            where = f"; see {log}" if log else ""
            raise ServeError(f"no healthy Prefect server at {api_url} after {timeout:.0f} s "
                             f"({last or 'not answering'}){where}")
        time.sleep(0.5)


def _stop_server(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    server.terminate()
    try:
        server.wait(SERVER_STOP_GRACE)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _tail(log: Path | None, lines: int = 15) -> str:
    if log is None or not log.exists():
        return ""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
