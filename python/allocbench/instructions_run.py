"""An instruction run of ``make bench-instructions`` (``allocbench.instructions``) and
what is kept of it: counting and timing every flavour, judging the figures against wall
time, writing ``<out>/instructions/<run id>/`` (``instructions.json``, its Markdown, two
plots); reading a stored run back; and the regression comparison of two runs
(``make regress-instructions``)."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import subprocess
from pathlib import Path
from typing import Any

from . import atomic, interpreters
from .flavour import ROOT
from .instructions_callgrind import CACHE_GEOMETRY, CLOCK_FREE_ALLOCATOR_ENV, CYCLE_WEIGHTS, _here
from .instructions_count import EXCLUDED_FAMILIES, count_flavour, time_flavour
from .instructions_markdown import c_baseline, plot, report_markdown
from .instructions_prediction import (
    matching_pyperf_runs,
    plot_prediction,
    prediction,
    pyperf_prediction,
    same_interpreter,
)

FORMAT = "allocbench-instructions/1"


def _atomic_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(path, json.dumps(data, indent=1, sort_keys=True))


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


def latest_run(results_root: Path) -> Path | None:
    """The newest stored instruction-count run under ``results_root``, if any."""
    runs = sorted(p for p in (Path(results_root) / "instructions").glob("*/instructions.json"))
    return runs[-1] if runs else None


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
