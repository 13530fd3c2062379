"""``make bench-instructions``: instructions per operation of every timed workload, per
flavour, counted by ``valgrind --tool=callgrind`` (the same binary and input give the same
count whatever else the machine is doing).

    python -m allocbench.instructions [--flavours a,b] [--filter REGEX] [--out RESULTS]
                                      [--run-id ID] [--no-wall-time] [--python 3.15]

``--python`` (an interpreter id of ``allocbench.interpreters``; default: this interpreter, the
project venv's) counts under another CPython. Debian sid's (3.14, 3.15, 3.13-debian) are
counted inside the ``make pythons`` root by its own valgrind (the launcher starts the
interpreter there, which execs valgrind on itself), so the interpreter runs on sid's glibc
as it does in every other run; the run records the interpreter and its C library.

One callgrind process per flavour runs every selected catalogue point twice, with
``loops = 1`` and ``loops = 1 + k`` (k loops of about ``call_ops`` operations). Around each
call the extension zeroes callgrind's counters and dumps them under a label (valgrind client
requests, ``rustext/src/callgrind.rs``), so interpreter start-up, imports and the Python call
itself cancel out:  instructions/op = (Ir(1 + k) - Ir(1)) / (k * ops_per_loop).

Callgrind also simulates the caches (``--cache-sim=yes``, with this machine's geometry
pinned: ``CACHE_GEOMETRY``), and each point gets *estimated cycles per op*, the same
difference of ``est_cycles`` (L1 hits + 5 x LL hits + 35 x RAM hits, the weights
iai-callgrind and CodSpeed use). Also deterministic, it charges what instructions alone
miss: a block that comes back cold, a path that touches more lines. pymalloc stays on while
counting (``PYTHONMALLOC`` is removed from the worker's environment, never set to malloc):
the difference between pymalloc and the other allocators is what is measured.

The raw baseline (``raw_pair``) is counted the same way, so each flavour's GlobalAlloc path
is an exact ratio to its own primitive. So is the C-level pair (``c_pair``: the same loop in
C, calling the allocator as a C extension does, rustext/csrc/c_pairs.c), the physical limit:
the catalogue's points (``primitive="own"``, the flavour's own primitive for the size) and,
beyond the catalogue, every other primitive the flavour's extension offers (``pymem``,
``pymem_calloc``, ``pymem_raw``, ``malloc``; ``mimalloc``, ``jemalloc`` in their flavours) at
the same sizes, stored apart (``c_pairs``). ``c_baseline`` gives every flavour's
``alloc_pair``, ``alloc_pair_unguarded`` and ``raw_pair`` as ratios to the C pair of the same
primitive and size (instructions, and wall time where measured).

The ``threads`` family is left out: valgrind runs threads one at a time and their spin and
futex paths depend on scheduling, so their counts are not repeatable. Runs use
``setarch -R`` (no address randomisation), ``PYTHONHASHSEED=0``, a fixed output path and the
allocators' clock-driven work switched off (``CLOCK_FREE_ALLOCATOR_ENV``); with that every
point of every flavour is counted the same to the instruction in every run (checked by
tests/test_instructions.py).

Unless ``--no-wall-time``, the same points are also timed natively in one process per
flavour (median of 5), so the report can show how well instruction counts and estimated
cycles predict wall time (``prediction``). ``--pyperf RUN`` (default: every stored ``make
bench`` run of the same interpreter under ``<out>/pyperf``) does the same against the wall
times of a pyperf run (``prediction_pyperf``; ``python -m allocbench.predict`` for any
stored pair).

Writes ``<out>/instructions/<run id>/instructions.json`` (temporary file, then rename).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from . import FLAVOURS, catalogue, interpreters
from .flavour import ROOT, check_name, subprocess_env

EXCLUDED_FAMILIES = ("threads",)
# jemalloc and mimalloc act on the clock: both return memory to the OS on a timer (decay /
# purge delay), and jemalloc's experimental thread-cache GC runs at most once per time
# interval. Under callgrind the clock runs ~50x slower, so that work lands at arbitrary
# points and counts changed from run to run by 0.1 % to 2x. Counting runs switch the
# timers off (the purges they drive are system calls, which callgrind does not count) and
# give jemalloc its byte-count thread-cache GC (jemalloc 5.3.0's); timed runs keep the
# defaults. The report says so next to the table.
CLOCK_FREE_ALLOCATOR_ENV = {
    "_RJEM_MALLOC_CONF": "dirty_decay_ms:-1,muzzy_decay_ms:-1,experimental_tcache_gc:false",
    "MIMALLOC_PURGE_DELAY": "-1",
}
FORMAT = "allocbench-instructions/1"

# Callgrind's cache simulation. Valgrind reads the geometry from cpuid, which on this KVM
# guest (AMD EPYC) reports a 256 MiB direct-mapped LL; pinned instead to what the machine
# has (lscpu: 32 KiB 8-way L1i and L1d per core, 32 MiB 16-way L3, 64 B lines), so the
# estimate does not depend on what a hypervisor tells valgrind. Callgrind simulates two
# levels: L1 and the last level (LL).
CACHE_GEOMETRY = {"I1": "32768,8,64", "D1": "32768,8,64", "LL": "33554432,16,64"}
CACHE_SIM_ARGS = ["--cache-sim=yes", *(f"--{k}={v}" for k, v in CACHE_GEOMETRY.items())]
# The events of a cache-simulating run, in callgrind's order.
EVENTS = ("Ir", "Dr", "Dw", "I1mr", "D1mr", "D1mw", "ILmr", "DLmr", "DLmw")
# Estimated cycles = L1 hits + 5 x LL hits + 35 x RAM hits (iai-callgrind's and CodSpeed's
# weights).
CYCLE_WEIGHTS = {"l1": 1, "ll": 5, "ram": 35}


def hits(ev: dict[str, int]) -> dict[str, int]:
    """L1, LL and RAM hits of a callgrind cache-simulation event set: every instruction
    fetch and data access is an L1 hit unless it missed L1; an L1 miss is an LL hit
    unless it missed LL too (then it went to RAM)."""
    accesses = ev["Ir"] + ev["Dr"] + ev["Dw"]
    l1_misses = ev["I1mr"] + ev["D1mr"] + ev["D1mw"]
    ll_misses = ev["ILmr"] + ev["DLmr"] + ev["DLmw"]
    return {"l1": accesses - l1_misses, "ll": l1_misses - ll_misses, "ram": ll_misses}


def est_cycles(ev: dict[str, int]) -> int:
    """Estimated cycles of an event set: L1 hits + 5 x LL hits + 35 x RAM hits."""
    return sum(CYCLE_WEIGHTS[k] * n for k, n in hits(ev).items())


def points(filter_re: str = "") -> list[tuple[catalogue.Workload, dict[str, Any]]]:
    """The timed catalogue points counted (all families but threads), filtered by name."""
    rx = re.compile(filter_re) if filter_re else None
    out = []
    for w in catalogue.WORKLOADS:
        if not w.timed or w.family in EXCLUDED_FAMILIES:
            continue
        for p in w.points:
            if rx is None or rx.search(w.label(p)):
                out.append((w, dict(p)))
    return out


def explicit_c_points(
    primitives: tuple[str, ...] | list[str], filter_re: str = ""
) -> list[tuple[catalogue.Workload, dict[str, Any]]]:
    """The C pairs of ``primitives`` ("own" left out: it is a catalogue point) at the
    catalogue's c_pair sizes, filtered by name: counted beside the catalogue's points."""
    rx = re.compile(filter_re) if filter_re else None
    w = catalogue.get("c_pair")
    out = []
    for prim in primitives:
        if prim == "own":
            continue
        for size in catalogue.C_PAIR_SIZES:
            params = {"size": size, "primitive": prim}
            if rx is None or rx.search(w.label(params)):
                out.append((w, params))
    return out


def _extra_loops(w: catalogue.Workload, params: dict[str, Any]) -> int:
    return w.call_loops(params)


def _worker_points(m, filter_re: str, explicit: bool):
    """The points a worker runs: the catalogue's, and with ``explicit`` every other C pair
    the loaded flavour offers (its ``C_PAIR_PRIMITIVES``)."""
    pts = points(filter_re)
    if explicit:
        pts += explicit_c_points(m.C_PAIR_PRIMITIVES, filter_re)
    return pts


WARM = "warm"


def worker_count(filter_re: str, explicit: bool = False) -> None:
    """Runs inside callgrind: every point at loops 1 (a warm-up, dumped as ``|warm``), then
    at loops 1 and 1 + k, each between a zero and a labelled dump. The warm-up makes the two
    counted calls start from the same state (the point's code and blocks already in the
    simulated caches, its first-call work done), so their difference holds the ops alone:
    without it the loops-1 call paid the cold misses and the subtraction took them off the
    warm call's count."""
    from .flavour import load

    m = load()
    if not m.running_on_valgrind():
        raise SystemExit("the counting worker must run under valgrind --tool=callgrind")
    for w, params in _worker_points(m, filter_re, explicit):
        fn = getattr(m, w.func or w.name)
        for loops, tag in ((1, WARM), (1, 1), (1 + _extra_loops(w, params), None)):
            m.callgrind_zero()
            fn(loops, **params)
            m.callgrind_dump(f"{w.label(params)}|{tag or loops}")


