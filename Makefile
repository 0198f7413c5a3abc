# Everything runs from a project-local virtual environment that the targets create themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= newswatch.yaml

.PHONY: install run test bench clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The main job: one ingestion run of the configured sources (newswatch.yaml, else the example).
run: $(STAMP)
	@cfg=$(CONFIG); [ -f $$cfg ] || cfg=newswatch.example.yaml; \
	$(BIN)/newswatch run --config $$cfg

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/extraction.py

clean-venv:
	rm -rf $(VENV)
