"""A stored run, loaded and checked: ``load_run`` reads ``<flavour>.json`` (pyperf's format,
written by ``allocbench.bench``) and ``run.json`` into a ``RunData``, and refuses with
``ReportInputError`` (naming the file) a JSON that is not pyperf's, was not made by the
suite, names no flavour, or mixes machines; ``compare_to``: pyperf's own table of the run.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import FLAVOURS, catalogue

REFERENCE = "system"
RUN_RECORD = "run.json"
# Run metadata that pins a machine: runs that differ in any of them are not comparable.
MACHINE_KEYS = ("hostname", "cpu_model_name", "cpu_count")


class ReportInputError(ValueError):
    """The run directory cannot be reported on (the message names the file and why)."""


@dataclass
class RunData:
    run_dir: Path
    record: dict[str, Any]
    flavours: list[str]
    reference: str
    # flavour -> benchmark name -> pyperf.Benchmark
    benches: dict[str, dict[str, Any]]
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)  # flavour -> common
    _rounds: dict[tuple[str, str], dict[int, float]] = field(default_factory=dict, repr=False)

    def values(self, flavour: str, name: str) -> list[float] | None:
        b = self.benches[flavour].get(name)
        return list(b.get_values()) if b is not None else None

    def round_means(self, flavour: str, name: str) -> dict[int, float]:
        """Round -> the mean of the benchmark's values in that round (one worker process
        per flavour and round; several are pooled). Values within a process, and the
        processes of one round, share their moment on this shared host: the round is the
        unit of replication. Runs stored without ``bench_round`` metadata number their
        processes in order: the k-th is round k. Empty when the flavour lacks the benchmark."""
        key = (flavour, name)
        if key not in self._rounds:
            b = self.benches[flavour].get(name)
            pooled: dict[int, list[float]] = {}
            for k, run in enumerate(b.get_runs() if b is not None else (), 1):
                if run.values:
                    r = run.get_metadata().get("bench_round")
                    pooled.setdefault(int(r) if r is not None else k, []).extend(run.values)
            self._rounds[key] = {r: statistics.fmean(v) for r, v in sorted(pooled.items())}
        return self._rounds[key]

    def mean(self, flavour: str, name: str) -> float | None:
        v = self.values(flavour, name)
        return statistics.fmean(v) if v else None

    def names(self, unit: str | None = None) -> list[str]:
        """Every benchmark name of the run, in the catalogue's order."""
        seen: dict[str, None] = {}
        for f in self.flavours:
            for name, b in self.benches[f].items():
                if unit is None or b.get_unit() == unit:
                    seen[name] = None
        order = {w.name: i for i, w in enumerate(catalogue.WORKLOADS)}
        return sorted(seen, key=lambda n: order.get(n.split("[", 1)[0], len(order)))

    def timed_points(self, workload: str) -> list[tuple[dict[str, Any], str]]:
        """(params, benchmark name) of a timed workload's points present in the run, in the
        catalogue's order."""
        w = catalogue.get(workload)
        present = set(self.names("second"))
        return [(dict(p), w.label(p)) for p in w.points if w.label(p) in present]

    def figure_runs(self, flavour: str, point: str) -> list[dict[str, float]]:
        """Every run's figures (``figure.*`` metadata) of a memory point in a flavour."""
        for name, b in self.benches[flavour].items():
            if name.startswith(point + "/"):
                runs = []
                for run in b.get_runs():
                    md = run.get_metadata()
                    runs.append(
                        {k[len("figure.") :]: v for k, v in md.items() if k.startswith("figure.")}
                    )
                return runs
        return []

    def phases(self, point: str) -> list[str]:
        """A memory point's phases in the order they ran (``phases`` metadata)."""
        for f in self.flavours:
            for name, b in self.benches[f].items():
                if name.startswith(point + "/"):
                    return str(b.get_metadata().get("phases", "")).split(",")
        return []

    def memory_points(self, workload: str) -> list[tuple[dict[str, Any], str]]:
        w = catalogue.get(workload)
        present = {n.split("]/", 1)[0] + "]" for n in self.names() if "]/" in n}
        return [(dict(p), w.label(p)) for p in w.points if w.label(p) in present]


def load_run(run_dir: Path | str) -> RunData:
    """Loads and checks a run directory (see the module docstring for what is refused)."""
    import pyperf

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ReportInputError(f"run directory {run_dir} does not exist (or is not a directory)")
    record: dict[str, Any] = {}
    found: dict[str, Any] = {}
    for path in sorted(run_dir.glob("*.json")):
        if path.name == RUN_RECORD:
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except ValueError as e:
                raise ReportInputError(f"{path} is not the run record bench writes ({e})") from e
            if not isinstance(record, dict) or "run_id" not in record:
                raise ReportInputError(f"{path} is not the run record bench writes (no run_id)")
            continue
        if path.stem not in FLAVOURS:
            raise ReportInputError(
                f"{path}: a run directory holds <flavour>.json files ({', '.join(FLAVOURS)}) "
                f"and {RUN_RECORD}; {path.name!r} is neither"
            )
        try:
            suite = pyperf.BenchmarkSuite.load(str(path))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise ReportInputError(f"{path} is not a pyperf result file ({e})") from e
        for b in suite.get_benchmarks():
            for run in b.get_runs():
                backend = run.get_metadata().get("backend")
                if backend is None:
                    raise ReportInputError(
                        f"{path}: benchmark {b.get_name()!r} was not made by the allocbench "
                        "suite (its runs have no 'backend' metadata)"
                    )
                if backend != path.stem:
                    raise ReportInputError(
                        f"{path}: benchmark {b.get_name()!r} was measured with backend "
                        f"{backend!r}, not {path.stem!r}"
                    )
        found[path.stem] = suite
    if not found:
        raise ReportInputError(
            f"{run_dir} holds no pyperf result (<flavour>.json, one of {', '.join(FLAVOURS)})"
        )
    machines: dict[tuple, str] = {}
    for flavour, suite in found.items():
        for b in suite.get_benchmarks():
            for run in b.get_runs():
                md = run.get_metadata()
                key = tuple(md.get(k) for k in MACHINE_KEYS)
                machines.setdefault(key, f"{flavour}.json, {b.get_name()}")
    if len(machines) > 1:
        described = "; ".join(
            f"{', '.join(f'{k}={v!r}' for k, v in zip(MACHINE_KEYS, key, strict=True))} "
            f"(first in {where})"
            for key, where in machines.items()
        )
        raise ReportInputError(
            f"{run_dir} mixes machines, so its ratios would compare machines, not "
            f"allocators: {described}"
        )
    flavours = [f for f in FLAVOURS if f in found]
    reference = REFERENCE if REFERENCE in found else flavours[0]
    return RunData(
        run_dir,
        record,
        flavours,
        reference,
        {f: {b.get_name(): b for b in found[f].get_benchmarks()} for f in flavours},
        {f: found[f].get_metadata() for f in flavours},
    )


def compare_to(run_dir: Path | str, flavours: Iterable[str], reference: str) -> str:
    """``python -m pyperf compare_to <reference>.json <others> --table``, as text."""
    run_dir = Path(run_dir)
    others = [f for f in flavours if f != reference]
    cmd = [sys.executable, "-m", "pyperf", "compare_to", f"{reference}.json"]
    cmd += [f"{f}.json" for f in others] + ["--table"]
    proc = subprocess.run(cmd, cwd=run_dir, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ReportInputError(
            f"pyperf compare_to failed in {run_dir} (exit {proc.returncode}): "
            f"{(proc.stderr or proc.stdout).strip()}"
        )
    return proc.stdout.rstrip()
