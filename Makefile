# allocbench's developer interface. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The interpreter of the project venv; abi3 wheels built with it serve CPython 3.11-3.13.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
# Every flavour, from the flavour registry (python/allocbench/registry.py; standard library
# only, so any Python 3.11+ reads it, before the venv exists).
FLAVOURS_ALL := $(shell $(PYTHON) python/allocbench/registry.py)
$(if $(FLAVOURS_ALL),,$(error cannot read the flavours from python/allocbench/registry.py with $(PYTHON)))
FLAVOUR ?= system
VENV := .venv
VPY := $(VENV)/bin/python
BUILD := build
# One cargo target dir for every flavour: switching flavours only rebuilds our crate.
export CARGO_TARGET_DIR ?= $(CURDIR)/$(BUILD)/target
export MATURIN_NO_INSTALL_RUST := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# The interpreter knob (allocbench.interpreters: 3.11 3.12 3.13 3.14 3.15 3.11-debian
# 3.13-debian; comma lists for bench and test) and the workers' PYTHONMALLOC knob. The latter
# is passed to the workers only: never to the venv's own processes (3.11 has no mimalloc).
PY ?=
PYTHONMALLOC ?=
unexport PYTHONMALLOC

RUST_SRC := $(shell find rustext crates -name '*.rs' ! -name 'tests.rs' -o -name '*.c' -o -name 'Cargo.toml') Cargo.toml Cargo.lock pyproject.toml
PY_SRC := $(shell find python -name '*.py' -o -name '*.pyi')

.PHONY: bench-extension help venv build build-all test lint registry fmt cargo-test pytest clean asv-check history dashboard regress stress bench report report-compare bench-instructions regress-instructions review pythons hazards mutants

# `make help` prints the `##` comment of every target (and the `##` lines right below it),
# so the list cannot drift from the targets; tests/test_makefile.py checks every .PHONY
# target has one.
help: ## this list
	@awk '/^[a-zA-Z0-9_-]+:.*## / { t = $$0; sub(/:.*/, "", t); d = $$0; sub(/^[^#]*## /, "", d); \
	        printf "make %-21s %s\n", t, d; more = 1; next } \
	      more && /^##/ { d = $$0; sub(/^## ?/, "", d); printf "%26s %s\n", "", d; next } \
	      { more = 0 }' $(firstword $(MAKEFILE_LIST))
	@echo "flavours (python/allocbench/registry.py): $(FLAVOURS_ALL)"

$(VENV)/.stamp: requirements/dev.txt
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -r requirements/dev.txt
	touch $@

venv: $(VENV)/.stamp ## create .venv with the pinned tools (requirements/dev.txt)

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

build: $(BUILD)/flavours/$(FLAVOUR)/.stamp ## FLAVOUR=<name>: build one flavour into build/flavours/<name>

build-all: $(foreach f,$(FLAVOURS_ALL),$(BUILD)/flavours/$(f)/.stamp) ## build every flavour

Cargo.lock:
	cargo generate-lockfile

# Both packages in every flavour: the extension (allocbench-rustext, feature alloc-<name>)
# and the allocator crate it uses (allocbench-alloc, feature <name>), tests included.
# The stub of the extension (python/allocbench/_rustext.pyi) is checked against a built
# flavour: mypy reads the stub from the source tree, stubtest imports the system build.
lint: $(VENV)/.stamp $(BUILD)/flavours/system/.stamp ## cargo fmt --check, cargo clippy -D warnings, ruff check/format
## --check, mypy.stubtest of the extension's stub against the system flavour, the registry's lists
	$(PYTHON) python/allocbench/registry.py --check
	cargo fmt --all --check
	cargo clippy --quiet --all-targets -p allocbench-rustext --features alloc-pymem -- -D warnings
	@for f in $(FLAVOURS_ALL); do \
	  echo "clippy: allocbench-alloc $$f, allocbench-rustext alloc-$$f (no python)"; \
	  cargo clippy --quiet --all-targets -p allocbench-alloc --features $$f -- -D warnings || exit 1; \
	  cargo clippy --quiet --all-targets -p allocbench-rustext --no-default-features \
	    --features alloc-$$f -- -D warnings || exit 1; \
	done
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	MYPY_CACHE_DIR=$(BUILD)/mypy-cache MYPYPATH=python PYTHONPATH=$(BUILD)/flavours/system \
	  ALLOCBENCH_FLAVOUR=system $(VPY) -m mypy.stubtest allocbench._rustext

