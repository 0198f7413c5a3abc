"""What many test modules share: running the `newswatch` command.

`newswatch(...)` calls the parser's entry point (flows.cli.main.main) in the test's own
process, with its own working directory, environment and captured output: the answer a
subprocess would give, without starting Python and importing newswatch again for each call
(about 0.5-1 s each on the 2-core machine). `newswatch_process(...)` starts the installed
command for the few tests that prove the installed script, exit-time behaviour, signals or a
Prefect flow, where the process itself is what is tested.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NEWSWATCH = Path(sys.executable).with_name("newswatch")


@contextlib.contextmanager
def _environment(env: Mapping[str, str] | None) -> Iterator[None]:
    if env is None:
        yield
        return
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _directory(cwd: Path | str | None) -> Iterator[None]:
    if cwd is None:
        yield
        return
    saved = os.getcwd()
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(saved)


def _stream() -> io.TextIOWrapper:
    # A real text stream over bytes, as a process's stdout is: commands that write bytes
    # (sys.stdout.buffer) or flush behave as they do in a terminal's pipe.
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", newline="", write_through=True)


def _read(stream: io.TextIOWrapper, text: bool) -> str | bytes:
    stream.flush()
    raw = stream.buffer.getvalue()
    return raw.decode("utf-8") if text else raw


def newswatch(
    *args: str | Path,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    text: bool = True,
    stderr_to_stdout: bool = False,
) -> subprocess.CompletedProcess:
    """`newswatch ARGS` in this process: its exit status, stdout and stderr as a subprocess's.

    `env` replaces the whole environment for the call (as subprocess's env= does); `cwd`
    is the working directory during the call. argparse's exits (usage errors, --help) give
    their status like the command would. `stderr_to_stdout` interleaves both in stdout, as
    a terminal shows them (`2>&1`)."""
    from flows.cli.main import main

    argv = [str(a) for a in args]
    out = _stream()
    err = out if stderr_to_stdout else _stream()
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin = io.StringIO(input or "")
    sys.stdout, sys.stderr = out, err
    try:
        with _environment(env), _directory(cwd):
            try:
                code = main(argv)
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
                if e.code is not None and not isinstance(e.code, int):
                    print(e.code, file=sys.stderr)
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
    stderr = "" if stderr_to_stdout else _read(err, text)
    return subprocess.CompletedProcess(["newswatch", *argv], code, _read(out, text), stderr)


def newswatch_process(
    *args: str | Path,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    python_flags: tuple[str, ...] = (),
    text: bool = True,
) -> subprocess.CompletedProcess:
    """The installed command as a process (`python -m flows.cli` when Python flags are given)."""
    command = [sys.executable, *python_flags, "-m", "flows.cli"] if python_flags else [str(NEWSWATCH)]
    return subprocess.run(
        [*command, *map(str, args)],
        cwd=cwd or ROOT,
        env=dict(env) if env is not None else None,
        capture_output=True,
        text=text,
        timeout=timeout,
    )