def worker_time(filter_re: str, explicit: bool = False) -> None:
    """Runs natively: median seconds per op of every point (5 calls of about call_ops)."""
    from .flavour import load

    m = load()
    out = {}
    for w, params in _worker_points(m, filter_re, explicit):
        fn = getattr(m, w.func or w.name)
        loops = _extra_loops(w, params)
        fn(loops, **params)  # warm-up
        samples = [fn(loops, **params) / (loops * w.ops_per_loop(params)) for _ in range(5)]
        out[w.label(params)] = statistics.median(samples)
    print(json.dumps(out))


_DESC = re.compile(r"^desc: Trigger: Client Request: (.*)$", re.M)
_EVENTS = re.compile(r"^events: (.*)$", re.M)
_SUMMARY = re.compile(r"^summary: ([\d ]+)$", re.M)


def parse_dump(text: str) -> tuple[str, dict[str, int]] | None:
    """(label, events) of one client-request dump; None for any other dump (the one at
    exit). Callgrind leaves trailing zero events out of the summary line: they count 0."""
    d, e, s = _DESC.search(text), _EVENTS.search(text), _SUMMARY.search(text)
    if not (d and e and s):
        return None
    names, values = e.group(1).split(), [int(v) for v in s.group(1).split()]
    if len(values) > len(names):
        raise ValueError(f"callgrind summary has {len(values)} values for events {names}")
    values += [0] * (len(names) - len(values))
    return d.group(1).strip(), dict(zip(names, values, strict=True))


def parse_dumps(directory: Path) -> dict[str, dict[str, int]]:
    """label -> events (Ir, and with the cache simulation the others of ``EVENTS``) of every
    client-request dump callgrind wrote into ``directory``."""
    counts = {}
    for f in sorted(directory.iterdir()):
        got = parse_dump(f.read_text(errors="replace"))
        if got:
            counts[got[0]] = got[1]
    return counts


# Run by the interpreter inside the sid root: becomes valgrind there (argv follows).
EXEC_IN_ROOT = "import os, sys; os.execvp(sys.argv[1], sys.argv[1:])"