# The lists cargo and asv read (features, lib.rs's backends, asv's matrix), written from the
# registry: run after adding, renaming or removing a flavour there.
registry: ## rewrite the flavour lists of the Cargo.tomls, lib.rs and asv.conf.json from
## python/allocbench/registry.py
	$(PYTHON) python/allocbench/registry.py --write

fmt: $(VENV)/.stamp ## cargo fmt and ruff format
	cargo fmt --all
	$(VENV)/bin/ruff format .

# Unit tests of the backends (allocbench-alloc) and the workloads (allocbench-rustext),
# without an interpreter (std's allocator is the global one there; the backends are tested
# as values).
cargo-test: ## cargo test of allocbench-alloc and rustext in every flavour (no interpreter)
	@for f in $(FLAVOURS_ALL); do \
	  echo "cargo test: allocbench-alloc $$f"; \
	  cargo test --quiet -p allocbench-alloc --lib --features $$f || exit 1; \
	  echo "cargo test: allocbench-rustext alloc-$$f"; \
	  cargo test --quiet -p allocbench-rustext --lib --no-default-features --features alloc-$$f || exit 1; \
	done

pytest: build-all ## the pytest suite against every built flavour (PY=3.15: those interpreters only)
	ALLOCBENCH_PY="$(PY)" $(VPY) -m pytest -q tests

# asv check and a quick dry run against an existing environment holding one flavour; the
# scratch dir keeps results/ untouched.
asv-check: $(BUILD)/flavours/system/.stamp ## asv check and a quick dry run in a scratch dir (system flavour)
	$(VPY) tools/asv_check.py system $(BUILD)/wheels/system $(BUILD)/asv-check

test: lint cargo-test build-all pytest asv-check ## lint, cargo test, build every flavour, the test suite, asv-check
## (PY=3.15: the per-interpreter tests on that interpreter only)

# Reliability at full size: 20x the operations of the fast subset in `make test`.
stress: build-all ## the reliability suite at full size (make test runs it small; PY=...)
	ALLOCBENCH_STRESS=long ALLOCBENCH_PY="$(PY)" $(VPY) -m pytest -q tests/test_stress.py

# ---- asv: the stored history and its dashboard ----------------------------------------
PORT ?= 8080
FACTOR ?= 1.25
BASE ?=
LIMIT ?= 0
# PY is an alias; asv runs only the host's CPythons of an id 3.11, 3.12, 3.13 (tools/asv_history.py).
ASV_PYTHON ?= $(if $(PY),$(PY),3.11)
FLAVOURS_ARG = $(if $(FLAVOURS),--flavours $(FLAVOURS),)

# BENCH=<regex>: only those benchmarks (e.g. deterministic); REVS=<git range> (default HEAD);
# SPREAD=1: LIMIT commits spread evenly over the range instead of the newest.
BENCH ?=
REVS ?=
SPREAD ?=
history: $(VENV)/.stamp ## asv: benchmark the code commits without stored results (FLAVOURS=a,b LIMIT=n PY=3.12
##  BENCH=<regex> REVS=<git range> SPREAD=1)
	$(VPY) tools/asv_history.py $(FLAVOURS_ARG) --limit $(LIMIT) --python $(ASV_PYTHON) \
	  $(if $(BENCH),--bench '$(BENCH)',) $(if $(REVS),--revs '$(REVS)',) \
	  $(if $(filter 1 yes true,$(SPREAD)),--spread,)

dashboard: $(VENV)/.stamp ## asv publish, then serve the dashboard on http://127.0.0.1:PORT/ (PORT=8080)
	$(VPY) tools/asv_publish.py
	@echo "serving .asv/html on http://127.0.0.1:$(PORT)/ (Ctrl-C stops)"
	$(VPY) -m http.server --bind 127.0.0.1 --directory .asv/html $(PORT)

