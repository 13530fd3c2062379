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
flavour (median of 5), so the report can show how well instruction counts predict wall time.

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


def worker_count(filter_re: str, explicit: bool = False) -> None:
    """Runs inside callgrind: every point at loops 1 and 1 + k, each between a zero and a
    labelled dump."""
    from .flavour import load

    m = load()
    if not m.running_on_valgrind():
        raise SystemExit("the counting worker must run under valgrind --tool=callgrind")
    for w, params in _worker_points(m, filter_re, explicit):
        fn = getattr(m, w.func or w.name)
        for loops in (1, 1 + _extra_loops(w, params)):
            m.callgrind_zero()
            fn(loops, **params)
            m.callgrind_dump(f"{w.label(params)}|{loops}")


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
_SUMMARY = re.compile(r"^summary: (\d+)", re.M)


def parse_dumps(directory: Path) -> dict[str, int]:
    """label -> Ir of every client-request dump callgrind wrote into ``directory``."""
    counts = {}
    for f in sorted(directory.iterdir()):
        text = f.read_text(errors="replace")
        d, s = _DESC.search(text), _SUMMARY.search(text)
        if d and s:
            counts[d.group(1).strip()] = int(s.group(1))
    return counts


# Run by the interpreter inside the sid root: becomes valgrind there (argv follows).
EXEC_IN_ROOT = "import os, sys; os.execvp(sys.argv[1], sys.argv[1:])"


def count_flavour(
    flavour: str,
    filter_re: str,
    root: Path = ROOT,
    python: interpreters.Interpreter | None = None,
    explicit: bool = False,
) -> dict[str, dict]:
    """Instructions per op of every point for one flavour (one callgrind process), under
    ``python`` (default: this interpreter). With ``explicit``, also the C pairs of every
    primitive the flavour offers (``explicit_c_points``; their entries say ``explicit``)."""
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
    return {
        "workload": w.name,
        "family": w.family,
        "params": params,
        "ir_loops_1": small,
        "ir_loops_big": big,
        "loops_big": 1 + k,
        "ops": ops,
        "ir_per_op": (big - small) / ops,
    }


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


def prediction(data: dict[str, Any]) -> dict[str, Any] | None:
    """How well instruction counts predict wall time: over every point, for every pair of
    flavours, does the instruction ratio point the same way as the time ratio (when the
    time ratio differs from 1 by more than 5 %)? Also the Pearson correlation of
    log(instructions/op) with log(ns/op)."""
    wall = data.get("wall_s_per_op")
    if not wall:
        return None
    xs, ys, agree, total = [], [], 0, 0
    flavours = list(data["counts"])
    for label in data["counts"][flavours[0]]:
        for f in flavours:
            ir, t = data["counts"][f][label]["ir_per_op"], wall[f].get(label)
            if ir > 0 and t:
                xs.append(math.log(ir))
                ys.append(math.log(t))
        for i, a in enumerate(flavours):
            for b in flavours[i + 1 :]:
                ta, tb = wall[a].get(label), wall[b].get(label)
                ia, ib = (data["counts"][x][label]["ir_per_op"] for x in (a, b))
                if not (ta and tb and ia > 0 and ib > 0) or abs(math.log(ta / tb)) < math.log(1.05):
                    continue
                total += 1
                agree += (ia < ib) == (ta < tb)
    r = statistics.correlation(xs, ys) if len(xs) > 2 else float("nan")
    return {
        "pearson_log": r,
        "pairs_compared": total,
        "pairs_agreeing": agree,
        "agreement": agree / total if total else float("nan"),
    }


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


def table(data: dict[str, Any], rows_of=None) -> str:
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


def prediction_text(pred: dict[str, Any]) -> str:
    return (
        f"Pearson correlation of log(instructions/op) with log(ns/op), all points and "
        f"flavours: {pred['pearson_log']:.3f}. Of {pred['pairs_compared']} flavour pairs "
        f"whose wall times differ by more than 5 %, the instruction counts point the same way "
        f"in {pred['pairs_agreeing']} ({100 * pred['agreement']:.0f} %). Trust counts for "
        "small-block paths; where the kernel (page faults, mmap) or cache misses dominate, "
        "only wall time tells."
    )


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
    """Wall time per op against instructions per op, every point and flavour (log axes),
    measured in the same run; None when the run has no wall times."""
    wall = data.get("wall_s_per_op")
    if not wall:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    for f, counts in data["counts"].items():
        pts = [
            (e["ir_per_op"], wall[f][label] * 1e9)
            for label, e in counts.items()
            if e["ir_per_op"] > 0 and wall.get(f, {}).get(label)
        ]
        if pts:
            ax.scatter(*zip(*pts, strict=True), s=14, alpha=0.7, label=f)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("instructions per op (callgrind)")
    ax.set_ylabel("ns per op (native, median of 5)")
    ax.set_title("Do instruction counts predict wall time? One dot per point and flavour")
    ax.legend(fontsize=8)
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
) -> Path:
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
    }
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
    _atomic_json(out_dir / "instructions.json", data)
    plot(data, out_dir / "instructions_per_pair.png")
    plot_prediction(data, out_dir / "instructions_vs_time.png")
    (out_dir / "instructions.md").write_text(report_markdown(data))
    return out_dir


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
    pred = data.get("prediction")
    if pred:
        parts += [
            "## Do instruction counts predict wall time here?",
            "",
            prediction_text(pred),
            "",
            "![instructions vs wall time](instructions_vs_time.png)",
            "",
        ]
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
    out_dir = run(flavours, a.filter, Path(a.out), a.run_id, not a.no_wall_time, ROOT, python)
    print((out_dir / "instructions.md").read_text())
    print(f"written: {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