def count_flavour(
    flavour: str,
    filter_re: str,
    root: Path = ROOT,
    python: interpreters.Interpreter | None = None,
    explicit: bool = False,
    cache_sim: bool = True,
) -> dict[str, dict]:
    """Instructions (and with ``cache_sim`` estimated cycles) per op of every point for one
    flavour (one callgrind process), under ``python`` (default: this interpreter). With
    ``explicit``, also the C pairs of every primitive the flavour offers
    (``explicit_c_points``; their entries say ``explicit``)."""
    in_root = python is not None and python.in_sid_root
    if in_root:
        if not (interpreters.sid_root() / "usr" / "bin" / "valgrind").exists():
            raise RuntimeError(
                f"valgrind is not installed in the Debian sid root {interpreters.sid_root()}: "
                "run make pythons (it installs valgrind there)"
            )
        valgrind = "/usr/bin/valgrind"
    else:
        valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise RuntimeError("valgrind is not installed (Debian package valgrind)")
    env = subprocess_env(flavour, root=root)
    env["PYTHONHASHSEED"] = "0"
    # pymalloc stays on: PYTHONMALLOC=malloc would count glibc where pymem calls pymalloc.
    env.pop("PYTHONMALLOC", None)
    env.update(CLOCK_FREE_ALLOCATOR_ENV)
    # A fixed directory, not a random temporary one: the length of valgrind's own command
    # line shifts the client's memory layout, and with it memcpy/memset paths and counts.
    tmp = root / "build" / "callgrind" / flavour
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    cmd = [
        valgrind,
        "--tool=callgrind",
        f"--callgrind-out-file={tmp}/cg.out",
        "--dump-instr=no",
        "--dump-line=no",
        *(CACHE_SIM_ARGS if cache_sim else []),
        python.facts["executable"] if in_root else (python or _here()).command,
        "-m",
        "allocbench.instructions",
        "--worker-count",
        "--filter",
        filter_re,
        *(["--explicit"] if explicit else []),
    ]
    if in_root:
        assert python is not None
        cmd = [python.command, "-c", EXEC_IN_ROOT, *cmd]
    if shutil.which("setarch"):
        cmd = ["setarch", os.uname().machine, "-R", *cmd]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(f"callgrind run of {flavour} failed: {out.stderr[-2000:]}")
    counts = parse_dumps(tmp)
    result = {}
    for w, params in points(filter_re):
        label = w.label(params)
        result[label] = _entry(flavour, w, params, counts, required=True)
    if explicit:
        # Only the flavour knows which it offers: what the worker counted is what it has.
        for w, params in explicit_c_points(catalogue.C_PAIR_PRIMITIVES, filter_re):
            e = _entry(flavour, w, params, counts, required=False)
            if e is not None:
                result[w.label(params)] = {**e, "explicit": True}
    return result


def _entry(flavour, w, params, counts, required):
    label = w.label(params)
    k = _extra_loops(w, params)
    small, big = counts.get(f"{label}|1"), counts.get(f"{label}|{1 + k}")
    if small is None or big is None:
        if required:
            raise RuntimeError(f"{flavour}: callgrind wrote no count for {label}")
        return None
    ops = k * w.ops_per_loop(params)
    entry = {
        "workload": w.name,
        "family": w.family,
        "params": params,
        "ir_loops_1": small["Ir"],
        "ir_loops_big": big["Ir"],
        "loops_big": 1 + k,
        "ops": ops,
        "ir_per_op": (big["Ir"] - small["Ir"]) / ops,
    }
    # Workers before the warm-up call (older revisions counted by regress-instructions)
    # counted the loops-1 call cold.
    warm = counts.get(f"{label}|{WARM}")
    entry["warmed"] = warm is not None
    if all(e in small and e in big for e in EVENTS):
        entry["events_loops_1"] = {e: small[e] for e in EVENTS}
        entry["events_loops_big"] = {e: big[e] for e in EVENTS}
        if warm is not None:  # the point's first call: what the cold protocol subtracted
            entry["events_warm_up"] = {e: warm.get(e, 0) for e in EVENTS}
        entry["cycles_per_op"] = (est_cycles(big) - est_cycles(small)) / ops
    return entry


def _here() -> interpreters.Interpreter:
    """This interpreter (the project venv's), as an Interpreter."""
    return interpreters.Interpreter("venv", sys.executable, interpreters.facts())


