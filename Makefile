# Two commands do all the set-up on a fresh machine:
#   make demo   - create .venv, install occbench, run the main job
#   make test   - create .venv, install occbench with test tools, run the tests
# TORCH_SPEC pins the CPU build that lies on this project's machines; on a GPU machine use
#   make TORCH_SPEC='torch' demo   (or any torch >= 2.1 you already have)
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: demo test lint install dev clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed
	$(BIN)/pip install -q -e ".[dev]"
	# xtcocotools' wheels break under numpy 2; build it from source against the installed numpy.
	$(BIN)/pip install -q Cython setuptools wheel
	$(BIN)/pip install -q --no-build-isolation --no-binary xtcocotools xtcocotools
	touch $@

install: $(VENV)/.installed
dev: $(VENV)/.dev-installed

demo: $(VENV)/.installed
	$(BIN)/occbench demo

test: $(VENV)/.dev-installed
	$(BIN)/python -m pytest -q

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check occbench tests
	$(BIN)/ruff format --check occbench tests

clean:
	rm -rf $(VENV)
