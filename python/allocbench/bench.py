"""``make bench``: every flavour side by side with pyperf, interleaved, then the verdict.

    python -m allocbench.bench [--flavours pymem,system] [--mode smoke|quick|rigorous]
                               [--filter REGEX] [--out RESULTS] [--run-id ID]
                               [--python 3.11,3.15] [--pythonmalloc default,mimalloc]
                               [--replicate]
    python -m allocbench.bench --instructions [--flavours …] [--filter …] [--out …]
                               [--python 3.15]

writes ``<out>/pyperf/<run id>/<flavour>.json`` (pyperf's format, one file per flavour) and
``run.json`` (mode, plan, wall time, interpreter, PYTHONMALLOC), prints ``pyperf
compare_to`` with ``system`` as the reference, and writes the report to
``<out>/report/<run id>/`` (``allocbench.report``).

The workers run under the interpreter ``--python`` names (``allocbench.interpreters``: ids
such as 3.11, 3.15, 3.11-debian; default: the newest optimised CPython present, said and
recorded), with ``--pythonmalloc`` in their environment; this process stays on the project
venv. Several interpreters or PYTHONMALLOC values make one complete run each (``<run
id>-py3.15``, ``<run id>-py3.15-mimalloc``, …), one after the other, and a comparison report
(``<out>/report/<run id>-compare/``: each family's verdict per run side by side,
``allocbench.report.compare_runs``). Each run's verdict is a ratio to ``system`` measured
within that run, flavours interleaved, so slow drift between the runs does not enter it.
``--replicate`` (``make bench REPLICATE=1``) measures the plan twice, its rounds alternating
between the halves in time, into ``<run id>-a`` and ``<run id>-b`` (each a complete run with
its own report), and writes whether their verdicts agree to ``<out>/report/<run
id>-replication/`` (``allocbench.report.replication_blocks``).
``--instructions`` counts instead of timing: the same flavours and points under callgrind
(``allocbench.instructions``, ``make bench-instructions``), stored next to the pyperf runs.

How the flavours are interleaved, and why that is affordable: ``allocbench.interleave``.
An existing run directory is never written into.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import FLAVOURS, atomic, interpreters, isolate, pydeps, split_names
from .flavour import ROOT, check_name, flavour_dir
from .interleave import (
    MODES,
    REFERENCE,
    BenchError,
    Interrupted,
    check_mode,
    measure,
    schedule,
    select,
)
from .report import RUN_RECORD


def parse_flavours(text: str) -> list[str]:
    """``pymem,system`` (commas or spaces) -> checked, de-duplicated flavour names."""
    if not isinstance(text, str):
        raise TypeError(f"flavours must be a str like 'pymem,system'; got {text!r}")
    names = split_names(
        text, check_name, lambda n: ValueError(f"flavours names {n!r} twice; got {text!r}")
    )
    if not names:
        raise ValueError(f"flavours must name at least one of {', '.join(FLAVOURS)}; got {text!r}")
    return names


def git_commit() -> str:
    """HEAD's commit, ``-dirty`` when the tree has changes; read without taking git's
    optional locks (another process may be committing)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "--no-optional-locks", "status", "--porcelain"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}-dirty" if status else head


def _on_sigterm(signum, _frame):
    raise Interrupted("SIGTERM")


HALVES = ("a", "b")


def replication_report_id(run_id: str) -> str:
    """The report directory of a replicated run's two halves (``<run id>-replication``)."""
    return f"{run_id}-replication"


