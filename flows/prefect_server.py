"""The Prefect server a command records its flow runs on, for every command that talks to one
(`run`, `demo`, `digest`, `automations`, `serve`, `deploy`):

- `prepare_prefect_environment()`: settings that make a temporary server usable on a small,
  loaded machine;
- `check_server(api)`: one line (what, what to do) when `PREFECT_API_URL` names a server that
  does not answer, instead of Prefect's traceback after its retries;
- `flow_server(command)`: both, for a command that runs a flow: the server it will use, or
  None (a temporary one is started; said on stderr);
- `temporary_server_stopped_on_signals()`: a SIGTERM ends the process without running its
  exit handlers, so the temporary server Prefect started for the run (a uvicorn child) would
  outlive it; inside this block the signal first stops that server. (The run's own handler,
  flows/stopping.py, first stops its fetches: Prefect waits for its task threads before it
  hands the signal on.)

Prefect is not imported here until a flow needs it: its settings are read at import.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from errors import PrefectApiError


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
    api = os.environ.get("PREFECT_API_URL")
    if api:
        check_server(api, temporary_hint=True)
        return api
    print(
        f"newswatch {command}: no PREFECT_API_URL: starting a temporary Prefect server for this run "
        "(~5 s; see README 'Running on a schedule' to keep one running)",
        file=sys.stderr,
    )
    return None


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


def stop_temporary_servers() -> None:
    """Stop the temporary Prefect servers this process started (none: nothing to do)."""
    server_module = sys.modules.get("prefect.server.api.server")
    if server_module is None:
        return
    for server in list(server_module.SubprocessASGIServer._instances.values()):
        server.stop()
