"""``make review BASE=<rev>``: a pull-request comment on what a change did to the flavours.

Per flavour, how many points improved, regressed or stayed by the deterministic figures
(instructions/op and est. cycles/op, counted under callgrind for BASE and HEAD by
tools/regress_instructions.py: a point changed when a figure moved by more than the
threshold, 1 % by default), then a BASE / HEAD / change table of the changed points, with
the wall time beside when a stored ``make bench`` run of the same interpreter exists for
both commits (mean and 95 % interval over its processes; the change as HEAD / BASE with
its 95 % interval), else a line saying there is none.

The functions here are pure (counts in, Markdown out); tools/review.py builds and counts.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from . import instructions

IMPROVED, REGRESSED, SAME = "improved", "regressed", "same"
VERDICTS = (IMPROVED, REGRESSED, SAME)


def verdict(base: float, head: float, threshold: float) -> str:
    """HEAD against BASE for a lower-is-better figure: regressed beyond ``threshold`` (a
    fraction: head > base x (1 + threshold)), improved beyond it (head x (1 + threshold) <
    base), else the same."""
    if head > base * (1 + threshold):
        return REGRESSED
    if head * (1 + threshold) < base:
        return IMPROVED
    return SAME


def classify(
    base: dict[str, Any], head: dict[str, Any], threshold: float
) -> dict[str, dict[str, dict[str, Any]]]:
    """flavour -> point -> {figure: (base, head, verdict)} for every point both runs
    counted, each figure (``instructions.METRICS``) both carry."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for f, counts in head["counts"].items():
        for label, h in counts.items():
            b = base["counts"].get(f, {}).get(label)
            if b is None:
                continue
            figures = {}
            for m in instructions.METRICS:
                if m in b and m in h and b[m] > 0:
                    figures[m] = (b[m], h[m], verdict(b[m], h[m], threshold))
            if figures:
                out.setdefault(f, {})[label] = figures
    return out