# DETERMINISTIC=1: gate on the callgrind lines only (bench_deterministic), factor 1 + THRESHOLD.
DETERMINISTIC ?=
regress: $(VENV)/.stamp ## BASE=<rev>: asv continuous BASE..HEAD; fails past FACTOR (1.25) (FLAVOURS=a,b)
## (DETERMINISTIC=1: the callgrind lines only, factor 1 + THRESHOLD)
	@test -n "$(BASE)" || { echo "make regress needs BASE=<git revision>"; exit 2; }
	$(VPY) tools/asv_regress.py $(BASE) $(FLAVOURS_ARG) --factor $(FACTOR) --python $(ASV_PYTHON) \
	  $(if $(BENCH),--bench '$(BENCH)',) \
	  $(if $(filter 1 yes true,$(DETERMINISTIC)),--deterministic --threshold $(THRESHOLD),)

clean: ## remove build/ and .venv
	rm -rf $(BUILD) $(VENV)

# ---- make bench: every flavour side by side (python/allocbench/bench.py) --------------------
# Knobs: FLAVOURS=pymem,system (default: all five), MODE=smoke|quick|rigorous (default quick),
# FILTER=<regular expression on benchmark names>, RESULTS=<results root> (default results;
# test runs go elsewhere: results/ holds only real runs).
comma := ,
space := $(subst ,, )
BENCH_FLAVOURS = $(if $(FLAVOURS),$(subst $(comma), ,$(FLAVOURS)),$(FLAVOURS_ALL))
MODE ?= quick
FILTER ?=
RESULTS ?= results
MEMORY_LIMIT ?=
# REPLICATE=1 (or yes, true): two interleaved halves, each its own run, and their agreement.
REPLICATE ?=

# Builds only the flavours asked for (a no-op when they are up to date).
bench: $(foreach f,$(BENCH_FLAVOURS),$(BUILD)/flavours/$(f)/.stamp) ## the main job: every flavour side by side with pyperf, compare_to, report
## (FLAVOURS=a,b MODE=smoke|quick|rigorous FILTER=<regex> RESULTS=<dir>
##  MEMORY_LIMIT=<bytes>: RLIMIT_AS of every worker;
##  PY=3.11,3.15: one run per interpreter + the verdict per interpreter;
##  PYTHONMALLOC=default|pymalloc|malloc|mimalloc, comma lists too;
##  REPLICATE=1: the plan twice, rounds alternating, into <run id>-a and -b,
##  and whether their verdicts agree: report/<run id>-replication)
	PYTHONPATH=python $(VPY) -m allocbench.bench --flavours "$(BENCH_FLAVOURS)" \
	  --mode "$(MODE)" --filter '$(FILTER)' --out "$(RESULTS)" \
	  --python "$(PY)" --pythonmalloc "$(PYTHONMALLOC)" \
	  $(if $(MEMORY_LIMIT),--memory-limit $(MEMORY_LIMIT),) \
	  $(if $(filter 1 yes true,$(REPLICATE)),--replicate,)

# A real extension in every flavour (python/allocbench/extension.py): PKG=orjson==3.13.0 (the
# sdist from PyPI, cached under build/extensions) or SRC=<maturin project on disk>.
PKG ?=
SRC ?=
EXT_FLAVOURS = $(if $(FLAVOURS),$(FLAVOURS),$(subst $(space),$(comma),as-shipped $(FLAVOURS_ALL)))

bench-extension: $(VENV)/.stamp ## PKG=<name>==<version> (or SRC=<dir>): a real extension built in every
## flavour (as-shipped + each backend), its own tests (also PYTHONMALLOC=debug),
## then its workloads (benchmarks/extensions/) side by side
## (FLAVOURS=as-shipped,pymem,... MODE FILTER RESULTS PY; results/extensions/)
	PYTHONPATH=python $(VPY) -m allocbench.extension $(if $(PKG),--pkg '$(PKG)',) \
	  $(if $(SRC),--src '$(SRC)',) --flavours '$(EXT_FLAVOURS)' --mode '$(MODE)' \
	  --filter '$(FILTER)' --results '$(RESULTS)' $(if $(PY),--python '$(PY)',)

