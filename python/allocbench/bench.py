"""``make bench``: every flavour side by side with pyperf, interleaved, then the verdict.

    python -m allocbench.bench [--flavours pymem,system] [--mode smoke|quick|rigorous]
                               [--filter REGEX] [--out RESULTS] [--run-id ID]
                               [--python 3.11,3.15] [--pythonmalloc default,mimalloc]
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
``--instructions`` counts instead of timing: the same flavours and points under callgrind
(``allocbench.instructions``, ``make bench-instructions``), stored next to the pyperf runs.

How the flavours are interleaved, and why it is affordable. One process holds one flavour,
so every measurement is a process. pyperf's own manager spends 20 worker processes per
benchmark, plus calibration; for five flavours and ~75 benchmarks that is over an hour.
Instead:

1. Calibration, once per benchmark: one process per workload, on the reference flavour,
   finds the loops per call that take ``target_time`` (``benchmarks/pyperf_suite.py
   --calibrate``). Every flavour then runs the same amount of work per value.
2. Values: for each workload, ``rounds`` rounds; in each round every flavour runs one pyperf
   worker process (``pyperf_suite.py --worker --loops 1 --plan``) over all of the workload's
   selected points: ``warmups`` warmups and ``values`` values each. The flavour order
   rotates from round to round (A B C, B C A, C A B ...), so the flavours' runs of a
   benchmark alternate within seconds of each other and machine drift hits them alike; no
   flavour always goes first.
3. Memory workloads (not timed): each point runs in a fresh process per flavour and round
   (the figures are RSS, so no point may inherit another's heap), interleaved the same way.

Each worker's runs are added to the flavour's suite, which is written after every step
(temporary file, then rename), so an interrupted run leaves valid pyperf files of what was
measured. An existing run directory is never written into.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import FLAVOURS, atomic, catalogue, interpreters, isolate, split_names
from .flavour import ROOT, check_name, flavour_dir, subprocess_env
from .report import RUN_RECORD

SUITE = ROOT / "benchmarks" / "pyperf_suite.py"
REFERENCE = "system"


@dataclass(frozen=True)
class Mode:
    rounds: int  # worker processes per flavour and timed workload
    warmups: int  # per benchmark and process
    values: int  # per benchmark and process
    target_time: float  # seconds per value
    memory_rounds: int  # processes per flavour and memory point
    doc: str


MODES = {
    "smoke": Mode(2, 1, 2, 0.002, 2, "seconds: proves the path works; the figures are noise"),
    "quick": Mode(3, 1, 3, 0.02, 3, "the default: all five flavours in a few minutes"),
    "rigorous": Mode(6, 1, 5, 0.05, 5, "more processes and longer values, for a verdict"),
}


class BenchError(RuntimeError):
    """A step of the benchmark run failed (the message says which and why)."""


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


def check_mode(name: str) -> Mode:
    if name not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {name!r}")
    return MODES[name]


def select(pattern: str | None, workloads: Iterable[catalogue.Workload] | None = None):
    """(timed workloads -> their matching points, matching memory points) for the filter,
    among ``workloads`` (default: the catalogue; an extension's workload file has its own)."""
    workloads = list(catalogue.WORKLOADS if workloads is None else workloads)
    try:
        regex = re.compile(pattern) if pattern else None
    except re.error as e:
        raise ValueError(f"filter is not a valid regular expression ({e}); got {pattern!r}") from e
    timed: dict[str, list[str]] = {}
    memory: list[tuple[str, str]] = []  # (workload, label)
    for w in workloads:
        for p in w.points:
            label = w.label(p)
            if regex is not None and not regex.search(label):
                continue
            if w.timed:
                timed.setdefault(w.name, []).append(label)
            else:
                memory.append((w.name, label))
    if not timed and not memory:
        raise ValueError(
            f"filter {pattern!r} matches no benchmark; names look like "
            f"{workloads[-1].label(workloads[-1].points[0])}"
        )
    return timed, memory


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


class Interrupted(BaseException):
    """SIGTERM, turned into an exception so the run record says what happened."""


def _on_sigterm(signum, _frame):
    raise Interrupted("SIGTERM")


def rotated(items: list[str], k: int) -> list[str]:
    k %= len(items)
    return items[k:] + items[:k]


def exactly(labels: Iterable[str]) -> str:
    """A --filter that matches these benchmark names and no other."""
    return "^(" + "|".join(re.escape(x) for x in labels) + ")$"


@dataclass(frozen=True)
class Step:
    """One worker process. ``kind``: calibrate, time or memory."""

    kind: str
    flavour: str
    workload: str
    labels: tuple[str, ...]
    round: int  # 1-based; 0 for calibration

    def describe(self, mode: Mode) -> str:
        if self.kind == "calibrate":
            return f"calibrate {self.flavour:9} {self.workload} ({len(self.labels)} benchmarks)"
        if self.kind == "time":
            return (
                f"round {self.round}/{mode.rounds} {self.flavour:9} {self.workload} "
                f"({len(self.labels)} benchmarks)"
            )
        return f"memory {self.round}/{mode.memory_rounds} {self.flavour:9} {self.labels[0]}"


def schedule(
    timed: dict[str, list[str]],
    memory: list[tuple[str, str]],
    flavours: list[str],
    mode: Mode,
    reference: str | None = None,
) -> list[Step]:
    """Every worker process of a run, in order: calibration on the reference flavour
    (default: system if present, else the first), then per timed workload (or memory
    point) its rounds, each round every flavour once, the order rotated by one from round
    to round."""
    reference = reference or (REFERENCE if REFERENCE in flavours else flavours[0])
    steps = [Step("calibrate", reference, name, tuple(labels), 0) for name, labels in timed.items()]
    for gi, (name, labels) in enumerate(timed.items()):
        for r in range(mode.rounds):
            steps += [
                Step("time", f, name, tuple(labels), r + 1) for f in rotated(flavours, gi + r)
            ]
    for gi, (name, label) in enumerate(memory):
        for r in range(mode.memory_rounds):
            steps += [Step("memory", f, name, (label,), r + 1) for f in rotated(flavours, gi + r)]
    return steps


def run_step(
    step: Step,
    mode: Mode,
    tmp: Path,
    n: int,
    metadata: list[str],
    memory_limit: int | None = None,
    python: interpreters.Interpreter | None = None,
    pythonmalloc: str = "default",
    env_for=subprocess_env,
    suite_args: tuple[str, ...] = (),
) -> Path:
    """Runs one worker process of the suite under ``python`` (default: this interpreter)
    with ``pythonmalloc`` (and RLIMIT_AS=``memory_limit`` if given); returns the JSON it
    wrote (a plan for a calibration, else a pyperf suite). ``env_for(flavour)`` is the
    worker's environment (default: the flavour's extension on PYTHONPATH); ``suite_args``
    go to the suite script first (an extension run names its workload file there)."""
    produced = tmp / f"{n}-{step.kind}-{step.flavour}.json"
    args = [*suite_args, "--workload", step.workload, "--filter", exactly(step.labels)]
    if step.kind == "calibrate":
        args += ["--calibrate", str(produced), "--target-time", str(mode.target_time)]
    else:
        if step.kind == "time":
            args += ["--worker", "--loops", "1", "--warmups", str(mode.warmups)]
            args += ["--values", str(mode.values), "--plan", str(tmp / "plan.json")]
        else:
            args.append("--memory")
        args += ["--output", str(produced)]
        for item in [*metadata, f"bench_round={step.round}"]:
            args += ["--bench-metadata", item]
    env = env_for(step.flavour)
    if python is None:
        cmd = [sys.executable, str(SUITE), *args]
        if pythonmalloc == "default":
            env.pop("PYTHONMALLOC", None)
        else:
            env["PYTHONMALLOC"] = pythonmalloc
    else:
        cmd = [python.command, str(SUITE), *args]
        env = interpreters.worker_env(python, env, pythonmalloc)
    proc = subprocess.run(
        cmd,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=isolate.limit_address_space(memory_limit),
    )
    if proc.returncode != 0:
        why = isolate.failure(proc, f"{step.workload} (flavour {step.flavour})", memory_limit)
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise BenchError(
            f"{step.kind} of {step.workload} (round {step.round}): {why}\n  {' '.join(cmd)}\n{tail}"
        )
    return produced


class Progress:
    def __init__(self, total: int):
        self.total, self.done, self.t0 = total, 0, time.perf_counter()

    def step(self, text: str) -> None:
        self.done += 1
        elapsed = time.perf_counter() - self.t0
        print(
            f"[{self.done:{len(str(self.total))}}/{self.total}] {elapsed:6.1f}s  {text}", flush=True
        )


def measure(
    steps: list[Step],
    mode: Mode,
    run_dir: Path,
    record: dict[str, Any],
    metadata: list[str],
    python: interpreters.Interpreter,
    pythonmalloc: str,
    memory_limit: int | None,
    started: float,
    env_for=subprocess_env,
    suite_args: tuple[str, ...] = (),
) -> None:
    """Runs ``steps`` (``schedule``) one worker process after the other and adds each
    worker's runs to its flavour's pyperf file in ``run_dir`` (rewritten atomically after
    every step). ``record`` (``run.json``) holds the loops per call once calibration is
    over, and the status at the end: measured, failed or partial (interrupted); a failure
    or an interruption is raised after the record says so."""
    import pyperf

    run_json = run_dir / RUN_RECORD
    progress = Progress(len(steps))
    suites: dict[str, Any] = {}
    try:
        # The workers write here: inside the project for a sid interpreter, whose launcher
        # binds the project's top directory and /tmp but not $TMPDIR.
        scratch = ROOT / "build" if python.in_sid_root else None
        if scratch is not None:
            scratch.mkdir(exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="allocbench-bench-", dir=scratch) as tmpdir:
            tmp = Path(tmpdir)
            plan: dict[str, int] = {}
            for n, step in enumerate(steps):
                if step.kind != "calibrate" and not (tmp / "plan.json").exists():
                    # Calibration is over: every flavour runs the same loops per call.
                    (tmp / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
                    record["loops_per_call"] = plan
                    atomic.write_json(run_json, record)
                produced = run_step(
                    step,
                    mode,
                    tmp,
                    n,
                    metadata,
                    memory_limit,
                    python,
                    pythonmalloc,
                    env_for,
                    suite_args,
                )
                if step.kind == "calibrate":
                    plan.update(json.loads(produced.read_text(encoding="utf-8")))
                    progress.step(step.describe(mode))
                    continue
                got = pyperf.BenchmarkSuite.load(str(produced))
                if step.kind == "time" and got.get_benchmark_names() != list(step.labels):
                    raise BenchError(
                        f"flavour {step.flavour} ran {got.get_benchmark_names()} instead of "
                        f"{list(step.labels)}: its catalogue differs from the source; rebuild "
                        "it (make build-all)"
                    )
                if step.flavour in suites:
                    suites[step.flavour].add_runs(got)
                else:
                    suites[step.flavour] = got
                suite = suites[step.flavour]
                atomic.write_with(
                    run_dir / f"{step.flavour}.json",
                    lambda tmp, suite=suite: suite.dump(str(tmp), replace=True),
                )
                progress.step(step.describe(mode))
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt | Interrupted):
            # Every flavour file holds completed steps only (each is replaced atomically).
            how = "SIGINT" if isinstance(e, KeyboardInterrupt) else "SIGTERM"
            record["status"] = f"partial: interrupted by {how}; completed steps only"
        else:
            record["status"] = f"failed: {type(e).__name__}: {e}".splitlines()[0]
        record["measured_s"] = round(time.time() - started, 1)
        atomic.write_json(run_json, record)
        raise

    record["measured_s"] = round(time.time() - started, 1)
    record["status"] = "measured"
    atomic.write_json(run_json, record)


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
) -> Path:
    """Runs the interleaved benchmark, prints compare_to, writes the report; returns the
    run directory (``<out>/pyperf/<run id>``). ``memory_limit`` (bytes) caps every worker's
    address space: a workload that outgrows it fails the run with a clear error, and what
    was measured before stays stored (the run is marked failed). The workers run under
    ``python`` (default: the newest optimised CPython present) with ``pythonmalloc``;
    ``chosen`` says how the interpreter was chosen (recorded)."""
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
    run_dir = Path(out) / "pyperf" / run_id
    if run_dir.exists():
        raise BenchError(f"{run_dir} exists: a run is never overwritten; pick another --run-id")
    if python is None:
        python, why = interpreters.default()
        chosen = chosen or f"default: {why}"
    interpreters.check_pythonmalloc(pythonmalloc, python)
    interpreters.ensure_pydeps(python)
    run_dir.mkdir(parents=True)

    commit = git_commit()
    record: dict[str, Any] = {
        "run_id": run_id,
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
    run_json = run_dir / RUN_RECORD
    atomic.write_json(run_json, record)

    steps = schedule(timed, memory, flavours, mode)
    print(
        f"allocbench bench: run {run_id}, mode {mode_name} ({mode.doc}); flavours "
        f"{', '.join(flavours)} (reference {reference}); {record['timed_benchmarks']} timed "
        f"benchmarks in {len(timed)} workloads, {len(memory)} memory points; "
        f"{len(steps)} worker processes",
        flush=True,
    )
    print(
        f"interpreter {python.summary()} ({record['interpreter']['chosen']}); "
        f"PYTHONMALLOC={pythonmalloc}",
        flush=True,
    )
    metadata = [f"git_commit={commit}", f"bench_run={run_id}", f"bench_mode={mode_name}"]
    metadata += [f"interpreter={python.id}", f"bench_pythonmalloc={pythonmalloc}"]
    measure(steps, mode, run_dir, record, metadata, python, pythonmalloc, memory_limit, started)
    print(f"measured in {record['measured_s']:.0f} s; pyperf results in {run_dir}", flush=True)

    from . import report

    if len(flavours) > 1:
        print(f"\npython -m pyperf compare_to {reference}.json ... --table", flush=True)
        print(report.compare_to(run_dir, flavours, reference), flush=True)
    index = report.build(run_dir, Path(out) / "report" / run_id, bench_started=started)
    print(f"report: {index}", flush=True)
    record["total_wall_s"] = round(time.time() - started, 1)
    record["status"] = "done"
    atomic.write_json(run_json, record)
    print(f"make bench wall time: {record['total_wall_s']:.0f} s", flush=True)
    return run_dir


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
) -> list[Path]:
    """``make bench``: one run (``run_bench``) per interpreter x PYTHONMALLOC value, then,
    when there are several, the comparison report (each family's verdict per run side by
    side). Everything is checked before anything runs: the interpreters (an unknown id, an
    absent interpreter or a free-threaded build is refused), each PYTHONMALLOC value on each
    interpreter (mimalloc needs 3.13+), the flavours, the filter, and that no run directory
    exists. Returns the run directories."""
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
        if (Path(out) / "pyperf" / rid).exists():
            raise BenchError(f"{Path(out) / 'pyperf' / rid} exists: a run is never overwritten")
    if len(plan) > 1:
        print(
            f"allocbench bench: {len(plan)} runs, one after the other: "
            + "; ".join(f"{rid} ({i.id}, PYTHONMALLOC={pm})" for rid, i, _, pm in plan),
            flush=True,
        )
    runs = []
    for rid, interp, why, pm in plan:
        runs.append(
            run_bench(flavours, mode_name, pattern, out, rid, memory_limit, interp, pm, why)
        )
    if len(runs) > 1:
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
