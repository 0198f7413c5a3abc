# Everything runs from a project-local virtual environment that the targets create themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= newswatch.yaml
# The whole dependency tree, every package pinned (docs/internals.md "Dependencies: the lock"). Every
# install goes through it; `make lock` regenerates it from pyproject.toml.
LOCK   := constraints.txt
UV     := uv==0.13.9

.PHONY: install run test test-fast lint lock bench clean-venv

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The main job: one ingestion run of the configured sources. The first time, newswatch.yaml is
# made from the example, so that every newswatch command then reads the same file.
run: $(STAMP)
	@if [ "$(CONFIG)" = newswatch.yaml ] && [ ! -e newswatch.yaml ]; then \
	  cp newswatch.example.yaml newswatch.yaml && \
	  echo "make run: no newswatch.yaml yet: copied newswatch.example.yaml to newswatch.yaml; edit it (sources, user_agent, smtp, alerts, schedules): every newswatch command reads it"; \
	fi
	$(BIN)/newswatch run --config $(CONFIG)

# The whole suite, after the linters (CI runs this: .ci/run). Three processes (pytest-xdist) on
# the two cores CI has, a test module each at a time: half the suite waits (for schedulers,
# heartbeats, signals, hanging servers), so the others work meanwhile; a module's fixtures stay
# in one process.
test: lint
	$(BIN)/python -m pytest -n 3 --dist loadfile $(PYTEST_ARGS)

# The suite without the tests that start Prefect servers, kill runs, wait for schedules or play
# a hostile web (markers in pyproject.toml): under a minute, for the edit-test loop. One
# process per core (pytest-xdist): most of its time is command-line tests each starting Python.
FAST_MARKERS := not flow and not fault and not hostile and not schedule and not slow
test-fast: $(STAMP)
	$(BIN)/python -m pytest -n auto -m "$(FAST_MARKERS)" $(PYTEST_ARGS)

# ruff (lint and format), mypy, configured in pyproject.toml, and vulture (dead code: the tests
# and benches count as callers, vulture_whitelist.py names what frameworks call); each stops
# with what to run.
VULTURE_PATHS := core flows scrapers storage alerts errors.py tests bench vulture_whitelist.py
lint: $(STAMP)
	@$(BIN)/ruff check . || { echo "make lint: ruff check found problems above (the safe fixes: $(BIN)/ruff check --fix .)" >&2; exit 1; }
	@$(BIN)/ruff format --check . || { echo "make lint: files above are not formatted: run $(BIN)/ruff format ." >&2; exit 1; }
	@$(BIN)/mypy || { echo "make lint: mypy found type errors above ([tool.mypy] in pyproject.toml)" >&2; exit 1; }
	@dead=$$($(BIN)/vulture $(VULTURE_PATHS) --min-confidence 60 | grep -Ev '^(tests|bench)/'); \
	  if [ -n "$$dead" ]; then echo "$$dead"; echo "make lint: vulture found code nothing calls (above): delete it, or name it in vulture_whitelist.py if a framework calls it by name" >&2; exit 1; fi

# Regenerate the lock: pyproject.toml's dependencies with all extras, for every platform and
# Python >= 3.11, from the public package index only (--no-config and no UV_* index variables:
# a machine's own pip indexes and wheel folders are not read). Versions already in the lock
# are kept: `make lock UPGRADE=1` takes the newest of everything, `make lock
# UPGRADE_PACKAGE="httpx feedparser"` of those packages only.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet '$(UV)'
	env -u UV_INDEX -u UV_INDEX_URL -u UV_DEFAULT_INDEX -u UV_EXTRA_INDEX_URL -u UV_FIND_LINKS \
	  $(BIN)/uv pip compile pyproject.toml --all-extras --universal --python-version 3.11 \
	  --no-config --quiet --custom-compile-command 'make lock' \
	  $(if $(UPGRADE),--upgrade) $(addprefix --upgrade-package ,$(UPGRADE_PACKAGE)) -o $(LOCK)

# The extraction benchmark (docs/benchmarks.md). Its two corpora are not in the repository:
# `make bench CORPORA=DIR`, DIR holding extraction-benchmark/ and extraction-corpus-trafilatura/.
bench: $(STAMP)
	@test -n "$(CORPORA)" || { echo "make bench: give the directory holding extraction-benchmark/ and extraction-corpus-trafilatura/ (not in the repository): make bench CORPORA=DIR" >&2; exit 2; }
	$(BIN)/python bench/extraction.py --benchmark $(CORPORA)/extraction-benchmark --corpus $(CORPORA)/extraction-corpus-trafilatura

clean-venv:
	rm -rf $(VENV)