# Needs only the venv: the report is drawn from the stored JSON, nothing is built or run.
report: $(VENV)/.stamp ## RUN=<run id>: rebuild results/report/<run id> from the stored pyperf JSON
	@test -n "$(RUN)" || { echo "make report needs RUN=<run id>; stored runs: $$(ls $(RESULTS)/pyperf 2>/dev/null | tr '\n' ' ')"; exit 2; }
	PYTHONPATH=python $(VPY) -m allocbench.report "$(RESULTS)/pyperf/$(RUN)" --out "$(RESULTS)/report/$(RUN)"

# The verdicts of several stored runs side by side (e.g. one per interpreter or PYTHONMALLOC);
# of two runs (e.g. the halves of make bench REPLICATE=1, or one plan on two days) also whether
# their verdicts agree; written to $(RESULTS)/report/<a>_vs_<b>.
report-compare: $(VENV)/.stamp ## RUNS=a,b: the verdicts of several stored runs side by side
## (two runs: do they agree? e.g. RUNS=<id>-a,<id>-b of a REPLICATE=1 run)
	@test -n "$(RUNS)" || { echo "make report-compare needs RUNS=<run id>,<run id>[,…]; stored runs: $$(ls $(RESULTS)/pyperf 2>/dev/null | tr '\n' ' ')"; exit 2; }
	PYTHONPATH=python $(VPY) -m allocbench.report $(foreach r,$(subst $(comma), ,$(RUNS)),"$(RESULTS)/pyperf/$(r)")

# ---- instruction counts (python/allocbench/instructions.py) ------------------------------
THRESHOLD ?= 0.01

bench-instructions: $(foreach f,$(BENCH_FLAVOURS),$(BUILD)/flavours/$(f)/.stamp) ## instructions/op and est. cycles/op of every timed workload per flavour
## (callgrind + its cache simulation; FLAVOURS, FILTER, PY)
	PYTHONPATH=python $(VPY) -m allocbench.bench --instructions --flavours "$(BENCH_FLAVOURS)" \
	  --filter '$(FILTER)' --out "$(RESULTS)" $(if $(PY),--python "$(PY)",)

regress-instructions: $(VENV)/.stamp ## BASE=<rev>: instruction counts BASE vs HEAD; fails past THRESHOLD (0.01)
	@test -n "$(BASE)" || { echo "make regress-instructions needs BASE=<git revision>"; exit 2; }
	$(VPY) tools/regress_instructions.py '$(BASE)' $(if $(FLAVOURS),--flavours $(FLAVOURS),) \
	  --threshold $(THRESHOLD) $(if $(FILTER),--filter '$(FILTER)',) $(if $(PY),--python '$(PY)',)

# A pull-request comment (tools/review.py): BASE and HEAD (default: HEAD) built and counted
# as regress-instructions does, every point per flavour improved/regressed/same by
# instructions and est. cycles per op (THRESHOLD), the changed points with the wall time of
# stored make bench runs of both commits. Knobs: HEAD, FLAVOURS (default all), FILTER, PY.
review: $(VENV)/.stamp ## BASE=<rev>: a pull-request comment: per flavour, points improved/regressed/same
## (instructions and est. cycles, THRESHOLD), changed points with wall time of stored runs;
## build/review/<base>..<head>.md (HEAD=<rev> FLAVOURS=a,b FILTER=<regex> PY=<id>)
	@test -n "$(BASE)" || { echo "make review needs BASE=<git revision>"; exit 2; }
	$(VPY) tools/review.py '$(BASE)' --head '$(or $(HEAD),HEAD)' \
	  $(if $(FLAVOURS),--flavours $(FLAVOURS),) --threshold $(THRESHOLD) \
	  $(if $(FILTER),--filter '$(FILTER)',) $(if $(PY),--python '$(PY)',)

