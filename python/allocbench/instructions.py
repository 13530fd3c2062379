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

This module is the command line (and the counting worker's entry point, which older
revisions counted by ``make regress-instructions`` share); what it runs lives in
``instructions_callgrind`` (running callgrind, reading its dumps, estimated cycles),
``instructions_count`` (the counting protocol per point), ``instructions_prediction`` (do
the figures predict wall time), ``instructions_markdown`` (the run's tables and Markdown)
and ``instructions_run`` (a run, stored and read back, and the regression comparison).
Every name of those is importable from here, as before the split.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from . import FLAVOURS, interpreters
from .flavour import ROOT, check_name
from .instructions_callgrind import (
    CACHE_GEOMETRY,
    CACHE_SIM_ARGS,
    CLOCK_FREE_ALLOCATOR_ENV,
    CYCLE_WEIGHTS,
    EVENTS,
    EXEC_IN_ROOT,
    _here,  # noqa: F401 (tools/regress_instructions.py)
    callgrind_counts,
    est_cycles,
    hits,
    parse_dump,
    parse_dumps,
)
from .instructions_count import (
    EXCLUDED_FAMILIES,
    WARM,
    _entry,  # noqa: F401 (tests/test_cycles.py)
    count_flavour,
    explicit_c_points,
    points,
    time_flavour,
    worker_count,
    worker_time,
)
from .instructions_markdown import (
    C_BASELINE_TEXT,
    C_BASELINE_WORKLOADS,
    C_PAIRS_TEXT,
    CYCLES_TEXT,
    c_baseline,
    c_baseline_rows,
    c_pairs_rows,
    counting_note,
    cycles_note,
    cycles_rows,
    plot,
    prediction_markdown,
    report_markdown,
    table,
    table_rows,
)
from .instructions_prediction import (
    METRICS,
    NATIVE,
    PAIR_THRESHOLD,
    PREDICTION_TEXT,
    matching_pyperf_runs,
    metrics_of,
    plot_prediction,
    predict,
    prediction,
    prediction_family_rows,
    prediction_metrics,
    prediction_notes,
    prediction_rows,
    predictions,
    pyperf_prediction,
    pyperf_wall,
    same_interpreter,
)
from .instructions_run import (
    FORMAT,
    compare,
    geomean,
    git_commit,
    latest_run,
    load,
    run,
)

__all__ = [
    "CACHE_GEOMETRY",
    "CACHE_SIM_ARGS",
    "CLOCK_FREE_ALLOCATOR_ENV",
    "CYCLES_TEXT",
    "CYCLE_WEIGHTS",
    "C_BASELINE_TEXT",
    "C_BASELINE_WORKLOADS",
    "C_PAIRS_TEXT",
    "EVENTS",
    "EXCLUDED_FAMILIES",
    "EXEC_IN_ROOT",
    "FORMAT",
    "METRICS",
    "NATIVE",
    "PAIR_THRESHOLD",
    "PREDICTION_TEXT",
    "WARM",
    "c_baseline",
    "c_baseline_rows",
    "c_pairs_rows",
    "callgrind_counts",
    "compare",
    "count_flavour",
    "counting_note",
    "cycles_note",
    "cycles_rows",
    "est_cycles",
    "explicit_c_points",
    "geomean",
    "git_commit",
    "hits",
    "latest_run",
    "load",
    "matching_pyperf_runs",
    "metrics_of",
    "parse_dump",
    "parse_dumps",
    "plot",
    "plot_prediction",
    "points",
    "predict",
    "prediction",
    "prediction_family_rows",
    "prediction_markdown",
    "prediction_metrics",
    "prediction_notes",
    "prediction_rows",
    "predictions",
    "pyperf_prediction",
    "pyperf_wall",
    "report_markdown",
    "run",
    "same_interpreter",
    "table",
    "table_rows",
    "time_flavour",
    "worker_count",
    "worker_time",
]


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
