"""A Dask cluster on this machine, standing in for several: a `dask scheduler` and `dask worker`
processes on 127.0.0.1 (each with its nanny), for tests/test_dask.py and bench/run_command.py.

    cluster = Cluster(directory, env, workers=2).start()   # returns once every worker is there
    cluster.address                                         # tcp://127.0.0.1:PORT
    cluster.stop()                                          # every process killed

Each process is in a session of its own, killed with its children; their output goes to
DIRECTORY/NAME.log.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

BIN = Path(__file__).resolve().parent.parent / ".venv" / "bin"


class Cluster:
    """A `dask scheduler` and `workers` `dask worker` processes on 127.0.0.1."""

    def __init__(self, home: Path, env: dict[str, str], *, workers: int = 2, threads: int = 2) -> None:
        self.home, self.env, self.workers, self.threads = home, env, workers, threads
        self.file = home / "scheduler.json"
        self.processes: list[subprocess.Popen] = []
        self._logs: list = []

    def start(self) -> Cluster:
        common = ["--no-dashboard"]
        self._spawn("scheduler", [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0"], common)
        deadline = time.monotonic() + 60
        while not self.file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        for n in range(self.workers):
            name = f"w{n + 1}"
            worker = [str(BIN / "dask"), "worker", "--scheduler-file", str(self.file), "--nthreads", str(self.threads)]
            self._spawn(name, [*worker, "--name", name], common)
        from distributed import Client

        with Client(scheduler_file=str(self.file), timeout=60) as client:
            client.wait_for_workers(self.workers, timeout=120)
        return self

    @property
    def address(self) -> str:
        return json.loads(self.file.read_text())["address"]

    def _spawn(self, name: str, command: list[str], common: list[str]) -> None:
        if name == "scheduler":
            command += ["--scheduler-file", str(self.file)]
        log = (self.home / f"{name}.log").open("wb")
        self._logs.append(log)
        self.processes.append(
            subprocess.Popen(
                command + common, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
            )
        )

    def stop(self) -> None:
        for process in reversed(self.processes):
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=30)
        for log in self._logs:
            log.close()