# ---- Debian sid's CPython 3.14 and 3.15 (python/allocbench/pythons.py) ---------------------
# A debootstrapped sid root cached in ~/.cache/allocbench/sid-root ($ALLOCBENCH_SID_ROOT),
# made on the first run and refreshed (apt-get update, full-upgrade) on later ones, and
# launchers in ~/.cache/allocbench/bin that find_python("3.15") finds. Needs root. Runs with
# the venv's interpreter when there is one (standard library only).
pythons: ## Debian sid's CPython 3.14, 3.15 in a cached sid root (~/.cache/allocbench; needs root)
	PYTHONPATH=python $(firstword $(wildcard $(VPY)) $(PYTHON)) -m allocbench.pythons

# ---- the hazard matrix (python/allocbench/hazards.py) ----------------------------------------
# Per flavour x interpreter x PYTHONMALLOC, each cell a child process with a timeout: does a
# GIL holder that joins an allocating Rust thread without detaching (tracemalloc on) complete
# or hang, also from a Drop during unwinding; what tracemalloc sees; is it clean without
# tracemalloc. Knobs: FLAVOURS, PY (interpreter ids, default: all present), TIMEOUT.
TIMEOUT ?= 20

hazards: $(foreach f,$(BENCH_FLAVOURS),$(BUILD)/flavours/$(f)/.stamp) ## the hazard matrix: flavour x interpreter x PYTHONMALLOC, joins without detaching
## (FLAVOURS=a,b PY=3.11,3.15 TIMEOUT=<s per cell, 20>; results/hazards/<run id>)
	PYTHONPATH=python $(VPY) -m allocbench.hazards --flavours "$(BENCH_FLAVOURS)" \
	  $(if $(PY),--pythons "$(PY)",) --timeout "$(TIMEOUT)" --results "$(RESULTS)"

