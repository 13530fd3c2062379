"""How well the deterministic figures of an instruction run (instructions/op, est.
cycles/op) predict wall time: against the run's own native times and against stored
``make bench`` (pyperf) runs of the same interpreter; the tables, notes and plot that show
it (``allocbench.instructions``' run, ``allocbench.predict``, the bench report)."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

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
