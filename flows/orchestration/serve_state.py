"""Where a running `newswatch serve` can be found: a small state file per serve process.

`serve` writes `$PREFECT_HOME/newswatch-serve/PID.json` (its pid and the start time the kernel
gives that pid, the Prefect API it serves on, its config file, the pid of the server it
started) once its server answers, and removes it on exit. `newswatch status` without
`PREFECT_API_URL` reads these files: a file whose process is gone (killed: nothing removed
it) or whose pid now belongs to another process (another start time) is stale, said, and
removed. Plain files, no Prefect import: `status` stays fast.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class ServeState:
    pid: int
    started: str  # the process's start time, as /proc/PID/stat gives it (clock ticks since boot)
    api_url: str
    config: str  # the config file it serves, absolute
    server_pid: int | None  # the Prefect server it started (None: PREFECT_API_URL's)
    file: str = ""  # where it was read from

    @property
    def alive(self) -> bool:
        return _start_time(self.pid) == self.started


def state_dir() -> Path:
    home = os.environ.get("PREFECT_HOME") or str(Path.home() / ".prefect")
    return Path(home).expanduser() / "newswatch-serve"


def write_state(api_url: str, config: str, server_pid: int | None) -> Path:
    """This process's state file, written atomically; its path (to remove at exit)."""
    directory = state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    pid = os.getpid()
    state = ServeState(pid, _start_time(pid) or "", api_url, config, server_pid)
    path = directory / f"{pid}.json"
    partial = directory / f".{pid}.json.partial"
    partial.write_text(json.dumps({k: v for k, v in asdict(state).items() if k != "file"}), encoding="utf-8")
    partial.replace(path)
    return path


def remove_state(path: Path) -> None:
    path.unlink(missing_ok=True)


def read_states() -> tuple[list[ServeState], list[ServeState]]:
    """(the states of live serve processes, the stale ones removed), newest first."""
    live, stale = [], []
    directory = state_dir()
    if not directory.is_dir():
        return [], []
    for path in sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            state = ServeState(**data, file=str(path))
        except (OSError, ValueError, TypeError):
            continue  # being written, or not ours: not a serve to report
        if state.alive:
            live.append(state)
        else:
            stale.append(state)
            path.unlink(missing_ok=True)
    return live, stale


def find_serve(config: str | None) -> tuple[ServeState | None, list[ServeState], list[ServeState]]:
    """The running serve to read for `config` (absolute path): the one serving it, else the
    only one running; (it or None, every live one, the stale ones found)."""
    live, stale = read_states()
    mine = [s for s in live if config is not None and s.config == config]
    if mine:
        return mine[0], live, stale
    return (live[0] if len(live) == 1 else None), live, stale


def _start_time(pid: int) -> str | None:
    """The start time of process `pid` (field 22 of /proc/PID/stat), None when it is gone or a
    zombie; on a system without /proc, "?" while the pid exists."""
    try:
        fields = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        if Path("/proc/self").exists():
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return "?"
    except OSError:
        return None
    return None if fields[0] == "Z" else fields[19]