# ---- mutation testing (tests/README.md) -----------------------------------------------------
# cargo-mutants (pinned; installed into ~/.cargo/bin when missing) over the backends
# (crates/allocbench-alloc) and the workloads (rustext): a backend file is compiled only under
# its own feature, so each flavour mutates the files it compiles, and the shared ones
# (workloads, pyapi, aligned, lib) once. Every mutant runs both packages' unit tests
# (.cargo/mutants.toml: test_workspace); the flavour is allocbench-alloc's feature, which
# every cargo call accepts (the baseline builds only the mutated packages; rustext's unit
# tests need no alloc-* feature of their own). mutmut
# (requirements/dev.txt) over the report's statistics and the catalogue's validation, in a
# scratch copy of the package and the tests that can kill them (config: tests/mutmut.toml).
# Everything is written to build/mutants/. Survivors do not fail the target; a failing
# baseline does. Knobs: PART=rust|python (default both), FLAVOURS=a,b (cargo-mutants only).
CARGO_MUTANTS_VERSION := 27.1.0
MUTANTS := $(BUILD)/mutants
PART ?= rust python
ALLOC_SRC := crates/allocbench-alloc/src
# A flavour mutates its backend file (<module>.rs: the name with '_' for '-'), unless listed here.
mutants_files = $(or $(MUTANTS_FILES_$(1)),$(ALLOC_SRC)/$(subst -,_,$(1)).rs)
MUTANTS_FILES_pymem := $(addprefix $(ALLOC_SRC)/,pymem.rs pymem/*.rs fallback.rs aligned.rs pyapi.rs pyapi/*.rs lib.rs backend.rs)
# checks/rng.rs: the workloads' generator (its tests are the workloads').
MUTANTS_FILES_system := $(ALLOC_SRC)/system.rs $(ALLOC_SRC)/checks/rng.rs rustext/src/workloads/*.rs
# Compiled with the python feature only (its C loops call CPython), which cargo test lacks:
# its mutants would survive unbuilt. tests/test_c_pair.py checks it in every flavour.
MUTANTS_EXCLUDE := rustext/src/workloads/c_pair.rs
# mutmut mutates these functions only (its mutant names: module.x_function, module.xǁClassǁmethod).
MUTMUT_SELECT := \
  $(foreach f,round_ratio family_ratio welch_ratio rsd,allocbench.report.stats.x_$(f)__mutmut_*) \
  $(foreach f,outcome within contains,allocbench.report.stats.xǁRoundRatioǁ$(f)__mutmut_*) \
  allocbench.report.replicate.x_agreement__mutmut_* \
  $(foreach f,*Param*allowed *Param*check *Workload*validate *Workload*param *Workload*run,allocbench.workload.x$(f)__mutmut_*) \
  $(foreach f,_get _run,allocbench.catalogue.x$(f)__mutmut_*)
MUTMUT_TESTS := conftest.py helpers.py test_catalogue.py test_statistics.py test_mutation_kills.py \
  test_verdict.py

mutants: $(VENV)/.stamp ## mutation testing: cargo-mutants per flavour, mutmut on the statistics and validation
## (PART=rust|python FLAVOURS=a,b; ~16 min; build/mutants/; tests/README.md)
ifneq ($(filter rust,$(PART)),)
	@cargo mutants --version 2>/dev/null | grep -qx 'cargo-mutants $(CARGO_MUTANTS_VERSION)' \
	  || cargo install --locked cargo-mutants@$(CARGO_MUTANTS_VERSION)
	@rm -rf $(MUTANTS)/rust && mkdir -p $(MUTANTS)/rust
	@$(foreach fl,$(BENCH_FLAVOURS), \
	  echo "== cargo mutants, alloc-$(fl): $(call mutants_files,$(fl))"; \
	  env -u CARGO_TARGET_DIR nice -n 10 cargo mutants --no-default-features \
	    --features allocbench-alloc/$(fl) \
	    $(foreach f,$(call mutants_files,$(fl)),-f '$(f)') \
	    $(foreach f,$(MUTANTS_EXCLUDE),-e '$(f)') -o $(MUTANTS)/rust/$(fl) --colors never \
	    2>&1 | tee $(MUTANTS)/rust/$(fl).log | grep --line-buffered -E '^(MISSED|TIMEOUT|[0-9]+ mutants tested)'; \
	  rc=$${PIPESTATUS[0]}; case $$rc in (0|2|3) ;; \
	    (*) echo "cargo mutants failed ($$rc): $(MUTANTS)/rust/$(fl).log"; exit $$rc;; esac;)
	@for fl in $(BENCH_FLAVOURS); do o=$(MUTANTS)/rust/$$fl/mutants.out; \
	  printf 'cargo-mutants %-10s caught %3d  missed %3d  unviable %3d  timeout %3d\n' $$fl \
	    $$(cat $$o/caught.txt | wc -l) $$(cat $$o/missed.txt | wc -l) \
	    $$(cat $$o/unviable.txt | wc -l) $$(cat $$o/timeout.txt | wc -l); \
	done | tee $(MUTANTS)/rust/summary.txt
endif
ifneq ($(filter python,$(PART)),)
	@rm -rf $(MUTANTS)/python && mkdir -p $(MUTANTS)/python/src $(MUTANTS)/python/tests
	@cp -r python/allocbench $(MUTANTS)/python/src/
	@find $(MUTANTS)/python -name __pycache__ -prune -exec rm -rf {} +
	@cp $(addprefix tests/,$(MUTMUT_TESTS)) $(MUTANTS)/python/tests/
	@cp tests/mutmut.toml $(MUTANTS)/python/pyproject.toml
	@echo "== mutmut: report statistics, workload.py and catalogue.py validation ($(MUTANTS)/python/mutmut.log)"
	@cd $(MUTANTS)/python && nice -n 10 $(CURDIR)/$(VENV)/bin/mutmut run \
	  $(foreach s,$(MUTMUT_SELECT),'$(s)') > mutmut.log 2>&1 || { tail -30 mutmut.log; exit 1; }
	@cd $(MUTANTS)/python && $(CURDIR)/$(VENV)/bin/mutmut results --all true 2>/dev/null \
	  | grep -v ': not checked$$' > results.txt; \
	  grep ': survived$$' results.txt || true; \
	  echo "mutmut (python):      $$(awk -F': ' '{print $$NF}' results.txt | sort | uniq -c \
	    | awk '{c = $$1; $$1 = ""; printf "%s%s: %s", sep, substr($$0, 2), c; sep = ", "}')" | tee summary.txt; \
	  echo "(mutmut show <name>, run in $(MUTANTS)/python, shows a mutant's diff)"
endif
