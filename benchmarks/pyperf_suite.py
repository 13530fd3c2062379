"""The pyperf suite: every workload of the catalogue (``allocbench.catalogue``) as pyperf
benchmarks, for the one flavour on the import path.

Timed workloads become ``Runner.bench_time_func`` benchmarks named by the catalogue's label
(``churn_batch[size=64,live=1024,order=lifo]``); the Rust loop times itself and returns
seconds, and ``inner_loops`` (operations per call) makes every value a time per operation.
Memory workloads are not timed: ``--memory`` runs each selected point once in this process
and stores its figures as pyperf benchmarks (see ``memory_suite``).

Standalone, pyperf's own way (a manager spawning worker processes, calibrating loops):

    ALLOCBENCH_FLAVOUR=pymem PYTHONPATH=build/flavours/pymem \\
        .venv/bin/python benchmarks/pyperf_suite.py --fast --filter churn_batch -o pymem.json

pyperf workers do not inherit the environment; this script adds ALLOCBENCH_FLAVOUR and
PYTHONMALLOC to ``--inherit-environ`` (pyperf passes PYTHONPATH itself).

``make bench`` (``allocbench.bench``) drives the same script differently, to interleave the
flavours cheaply: it calibrates loops once per benchmark (``--calibrate``), then starts one
pyperf worker process (``--worker --loops 1``) per workload, flavour and round, which runs
every selected point of that workload with the loops of ``--plan``. pyperf's ``loops`` stays
1 and the plan's loops go into ``inner_loops``, so the values are still seconds per operation
and the JSON is ordinary pyperf (``show``, ``stats``, ``compare_to`` read it).

``--workloads FILE`` runs another extension's workloads instead (``make bench-extension``:
``benchmarks/extensions/<name>.py``, a ``WORKLOADS`` list of catalogue ``Workload`` entries
whose functions live in that file). Its metadata comes from the flavour's ``build.json``
(``ALLOCBENCH_EXTENSION_BUILD``), not from our extension, which such a worker never loads.

Nothing here runs on import (asv imports every module of ``benchmarks/`` to discover its own
suite, in environments without pyperf).
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any

from allocbench import catalogue
from allocbench.flavour import ENV_VAR, load

# What pyperf workers need from the environment besides PYTHONPATH (which pyperf passes).
INHERITED_ENVIRON = (ENV_VAR, "PYTHONMALLOC", "ALLOCBENCH_EXTENSION_BUILD")
EXTENSION_BUILD = "ALLOCBENCH_EXTENSION_BUILD"

# pyperf values must be > 0, so only memory figures that cannot be zero become benchmarks:
# resident set sizes (a live process always has some), pymalloc's arena bytes (absent, not
# zero, when pymalloc is off) and the number of reallocs of a growth. Every figure, including
# those that can be 0 (moves, deltas, live bytes), is kept in each run's metadata as
# ``figure.<path>``.
BENCHMARK_FIGURES = {
    "rss_bytes": "byte",
    "baseline_rss": "byte",
    "arena_bytes": "byte",
    "reallocs": "integer",
}


def selected_points(
    pattern: str | None, workload: str | None, timed: bool, workloads=None
) -> list[tuple[catalogue.Workload, dict[str, Any]]]:
    """The benchmark points of one kind whose label matches ``pattern`` (``re.search``),
    optionally of one workload only, among ``workloads`` (default: the catalogue)."""
    workloads = catalogue.WORKLOADS if workloads is None else workloads
    names = [w.name for w in workloads]
    if workload is not None and workload not in names:
        raise SystemExit(f"--workload must be one of {', '.join(names)}; got {workload!r}")
    try:
        regex = re.compile(pattern) if pattern else None
    except re.error as e:
        raise SystemExit(f"--filter is not a valid regular expression ({e}): {pattern!r}") from e
    points = []
    for w in workloads:
        if w.timed != timed or (workload is not None and w.name != workload):
            continue
        for p in w.points:
            if regex is None or regex.search(w.label(p)):
                points.append((w, dict(p)))
    return points


def build_metadata(module) -> dict[str, Any]:
    """Metadata of every run: what the flavour is and what it was built with, and what the
    interpreter is (``allocbench.interpreters.metadata``: libpython static or shared,
    PGO/LTO, glibc, the OS it runs on). pyperf adds the machine (CPU model, cores, hostname,
    platform), Python version, executable, CFLAGS, CONFIG_ARGS and date itself."""
    # Imported here: asv imports this module to discover benchmarks, in environments built
    # from older commits whose allocbench may lack it.
    from allocbench import interpreters

    info = module.build_info()
    return {
        **interpreters.metadata(interpreters.facts()),
        "flavour": os.environ.get(ENV_VAR) or info["backend"],
        "backend": info["backend"],
        "backend_primitive": info["primitive"],
        "features": info["features"],
        "rustc": info["rustc"],
        "rust_profile": info["profile"],
        "crate_version": info["crate_version"],
        "pythonmalloc": os.environ.get("PYTHONMALLOC") or "unset (pymalloc)",
        "glibc": os.confstr("CS_GNU_LIBC_VERSION") or "unknown",
    }


def extension_metadata() -> dict[str, Any]:
    """Metadata of an extension run (``--workloads``): the interpreter's, and what the
    flavour's ``build.json`` says (extension, version, flavour, backend, how it was built)."""
    from allocbench import interpreters

    path = os.environ.get(EXTENSION_BUILD)
    if not path:
        raise SystemExit(f"--workloads needs {EXTENSION_BUILD}: the flavour's build.json")
    with open(path, encoding="utf-8") as f:
        build = json.load(f)
    return {
        **interpreters.metadata(interpreters.facts()),
        **{k: str(v) for k, v in build.items() if v not in (None, "")},
        "pythonmalloc": os.environ.get("PYTHONMALLOC") or "unset (pymalloc)",
        "glibc": os.confstr("CS_GNU_LIBC_VERSION") or "unknown",
    }


