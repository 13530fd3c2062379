# allocbench's developer interface. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

FLAVOURS_ALL := pymem pymem-raw system mimalloc jemalloc
FLAVOUR ?= system
# The interpreter of the project venv; abi3 wheels built with it serve CPython 3.11-3.13.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
VPY := $(VENV)/bin/python
BUILD := build
# One cargo target dir for every flavour: switching flavours only rebuilds our crate.
export CARGO_TARGET_DIR ?= $(CURDIR)/$(BUILD)/target
export MATURIN_NO_INSTALL_RUST := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

RUST_SRC := $(shell find rustext -name '*.rs' ! -name 'tests.rs' -o -name 'Cargo.toml') Cargo.toml Cargo.lock pyproject.toml
PY_SRC := $(shell find python -name '*.py')

.PHONY: help venv build build-all test lint fmt cargo-test pytest clean asv-check history dashboard regress stress bench report bench-instructions regress-instructions pythons

help:
	@echo "make venv                  create .venv with the pinned tools (requirements/dev.txt)"
	@echo "make build FLAVOUR=<name>  build one flavour into build/flavours/<name> ($(FLAVOURS_ALL))"
	@echo "make build-all             build every flavour"
	@echo "make test                  lint, cargo test, build every flavour, run the test suite"
	@echo "make lint                  cargo fmt --check, cargo clippy -D warnings, ruff check/format --check"
	@echo "make fmt                   cargo fmt and ruff format"
	@echo "make bench-instructions    instructions/op of every timed workload per flavour (callgrind; FLAVOURS, FILTER)"
	@echo "make regress-instructions BASE=<rev>  instruction counts BASE vs HEAD; fails past THRESHOLD (0.01)"
	@echo "make stress                the reliability suite at full size (make test runs it small)"
	@echo "make history               asv: benchmark the code commits without stored results (FLAVOURS=a,b LIMIT=n ASV_PYTHON=3.12)"
	@echo "make dashboard             asv publish, then serve the dashboard on http://127.0.0.1:$(PORT)/"
	@echo "make regress BASE=<rev>    asv continuous BASE..HEAD; fails past FACTOR ($(FACTOR)) (FLAVOURS=a,b)"
	@echo "make bench                 the main job: every flavour side by side with pyperf, compare_to, report"
	@echo "                           (FLAVOURS=a,b MODE=smoke|quick|rigorous FILTER=<regex> RESULTS=<dir>"
	@echo "                            MEMORY_LIMIT=<bytes>: RLIMIT_AS of every worker)"
	@echo "make report RUN=<run id>   rebuild results/report/<run id> from the stored pyperf JSON"
	@echo "make pythons               Debian sid's CPython 3.14, 3.15 in a cached sid root (~/.cache/allocbench; needs root)"

$(VENV)/.stamp: requirements/dev.txt
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -r requirements/dev.txt
	touch $@

venv: $(VENV)/.stamp

