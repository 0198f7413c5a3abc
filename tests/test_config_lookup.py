"""One configuration lookup for every command: the same file is found by all of them, a missing
or bad one is a line per problem (no traceback) before Prefect is imported, and the first
`make run` makes newswatch.yaml from the example and says so."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import newswatch

ROOT = Path(__file__).resolve().parent.parent

# Every command that reads the config (each with its own options for the rest).
COMMANDS = [["run"], ["serve"], ["deploy"], ["status"], ["digest"], ["sources"], ["alerts", "retry"]]

_PROBE = """
import contextlib, io, json, sys
from flows.cli.main import main
seen = {}
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(argv)
    seen[" ".join(argv)] = [code, err.getvalue(),
                            any(m == "prefect" or m.startswith("prefect.") for m in sys.modules)]
print(json.dumps(seen))
"""


def _probe(cwd: Path, commands: list[list[str]]) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NEWSWATCH_"))}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(commands)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_missing_config_is_one_line_before_prefect_for_every_command(tmp_path):
    for command, (code, err, prefect_imported) in _probe(tmp_path, COMMANDS).items():
        lines = err.splitlines()
        assert code == 1, (command, err)
        assert lines == [
            f"newswatch {command.split()[0]}: config file newswatch.yaml not found; copy "
            "newswatch.example.yaml to newswatch.yaml, or name one with --config or "
            "$NEWSWATCH_CONFIG"
        ], (command, err)
        assert not prefect_imported, command


def test_a_bad_config_is_one_line_per_problem_before_prefect_for_every_command(tmp_path):
    (tmp_path / "newswatch.yaml").write_text(
        "archive: a.db\nsmtp: {host: mail.example.org, password: hunter2}\nschedules: {ingest: {interval: 1s}}\n"
    )
    for command, (code, err, prefect_imported) in _probe(tmp_path, COMMANDS).items():
        lines = err.splitlines()
        assert code == 1 and len(lines) == 2, (command, err)
        name = command.split()[0]
        assert all(line.startswith(f"newswatch {name}: newswatch.yaml: ") for line in lines), err
        assert "smtp.password is not accepted in the config file" in err and "password_env" in err
        assert "newswatch.yaml: schedules.ingest.interval: must be at least one minute" in err
        assert "hunter2" not in err and "Traceback" not in err
        assert not prefect_imported, command


def test_first_make_run_copies_the_example_and_says_so(tmp_path):
    """The real Makefile, with a stand-in for the installed `newswatch` that reports its call."""
    for name in ("pyproject.toml", "constraints.txt", "newswatch.example.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "newswatch").write_text('#!/bin/sh\necho "newswatch $*"\n')
    (bin_dir / "newswatch").chmod(0o755)
    (tmp_path / ".venv" / ".installed").touch()  # newer than pyproject.toml: no install
    make = ["make", "--no-print-directory", "-f", str(ROOT / "Makefile"), "run"]

    first = subprocess.run(make, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "make run: no newswatch.yaml yet: copied newswatch.example.yaml to newswatch.yaml; edit it "
        "(sources, user_agent, smtp, alerts, schedules): every newswatch command reads it",
        ".venv/bin/newswatch run --config newswatch.yaml",
        "newswatch run --config newswatch.yaml",
    ]
    assert (tmp_path / "newswatch.yaml").read_text() == (tmp_path / "newswatch.example.yaml").read_text()

    (tmp_path / "newswatch.yaml").write_text("archive: mine.db\n")
    again = subprocess.run(make, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert again.stdout.splitlines()[-1] == "newswatch run --config newswatch.yaml"
    assert "copied" not in again.stdout
    assert (tmp_path / "newswatch.yaml").read_text() == "archive: mine.db\n"


@pytest.mark.parametrize(
    "text, what",
    [
        ("", "no source"),
        ("sources: []\n", "no source"),
        ("sources:\n  - {name: a, url: 'http://127.0.0.1:9/feed.xml', enabled: false}\n", "no enabled source"),
    ],
    ids=["empty-file", "empty-list", "all-disabled"],
)
def test_run_with_no_source_to_run_is_one_line_and_starts_nothing(tmp_path: Path, text: str, what: str) -> None:
    """QA finding 10: it started a temporary Prefect server, printed an empty table, exit 0,
    and made data/archive.db."""
    config = tmp_path / "newswatch.yaml"
    config.write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSWATCH_", "PREFECT_API_URL"))}
    done = newswatch("run", "--config", config, cwd=tmp_path, env=env)
    assert done.returncode == 1 and done.stdout == "", done
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"newswatch run: {config} has {what}") and "newswatch sources add NAME URL" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["newswatch.yaml"]