def point_metadata(w: catalogue.Workload, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "workload": w.name,
        "family": w.family,
        "params": json.dumps(params, sort_keys=True),
    }


def parse_extra_metadata(items: list[str]) -> dict[str, str]:
    extra = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise SystemExit(f"--bench-metadata takes KEY=VALUE (both non-empty), got {item!r}")
        extra[key] = value
    return extra


def calibrate(points, target_seconds: float, module) -> dict[str, int]:
    """Loops per call for each point so that one call takes about ``target_seconds``: doubled
    from 1 until a call takes that long, then scaled down to the target (pyperf's own
    calibration doubles the same way)."""
    plan = {}
    for w, p in points:
        w.run(loops=1, module=module, **p)  # the first call pays for page faults
        loops = 1
        while True:
            seconds = w.run(loops=loops, module=module, **p)
            if seconds >= target_seconds or loops * 2 > catalogue.MAX_LOOPS:
                break
            loops *= 2
        plan[w.label(p)] = max(1, round(loops * target_seconds / seconds)) if seconds else loops
    return plan


def figures(result: dict[str, Any]) -> dict[str, int | float]:
    """A memory workload's result flattened to ``path: number``: phases by their name
    (``refill/rss_bytes``), nested dicts with a dot (``start/python.arenas``)."""
    flat: dict[str, int | float] = {}

    def walk(path: str, value: Any) -> None:
        if isinstance(value, bool):
            flat[path] = int(value)
        elif isinstance(value, int | float):
            flat[path] = value
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(f"{path}.{k}" if path and not path.endswith("/") else f"{path}{k}", v)
        elif isinstance(value, list):
            # A list of phases: the list's own key is dropped, the phase names the path.
            parent = path.rpartition(".")[0]
            for item in value:
                if not isinstance(item, dict) or "phase" not in item:
                    raise ValueError(f"unexpected list item in a memory result: {item!r}")
                rest = {k: v for k, v in item.items() if k != "phase"}
                walk(f"{parent}/{item['phase']}/" if parent else f"{item['phase']}/", rest)
        elif value is not None:  # None: a figure this configuration does not have
            raise ValueError(f"unexpected value in a memory result at {path!r}: {value!r}")

    walk("", result)
    return flat


def memory_suite(points, module, base_metadata: dict[str, Any]):
    """Runs each memory point once; returns a pyperf BenchmarkSuite with one benchmark per
    figure that cannot be zero (``BENCHMARK_FIGURES``), named ``<label>/<figure path>``."""
    import pyperf

    benchmarks = []
    for w, p in points:
        result = w.run(module=module, **p)
        flat = figures(result)
        recorded = {f"figure.{k}": v for k, v in flat.items()}
        if isinstance(result.get("phases"), list):
            # pyperf sorts metadata keys: the phases' order is kept here.
            recorded["phases"] = ",".join(ph["phase"] for ph in result["phases"])
        label = w.label(p)
        for path, value in flat.items():
            unit = BENCHMARK_FIGURES.get(re.split(r"[/.]", path)[-1])
            if unit is None:
                continue
            if not value > 0:
                raise ValueError(f"{label}: figure {path} should be > 0, got {value}")
            metadata = {
                **base_metadata,
                **point_metadata(w, p),
                **recorded,
                "name": f"{label}/{path}",
                "point": label,
                "unit": unit,
            }
            benchmarks.append(pyperf.Benchmark([pyperf.Run([value], metadata=metadata)]))
    if not benchmarks:
        raise ValueError("no memory figures were produced")
    return pyperf.BenchmarkSuite(benchmarks)