def time_flavour(
    flavour: str,
    filter_re: str,
    root: Path = ROOT,
    python: interpreters.Interpreter | None = None,
    explicit: bool = False,
) -> dict[str, float]:
    env = subprocess_env(flavour, root=root)
    env.pop("PYTHONMALLOC", None)
    exe = (python or _here()).command
    extra = ["--explicit"] if explicit else []
    out = subprocess.run(
        [exe, "-m", "allocbench.instructions", "--worker-time", "--filter", filter_re, *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if out.returncode != 0:
        raise RuntimeError(f"timing {flavour} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _atomic_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def load(path: Path) -> dict[str, Any]:
    """Reads an instructions.json, refusing anything else with a clear error."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a readable instruction-count file ({e})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path}: not an instruction-count file (format is not {FORMAT!r})")
    return data


def geomean(xs: list[float]) -> float:
    xs = [x for x in xs if x > 0]
    return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else float("nan")


# The deterministic figures judged against wall time, and their names in reports.
METRICS = {"ir_per_op": "instructions/op", "cycles_per_op": "est. cycles/op"}
# Flavour pairs whose wall times differ by less than this (a fraction) are ties on the clock:
# left out of the direction agreement.
PAIR_THRESHOLD = 0.05


def metrics_of(counts: dict[str, dict[str, dict]]) -> list[str]:
    """The figures of ``METRICS`` that every entry of ``counts`` carries (runs stored before
    the cache simulation have instructions only)."""
    entries = [e for c in counts.values() for e in c.values()]
    return [m for m in METRICS if entries and all(m in e for e in entries)]


def predict(
    counts: dict[str, dict[str, dict]],
    wall: dict[str, dict[str, float]],
    threshold: float = PAIR_THRESHOLD,
) -> dict[str, Any] | None:
    """How well each deterministic figure (instructions/op; est. cycles/op where counted)
    predicts the wall times ``wall`` (flavour -> point -> seconds/op). Cells: the (point,
    flavour) pairs with a wall time and every figure > 0; per figure, the Pearson
    correlation of log(figure) with log(time) over them. Pairs: per point, every two
    flavours whose wall times differ by more than ``threshold``; per figure, the share
    whose figures say which is faster as the clock does. Every figure is judged on the
    same cells and pairs. None when no cell has a wall time."""
    metrics = metrics_of(counts)
    flavours = [f for f in counts if f in wall]
    if not metrics or not flavours:
        return None
    cells: dict[str, dict[str, tuple[dict, float]]] = {}  # point -> flavour -> (entry, s)
    for f in flavours:
        for label, e in counts[f].items():
            t = wall[f].get(label)
            if t and t > 0 and all(e[m] > 0 for m in metrics):
                cells.setdefault(label, {})[f] = (e, t)
    n_cells = sum(len(c) for c in cells.values())
    if n_cells == 0:
        return None
    agree = dict.fromkeys(metrics, 0)
    total = 0
    by_family: dict[str, dict[str, int]] = {}
    for per_flavour in cells.values():
        items = list(per_flavour.values())
        for i, (ea, ta) in enumerate(items):
            for eb, tb in items[i + 1 :]:
                if abs(math.log(ta / tb)) < math.log(1 + threshold):
                    continue
                total += 1
                zero = {"pairs": 0, **dict.fromkeys(metrics, 0)}
                fam = by_family.setdefault(ea.get("family", "?"), zero)
                fam["pairs"] += 1
                for m in metrics:
                    same = (ea[m] < eb[m]) == (ta < tb)
                    agree[m] += same
                    fam[m] += same
    out: dict[str, Any] = {
        "threshold": threshold,
        "cells": n_cells,
        "pairs_compared": total,
        "metrics": {},
        "by_family": by_family,
    }
    ys = [math.log(t) for c in cells.values() for _, t in c.values()]
    for m in metrics:
        xs = [math.log(e[m]) for c in cells.values() for e, _ in c.values()]
        r = statistics.correlation(xs, ys) if len(xs) > 2 else float("nan")
        out["metrics"][m] = {
            "pearson_log": r,
            "pairs_agreeing": agree[m],
            "agreement": agree[m] / total if total else float("nan"),
        }
    return out


def prediction(data: dict[str, Any]) -> dict[str, Any] | None:
    """``predict`` against the run's own native wall times (None when it has none)."""
    wall = data.get("wall_s_per_op")
    return predict(data["counts"], wall) if wall else None


def prediction_metrics(pred: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """figure -> {pearson_log, pairs_agreeing, agreement} of a stored prediction; runs stored
    before the cache simulation kept the instruction figures at the top level."""
    if "metrics" in pred:
        return pred["metrics"]
    return {"ir_per_op": {k: pred[k] for k in ("pearson_log", "pairs_agreeing", "agreement")}}


def same_interpreter(data: dict[str, Any], record: dict[str, Any]) -> str | None:
    """None when an instruction run and a pyperf run (its run.json record) ran the same
    interpreter build, else why not (or why it cannot tell)."""
    mine = (data.get("interpreter") or {}).get("summary")
    theirs = (record.get("interpreter") or {}).get("summary")
    if mine and theirs:
        return None if mine == theirs else f"counted under {mine!r}, timed under {theirs!r}"
    version = (record.get("interpreter_facts") or {}).get("version")
    if version is None:
        return "the pyperf run does not record its interpreter's version"
    if version != data.get("python"):
        return f"counted under CPython {data.get('python')}, timed under CPython {version}"
    return None


def pyperf_wall(run_dir: Path) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """(flavour -> point -> mean seconds/op, the run record) of a stored ``make bench`` run."""
    from . import report

    run = report.load_run(run_dir)
    wall: dict[str, dict[str, float]] = {}
    for f in run.flavours:
        for name in run.names("second"):
            mean = run.mean(f, name)
            if mean is not None:
                wall.setdefault(f, {})[name] = mean
    record = dict(run.record)
    if "interpreter_facts" not in record:  # runs before the record had them: pyperf's own
        versions = {str(md.get("python_version", "")).split(" ")[0] for md in run.metadata.values()}
        if len(versions) == 1 and "" not in versions:
            record["interpreter_facts"] = {"version": versions.pop()}
    return wall, record


def pyperf_prediction(data: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """``predict`` against a stored pyperf run of the same interpreter (ValueError naming
    the difference otherwise; ``report.ReportInputError`` for a run it cannot read)."""
    wall, record = pyperf_wall(Path(run_dir))
    why = same_interpreter(data, record)
    if why:
        raise ValueError(f"{run_dir}: not the instruction run's interpreter ({why})")
    pred = predict(data["counts"], wall)
    if pred is None:
        raise ValueError(f"{run_dir}: no point of the instruction run has a wall time there")
    return {
        **pred,
        "pyperf_run": record.get("run_id", Path(run_dir).name),
        "pyperf_commit": record.get("git_commit"),
        "pyperf_flavours": sorted(wall),
    }


def matching_pyperf_runs(results_root: Path, data: dict[str, Any]) -> list[Path]:
    """The stored ``make bench`` runs under ``results_root``/pyperf that finished and ran
    the instruction run's interpreter."""
    out = []
    for rec in sorted(Path(results_root).glob("pyperf/*/run.json")):
        try:
            record = json.loads(rec.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if record.get("status") == "done" and same_interpreter(data, record) is None:
            out.append(rec.parent)
    return out


def table_rows(data: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Per point and flavour: instructions/op, its ratio to system, and (pair workloads) its
    ratio to the flavour's own raw primitive of the same size. ``*``: marked not repeatable
    (runs stored before every point was)."""
    flavours = list(data["counts"])
    ref = "system" if "system" in flavours else flavours[0]
    headers = ["point"] + [f"{f} Ir/op (x{ref}, xraw)" for f in flavours]
    rows = []
    for label in data["counts"][flavours[0]]:
        cells = [label]
        for f in flavours:
            e = data["counts"][f][label]
            ir, base = e["ir_per_op"], data["counts"][ref][label]["ir_per_op"]
            raw = None
            if e["workload"] in ("alloc_pair", "alloc_pair_unguarded"):
                raw_label = f"raw_pair[size={e['params']['size']}]"
                raw = data["counts"][f].get(raw_label, {}).get("ir_per_op")
            cell = f"{ir:,.1f} (x{ir / base:.2f}" if base > 0 else f"{ir:,.1f} (x-"
            cell += f", x{ir / raw:.2f})" if raw else ")"
            cells.append(cell + ("" if e.get("repeatable", True) else " *"))
        rows.append(cells)
    return headers, rows


def cycles_rows(data: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Per point and flavour: estimated cycles/op and its ratio to system, and the cycles
    per instruction (1.0: every access an L1 hit of a one-access instruction; misses raise
    it). No rows for a run stored before the cache simulation."""
    if "cycles_per_op" not in metrics_of(data["counts"]):
        return [], []
    flavours = list(data["counts"])
    ref = "system" if "system" in flavours else flavours[0]
    headers = ["point"] + [f"{f} est. cycles/op (x{ref}, per Ir)" for f in flavours]
    rows = []
    for label in data["counts"][flavours[0]]:
        cells = [label]
        for f in flavours:
            e = data["counts"][f].get(label)
            if e is None:
                cells.append("-")
                continue
            cyc, base = e["cycles_per_op"], data["counts"][ref][label]["cycles_per_op"]
            cell = f"{cyc:,.1f} (x{cyc / base:.2f}" if base > 0 else f"{cyc:,.1f} (x-"
            cells.append(cell + (f", {cyc / e['ir_per_op']:.2f})" if e["ir_per_op"] > 0 else ")"))
        rows.append(cells)
    return headers, rows


C_BASELINE_WORKLOADS = ("alloc_pair", "alloc_pair_unguarded", "raw_pair")


def c_baseline(data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Per flavour and c_pair size: the C-level pair of the flavour's own primitive
    (instructions/op, and seconds/op where the run timed it), and ``alloc_pair``,
    ``alloc_pair_unguarded`` and ``raw_pair`` of the same size as ratios to it
    (``ir_ratio``; ``time_ratio`` from the native timings). The own primitive is the one the
    backend calls for that size: pymem: PyMem_Malloc up to 512 B, PyMem_RawMalloc above;
    pymem-raw: PyMem_RawMalloc; system: malloc; mimalloc: mi_malloc; jemalloc: _rjem_malloc."""
    wall = data.get("wall_s_per_op") or {}
    out: dict[str, list[dict[str, Any]]] = {}
    for f, counts in data["counts"].items():
        rows = []
        for label, e in counts.items():
            if e["workload"] != "c_pair" or e["params"].get("primitive") != "own":
                continue
            size = e["params"]["size"]
            c_ir, c_t = e["ir_per_op"], wall.get(f, {}).get(label)
            own = catalogue.c_pair_own(f, size)
            row: dict[str, Any] = {
                "size": size,
                "c_primitive": own,
                "c_calls": catalogue.C_PAIR_CALLS[own],
                "c_pair_ir_per_op": c_ir,
                "c_pair_s_per_op": c_t,
                "ir_ratio": {},
                "time_ratio": {},
            }
            for name in C_BASELINE_WORKLOADS:
                other = catalogue.get(name).label({"size": size})
                o = counts.get(other)
                if o is not None and c_ir > 0:
                    row["ir_ratio"][name] = o["ir_per_op"] / c_ir
                t = wall.get(f, {}).get(other)
                if t and c_t:
                    row["time_ratio"][name] = t / c_t
            rows.append(row)
        if rows:
            out[f] = sorted(rows, key=lambda r: r["size"])
    return out


def c_baseline_rows(data: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """``c_baseline`` as a table: one row per flavour and size; each ratio cell is
    instructions (and wall time in brackets)."""
    base = data.get("c_baseline") or c_baseline(data)
    headers = [
        "flavour",
        "size",
        "C pair (the flavour's own primitive)",
        "C pair Ir/op",
        "C pair ns/op",
        *(f"{n} / C pair: Ir (time)" for n in C_BASELINE_WORKLOADS),
    ]
    rows = []
    for f, entries in base.items():
        for r in entries:
            cells = [
                f,
                str(r["size"]),
                r["c_calls"],
                f"{r['c_pair_ir_per_op']:,.1f}",
                f"{r['c_pair_s_per_op'] * 1e9:.1f}" if r.get("c_pair_s_per_op") else "-",
            ]
            for n in C_BASELINE_WORKLOADS:
                ir, t = r["ir_ratio"].get(n), r["time_ratio"].get(n)
                cell = f"x{ir:.2f}" if ir is not None else "-"
                cells.append(cell + (f" (x{t:.2f})" if t is not None else ""))
            rows.append(cells)
    return headers, rows


def c_pairs_rows(data: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Every C pair counted, per primitive and size: instructions/op (ns/op where timed)
    in each flavour; '-' where the flavour does not offer the primitive."""
    pairs = data.get("c_pairs") or {}
    flavours = list(pairs)
    headers = ["C pair", "size", *(f"{f} Ir/op (ns/op)" for f in flavours)]
    rows = []
    for prim in catalogue.C_PAIR_PRIMITIVES:
        for size in catalogue.C_PAIR_SIZES:
            label = catalogue.get("c_pair").label({"size": size, "primitive": prim})
            cells = []
            for f in flavours:
                e = pairs[f].get(label)
                if e is None:
                    cells.append("-")
                    continue
                t = e.get("wall_s_per_op")
                cells.append(f"{e['ir_per_op']:,.1f}" + (f" ({t * 1e9:.1f})" if t else ""))
            if any(c != "-" for c in cells):
                rows.append([catalogue.C_PAIR_CALLS.get(prim, prim), str(size), *cells])
    return headers, rows


def counting_note(data: dict[str, Any]) -> str:
    """What the counting runs changed in the allocators' settings (stored with the run)."""
    env = data.get("counting_env")
    if env is None:
        return (
            "This run predates the record of the counting settings; * marks counts it found "
            "not repeatable (never gated on)."
        )
    settings = ", ".join(f"{k}={v}" for k, v in sorted(env.items()))
    return (
        f"Counted with the allocators' clock-driven work off ({settings}), so every count "
        "repeats to the instruction; timed runs keep the defaults."
    )


def table(data: Any, rows_of=None) -> str:
    """The table of ``table_rows`` (or of ``rows_of``) as Markdown."""
    headers, rows = (rows_of or table_rows)(data)
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


C_BASELINE_TEXT = (
    "Each flavour's GlobalAlloc pair (`alloc_pair`), its path without the thread-state "
    "guard (`alloc_pair_unguarded`) and its raw baseline (`raw_pair`, the primitive called "
    "from Rust) as ratios to the same pair looped in C (`c_pair`, rustext/csrc/c_pairs.c: "
    "direct calls as a C extension makes them, one byte written per block), for the "
    "primitive the flavour's backend calls at that size (pymem: PyMem_Malloc up to 512 B, "
    "PyMem_RawMalloc above). Ratios of instructions/op; in brackets, of native wall time "
    "(median of 5, noisier). x1.00 is the physical limit."
)
C_PAIRS_TEXT = (
    "Every C pair each flavour's extension offers (the CPython and libc pairs in all, "
    "mi_malloc and _rjem_malloc in their own flavours): instructions/op, ns/op in brackets."
)


PREDICTION_TEXT = (
    "How well each deterministic figure predicts wall time: the Pearson correlation of "
    "log(figure) with log(ns/op) over every point and flavour that has both, and, of the "
    "flavour pairs per point whose wall times differ by more than {pct} %, the share whose "
    "figures say which is faster as the clock does (every figure judged on the same points "
    "and pairs). Trust counts for small-block paths; where the kernel (page faults, mmap) "
    "dominates, only wall time tells."
)
NATIVE = "native, this run (median of 5)"


def predictions(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(source of the wall times, prediction) of an instruction run: its own native times,
    then each pyperf run it was judged against."""
    out = [(NATIVE, data["prediction"])] if data.get("prediction") else []
    return out + [(f"pyperf {p['pyperf_run']}", p) for p in data.get("prediction_pyperf") or []]


def prediction_rows(
    preds: list[tuple[str, dict[str, Any]]],
) -> tuple[list[str], list[list[str]]]:
    """One row per source of wall times and figure: cells, Pearson r, pairs agreeing."""
    headers = ["wall times", "figure", "points x flavours", "Pearson r (log-log)", "pairs agreeing"]
    rows = []
    for source, pred in preds:
        n = pred["pairs_compared"]
        for m, r in prediction_metrics(pred).items():
            rows.append(
                [
                    source,
                    METRICS[m],
                    str(pred.get("cells", "-")),
                    f"{r['pearson_log']:.3f}",
                    f"{r['pairs_agreeing']} of {n} ({100 * r['agreement']:.0f} %)",
                ]
            )
    return headers, rows


def prediction_family_rows(
    preds: list[tuple[str, dict[str, Any]]],
) -> tuple[list[str], list[list[str]]]:
    """The direction agreement per source and workload family (no rows for stored
    predictions without the breakdown)."""
    metrics = list(prediction_metrics(preds[0][1])) if preds else []
    headers = ["wall times", "family", "pairs", *(f"agree: {METRICS[m]}" for m in metrics)]
    rows = []
    for source, pred in preds:
        for fam, c in sorted((pred.get("by_family") or {}).items()):
            n = c["pairs"]
            cells = [f"{c[m]} ({100 * c[m] / n:.0f} %)" if n else "-" for m in metrics]
            rows.append([source, fam, str(n), *cells])
    return headers, rows


def prediction_notes(data: dict[str, Any], preds: list[tuple[str, dict[str, Any]]]) -> str:
    """The paragraph above the prediction tables: what they show, and which pyperf runs
    timed another commit than the one counted."""
    threshold = preds[0][1].get("threshold", PAIR_THRESHOLD) if preds else PAIR_THRESHOLD
    text = PREDICTION_TEXT.format(pct=f"{100 * threshold:.0f}")
    commit = (data.get("git_commit") or "").removesuffix("-dirty")
    other = []
    for source, p in preds:
        theirs = (p.get("pyperf_commit") or "").removesuffix("-dirty")
        if commit and theirs and commit[:10] != theirs[:10]:
            other.append(f"{source.removeprefix('pyperf ')} at {theirs[:10]}")
    if other:
        text += (
            f" Counted at commit {commit[:10]}; the pyperf runs timed other commits ("
            + ", ".join(other)
            + "): where the code changed in between, the figures are judged against "
            "another build's times."
        )
    return text


def latest_run(results_root: Path) -> Path | None:
    """The newest stored instruction-count run under ``results_root``, if any."""
    runs = sorted(p for p in (Path(results_root) / "instructions").glob("*/instructions.json"))
    return runs[-1] if runs else None


def plot(data: dict[str, Any], path: Path) -> Path:
    """Instructions per alloc+free pair against block size, every flavour (log axes), with
    the raw baselines dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for i, (f, counts) in enumerate(data["counts"].items()):
        for name, style in (("alloc_pair", "-o"), ("raw_pair", "--x"), ("c_pair", ":s")):
            pts = sorted(
                (e["params"]["size"], e["ir_per_op"])
                for e in counts.values()
                if e["workload"] == name and e["ir_per_op"] > 0
            )
            if pts:  # one colour per flavour, one style per workload
                ax.plot(*zip(*pts, strict=True), style, color=f"C{i}", label=f"{f} {name}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("block size (bytes)")
    ax.set_ylabel("instructions per alloc+free pair")
    ax.set_title(
        "Instructions per pair (callgrind); dashed: each backend's raw primitive, "
        "dotted: the same from C",
        fontsize=9,
    )
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_prediction(data: dict[str, Any], path: Path) -> Path | None:
    """Wall time per op against each deterministic figure (instructions/op, est. cycles/op
    where counted), every point and flavour (log axes), measured in the same run; None when
    the run has no wall times."""
    wall = data.get("wall_s_per_op")
    if not wall:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = metrics_of(data["counts"]) or ["ir_per_op"]
    fig, axes = plt.subplots(1, len(metrics), figsize=(7 * len(metrics), 5), squeeze=False)
    for ax, m in zip(axes[0], metrics, strict=True):
        for f, counts in data["counts"].items():
            pts = [
                (e[m], wall[f][label] * 1e9)
                for label, e in counts.items()
                if e.get(m, 0) > 0 and wall.get(f, {}).get(label)
            ]
            if pts:
                ax.scatter(*zip(*pts, strict=True), s=14, alpha=0.7, label=f)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"{METRICS[m]} (callgrind)")
        ax.set_ylabel("ns per op (native, median of 5)")
        ax.legend(fontsize=8)
    fig.suptitle("Do deterministic figures predict wall time? One dot per point and flavour")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def run(
    flavours: list[str],
    filter_re: str,
    out_root: Path,
    run_id: str | None,
    wall_time: bool,
    root: Path = ROOT,
    python: interpreters.Interpreter | None = None,
    pyperf_runs: list[Path] | None = None,
) -> Path:
    """Counts (and unless not ``wall_time`` times) every flavour, judges the figures against
    the native times and against ``pyperf_runs`` (default: every stored pyperf run of the
    same interpreter under ``out_root``), writes the run directory."""
    run_id = run_id or dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    interp = python or _here()
    out_dir = out_root / "instructions" / run_id
    if out_dir.exists():
        raise FileExistsError(f"{out_dir} exists: runs are never overwritten")
    data: dict[str, Any] = {
        "format": FORMAT,
        "run_id": run_id,
        "filter": filter_re,
        "excluded_families": list(EXCLUDED_FAMILIES),
        "counts": {},
        "counting_env": dict(CLOCK_FREE_ALLOCATOR_ENV),
        "python": interp.facts["version"],
        "interpreter": {**interp.record(), "facts": interp.facts},
        "glibc": interp.facts["glibc"],
        "machine": os.uname().nodename,
        "git_commit": git_commit(root),
        "cache_sim": {"geometry": dict(CACHE_GEOMETRY), "weights": dict(CYCLE_WEIGHTS)},
    }
    for p in pyperf_runs or []:  # refused before hours of counting, not after
        record_path = Path(p) / "run.json"
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ValueError(f"--pyperf {p}: no readable run record ({e})") from None
        why = same_interpreter(data, record)
        if why:
            raise ValueError(f"--pyperf {p}: not this run's interpreter ({why})")
    print(f"instructions: interpreter {interp.summary()}", flush=True)
    c_pairs: dict[str, dict[str, dict]] = {}
    for n, f in enumerate(flavours, 1):
        print(f"instructions: counting {f} ({n} of {len(flavours)})", flush=True)
        counted = count_flavour(f, filter_re, root, python, explicit=True)
        data["counts"][f] = {k: e for k, e in counted.items() if not e.get("explicit")}
        c_pairs[f] = {k: e for k, e in counted.items() if e.get("explicit")}
    if wall_time:
        data["wall_s_per_op"] = {}
        for n, f in enumerate(flavours, 1):
            print(f"instructions: timing {f} natively ({n} of {len(flavours)})", flush=True)
            wall = time_flavour(f, filter_re, root, python, explicit=True)
            data["wall_s_per_op"][f] = {k: t for k, t in wall.items() if k not in c_pairs[f]}
            for k, e in c_pairs[f].items():
                e["wall_s_per_op"] = wall.get(k)
        data["prediction"] = prediction(data)
    if any(c_pairs.values()):
        data["c_pairs"] = c_pairs
    base = c_baseline(data)
    if base:
        data["c_baseline"] = base
    runs = matching_pyperf_runs(out_root, data) if pyperf_runs is None else pyperf_runs
    data["prediction_pyperf"] = []
    for p in runs:  # the counts are never lost to a pyperf run that cannot be compared
        try:
            data["prediction_pyperf"].append(pyperf_prediction(data, Path(p)))
        except ValueError as e:
            print(f"instructions: not judged against {p}: {e}", flush=True)
    _atomic_json(out_dir / "instructions.json", data)
    plot(data, out_dir / "instructions_per_pair.png")
    plot_prediction(data, out_dir / "instructions_vs_time.png")
    (out_dir / "instructions.md").write_text(report_markdown(data))
    return out_dir


def git_commit(root: Path) -> str | None:
    """HEAD of the checkout at ``root`` (with -dirty when tracked files differ), or None."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=root).returncode != 0
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("-dirty" if dirty else "")


CYCLES_TEXT = (
    "Estimated cycles/op: the same difference of (L1 hits + 5 x LL hits + 35 x RAM hits) "
    "from callgrind's cache simulation (iai-callgrind's and CodSpeed's weights; L1 hits = "
    "Ir + Dr + Dw - I1mr - D1mr - D1mw, LL hits = I1mr + D1mr + D1mw - ILmr - DLmr - DLmw, "
    "RAM hits = ILmr + DLmr + DLmw). Ratio to `system`, and cycles per instruction."
)


def cycles_note(data: dict[str, Any]) -> str:
    """The simulated cache geometry the run used."""
    sim = data.get("cache_sim") or {}
    geometry = sim.get("geometry") or {}
    return "Simulated caches (size, ways, line): " + (
        ", ".join(f"{k} {v}" for k, v in geometry.items()) or "not recorded"
    )


def prediction_markdown(data: dict[str, Any]) -> list[str]:
    """The section on how well each figure predicts wall time: against the run's native
    times and against each stored pyperf run of the same interpreter."""
    preds = predictions(data)
    if not preds:
        return []
    parts = [
        "## Do instructions or estimated cycles predict wall time here?",
        "",
        prediction_notes(data, preds),
        "",
        table(preds, prediction_rows),
        "",
    ]
    if prediction_family_rows(preds)[1]:
        parts += ["Per workload family:", "", table(preds, prediction_family_rows), ""]
    if data.get("prediction"):
        parts += ["![instructions vs wall time](instructions_vs_time.png)", ""]
    return parts


def report_markdown(data: dict[str, Any]) -> str:
    interp = data.get("interpreter")
    parts = [
        f"# Instructions per operation (callgrind), run {data['run_id']}",
        "",
        f"Interpreter {interp['id']}: {interp['summary']}."
        if interp
        else f"CPython {data.get('python', '?')} (the interpreter's build was not recorded).",
        "",
        "Deterministic counts: instructions/op = (Ir(1 + k loops) - Ir(1 loop)) / ops. "
        "Ratios: to `system`, and (pair workloads) to the flavour's own raw primitive.",
        "",
        table(data),
        "",
        counting_note(data),
        "",
        "![instructions per pair](instructions_per_pair.png)",
        "",
    ]
    if cycles_rows(data)[1]:
        parts += [
            "## Estimated cycles per operation (callgrind's cache simulation)",
            "",
            CYCLES_TEXT + " " + cycles_note(data) + ".",
            "",
            table(data, cycles_rows),
            "",
        ]
    if c_baseline_rows(data)[1]:
        parts += [
            "## Against the C-level pair (the physical limit)",
            "",
            C_BASELINE_TEXT,
            "",
            table(data, c_baseline_rows),
            "",
        ]
    if c_pairs_rows(data)[1]:
        parts += ["## Every C-level pair", "", C_PAIRS_TEXT, "", table(data, c_pairs_rows), ""]
    parts += prediction_markdown(data)
    return "\n".join(parts)


def compare(base: dict[str, Any], head: dict[str, Any], threshold: float) -> list[str]:
    """Points whose instructions/op grew by more than ``threshold`` (a fraction)."""
    worse = []
    for f, counts in head["counts"].items():
        for label, e in counts.items():
            if not e.get("repeatable", True):
                continue
            b = base["counts"].get(f, {}).get(label)
            if b and b["ir_per_op"] > 0 and e["ir_per_op"] > b["ir_per_op"] * (1 + threshold):
                worse.append(
                    f"{f} {label}: {b['ir_per_op']:.1f} -> {e['ir_per_op']:.1f} "
                    f"instructions/op (+{100 * (e['ir_per_op'] / b['ir_per_op'] - 1):.2f} %)"
                )
    return worse


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m allocbench.instructions")
    ap.add_argument("--flavours", default=",".join(FLAVOURS))
    ap.add_argument("--filter", default="")
    ap.add_argument("--out", default=str(ROOT / "results"))
    ap.add_argument("--run-id")
    ap.add_argument("--no-wall-time", action="store_true")
    ap.add_argument(
        "--pyperf",
        action="append",
        help="a stored make bench run (results/pyperf/<id>) of the same interpreter to judge "
        "the figures against (repeatable; default: every such run under --out)",
    )
    ap.add_argument("--python", help=f"interpreter id ({interpreters.allowed()})")
    ap.add_argument("--worker-count", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--worker-time", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--explicit", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    try:
        re.compile(a.filter)
    except re.error as e:
        ap.error(f"--filter is not a regular expression: {e}")
    if a.worker_count:
        worker_count(a.filter, a.explicit)
        return 0
    if a.worker_time:
        worker_time(a.filter, a.explicit)
        return 0
    flavours = [f for f in a.flavours.replace(" ", ",").split(",") if f]
    try:
        for f in flavours:
            check_name(f)
    except (TypeError, ValueError) as e:
        ap.error(f"--flavours: {e}")
    if not points(a.filter):
        ap.error(f"--filter {a.filter!r} selects no timed workload point")
    python = None
    if a.python:
        try:
            ids = interpreters.parse_ids(a.python)
            if len(ids) != 1:
                raise interpreters.InterpreterError(
                    f"counts one interpreter per run; got {a.python!r}"
                )
            python = interpreters.resolve(ids[0])
        except interpreters.InterpreterError as e:
            ap.error(f"--python: {e}")
    pyperf = [Path(p) for p in a.pyperf] if a.pyperf else None
    try:
        out_dir = run(
            flavours, a.filter, Path(a.out), a.run_id, not a.no_wall_time, ROOT, python, pyperf
        )
    except ValueError as e:
        ap.error(str(e))
    print((out_dir / "instructions.md").read_text())
    print(f"written: {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
