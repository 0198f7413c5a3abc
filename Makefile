# Everything runs from a project-local virtual environment that the targets create themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= newswatch.yaml
# The whole dependency tree, every package pinned (README "Dependencies: the lock"). Every
# install goes through it; `make lock` regenerates it from pyproject.toml.
LOCK   := constraints.txt
UV     := uv==0.13.9

.PHONY: install run test lock bench clean-venv

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

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

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

bench: $(STAMP)
	$(BIN)/python bench/extraction.py

clean-venv:
	rm -rf $(VENV)
