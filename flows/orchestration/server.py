"""The Prefect server a command records its flow runs on, for every command that talks to one
(`run`, `demo`, `digest`, `automations`, `serve`, `deploy`), and the one newswatch starts:

- `LocalPrefectServer.start(port, log)`: `prefect server start` on 127.0.0.1 in its own
  session (a Ctrl-C in the terminal reaches newswatch first), its output in a log file, its
  UI pointed at its own API whatever the port (`PREFECT_UI_API_URL`);
  `wait_healthy(timeout)`, `stop()` (SIGTERM, then SIGKILL after a grace period); what
  `newswatch serve`, the schedule tests and `bench/ingest.py` start;
- `ServerLogErrors`: copies the ERROR records of that log to our output as they come;

- `prepare_prefect_environment()`: settings that make a temporary server usable on a small,
  loaded machine;
- `check_server(api)`: one line (what, what to do) when `PREFECT_API_URL` names a server that
  does not answer, instead of Prefect's traceback after its retries;
- `flow_server(command)`: both, for a command that runs a flow: the server it will use, or
  None (a temporary one is started; said on stderr);
- `temporary_server_stopped_on_signals()`: a SIGTERM ends the process without running its
  exit handlers, so the temporary server Prefect started for the run (a uvicorn child) would
  outlive it; inside this block the signal first stops that server. (The run's own handler,
  flows/pipeline/stopping.py, first stops its fetches: Prefect waits for its task threads before it
  hands the signal on.)

Prefect is not imported here until a flow needs it: its settings are read at import.
"""

from __future__ import annotations

import functools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from errors import PrefectApiError, ServeError

SERVER_START_TIMEOUT = 180.0  # seconds: a bound, well above a start on a loaded machine (docs/prefect.md)
SERVER_STOP_GRACE = 30.0


def prepare_prefect_environment() -> None:
    """Defaults that make a temporary Prefect server usable on a small, loaded machine."""
    # Prefect's default start-up timeout for the temporary server is too tight on a loaded
    # machine (docs/prefect.md, "Costs").
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    # A temporary server lives for one run: it has nothing to report, and offline it would
    # log an error for every failed attempt to.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def check_server(api: str, *, wait: float = 0.0, temporary_hint: bool = False) -> None:
    """Return once the Prefect server at `api` answers its health check (within `wait` seconds,
    for a server that may be starting); else a PrefectApiError: what and what to do."""
    import httpx

    deadline = time.monotonic() + wait
    while True:
        try:
            response = httpx.get(api.rstrip("/") + "/health", timeout=10)
            problem = None if response.status_code == 200 else f"its health check answered {response.status_code}"
        except httpx.HTTPError as e:
            problem = str(e) or type(e).__name__
        if problem is None:
            return
        if time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    other = "; or unset it: the run then starts a temporary server of its own" if temporary_hint else ""
    raise PrefectApiError(
        f"no Prefect server at {api} ({problem}): start it (prefect server start) or fix PREFECT_API_URL{other}"
    )


def flow_server(command: str) -> str | None:
    """For a command about to run a flow: the Prefect API it will record on, checked; None when
    no server is set, and Prefect will start a temporary one (said on stderr)."""
    prepare_prefect_environment()
    api = configured_prefect_api()
    if api:
        check_server(api, temporary_hint=True)
        watch_unresponsive_runs(command, api)
        return api
    print(
        f"newswatch {command}: no PREFECT_API_URL: starting a temporary Prefect server for this run "
        "(~5 s; see docs/operations.md 'Running on a schedule' to keep one running)",
        file=sys.stderr,
    )
    return None


def watch_unresponsive_runs(command: str, api: str) -> None:
    """On a server that outlives the run: the automation that sets a run Crashed when its
    process dies without a word (flows/orchestration/unresponsive.py). Not having it is said,
    and the run goes on: it is about a later failure, not this run's work."""
    import httpx

    from flows.orchestration.unresponsive import ensure_unresponsive_runs_automation

    try:
        ensure_unresponsive_runs_automation()
    except (httpx.HTTPError, OSError, RuntimeError, ValueError) as e:  # the API refused, or answered oddly
        print(
            f"newswatch {command}: warning: could not install the automation that sets killed runs Crashed on "
            f"{api} ({type(e).__name__}: {e}); a run killed without warning would stay Running there",
            file=sys.stderr,
        )


