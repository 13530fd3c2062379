"""The counting protocol of ``make bench-instructions`` (``allocbench.instructions``), per
catalogue point: which points are counted, the worker that runs inside callgrind (a warm-up,
then loops 1 and 1 + k, each between a zero and a labelled dump) and the one that times
them natively, and the entry each point gets: instructions/op = (Ir(1 + k) - Ir(1)) / ops,
and from the same difference estimated cycles/op."""

from __future__ import annotations

import json
import re
import statistics
import subprocess
from pathlib import Path
from typing import Any

from . import catalogue, interpreters
from .flavour import ROOT, subprocess_env
from .instructions_callgrind import EVENTS, _here, callgrind_counts, est_cycles

EXCLUDED_FAMILIES = ("threads",)


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
    counts = callgrind_counts(flavour, filter_re, root, python, explicit, cache_sim)
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
