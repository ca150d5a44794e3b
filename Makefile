# The README's two set-up commands: `make demo` (the main job, on the embedded default model)
# and `make test` (the test suite). Both start from a fresh machine: they create .venv and install.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install test test-fast demo lint clean train-default

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The package alone: all that `audiogen generate` (the demo) needs.
$(VENV)/.installed-base: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

# Everything else: the test tools, the web page and the evaluation extras (dev, ui, eval),
# and the FAD/KL embedder.
$(VENV)/.installed: $(VENV)/.installed-base
	$(BIN)/pip install -q -e ".[dev,ui,eval]"
	# aisfx (the FAD/KL embedder) pins numpy 1.23 and librosa 0.9, which cannot resolve beside
	# this project's pins; it needs none of them at import, so it goes in without dependencies.
	$(BIN)/pip install -q --no-deps aisfx==0.1.2
	touch $@

install: $(VENV)/.installed

test: install
	$(BIN)/python -m pytest -q tests

# The main job: text to sound with the embedded default model (audiogen/assets/default_model),
# offline. Until that model is trained (`make train-default`), it stops and names the missing files.
demo: $(VENV)/.installed-base
	$(BIN)/audiogen generate --seed 1 --duration 4 -o outputs/demo \
	  "a piano plays a short melody" "rain falls steadily" "a siren wails in the distance" \
	  "birds chirp while a man speaks"
	@echo "demo: the generated files are in outputs/demo/"

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow" tests

lint: install
	$(BIN)/ruff check audiogen tests bench tools

clean:
	rm -rf $(VENV) build *.egg-info

# The default model's recipe (about 2 hours on 2 CPU cores; resumes where it stopped).
train-default: install
	bash tools/train_default.sh
