# cislens: `make demo` runs the main job on built-in simulated data, `make test` runs the tests.
# Both create .venv when missing, install torch==2.13.0 (CPU build) first, then the package.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
CONSTRAINTS := -c constraints.txt
# Re-install whenever the package metadata changes.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: demo test lint bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

# After installing, compile and cache the numba kernels (cislens, memelite's TOMTOM and FIMO)
# once, so that no later run (the first `make demo` included) spends minutes compiling. A failed
# warm-up only costs that compilation later; it does not stop the install.
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) install torch==2.13.0
	$(PIP) install $(CONSTRAINTS) -e '.[dev]'
	# Data only: the Oct4 / MafK peak FASTA of tests/test_real_data.py (docs/real_data.md).
	# --no-deps because janggu's own pins (Biopython 1.77, pysam < 0.16) would break the env.
	$(PIP) install --no-deps 'janggu==0.10.2'
	$(BIN)/python -m cislens.warmup || echo 'cislens warm-up failed: numba kernels will compile on first use'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/cislens -v demo --out demo_out

# The report's browser test needs Chromium: installed with apt when missing, where apt-get
# exists and we are root; if that fails the test skips (make test does not fail for it).
test: $(STAMP)
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| echo "chromium could not be installed: the browser test will be skipped"; fi
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Lint (#23): ruff's checks and formatting, and the import graph (no cycle between packages, no
# private name imported across them), the sizes (no function over 80 lines of code, no module over
# 500 lines: tools/check_sizes.py) and mypy on the public API (tools/check_types.py).
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/ruff format --check src tests benchmarks tools
	$(BIN)/python tools/check_imports.py
	$(BIN)/python tools/check_sizes.py
	$(BIN)/python tools/check_types.py

# Peer tools for side-by-side timings (modisco-lite pins its own leidenalg; benchmarks only).
# One table (ISM, DeepLiftShap, grad x input vs tangermeme/captum), CSV in benchmarks/results/;
# sizes and device via BENCH_ARGS, e.g. make bench BENCH_ARGS="--dls-seqs 8 --device cuda".
# The single-topic scripts (benchmarks/shuffle.py, attribution.py, ism.py, deeplift.py) run alone.
# Then the #26 targets, each met / not met (benchmarks/targets.py): TARGETS_RUN names the scripts
# re-run first (discovery_scaling takes hours on 2 cores: add it, or `all`, to re-measure it;
# otherwise its saved results/discovery_scaling.json is read).
TARGETS_RUN ?= deeplift,ism,cold_start
bench: $(STAMP)
	$(PIP) install $(CONSTRAINTS) -e '.[dev,peers]'
	$(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/targets.py --run $(TARGETS_RUN)

clean:
	rm -rf $(VENV) demo_out .pytest_cache