def main() -> None:
    import pyperf

    def worker_args(cmd: list[str], args) -> None:
        # The manager passes our own options on to its workers.
        for opt, value in (
            ("--filter", args.filter),
            ("--workload", args.workload),
            ("--workloads", args.workloads),
        ):
            if value:
                cmd.extend((opt, value))
        if args.plan:
            cmd.extend(("--plan", args.plan))
        for item in args.bench_metadata:
            cmd.extend(("--bench-metadata", item))

    runner = pyperf.Runner(add_cmdline_args=worker_args)
    ap = runner.argparser
    ap.add_argument("--filter", help="regular expression searched in the benchmark names")
    ap.add_argument("--workload", help="only this catalogue workload's points")
    ap.add_argument("--workloads", help="an extension's workload file instead of the catalogue")
    ap.add_argument("--plan", help="JSON {benchmark name: loops per call} (with --loops 1)")
    ap.add_argument("--calibrate", metavar="PLAN", help="write a plan instead of running")
    ap.add_argument("--target-time", type=float, default=0.02, help="seconds per call")
    ap.add_argument("--memory", action="store_true", help="run the memory workloads")
    ap.add_argument(
        "--bench-metadata", action="append", default=[], metavar="KEY=VALUE", help="extra"
    )
    args = runner.parse_args()
    args.inherit_environ = sorted(set(args.inherit_environ or ()) | set(INHERITED_ENVIRON))

    if args.workloads:
        from allocbench.extension_workloads import load_workloads

        try:
            module = load_workloads(args.workloads)
        except ValueError as e:
            raise SystemExit(f"--workloads: {e}") from e
        workloads, base = module.WORKLOADS, extension_metadata()
    else:
        module = load()
        workloads, base = None, build_metadata(module)
    metadata = {**base, **parse_extra_metadata(args.bench_metadata)}

    if args.memory:
        target = args.output or args.append
        if not target:
            raise SystemExit("--memory needs -o/--output or --append")
        points = selected_points(args.filter, args.workload, False, workloads)
        if not points:
            raise SystemExit(f"no memory workload matches --filter {args.filter!r}")
        suite = memory_suite(points, module, metadata)
        if args.append:
            pyperf.add_runs(args.append, suite)
        else:
            suite.dump(args.output)
        return

    points = selected_points(args.filter, args.workload, True, workloads)
    if not points:
        raise SystemExit(f"no timed benchmark matches --filter {args.filter!r}")
    if args.calibrate:
        if not args.target_time > 0:
            raise SystemExit(f"--target-time must be > 0 seconds, got {args.target_time}")
        # Imported here, as interpreters above: an older commit's allocbench lacks it.
        from allocbench import atomic

        atomic.write_json(args.calibrate, calibrate(points, args.target_time, module))
        return

    plan: dict[str, int] = {}
    if args.plan:
        with open(args.plan, encoding="utf-8") as f:
            plan = json.load(f)
        if args.loops != 1:
            raise SystemExit("--plan fixes the loops per call: pyperf's --loops must be 1")
        missing = [w.label(p) for w, p in points if w.label(p) not in plan]
        if missing:
            raise SystemExit(
                f"--plan has no loops for {missing[0]} ({len(missing)} missing): the plan "
                "was made from another catalogue (rebuild the flavour: make build-all)"
            )
    runner.metadata.update(metadata)
    for w, p in points:
        label = w.label(p)
        fixed = int(plan.get(label, 1))

        def timed_call(loops, w=w, p=p, fixed=fixed):
            return w.run(loops=loops * fixed, module=module, **p)

        runner.bench_time_func(
            label,
            timed_call,
            inner_loops=fixed * w.ops_per_loop(p),
            metadata={**point_metadata(w, p), "loops_per_call": fixed},
        )


if __name__ == "__main__":
    sys.exit(main())