def run_bench(
    flavours: str | list[str],
    mode_name: str = "quick",
    pattern: str | None = None,
    out: Path | str = ROOT / "results",
    run_id: str | None = None,
    memory_limit: int | None = None,
    python: interpreters.Interpreter | None = None,
    pythonmalloc: str = "default",
    chosen: str = "",
    replicate: bool = False,
) -> list[Path]:
    """Runs the interleaved benchmark, prints compare_to, writes the report; returns the
    run directories (``<out>/pyperf/<run id>``). ``memory_limit`` (bytes) caps every worker's
    address space: a workload that outgrows it fails the run with a clear error, and what
    was measured before stays stored (the run is marked failed). The workers run under
    ``python`` (default: the newest optimised CPython present) with ``pythonmalloc``;
    ``chosen`` says how the interpreter was chosen (recorded). ``replicate`` measures the
    plan twice, the halves' rounds alternating in time, into ``<run id>-a`` and ``<run
    id>-b`` (each a complete run with its own report), and writes their agreement to
    ``<out>/report/<run id>-replication`` (``report.compare_runs``)."""
    started = time.time()
    mode = check_mode(mode_name)
    isolate.check_memory_limit(memory_limit)
    flavours = parse_flavours(flavours if isinstance(flavours, str) else ",".join(flavours))
    timed, memory = select(pattern)
    for f in flavours:
        if not (flavour_dir(f) / ".stamp").exists():
            raise BenchError(f"flavour {f} is not built: run `make build FLAVOUR={f}`")
    reference = REFERENCE if REFERENCE in flavours else flavours[0]

    run_id = run_id or dt.datetime.now().strftime("%Y%m%d-%H%M%S") + f"-{mode_name}"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", run_id):
        raise ValueError(f"run id must be letters, digits, '.', '_' or '-'; got {run_id!r}")
    halves = HALVES if replicate else ("",)
    ids = {h: f"{run_id}-{h}" if h else run_id for h in halves}
    run_dirs = {h: Path(out) / "pyperf" / rid for h, rid in ids.items()}
    for run_dir in run_dirs.values():
        if run_dir.exists():
            raise BenchError(f"{run_dir} exists: a run is never overwritten; pick another --run-id")
    if python is None:
        python, why = interpreters.default()
        chosen = chosen or f"default: {why}"
    interpreters.check_pythonmalloc(pythonmalloc, python)
    pydeps.ensure_pydeps(python)
    for run_dir in run_dirs.values():
        run_dir.mkdir(parents=True)

    commit = git_commit()
    records: dict[str, dict[str, Any]] = {}
    for h, rid in ids.items():
        records[h] = {
            "run_id": rid,
            "mode": mode_name,
            "mode_settings": asdict(mode),
            "flavours": flavours,
            "reference": reference,
            "filter": pattern,
            "git_commit": commit,
            "python": python.command,
            "orchestrator_python": sys.executable,
            "interpreter": {**python.record(), "chosen": chosen or f"PY={python.id}"},
            "interpreter_facts": python.facts,
            "pythonmalloc": pythonmalloc,
            "started": dt.datetime.fromtimestamp(started).isoformat(timespec="seconds"),
            "timed_benchmarks": sum(len(v) for v in timed.values()),
            "memory_points": len(memory),
            "memory_limit": memory_limit,
            "status": "running",
        }
        if h:
            records[h]["replicate"] = {
                "half": h,
                "runs": list(ids.values()),
                "report": replication_report_id(run_id),
                "interleaving": "per workload, rounds alternate between the halves: "
                "a1 b1 a2 b2 ...; the calibration is shared",
            }
        atomic.write_json(run_dirs[h] / RUN_RECORD, records[h])

    steps = schedule(timed, memory, flavours, mode, halves=halves)
    print(
        f"allocbench bench: run {' and '.join(ids.values())}, mode {mode_name} ({mode.doc}); "
        f"flavours {', '.join(flavours)} (reference {reference}); "
        f"{records[halves[0]]['timed_benchmarks']} timed benchmarks in {len(timed)} workloads, "
        f"{len(memory)} memory points; {len(steps)} worker processes"
        + (" (replicated: two halves, rounds alternating)" if replicate else ""),
        flush=True,
    )
    print(
        f"interpreter {python.summary()} ({records[halves[0]]['interpreter']['chosen']}); "
        f"PYTHONMALLOC={pythonmalloc}",
        flush=True,
    )
    metadata = {}
    for h, rid in ids.items():
        metadata[h] = [f"git_commit={commit}", f"bench_run={rid}", f"bench_mode={mode_name}"]
        metadata[h] += [f"interpreter={python.id}", f"bench_pythonmalloc={pythonmalloc}"]
    if replicate:
        measure(
            steps, mode, run_dirs, records, metadata, python, pythonmalloc, memory_limit, started
        )
    else:
        measure(
            steps, mode, run_dirs[""], records[""], metadata[""], python, pythonmalloc,
            memory_limit, started,
        )  # fmt: skip
    measured = records[halves[0]]["measured_s"]
    print(
        f"measured in {measured:.0f} s; pyperf results in "
        + ", ".join(str(d) for d in run_dirs.values()),
        flush=True,
    )

    from . import report

    for h, run_dir in run_dirs.items():
        if len(flavours) > 1:
            print(
                f"\n{ids[h]}: python -m pyperf compare_to {reference}.json ... --table",
                flush=True,
            )
            print(report.compare_to(run_dir, flavours, reference), flush=True)
        index = report.build(run_dir, Path(out) / "report" / ids[h], bench_started=started)
        print(f"report: {index}", flush=True)
    if replicate:
        pair = list(run_dirs.values())
        index = report.compare_runs(pair, Path(out) / "report" / replication_report_id(run_id))
        print(f"\nreplication: {index}", flush=True)
        print(report.replication_text(pair), flush=True)
    for h, rec in records.items():
        rec["total_wall_s"] = round(time.time() - started, 1)
        rec["status"] = "done"
        atomic.write_json(run_dirs[h] / RUN_RECORD, rec)
    print(f"make bench wall time: {records[halves[0]]['total_wall_s']:.0f} s", flush=True)
    return list(run_dirs.values())


