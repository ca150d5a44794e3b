# The README's two set-up commands: `make demo` (the main job, on the embedded default model)
# and `make test` (the test suite). Both start from a fresh machine: they create .venv and install.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install test test-fast demo lint clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[dev,ui]"
	# aisfx (the FAD/KL embedder) pins numpy 1.23 and librosa 0.9, which cannot resolve beside
	# this project's pins; it needs none of them at import, so it goes in without dependencies.
	$(BIN)/pip install -q --no-deps aisfx==0.1.2
	touch $@

install: $(VENV)/.installed

test: install
	$(BIN)/python -m pytest -q tests

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow" tests

lint: install
	$(BIN)/ruff check audiogen tests bench tools

clean:
	rm -rf $(VENV) build *.egg-info
