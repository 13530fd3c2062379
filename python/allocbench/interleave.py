"""The interleaved engine of ``make bench`` (and ``make bench-extension``): the modes, the
selection of benchmarks by filter, the schedule of worker processes (calibration once per
benchmark, then rounds in which every flavour runs once, the order rotated), one worker
process, and the loop that runs them and keeps every flavour's pyperf file valid after each
step.

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
measured.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import atomic, catalogue, interpreters, isolate, pydeps
from .flavour import ROOT, subprocess_env
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


class Interrupted(BaseException):
    """SIGTERM, turned into an exception so the run record says what happened."""


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
    half: str = ""  # "a" or "b" in a replicated run (--replicate), else ""

    def describe(self, mode: Mode) -> str:
        half = f" ({self.half})" if self.half else ""
        if self.kind == "calibrate":
            return f"calibrate {self.flavour:9} {self.workload} ({len(self.labels)} benchmarks)"
        if self.kind == "time":
            return (
                f"round {self.round}/{mode.rounds}{half} {self.flavour:9} {self.workload} "
                f"({len(self.labels)} benchmarks)"
            )
        return f"memory {self.round}/{mode.memory_rounds}{half} {self.flavour:9} {self.labels[0]}"


def schedule(
    timed: dict[str, list[str]],
    memory: list[tuple[str, str]],
    flavours: list[str],
    mode: Mode,
    reference: str | None = None,
    halves: tuple[str, ...] = ("",),
) -> list[Step]:
    """Every worker process of a run, in order: calibration on the reference flavour
    (default: system if present, else the first), then per timed workload (or memory
    point) its rounds, each round every flavour once, the order rotated by one from round
    to round. ``halves`` ("a", "b": ``--replicate``) measures the plan once per half, the
    halves' rounds alternating in time (a1 b1 a2 b2 ...), each half a complete set of
    rounds whose order rotates as a run's does; the calibration is shared."""
    reference = reference or (REFERENCE if REFERENCE in flavours else flavours[0])
    steps = [Step("calibrate", reference, name, tuple(labels), 0) for name, labels in timed.items()]
    for gi, (name, labels) in enumerate(timed.items()):
        for r in range(mode.rounds):
            for h, half in enumerate(halves):
                steps += [
                    Step("time", f, name, tuple(labels), r + 1, half)
                    for f in rotated(flavours, gi + r + h)
                ]
    for gi, (name, label) in enumerate(memory):
        for r in range(mode.memory_rounds):
            for h, half in enumerate(halves):
                steps += [
                    Step("memory", f, name, (label,), r + 1, half)
                    for f in rotated(flavours, gi + r + h)
                ]
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
        extra = [f"bench_half={step.half}"] if step.half else []
        for item in [*metadata, f"bench_round={step.round}", *extra]:
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
        env = pydeps.worker_env(python, env, pythonmalloc)
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
    run_dir: Path | dict[str, Path],
    record: dict[str, Any],  # or, with run_dir a dict: half -> record
    metadata: list[str] | dict[str, list[str]],
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
    or an interruption is raised after the record says so. A replicated run (steps with a
    ``half``) gives ``run_dir``, ``record`` and ``metadata`` per half: dicts keyed by the
    half ("a", "b"), each half stored as its own run."""
    import pyperf

    if isinstance(run_dir, dict):
        run_dirs, records, metas = run_dir, record, metadata
    else:
        run_dirs, records, metas = {"": run_dir}, {"": record}, {"": metadata}

    def write_records() -> None:
        for half, rec in records.items():
            atomic.write_json(run_dirs[half] / RUN_RECORD, rec)

    progress = Progress(len(steps))
    suites: dict[tuple[str, str], Any] = {}
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
                    for rec in records.values():
                        rec["loops_per_call"] = plan
                    write_records()
                produced = run_step(
                    step,
                    mode,
                    tmp,
                    n,
                    metas.get(step.half, []),  # calibration (half "") records none
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
                key = (step.half, step.flavour)
                if key in suites:
                    suites[key].add_runs(got)
                else:
                    suites[key] = got
                suite = suites[key]
                atomic.write_with(
                    run_dirs[step.half] / f"{step.flavour}.json",
                    lambda tmp, suite=suite: suite.dump(str(tmp), replace=True),
                )
                progress.step(step.describe(mode))
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt | Interrupted):
            # Every flavour file holds completed steps only (each is replaced atomically).
            how = "SIGINT" if isinstance(e, KeyboardInterrupt) else "SIGTERM"
            status = f"partial: interrupted by {how}; completed steps only"
        else:
            status = f"failed: {type(e).__name__}: {e}".splitlines()[0]
        for rec in records.values():
            rec["status"] = status
            rec["measured_s"] = round(time.time() - started, 1)
        write_records()
        raise

    for rec in records.values():
        rec["measured_s"] = round(time.time() - started, 1)
        rec["status"] = "measured"
    write_records()