@contextmanager
def temporary_server_stopped_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM stops Prefect's temporary server(s) of this process before
    the process ends as SIGTERM ends it (the exit status a supervisor expects). Prefect's own
    handler during a flow run (which marks the run Crashed) comes first and then hands the
    signal on to this one. Ctrl-C (SIGINT) needs nothing: it unwinds the stack and the exit
    handlers stop the server."""

    def stop_then_die(signum, frame) -> None:
        stop_temporary_servers()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    previous = signal.signal(signal.SIGTERM, stop_then_die)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def prefect_for_this_run() -> Iterator[None]:
    """The Prefect side of a command that runs a flow (`run`, `demo`, `digest`), around it:
    - SIGTERM stops the temporary server first (`temporary_server_stopped_on_signals`);
    - without PREFECT_API_URL, Prefect's temporary server is started now, from the main
      thread, as a child that the kernel stops when this process dies, even by SIGKILL
      (`PR_SET_PDEATHSIG`: a child of a thread gets it when that thread ends, hence the
      main thread; Prefect would start it lazily from whichever thread first needs it);
    - at the end, however it ends: the client's pending events and logs are sent and its
      workers stopped while the server is still up, then the temporary server is stopped; after
      a flow that ended, once it has recorded the task runs' last states (`wait_recorded`).
      (At interpreter exit Prefect flushed them towards a server its own exit handler had
      already stopped: `Error flushing … events` tracebacks, or a hang.)"""
    with temporary_server_stopped_on_signals():
        if not configured_prefect_api():
            start_temporary_server()
        try:
            yield
        except BaseException:
            drain_prefect_client()
            stop_temporary_servers()  # stopped, at once: a Ctrl-C waits for nothing
            raise
        try:
            drain_prefect_client()
            for server, since in _STARTED:
                wait_recorded(server.api_url, since)
        finally:
            stop_temporary_servers()


# The temporary servers newswatch started in this process, with when (UTC, ISO 8601): the only
# ones it stops. Prefect's SubprocessASGIServer is one object per port, shared with whoever else
# started it in this process (a test harness, an embedding program), and theirs is not ours to stop.
_STARTED: list[tuple[Any, str]] = []


def configured_prefect_api() -> str | None:
    """The Prefect API set for this process, if any: in the environment, the Prefect profile, or
    the settings a caller entered (Prefect's own test harness sets it there, not in os.environ).
    Prefect's client records there; only without one does a run need a temporary server."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    from prefect.settings import get_current_settings

    return str(get_current_settings().api.url or "") or None


def start_temporary_server() -> None:
    """Prefect's temporary server, started now as a child that dies with this process (none
    when one is already running in this process: the client finds that one)."""
    from prefect.server.api import server as prefect_server

    server = prefect_server.SubprocessASGIServer()  # the one the client then finds (one per port, None here)
    if server.running:
        return
    prefect_server.subprocess = _ChildrenDieWithUs()  # type: ignore[assignment]  # that module's only
    since = datetime.now(UTC).isoformat()
    server.start()
    _STARTED.append((server, since))


class _ChildrenDieWithUs:
    """`subprocess` as Prefect's server module sees it: a Popen whose child gets SIGTERM when
    the thread that started it (the main thread: the process) ends."""

    def __getattr__(self, name: str):
        return getattr(subprocess, name)

    @staticmethod
    def Popen(*args, **kwargs) -> subprocess.Popen:
        parent = os.getpid()
        kwargs.setdefault("preexec_fn", functools.partial(die_with_parent, parent))
        return subprocess.Popen(*args, **kwargs)


def die_with_parent(parent: int) -> None:
    """In a child between fork and exec: SIGTERM when the parent ends (Linux); if the parent is
    already gone, now. Elsewhere nothing (the exit handlers and signal handlers still stop it)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def drain_prefect_client(timeout: float = 10.0) -> None:
    """Send the events and log records Prefect's client still holds, and stop its workers
    (within `timeout` seconds each), while the server is up. Nothing to do when Prefect's
    client never started them."""
    for module, name in (("prefect.events.worker", "EventsWorker"), ("prefect.logging.handlers", "APILogWorker")):
        worker = getattr(sys.modules.get(module), name, None)
        if worker is None:
            continue
        try:
            worker.drain_all(timeout=timeout)
        except Exception as e:  # noqa: BLE001 - a flush that fails must not stop the server's stop
            print(f"newswatch: could not send Prefect's last {name} records: {e}", file=sys.stderr)


RECORDED_SECONDS = 5.0  # for a temporary server to record the run's last task-run states


def wait_recorded(api: str, since: str, timeout: float = RECORDED_SECONDS) -> bool:
    """Whether the server at `api` has recorded a final state for every task run created since
    `since` (ISO 8601: a killed run's, before, stays Running for good), waited for within
    `timeout` seconds. Its task-run recorder writes them from the events the
    client sent, a moment after the run; a server stopped in the middle of that write logged an
    ERROR and a traceback of Prefect's (`Error flushing 1 events`) under the run's summary, and
    kept the task run Running in its database. Any answer but "none left" after the deadline
    (the API not answering included): False, and the server is stopped all the same."""
    import httpx

    query = {
        "task_runs": {"state": {"type": {"any_": ["PENDING", "RUNNING"]}}, "expected_start_time": {"after_": since}},
        "limit": 1,
    }
    deadline = time.monotonic() + timeout
    while True:
        try:
            left = max(0.1, deadline - time.monotonic())
            response = httpx.post(api.rstrip("/") + "/task_runs/filter", json=query, timeout=left)
            if response.status_code == 200 and response.json() == []:
                return True
        except (httpx.HTTPError, ValueError):
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def stop_temporary_servers() -> None:
    """Stop the temporary Prefect servers newswatch started in this process (none: nothing to do)."""
    while _STARTED:
        _STARTED.pop()[0].stop()


class LocalPrefectServer:
    """A `prefect server start` this process started on 127.0.0.1: its process, its log (and
    where this server's lines start in it), its API address."""

    def __init__(self, process: subprocess.Popen, port: int, log: Path, log_start: int) -> None:
        self.process, self.port, self.log, self.log_start = process, port, log, log_start

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def pid(self) -> int:
        return self.process.pid

    @classmethod
    def start(cls, port: int, log: Path, *, home: Path | None = None) -> LocalPrefectServer:
        """Start it (appending to `log`); `home`: its PREFECT_HOME (default: the environment's)."""
        log.parent.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "PREFECT_SERVER_ANALYTICS_ENABLED": os.environ.get("PREFECT_SERVER_ANALYTICS_ENABLED", "false"),
            # The UI this server serves asks its /ui-settings for the API to talk to: left to
            # itself it says port 4200, whatever --port (another server's runs, or none).
            # Its own address, then: it listens on 127.0.0.1 only. PREFECT_UI_URL makes the
            # links the server renders (automations' `ui_url`) point at it too.
            "PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api",
            "PREFECT_UI_URL": f"http://127.0.0.1:{port}",
        }
        if home is not None:
            home.mkdir(parents=True, exist_ok=True)
            env["PREFECT_HOME"] = str(home)
        env.pop("PREFECT_API_URL", None)
        with open(log, "ab") as out:
            start = out.tell()
            process = subprocess.Popen(
                [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                # It never outlives us, even after a SIGKILL (see `prefect_for_this_run`).
                preexec_fn=functools.partial(die_with_parent, os.getpid()),
            )
        return cls(process, port, log, start)

    def wait_healthy(
        self, timeout: float = SERVER_START_TIMEOUT, *, stopping: Callable[[], bool] = lambda: False
    ) -> bool:
        """Return once its health check answers (True), or when `stopping()` says so (False);
        a ServeError when it exits first or is not healthy within `timeout` seconds."""
        import httpx

        deadline = time.monotonic() + timeout
        last = ""
        while not stopping():
            if self.process.poll() is not None:
                raise ServeError(
                    f"the Prefect server exited (code {self.process.returncode}) before it was ready; "
                    f"see {self.log}:\n{_tail(self.log)}"
                )
            try:
                if httpx.get(self.api_url + "/health", timeout=5).status_code == 200:
                    return True
            except httpx.HTTPError as e:
                last = str(e)
            if time.monotonic() > deadline:
                raise ServeError(
                    f"no healthy Prefect server at {self.api_url} after {timeout:.0f} s "
                    f"({last or 'not answering'}); see {self.log}"
                )
            time.sleep(0.5)
        return False

    def stop(self, grace: float = SERVER_STOP_GRACE) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _tail(log: Path | None, lines: int = 15) -> str:
    if log is None or not log.exists():
        return ""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


# "12:01:02.345 | ERROR   | prefect.server.services.scheduler - Unexpected error ..." (Prefect's
# logging) and "ERROR:    Exception in ASGI application" (uvicorn's).
_LOG_RECORD = re.compile(r"^\d\d:\d\d:\d\d\.\d+ \| (\w+)\s*\| (.*)$")
_UVICORN_RECORD = re.compile(r"^(ERROR|CRITICAL|WARNING|INFO|DEBUG):\s+(.*)$")
_SERIOUS = ("ERROR", "CRITICAL")


class ServerLogErrors(threading.Thread):
    """Copies the ERROR records of the server's log to our output, each with the last line of
    its traceback (the exception and its message), as they are written."""

    def __init__(self, log: Path, start: int, out=None, *, poll: float = 0.5) -> None:
        super().__init__(name="newswatch-serve-server-log", daemon=True)
        self.log, self.position, self.poll = log, start, poll
        self.out = out or sys.stdout
        self._record: str | None = None  # an ERROR record whose traceback is being read
        self._last_detail = ""

    def run(self) -> None:
        pending = ""
        while True:
            try:
                with open(self.log, "rb") as f:
                    f.seek(self.position)
                    chunk = f.read()
                    self.position = f.tell()
            except OSError:
                chunk = b""
            pending += chunk.decode("utf-8", "replace")
            *lines, pending = pending.split("\n")
            for line in lines:
                self.feed(line)
            if not chunk:
                self.flush()  # a traceback is written at once: a quiet moment ends it
                time.sleep(self.poll)

    def feed(self, line: str) -> None:
        line = line.rstrip("\r")
        record = _LOG_RECORD.match(line) or _UVICORN_RECORD.match(line)
        if record is None:
            if self._record is not None and line.strip():
                self._last_detail = line.strip()
            return
        self.flush()
        if record[1] in _SERIOUS:
            self._record = record[2].strip()

    def flush(self) -> None:
        if self._record is None:
            return
        detail = f" -> {self._last_detail}" if self._last_detail else ""
        print(f"newswatch serve: Prefect server ERROR: {self._record}{detail}", file=self.out, flush=True)
        self._record, self._last_detail = None, ""