def summary(classified: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, dict]]:
    """flavour -> figure -> verdict -> number of points."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for f, points in classified.items():
        for figures in points.values():
            for m, (_, _, v) in figures.items():
                out.setdefault(f, {}).setdefault(m, dict.fromkeys(VERDICTS, 0))[v] += 1
    return out


def summary_lines(classified: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """One line per flavour: per figure, improved / regressed / same."""
    lines = []
    for f, per_figure in summary(classified).items():
        parts = [
            f"{instructions.METRICS[m]} {c[IMPROVED]} improved, {c[REGRESSED]} regressed, "
            f"{c[SAME]} same"
            for m, c in per_figure.items()
        ]
        lines.append(f"{f}: " + "; ".join(parts))
    return lines


# ---- wall time ------------------------------------------------------------------------------


def find_pyperf_run(results: Path, commit: str, interp: dict[str, Any]) -> Path | None:
    """The stored ``make bench`` run (``results``/pyperf/<id>) of ``commit`` (a full hash)
    on the interpreter ``interp`` (an instruction run's header: ``python``,
    ``interpreter``), if any: the newest clean one, else the newest made with local
    changes (its git_commit says -dirty)."""
    found: list[tuple[bool, str, Path]] = []
    for rec in Path(results).glob("pyperf/*/run.json"):
        try:
            record = json.loads(rec.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        got = str(record.get("git_commit") or "")
        if record.get("status") != "done" or got.removesuffix("-dirty") != commit:
            continue
        if instructions.same_interpreter(interp, record) is None:
            found.append(
                (not got.endswith("-dirty"), record.get("run_id", rec.parent.name), rec.parent)
            )
    return max(found)[2] if found else None


def t_interval(samples: list[float]) -> tuple[float, float, float]:
    """Mean and its 95 % Student-t interval (one value: no interval)."""
    mean = statistics.fmean(samples)
    if len(samples) < 2:
        return mean, math.nan, math.nan
    from scipy import stats

    half = stats.t.ppf(0.975, len(samples) - 1) * statistics.stdev(samples) / len(samples) ** 0.5
    return mean, mean - half, mean + half


def wall_samples(run_dir: Path) -> dict[str, dict[str, list[float]]]:
    """flavour -> point -> one mean seconds/op per process of a stored pyperf run."""
    from . import report

    run = report.load_run(run_dir)
    out: dict[str, dict[str, list[float]]] = {}
    for f in run.flavours:
        for name in run.names("second"):
            s = run.samples(f, name)
            if s:
                out.setdefault(f, {})[name] = s
    return out


def wall_cells(base: list[float] | None, head: list[float] | None) -> list[str]:
    """BASE, HEAD (ns/op with interval) and the change HEAD / BASE with its 95 % interval
    (``report.welch_ratio``: the ratio of geometric means, Welch's interval; no round pairs
    the processes of two runs)."""
    from .report import welch_ratio

    def ns(s):
        if not s:
            return "-"
        m, lo, hi = t_interval(s)
        return f"{m * 1e9:.1f}" + ("" if math.isnan(lo) else f" [{lo * 1e9:.1f}, {hi * 1e9:.1f}]")

    change = "-"
    if base and head:
        r = welch_ratio(head, base)
        change = f"x{r.value:.3f}" + (f" [{r.low:.3f}, {r.high:.3f}]" if r.has_interval else "")
    return [ns(base), ns(head), change]


# ---- the comment ----------------------------------------------------------------------------


def _pct(b: float, h: float) -> str:
    return f"{100 * (h / b - 1):+.1f} %"


def changed_rows(
    classified: dict[str, dict[str, dict[str, Any]]],
    wall: tuple[dict, dict] | None = None,
) -> tuple[list[str], list[list[str]]]:
    """The BASE / HEAD / change table of every point where some figure changed; the wall
    time beside when ``wall`` (BASE's and HEAD's ``wall_samples``) is given."""
    figures = [
        m
        for m in instructions.METRICS
        if any(m in figs for pts in classified.values() for figs in pts.values())
    ]
    headers = ["flavour", "point"]
    for m in figures:
        name = instructions.METRICS[m]
        headers += [f"{name} BASE", "HEAD", "change"]
    if wall is not None:
        headers += ["wall ns/op BASE [95 %]", "HEAD [95 %]", "HEAD / BASE [95 %]"]
    rows = []
    for f, points in classified.items():
        for label, figs in points.items():
            if all(v == SAME for _, _, v in figs.values()):
                continue
            row = [f, label]
            for m in figures:
                if m not in figs:
                    row += ["-", "-", "-"]
                    continue
                b, h, v = figs[m]
                row += [f"{b:,.1f}", f"{h:,.1f}", f"{_pct(b, h)} ({v})"]
            if wall is not None:
                row += wall_cells(wall[0].get(f, {}).get(label), wall[1].get(f, {}).get(label))
            rows.append(row)
    return headers, rows


def markdown(
    base: dict[str, Any],
    head: dict[str, Any],
    threshold: float,
    wall_runs: tuple[Path | None, Path | None] = (None, None),
) -> str:
    """The comment: header, the per-flavour summary, the changed points. ``base`` and
    ``head`` are instruction runs (``counts``, and ``git_commit``, ``interpreter``,
    ``filter`` for the header); ``wall_runs`` the stored pyperf runs of each, if any."""
    classified = classify(base, head, threshold)
    b, h = (str(d.get("git_commit", "?"))[:10] for d in (base, head))
    interp = (head.get("interpreter") or {}).get("summary") or f"CPython {head.get('python', '?')}"
    n = sum(len(p) for p in classified.values())
    parts = [
        f"## allocbench review: {b} (BASE) .. {h} (HEAD)",
        "",
        f"Deterministic figures, counted under callgrind for both commits on {interp}: "
        f"instructions/op and estimated cycles/op (L1 hits + 5 x LL hits + 35 x RAM hits), "
        f"{n} points x flavours (filter `{head.get('filter') or '(all)'}`). A figure "
        f"improved or regressed when it moved by more than {100 * threshold:g} %.",
        "",
    ]
    if any(e.get("warmed") for c in head["counts"].values() for e in c.values()) != any(
        e.get("warmed") for c in base["counts"].values() for e in c.values()
    ):
        parts += [
            "BASE and HEAD were counted by their own workers, one with the warm-up call "
            "before the counted pair and one without: points whose first call differs from "
            "later ones (churn, realloc) can move for that reason alone.",
            "",
        ]
    rows = [
        [f, instructions.METRICS[m], str(c[IMPROVED]), str(c[REGRESSED]), str(c[SAME])]
        for f, per in summary(classified).items()
        for m, c in per.items()
    ]
    parts += [
        instructions.table(
            rows, lambda r: (["flavour", "figure", "improved", "regressed", "same"], r)
        ),
        "",
    ]
    wall = None
    if all(wall_runs):
        assert wall_runs[0] is not None and wall_runs[1] is not None
        wall = (wall_samples(wall_runs[0]), wall_samples(wall_runs[1]))
        parts += [
            f"Wall time: stored pyperf runs {wall_runs[0].name} (BASE) and "
            f"{wall_runs[1].name} (HEAD), same interpreter; mean ns/op with its 95 % "
            "interval over processes (Student t), change HEAD / BASE with its 95 % "
            "interval. A point they did not time shows '-'.",
            "",
        ]
    else:
        missing = [n for n, r in zip(("BASE", "HEAD"), wall_runs, strict=True) if r is None]
        parts += [
            f"Wall time: none (no stored `make bench` run of this interpreter for "
            f"{' and '.join(missing)}).",
            "",
        ]
    headers, changed = changed_rows(classified, wall)
    if changed:
        parts += ["### Changed points", "", instructions.table(changed, lambda r: (headers, r)), ""]
    else:
        parts += ["No point changed beyond the threshold.", ""]
    return "\n".join(parts)