def _run_name(interp_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", interp_id.strip("/"))


def run_plan(
    flavours: str | list[str],
    mode_name: str = "quick",
    pattern: str | None = None,
    out: Path | str = ROOT / "results",
    run_id: str | None = None,
    memory_limit: int | None = None,
    pythons: list[str] | None = None,
    pythonmallocs: list[str] | None = None,
    replicate: bool = False,
) -> list[Path]:
    """``make bench``: one run (``run_bench``) per interpreter x PYTHONMALLOC value, then,
    when there are several, the comparison report (each family's verdict per run side by
    side). Everything is checked before anything runs: the interpreters (an unknown id, an
    absent interpreter or a free-threaded build is refused), each PYTHONMALLOC value on each
    interpreter (mimalloc needs 3.13+), the flavours, the filter, and that no run directory
    exists. ``replicate``: each run is measured as two interleaved halves (``run_bench``).
    Returns the run directories."""
    check_mode(mode_name)
    isolate.check_memory_limit(memory_limit)
    flavours = parse_flavours(flavours if isinstance(flavours, str) else ",".join(flavours))
    select(pattern)
    if pythons:
        chosen = [(interpreters.resolve(i), f"PY={','.join(pythons)}") for i in pythons]
    else:
        interp, why = interpreters.default()
        chosen = [(interp, f"default (PY not given): {why}")]
    pms = pythonmallocs or ["default"]
    for pm in pms:
        for interp, _ in chosen:
            interpreters.check_pythonmalloc(pm, interp)
    base = run_id or dt.datetime.now().strftime("%Y%m%d-%H%M%S") + f"-{mode_name}"
    plan = []
    for interp, why in chosen:
        for pm in pms:
            if len(chosen) == 1 and len(pms) == 1:
                rid = base
            else:
                rid = f"{base}-py{_run_name(interp.id)}" + (f"-{pm}" if len(pms) > 1 else "")
            plan.append((rid, interp, why, pm))
    for rid, *_ in plan:
        for name in [f"{rid}-{h}" for h in HALVES] if replicate else [rid]:
            if (Path(out) / "pyperf" / name).exists():
                raise BenchError(
                    f"{Path(out) / 'pyperf' / name} exists: a run is never overwritten"
                )
    if len(plan) > 1:
        print(
            f"allocbench bench: {len(plan)} runs, one after the other: "
            + "; ".join(f"{rid} ({i.id}, PYTHONMALLOC={pm})" for rid, i, _, pm in plan),
            flush=True,
        )
    runs: list[Path] = []
    for rid, interp, why, pm in plan:
        runs += run_bench(
            flavours, mode_name, pattern, out, rid, memory_limit, interp, pm, why, replicate
        )
    if len(plan) > 1:
        from . import report

        index = report.compare_runs(runs, Path(out) / "report" / f"{base}-compare")
        print(f"\ncomparison of the {len(runs)} runs: {index}", flush=True)
        print(report.compare_text(runs), flush=True)
    return runs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m allocbench.bench", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--flavours", default=",".join(FLAVOURS), help="comma-separated flavours")
    ap.add_argument("--mode", help=f"one of {', '.join(MODES)} (default quick)")
    ap.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions per op under callgrind instead of timing (no --mode)",
    )
    ap.add_argument("--filter", default="", help="regular expression on benchmark names")
    ap.add_argument("--out", default=str(ROOT / "results"), help="results root")
    ap.add_argument("--run-id", help="default: date-time-mode")
    ap.add_argument(
        "--replicate",
        action="store_true",
        help="measure the plan twice, the halves' rounds alternating in time, into <run "
        "id>-a and <run id>-b, and report whether their verdicts agree",
    )
    ap.add_argument(
        "--memory-limit",
        type=int,
        help="RLIMIT_AS of every worker process, in bytes (default: none)",
    )
    ap.add_argument(
        "--python",
        default="",
        help=f"interpreter ids, comma-separated ({interpreters.allowed()}); default: the "
        "newest optimised CPython present (--instructions: this interpreter)",
    )
    ap.add_argument(
        "--pythonmalloc",
        default="",
        help="the workers' PYTHONMALLOC, comma-separated ("
        + ", ".join(interpreters.PYTHONMALLOC_VALUES)
        + "; mimalloc on 3.13+); default: default",
    )
    args = ap.parse_args(argv)
    if args.instructions:
        if args.mode is not None:
            ap.error("--mode times the workloads; --instructions counts them: give one")
        from . import instructions

        try:
            flavours = parse_flavours(args.flavours)
        except (TypeError, ValueError) as e:
            ap.error(f"--flavours: {e}")
        extra = ["--run-id", args.run_id] if args.run_id else []
        if args.python:
            extra += ["--python", args.python]
        if args.replicate:
            ap.error("--replicate repeats timed rounds; --instructions counts: give one")
        if args.pythonmalloc:
            ap.error(
                "--pythonmalloc times the workloads under another allocator; counting "
                "runs keep CPython's default"
            )
        return instructions.main(
            ["--flavours", ",".join(flavours), "--filter", args.filter, "--out", args.out, *extra]
        )
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        run_plan(
            parse_flavours(args.flavours),
            args.mode or "quick",
            args.filter or None,
            Path(args.out),
            args.run_id,
            args.memory_limit,
            interpreters.parse_ids(args.python) if args.python.strip() else None,
            interpreters.parse_pythonmallocs(args.pythonmalloc),
            args.replicate,
        )
    except (TypeError, ValueError, BenchError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Interrupted) as e:
        print(f"interrupted ({e or 'SIGINT'}): the run is marked partial", file=sys.stderr)
        return 130 if isinstance(e, KeyboardInterrupt) else 143
    return 0


if __name__ == "__main__":
    sys.exit(main())