# A flavour = the wheel built with feature alloc-<name>, installed into its own directory
# (a PYTHONPATH entry). The stamp keeps a rebuild from happening when nothing changed.
$(BUILD)/flavours/%/.stamp: $(RUST_SRC) $(PY_SRC) | $(VENV)/.stamp
	@case " $(FLAVOURS_ALL) " in *" $* "*) ;; *) echo "unknown flavour '$*': one of $(FLAVOURS_ALL)"; exit 2;; esac
	@echo "== building flavour $* (cargo feature alloc-$*)"
	rm -rf $(BUILD)/wheels/$* $(BUILD)/flavours/$*
	$(VENV)/bin/maturin build --quiet --release --features alloc-$* -i $(VPY) -o $(BUILD)/wheels/$*
	$(VPY) -m pip install -q --no-deps --no-compile --target $(BUILD)/flavours/$* $(BUILD)/wheels/$*/*.whl
	ALLOCBENCH_FLAVOUR=$* PYTHONPATH=$(BUILD)/flavours/$* $(VPY) -c "import allocbench.flavour as f; f.load()"
	touch $@

build: $(BUILD)/flavours/$(FLAVOUR)/.stamp

build-all: $(foreach f,$(FLAVOURS_ALL),$(BUILD)/flavours/$(f)/.stamp)

Cargo.lock:
	cargo generate-lockfile

lint: $(VENV)/.stamp
	cargo fmt --all --check
	cargo clippy --quiet --all-targets --features alloc-pymem -- -D warnings
	@for f in $(FLAVOURS_ALL); do \
	  echo "clippy: alloc-$$f (no python)"; \
	  cargo clippy --quiet --all-targets --no-default-features --features alloc-$$f -- -D warnings || exit 1; \
	done
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: $(VENV)/.stamp
	cargo fmt --all
	$(VENV)/bin/ruff format .

# Unit tests of the backends and workloads, without an interpreter (std's allocator is the
# global one there; the backends are tested as values).
cargo-test:
	@for f in $(FLAVOURS_ALL); do \
	  echo "cargo test: alloc-$$f"; \
	  cargo test --quiet --lib --no-default-features --features alloc-$$f || exit 1; \
	done

pytest: build-all
	$(VPY) -m pytest -q tests

# asv check and a quick dry run against an existing environment holding one flavour; the
# scratch dir keeps results/ untouched.
asv-check: $(BUILD)/flavours/system/.stamp
	$(VPY) tools/asv_check.py system $(BUILD)/wheels/system $(BUILD)/asv-check

test: lint cargo-test build-all pytest asv-check

# Reliability at full size: 20x the operations of the fast subset in `make test`.
stress: build-all
	ALLOCBENCH_STRESS=long $(VPY) -m pytest -q tests/test_stress.py

# ---- asv: the stored history and its dashboard ----------------------------------------
PORT ?= 8080
FACTOR ?= 1.25
BASE ?=
LIMIT ?= 0
ASV_PYTHON ?= 3.11
FLAVOURS_ARG = $(if $(FLAVOURS),--flavours $(FLAVOURS),)

history: $(VENV)/.stamp
	$(VPY) tools/asv_history.py $(FLAVOURS_ARG) --limit $(LIMIT) --python $(ASV_PYTHON)

dashboard: $(VENV)/.stamp
	$(VPY) tools/asv_publish.py
	@echo "serving .asv/html on http://127.0.0.1:$(PORT)/ (Ctrl-C stops)"
	$(VPY) -m http.server --bind 127.0.0.1 --directory .asv/html $(PORT)

regress: $(VENV)/.stamp
	@test -n "$(BASE)" || { echo "make regress needs BASE=<git revision>"; exit 2; }
	$(VPY) tools/asv_regress.py $(BASE) $(FLAVOURS_ARG) --factor $(FACTOR) --python $(ASV_PYTHON)

clean:
	rm -rf $(BUILD) $(VENV)

# ---- make bench: every flavour side by side (python/allocbench/bench.py) --------------------
# Knobs: FLAVOURS=pymem,system (default: all five), MODE=smoke|quick|rigorous (default quick),
# FILTER=<regular expression on benchmark names>, RESULTS=<results root> (default results;
# test runs go elsewhere: results/ holds only real runs).
comma := ,
BENCH_FLAVOURS = $(if $(FLAVOURS),$(subst $(comma), ,$(FLAVOURS)),$(FLAVOURS_ALL))
MODE ?= quick
FILTER ?=
RESULTS ?= results
MEMORY_LIMIT ?=

# Builds only the flavours asked for (a no-op when they are up to date).
bench: $(foreach f,$(BENCH_FLAVOURS),$(BUILD)/flavours/$(f)/.stamp)
	PYTHONPATH=python $(VPY) -m allocbench.bench --flavours "$(BENCH_FLAVOURS)" \
	  --mode "$(MODE)" --filter '$(FILTER)' --out "$(RESULTS)" \
	  $(if $(MEMORY_LIMIT),--memory-limit $(MEMORY_LIMIT),)

# Needs only the venv: the report is drawn from the stored JSON, nothing is built or run.
report: $(VENV)/.stamp
	@test -n "$(RUN)" || { echo "make report needs RUN=<run id>; stored runs: $$(ls $(RESULTS)/pyperf 2>/dev/null | tr '\n' ' ')"; exit 2; }
	PYTHONPATH=python $(VPY) -m allocbench.report "$(RESULTS)/pyperf/$(RUN)" --out "$(RESULTS)/report/$(RUN)"

# ---- instruction counts (python/allocbench/instructions.py) ------------------------------
THRESHOLD ?= 0.01

bench-instructions: $(foreach f,$(BENCH_FLAVOURS),$(BUILD)/flavours/$(f)/.stamp)
	PYTHONPATH=python $(VPY) -m allocbench.bench --instructions --flavours "$(BENCH_FLAVOURS)" \
	  --filter '$(FILTER)' --out "$(RESULTS)"

regress-instructions: $(VENV)/.stamp
	@test -n "$(BASE)" || { echo "make regress-instructions needs BASE=<git revision>"; exit 2; }
	$(VPY) tools/regress_instructions.py $(BASE) $(if $(FLAVOURS),--flavours $(FLAVOURS),) \
	  --threshold $(THRESHOLD) $(if $(FILTER),--filter '$(FILTER)',)

# ---- Debian sid's CPython 3.14 and 3.15 (python/allocbench/pythons.py) ---------------------
# A debootstrapped sid root cached in ~/.cache/allocbench/sid-root ($ALLOCBENCH_SID_ROOT),
# made on the first run and refreshed (apt-get update, full-upgrade) on later ones, and
# launchers in ~/.cache/allocbench/bin that find_python("3.15") finds. Needs root. Runs with
# the venv's interpreter when there is one (standard library only).
pythons:
	PYTHONPATH=python $(firstword $(wildcard $(VPY)) $(PYTHON)) -m allocbench.pythons
