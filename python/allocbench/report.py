"""The report of a ``make bench`` run, from its stored pyperf JSON alone.

    python -m allocbench.report results/pyperf/<run id> [--out results/report/<run id>]
    python -m allocbench.report results/pyperf/<a> results/pyperf/<b> … [--out DIR]

(the second: the comparison of several runs, e.g. one per interpreter or PYTHONMALLOC value:
each family's verdict per run side by side, ``compare_runs``)

reads ``<flavour>.json`` (pyperf's format, written by ``allocbench.bench``) and ``run.json``
(the orchestrator's record: mode, plan, wall time), and writes ``index.html`` and
``index.md`` (the same content) with PNG plots drawn by matplotlib: time per operation
against block size, each flavour against its raw baseline, realloc growth and the in-place
fraction, the fragmentation timeline, thread scaling, the Python interplay; then the targets
of the project, ``pyperf compare_to``, and a verdict table per workload family.

Statistics. A benchmark's figure is the mean of its values (all processes); a ratio is
flavour mean / reference mean (< 1: the flavour is faster, or uses less memory). The
process is the unit of replication: values within one process share its heap layout and
its moment on a shared host, so the tests take one sample per process (its mean), not per
value (``compare_to`` takes every value, and so calls more differences significant). Two
flavours differ significantly on a benchmark when Welch's two-tailed t-test on those
samples rejects equal means at 95 %. A family's verdict is the geometric mean of the
per-benchmark ratios; its 95 % interval comes from the benchmarks' own noise (delta method
on the log ratios, normal quantile), so "significant" means the interval excludes 1.

Input is refused, with a message naming the file, when a JSON is not pyperf's, was not made
by the allocbench suite, names no flavour, or when the files mix machines.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import FLAVOURS, catalogue

REFERENCE = "system"
RUN_RECORD = "run.json"
# Run metadata that pins a machine: runs that differ in any of them are not comparable.
MACHINE_KEYS = ("hostname", "cpu_model_name", "cpu_count")
COLOURS = {
    "pymem": "tab:blue",
    "pymem-raw": "tab:cyan",
    "system": "black",
    "mimalloc": "tab:orange",
    "jemalloc": "tab:red",
}
Z95 = 1.959963984540054

# Targets of the project (issue 3), checked against every run.
TARGET_WALL_S = 300
TARGET_CHURN_RSD = 0.03
TARGET_SMALL_CHURN_SPEEDUP = 1.5
TARGET_CALLOC_SPEEDUP = 5.0
SMALL_SIZES = range(16, 513)
CALLOC_PARAMS = {"size": catalogue.MiB, "touch": False}

# The verdict leaves out alloc_pair_unguarded: a diagnostic of the PyMem guard's cost (the
# unsound design one would not ship), equal to alloc_pair in every other flavour.
VERDICT_EXCLUDED = {"alloc_pair_unguarded"}
# Memory families have no time: their verdict compares one RSS figure (lower wins).
VERDICT_MEMORY_FIGURE = {
    # RSS after the refill phase: the fragmented heap at its fullest.
    "fragmentation": "refill/rss_bytes",
    # RSS once the Rust and then the Python side are dropped: what the process keeps.
    "interplay": "python_dropped/rss_bytes",
}


class ReportInputError(ValueError):
    """The run directory cannot be reported on (the message names the file and why)."""


# ---- statistics ------------------------------------------------------------------------------


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularised incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for aa in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 3e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta function I_x(a, b)."""
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"x must be in 0..1; got {x}")
    if x in (0.0, 1.0):
        return x
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_two_tailed_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` degrees of freedom."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be > 0; got {df}")
    return betainc(df / 2.0, 0.5, df / (df + t * t))


def welch(a: list[float], b: list[float]) -> tuple[float, float]:
    """Welch's t-test: (t, two-tailed p). Needs two values per sample; two samples without
    spread differ with certainty unless their means are equal."""
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"Welch's test needs >= 2 values per sample; got {len(a)} and {len(b)}")
    ma, mb = statistics.fmean(a), statistics.fmean(b)
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    if va + vb == 0:
        return (0.0, 1.0) if ma == mb else (math.copysign(math.inf, ma - mb), 0.0)
    t = (ma - mb) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return t, t_two_tailed_p(t, df)


def log_ratio(a: list[float], b: list[float]) -> tuple[float, float]:
    """log(mean a / mean b) and its variance (delta method)."""
    ma, mb = statistics.fmean(a), statistics.fmean(b)
    var = 0.0
    for values, m in ((a, ma), (b, mb)):
        if len(values) > 1:
            var += statistics.variance(values) / (len(values) * m * m)
    return math.log(ma / mb), var


@dataclass
class Ratio:
    """Geometric mean of mean ratios over ``n`` benchmarks, with its 95 % interval."""

    value: float
    low: float
    high: float
    n: int
    significant_benchmarks: int = 0  # Welch p < 0.05, in either direction

    @property
    def significant(self) -> bool:
        return self.high < 1.0 or self.low > 1.0


def geomean_ratio(pairs: list[tuple[list[float], list[float]]]) -> Ratio:
    if not pairs:
        raise ValueError("a ratio needs at least one benchmark")
    logs, var, sig = [], 0.0, 0
    for a, b in pairs:
        lr, v = log_ratio(a, b)
        logs.append(lr)
        var += v
        if len(a) > 1 and len(b) > 1 and welch(a, b)[1] < 0.05:
            sig += 1
    k = len(pairs)
    mean = statistics.fmean(logs)
    half = Z95 * math.sqrt(var) / k
    return Ratio(math.exp(mean), math.exp(mean - half), math.exp(mean + half), k, sig)


def rsd(values: list[float]) -> float:
    """Relative standard deviation (stdev / mean)."""
    return statistics.stdev(values) / statistics.fmean(values) if len(values) > 1 else math.nan


# ---- loading -------------------------------------------------------------------------------


@dataclass
class RunData:
    run_dir: Path
    record: dict[str, Any]
    flavours: list[str]
    reference: str
    # flavour -> benchmark name -> pyperf.Benchmark
    benches: dict[str, dict[str, Any]]
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)  # flavour -> common

    def values(self, flavour: str, name: str) -> list[float] | None:
        b = self.benches[flavour].get(name)
        return list(b.get_values()) if b is not None else None

    def samples(self, flavour: str, name: str) -> list[float] | None:
        """One figure per run (process): the mean of its values. Values within a process
        are correlated (same heap layout, same moment on a shared host), so the process is
        the unit of replication of every test here."""
        b = self.benches[flavour].get(name)
        return [statistics.fmean(r.values) for r in b.get_runs() if r.values] if b else None

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


# ---- formatting ----------------------------------------------------------------------------


def fmt_time(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def fmt_bytes(n: float | None) -> str:
    if n is None or math.isnan(n):
        return "-"
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B"


def fmt_ratio(r: Ratio) -> str:
    return f"{r.value:.3f} [{r.low:.3f}, {r.high:.3f}]"


def ratio_words(r: float, memory: bool = False) -> str:
    """A ratio (flavour / reference) of times, or of memory sizes, in words."""
    less, more = ("smaller", "larger") if memory else ("faster", "slower")
    if r == 1:
        return "the same"
    if abs(1 - r) < 0.05:  # "1.00x" would hide a small difference
        return f"{abs(1 - r):.1%} {less if r < 1 else more}"
    return f"{1 / r:.2f}x {less}" if r < 1 else f"{r:.2f}x {more}"


# ---- plots ---------------------------------------------------------------------------------


@dataclass
class Plot:
    file: str
    title: str
    caption: str
    points: int  # data points drawn; a plot with none is not written


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out_dir: Path, name: str) -> None:
    tmp = out_dir / f".{name}.tmp{os.getpid()}.png"
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    os.replace(tmp, out_dir / name)


def _saved(plt, fig, out_dir: Path, plot: Plot) -> Plot:
    """Saves ``fig`` as ``plot.name``, frees it, returns ``plot``."""
    _save(fig, out_dir, plot.file)
    plt.close(fig)
    return plot


def _grid(n: int, cols: int = 3):
    plt = _pyplot()
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(5.2 * cols, 3.8 * rows), squeeze=False, layout="constrained"
    )
    flat = [ax for row in axes for ax in row]
    for ax in flat[n:]:
        ax.set_visible(False)
    return plt, fig, flat[:n]


def plot_size_scaling(data: RunData, out: Path) -> Plot:
    """ns/op against block size: every timed workload with a size parameter, one panel per
    setting of its other parameters."""
    panels: list[tuple[str, list[tuple[int, str]]]] = []
    for w in catalogue.WORKLOADS:
        if not w.timed or "size" not in [p.name for p in w.params]:
            continue
        groups: dict[str, list[tuple[int, str]]] = {}
        for params, name in data.timed_points(w.name):
            rest = ",".join(
                f"{k}={str(v).lower() if isinstance(v, bool) else v}"
                for k, v in params.items()
                if k != "size"
            )
            groups.setdefault(rest, []).append((params["size"], name))
        for rest, pts in groups.items():
            if len(pts) >= 2:
                panels.append((f"{w.name}[{rest}]" if rest else w.name, sorted(pts)))
    if not panels:
        return Plot("size_scaling.png", "", "", 0)
    plt, fig, axes = _grid(len(panels))
    drawn = 0
    for ax, (title, pts) in zip(axes, panels, strict=True):
        for f in data.flavours:
            xs, ys, es = [], [], []
            for size, name in pts:
                v = data.values(f, name)
                if v:
                    xs.append(size)
                    ys.append(statistics.fmean(v) * 1e9)
                    es.append(statistics.stdev(v) * 1e9 if len(v) > 1 else 0.0)
            if xs:
                ax.errorbar(xs, ys, yerr=es, marker="o", ms=3, label=f, color=COLOURS[f])
                drawn += len(xs)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("block size (bytes)")
        ax.set_ylabel("ns per op")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Time per operation against block size (mean, bars: stdev)")
    return _saved(
        plt,
        fig,
        out,
        Plot(
            "size_scaling.png",
            "Time per operation against block size",
            "Every timed workload with a block size, log axes; one line per flavour.",
            drawn,
        ),
    )


def plot_raw_ratio(data: RunData, out: Path) -> Plot:
    """alloc_pair / raw_pair per flavour and size: the GlobalAlloc path's cost over the
    backend's own primitive."""
    pairs = {p["size"]: n for p, n in data.timed_points("alloc_pair")}
    raws = {p["size"]: n for p, n in data.timed_points("raw_pair")}
    sizes = sorted(set(pairs) & set(raws))
    if not sizes:
        return Plot("raw_ratio.png", "", "", 0)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    drawn = 0
    for f in data.flavours:
        xs, ys = [], []
        for s in sizes:
            a, r = data.mean(f, pairs[s]), data.mean(f, raws[s])
            if a and r:
                xs.append(s)
                ys.append(a / r)
        if xs:
            ax.plot(xs, ys, marker="o", label=f, color=COLOURS[f])
            drawn += len(xs)
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("block size (bytes)")
    ax.set_ylabel("alloc_pair / raw_pair")
    ax.set_title("Each flavour against its raw baseline (1 = no overhead)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _saved(
        plt,
        fig,
        out,
        Plot(
            "raw_ratio.png",
            "Each flavour against its raw baseline",
            "Time of one alloc+free pair through the global allocator divided by the backend's "
            "own primitive called directly (raw_pair), per block size.",
            drawn,
        ),
    )


def _grouped_bars(ax, categories: list[str], series: dict[str, list[float | None]]) -> int:
    n = max(1, len(series))
    width = 0.8 / n
    drawn = 0
    for i, (f, ys) in enumerate(series.items()):
        xs = [j + (i - (n - 1) / 2) * width for j in range(len(categories))]
        pts = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
        if pts:
            ax.bar([p[0] for p in pts], [p[1] for p in pts], width, label=f, color=COLOURS[f])
            drawn += len(pts)
    ax.set_xticks(range(len(categories)))
    ax.set_xticklabels(categories, rotation=30, ha="right", fontsize=8)
    return drawn


def _mean_time_bars(
    ax, data: RunData, points: list[tuple[str, str]], scale: float, ylabel: str, title: str
) -> int:
    """A panel of grouped bars, one group per (category, benchmark name), one bar per
    flavour: the mean time times ``scale``, on a log axis. Returns the bars drawn."""
    series = {
        f: [(m * scale if (m := data.mean(f, n)) else None) for _, n in points]
        for f in data.flavours
    }
    drawn = _grouped_bars(ax, [c for c, _ in points], series)
    ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return drawn


def _panel_plot(
    out: Path, name: str, title: str, caption: str, panels: list[tuple[Callable[[Any], int], Any]]
) -> Plot:
    """Draws side by side the panels whose points exist (``(draw, points)`` pairs), saves
    the figure as ``name``; an empty Plot when none has data."""
    drawers = [draw for draw, pts in panels if pts]
    if not drawers:
        return Plot(name, "", "", 0)
    plt, fig, axes = _grid(len(drawers), cols=len(drawers))
    drawn = sum(draw(ax) for draw, ax in zip(drawers, axes, strict=True))
    return _saved(plt, fig, out, Plot(name, title, caption, drawn))


def plot_realloc(data: RunData, out: Path) -> Plot:
    growth = data.timed_points("realloc_growth")
    moves = data.memory_points("realloc_moves")

    def growth_panel(ax) -> int:
        return _mean_time_bars(
            ax,
            data,
            [(f"{p['pattern']}\n{fmt_bytes(p['target'])}", n) for p, n in growth],
            1e6,
            "us per growth",
            "realloc_growth: time to grow a buffer to the target",
        )

    def moves_panel(ax) -> int:
        cats = [f"{p['pattern']}\n{fmt_bytes(p['target'])}" for p, _ in moves]
        series = {}
        for f in data.flavours:
            ys: list[float | None] = []
            for _, label in moves:
                runs = [r for r in data.figure_runs(f, label) if r.get("reallocs")]
                ys.append(
                    statistics.fmean(r["in_place"] / r["reallocs"] for r in runs) if runs else None
                )
            series[f] = ys
        drawn = _grouped_bars(ax, cats, series)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("reallocs that kept the pointer")
        ax.set_title("realloc_moves: in-place fraction")
        ax.legend(fontsize=8)
        return drawn

    return _panel_plot(
        out,
        "realloc.png",
        "Realloc growth time and in-place fraction",
        "realloc_growth: time of one whole growth (log scale). realloc_moves: the fraction "
        "of reallocs that grew or shrank the block in place.",
        [(growth_panel, growth), (moves_panel, moves)],
    )


def fragmentation_rows(data: RunData) -> list[tuple[str, str, dict[str, float], float]]:
    """(point label, flavour, RSS above baseline per live byte by phase, bytes retained
    after drop-all) for every fragmentation point and flavour (means over runs)."""
    rows = []
    for _, label in data.memory_points("fragmentation"):
        for f in data.flavours:
            runs = data.figure_runs(f, label)
            if not runs:
                continue
            per_live: dict[str, float] = {}
            for phase in data.phases(label):
                vals = [
                    (r[f"{phase}/rss_bytes"] - r["baseline_rss"]) / r[f"{phase}/live_bytes"]
                    for r in runs
                    if r.get(f"{phase}/live_bytes")
                ]
                if vals:
                    per_live[phase] = statistics.fmean(vals)
            last = data.phases(label)[-1]  # everything dropped
            retained = statistics.fmean(r[f"{last}/rss_bytes"] - r["baseline_rss"] for r in runs)
            rows.append((label, f, per_live, retained))
    return rows


def plot_fragmentation(data: RunData, out: Path) -> Plot:
    rows = fragmentation_rows(data)
    if not rows:
        return Plot("fragmentation.png", "", "", 0)
    labels = list(dict.fromkeys(r[0] for r in rows))
    params = {label: p for p, label in data.memory_points("fragmentation")}
    plt, fig, axes = _grid(len(labels))
    drawn = 0
    for ax, label in zip(axes, labels, strict=True):
        for _, f, per_live, _ in (r for r in rows if r[0] == label):
            phases = list(per_live)
            ax.plot(phases, [per_live[p] for p in phases], marker="o", label=f, color=COLOURS[f])
            drawn += len(phases)
        ax.axhline(1.0, color="grey", lw=0.8)
        pattern = params[label].get("pattern", label)
        ax.set_title(f"fragmentation, free pattern {pattern}", fontsize=9)
        ax.set_ylabel("RSS above baseline / live bytes")
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Fragmentation timeline: resident bytes per live byte, phase by phase")
    return _saved(
        plt,
        fig,
        out,
        Plot(
            "fragmentation.png",
            "Fragmentation timeline",
            "RSS above the process's baseline divided by the bytes the workload holds, after "
            "each phase (fill; free a pattern; refill with blocks twice as large). 1 = no "
            "overhead. The RSS kept after dropping everything is in the table below.",
            drawn,
        ),
    )


def plot_threads(data: RunData, out: Path) -> Plot:
    scaling = data.timed_points("threads_churn")
    cross = data.timed_points("cross_thread_free")

    def scaling_panel(ax) -> int:
        drawn = 0
        for f in data.flavours:
            pts = [(p["threads"], m * 1e9) for p, n in scaling if (m := data.mean(f, n))]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", label=f, color=COLOURS[f])
                drawn += len(pts)
        ax.set_xscale("log", base=2)
        ax.set_xticks([p["threads"] for p, _ in scaling], [str(p["threads"]) for p, _ in scaling])
        ax.set_xlabel("Rust threads allocating at once")
        ax.set_ylabel("ns per op (one pair on every thread)")
        ax.set_title("threads_churn: flat = perfect scaling")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        return drawn

    def cross_panel(ax) -> int:
        return _mean_time_bars(
            ax,
            data,
            [(fmt_bytes(p["size"]), n) for p, n in cross],
            1e9,
            "ns per block",
            "cross_thread_free: allocated on one thread, freed on another",
        )

    return _panel_plot(
        out,
        "threads.png",
        "Thread scaling",
        "threads_churn: time per operation as threads are added (the machine has "
        f"{data.metadata[data.flavours[0]].get('cpu_count', '?')} CPUs). cross_thread_free: "
        "blocks freed by another thread than the one that allocated them.",
        [(scaling_panel, scaling), (cross_panel, cross)],
    )


def plot_interplay(data: RunData, out: Path) -> Plot:
    points = data.memory_points("python_interplay")
    if not points:
        return Plot("interplay.png", "", "", 0)
    label = points[0][1]
    plt, fig, axes = _grid(2, cols=2)
    drawn = 0
    for f in data.flavours:
        runs = data.figure_runs(f, label)
        if not runs:
            continue
        phases = data.phases(label)
        rss = [
            statistics.fmean((r[f"{p}/rss_bytes"] - r[f"{phases[0]}/rss_bytes"]) for r in runs)
            / (1 << 20)
            for p in phases
        ]
        axes[0].plot(phases, rss, marker="o", label=f, color=COLOURS[f])
        drawn += len(phases)
        if f"{phases[0]}/python.arenas" in runs[0]:
            arenas = [statistics.fmean(r[f"{p}/python.arenas"] for r in runs) for p in phases]
            axes[1].plot(phases, arenas, marker="o", label=f, color=COLOURS[f])
            drawn += len(phases)
    axes[0].set_ylabel("RSS above the start (MiB)")
    axes[0].set_title("python_interplay: RSS by phase", fontsize=9)
    axes[1].set_ylabel("pymalloc arenas")
    axes[1].set_title("pymalloc arenas by phase (do Rust blocks pin them?)", fontsize=9)
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.tick_params(axis="x", labelsize=8)
    axes[0].legend(fontsize=8)
    return _saved(
        plt,
        fig,
        out,
        Plot(
            "interplay.png",
            "Python interplay",
            f"{label}: Python bytes objects interleaved with Rust blocks, then the Rust side "
            "dropped, then the Python side.",
            drawn,
        ),
    )


# ---- verdict and targets -------------------------------------------------------------------


@dataclass
class Verdict:
    family: str
    metric: str
    n: int
    ratios: dict[str, Ratio]  # flavour -> geomean ratio against the reference
    winner: str
    runner_up: str | None
    margin: Ratio | None  # winner against runner-up


def family_benchmarks(data: RunData, family: str) -> tuple[str, list[str]]:
    """(metric, benchmark names) a family's verdict compares."""
    if family in VERDICT_MEMORY_FIGURE:
        suffix = "/" + VERDICT_MEMORY_FIGURE[family]
        names = [
            n
            for n in data.names("byte")
            if n.endswith(suffix)
            and (w := catalogue.CATALOGUE.get(n.split("[", 1)[0])) is not None
            and w.family == family
        ]
        return f"RSS after {VERDICT_MEMORY_FIGURE[family].split('/')[0]} (lower wins)", names
    names = [
        n
        for n in data.names("second")
        if (w := catalogue.CATALOGUE.get(n.split("[", 1)[0])) is not None
        and w.family == family
        and w.name not in VERDICT_EXCLUDED
    ]
    return "time per op (lower wins)", names


def verdicts(data: RunData) -> list[Verdict]:
    out = []
    for family in catalogue.FAMILIES:
        metric, names = family_benchmarks(data, family)
        # Only benchmarks every flavour ran: a geometric mean over different sets misleads.
        names = [n for n in names if all(data.samples(f, n) for f in data.flavours)]
        if not names:
            continue
        ratios = {
            f: geomean_ratio([(data.samples(f, n), data.samples(data.reference, n)) for n in names])
            for f in data.flavours
        }
        ranked = sorted(data.flavours, key=lambda f: ratios[f].value)
        winner = ranked[0]
        runner_up = ranked[1] if len(ranked) > 1 else None
        margin = (
            geomean_ratio([(data.samples(winner, n), data.samples(runner_up, n)) for n in names])
            if runner_up
            else None
        )
        out.append(Verdict(family, metric, len(names), ratios, winner, runner_up, margin))
    return out


@dataclass
class Target:
    what: str
    goal: str
    measured: str
    met: str  # "yes", "no", or why it does not apply


def targets(data: RunData, wall_s: float | None) -> list[Target]:
    rec = data.record
    out = []
    full_quick = (
        rec.get("mode") == "quick" and not rec.get("filter") and len(data.flavours) == len(FLAVOURS)
    )
    if wall_s is None:
        out.append(Target("make bench wall time", "<= 300 s", "not recorded", "n/a"))
    else:
        out.append(
            Target(
                "make bench wall time (quick, all five flavours, builds cached)",
                f"<= {TARGET_WALL_S} s",
                f"{wall_s:.0f} s (mode {rec.get('mode')}, {len(data.flavours)} flavours"
                + (f", filter {rec.get('filter')!r})" if rec.get("filter") else ")"),
                ("yes" if wall_s <= TARGET_WALL_S else "no")
                if full_quick
                else "n/a: not a full quick run",
            )
        )

    churn = [n for _, n in data.timed_points("churn_batch")]
    worst = None
    all_rsd, within = [], []
    for f in data.flavours:
        for n in churn:
            v = data.values(f, n)
            if v and len(v) > 1:
                r = rsd(v)
                all_rsd.append(r)
                if worst is None or r > worst[0]:
                    worst = (r, f, n)
                within += [
                    rsd(r.values) for r in data.benches[f][n].get_runs() if len(r.values) > 1
                ]
    if worst:
        out.append(
            Target(
                f"RSD (std dev / mean) of the churn benchmarks, mode {rec.get('mode', '?')}",
                f"<= {TARGET_CHURN_RSD:.0%} each",
                f"worst {worst[0]:.1%} ({worst[1]}, {worst[2]}); median "
                f"{statistics.median(all_rsd):.1%} over {len(all_rsd)}"
                + (
                    f"; within one process the median is {statistics.median(within):.1%}"
                    if within
                    else ""
                ),
                ("yes" if worst[0] <= TARGET_CHURN_RSD else "no")
                if rec.get("mode") == "quick"
                else "n/a: the target is for quick mode",
            )
        )
    else:
        out.append(Target("RSD of the churn benchmarks", "<= 3 %", "not measured", "n/a"))

    small = [n for p, n in data.timed_points("churn_batch") if p["size"] in SMALL_SIZES]
    pairs = [
        (data.samples("system", n), data.samples("pymem", n))
        for n in small
        if "pymem" in data.benches and "system" in data.benches
    ]
    pairs = [(a, b) for a, b in pairs if a and b]
    if pairs:
        r = geomean_ratio(pairs)  # system time / pymem time: pymem's speed-up
        out.append(
            Target(
                "pymem against system, small-block churn (16-512 B, geometric mean)",
                f">= {TARGET_SMALL_CHURN_SPEEDUP}x faster",
                f"{r.value:.2f}x (95 % interval {r.low:.2f}-{r.high:.2f}, {r.n} benchmarks)",
                "yes" if r.value >= TARGET_SMALL_CHURN_SPEEDUP else "no",
            )
        )
    else:
        out.append(Target("pymem against system, small churn", ">= 1.5x", "not measured", "n/a"))

    zeroed = catalogue.get("zeroed_vec").label(CALLOC_PARAMS)
    memset = catalogue.get("memset_vec").label(CALLOC_PARAMS)
    if "pymem" in data.benches and data.samples("pymem", zeroed) and data.samples("pymem", memset):
        lr, var = log_ratio(data.samples("pymem", memset), data.samples("pymem", zeroed))
        half = Z95 * math.sqrt(var)
        out.append(
            Target(
                "pymem: vec![0; 1 MiB] untouched via PyMem_Calloc against alloc + memset",
                f">= {TARGET_CALLOC_SPEEDUP:g}x faster",
                f"{math.exp(lr):.2f}x (95 % interval {math.exp(lr - half):.2f}-"
                f"{math.exp(lr + half):.2f}; {fmt_time(data.mean('pymem', zeroed))} against "
                f"{fmt_time(data.mean('pymem', memset))})",
                "yes" if math.exp(lr) >= TARGET_CALLOC_SPEEDUP else "no",
            )
        )
    else:
        out.append(Target("pymem calloc against memset, 1 MiB", ">= 5x", "not measured", "n/a"))
    return out


# ---- several runs side by side -------------------------------------------------------------

# What a run is beyond its figures. A comparison names the runs by those that differ.
RUN_DIMENSIONS = ("interpreter", "build", "glibc", "PYTHONMALLOC", "mode", "filter", "flavours")
RUN_DIMENSIONS += ("commit",)
# The dimensions a comparison is made for (item: PY=a,b and PYTHONMALLOC=a,b): the runs'
# column labels. A difference in any other one is flagged.
COMPARED_DIMENSIONS = ("interpreter", "build", "glibc", "PYTHONMALLOC")


def run_dimensions(data: RunData) -> dict[str, str]:
    """The run's interpreter (id and build), glibc, PYTHONMALLOC, mode, filter, flavours and
    commit, from run.json, else from the pyperf metadata (runs stored before run.json
    recorded the interpreter)."""
    rec, md = data.record, data.metadata[data.flavours[0]]
    interp = rec.get("interpreter") or {}
    pm = rec.get("pythonmalloc") or md.get("bench_pythonmalloc") or md.get("pythonmalloc", "?")
    return {
        "interpreter": interp.get("id")
        or md.get("interpreter")
        or f"CPython {str(md.get('python_version', '?')).split()[0]}",
        "build": interp.get("summary")
        or md.get("python_build")
        or "build not recorded (the run predates the record)",
        "glibc": str(md.get("glibc", "?")),
        "PYTHONMALLOC": "default" if pm == "unset (pymalloc)" else str(pm),
        "mode": str(rec.get("mode", md.get("bench_mode", "?"))),
        "filter": repr(rec["filter"]) if rec.get("filter") else "none",
        "flavours": ",".join(data.flavours),
        "commit": str(md.get("git_commit", "?"))[:12],
    }


def _machine(data: RunData) -> tuple:
    md = data.metadata[data.flavours[0]]
    return tuple(md.get(k) for k in MACHINE_KEYS)


def compare_blocks(datas: list[RunData]) -> tuple[list[Block], Block]:
    """The comparison of several runs: what they are, each family's verdict per run side by
    side (``verdicts``, per run: winner and winner / reference, measured within the run),
    every flavour / reference per run, and each flavour against itself across runs. Returns
    (blocks, the verdict table). Refuses runs of different machines."""
    if len(datas) < 2:
        raise ReportInputError("a comparison needs at least two runs")
    machines = {_machine(d) for d in datas}
    if len(machines) > 1:
        raise ReportInputError(
            "the runs were measured on different machines ("
            + "; ".join(f"{d.run_dir.name}: {_machine(d)}" for d in datas)
            + "): their verdicts would compare machines"
        )
    dims = [run_dimensions(d) for d in datas]
    differ = [k for k in RUN_DIMENSIONS if len({x[k] for x in dims}) > 1]
    same = [k for k in RUN_DIMENSIONS if k not in differ]
    label_keys = [k for k in ("interpreter", "PYTHONMALLOC") if k in differ]
    labels = [
        " ".join(x[k] if k == "interpreter" else f"{k}={x[k]}" for k in label_keys) for x in dims
    ]
    if len(set(labels)) < len(labels):
        labels = [d.record.get("run_id", d.run_dir.name) for d in datas]
    blocks: list[Block] = [
        (
            "table",
            ["run", "label", "interpreter", "build", "PYTHONMALLOC", "mode", "wall time"],
            [
                [
                    d.record.get("run_id", d.run_dir.name),
                    label,
                    x["interpreter"],
                    x["build"],
                    x["PYTHONMALLOC"],
                    x["mode"],
                    f"{d.record['total_wall_s']:.0f} s" if d.record.get("total_wall_s") else "-",
                ]
                for d, x, label in zip(datas, dims, labels, strict=True)
            ],
        ),
        (
            "p",
            "The runs differ in: "
            + (", ".join(differ) or "nothing recorded")
            + "; they are the same in: "
            + (", ".join(f"{k} ({dims[0][k]})" for k in same) or "nothing")
            + ".",
        ),
    ]
    extra = [k for k in differ if k not in COMPARED_DIMENSIONS]
    if extra:
        blocks.append(
            (
                "p",
                f"Note: the runs also differ in {', '.join(extra)}, so a change of verdict "
                "below may come from that too.",
            )
        )
    if "glibc" in differ and "interpreter" in differ:
        blocks.append(
            (
                "p",
                "The interpreters run on different C libraries (glibc above): the system "
                "flavour's malloc changes with them, so a change between these columns mixes "
                "an interpreter change with a C-library change. Two builds on the same glibc "
                "(3.11 and 3.11-debian) separate the interpreter's build alone.",
            )
        )
    per_run = [{v.family: v for v in verdicts(d)} for d in datas]
    families = [f for f in catalogue.FAMILIES if any(f in v for v in per_run)]

    def cell(d: RunData, v: Verdict | None) -> str:
        if v is None:
            return "-"
        r = v.ratios[v.winner]
        if v.winner == d.reference:
            return (
                f"{v.winner} (the reference; next {v.runner_up} {v.ratios[v.runner_up].value:.2f})"
                if v.runner_up
                else v.winner
            )
        return f"{v.winner} {r.value:.2f}" + ("" if r.significant else " (n.s.)")

    def answer(d: RunData, v: Verdict | None) -> str:
        """The run's answer: its winner where the difference is significant, else "tie"
        (a non-significant winner is not an answer that can change)."""
        if v is None:
            return "-"
        other = v.runner_up if v.winner == d.reference else v.winner
        if other is None or v.ratios[other].significant:
            return v.winner
        return "tie"

    rows = []
    for fam in families:
        vs = [p.get(fam) for p in per_run]
        answers = [answer(d, v) for d, v in zip(datas, vs, strict=True)]
        metric = next(v.metric for v in vs if v is not None)
        rows.append(
            [fam, metric]
            + [cell(d, v) for d, v in zip(datas, vs, strict=True)]
            + ["no" if len(set(answers)) == 1 else "yes: " + " / ".join(answers)]
        )
    refs = sorted({d.reference for d in datas})
    verdict_table: Block = ("table", ["family", "metric", *labels, "answer changes?"], rows)
    blocks += [
        ("h2", "Verdict per run"),
        (
            "p",
            f"Each cell: the family's winner and its geometric-mean ratio to {'/'.join(refs)} "
            "measured within that run (< 1: faster or smaller; n.s.: its 95 % interval "
            "includes 1), the same verdict as each run's own report. Answer changes: whether "
            "the winners differ (a winner marked n.s. is no clear answer either way).",
        ),
        verdict_table,
    ]
    flavours = [f for f in FLAVOURS if any(f in d.flavours for d in datas)]
    ratio_rows = []
    for fam in families:
        for f in flavours:
            if refs == [f]:
                continue  # the reference against itself: 1 in every run
            cells = []
            for p in per_run:
                v = p.get(fam)
                cells.append(fmt_ratio(v.ratios[f]) if v is not None and f in v.ratios else "-")
            ratio_rows.append([fam, f, *cells])
    blocks += [
        ("h2", f"Every flavour / {'/'.join(refs)}, per run"),
        (
            "p",
            "Geometric mean over the family's benchmarks of flavour mean / reference mean in "
            "each run, with its 95 % interval.",
        ),
        ("table", ["family", "flavour", *labels], ratio_rows),
    ]
    # Each flavour against itself: run k / the first run, over the benchmarks both ran.
    base = datas[0]
    cross_rows = []
    for fam in families:
        for f in flavours:
            cells = []
            for d in datas[1:]:
                if f not in d.flavours or f not in base.flavours:
                    cells.append("-")
                    continue
                _, names = family_benchmarks(d, fam)
                names = [
                    n
                    for n in names
                    if n in set(family_benchmarks(base, fam)[1])
                    and d.samples(f, n)
                    and base.samples(f, n)
                ]
                cells.append(
                    fmt_ratio(geomean_ratio([(d.samples(f, n), base.samples(f, n)) for n in names]))
                    if names
                    else "-"
                )
            cross_rows.append([fam, f, *cells])
    blocks += [
        ("h2", f"Each flavour against itself: run / {labels[0]}"),
        (
            "p",
            "Geometric mean over the family's benchmarks of the flavour's mean in the run / its "
            f"mean in {labels[0]} (< 1: faster or smaller there), with its 95 % interval. The "
            "runs ran one after the other, so machine drift between them enters these ratios "
            "(the verdicts above are measured within each run and do not have that problem).",
        ),
        ("table", ["family", "flavour", *labels[1:]], cross_rows),
    ]
    return blocks, verdict_table


def compare_runs(run_dirs: Iterable[Path | str], out_dir: Path | str) -> Path:
    """Writes the comparison of ``run_dirs`` (``compare_blocks``) into ``out_dir``
    (index.html, index.md, compare.json); returns the path of index.html."""
    datas = [load_run(d) for d in run_dirs]
    blocks, _ = compare_blocks(datas)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = [d.record.get("run_id", d.run_dir.name) for d in datas]
    title = "allocbench comparison: " + ", ".join(names)
    intro: list[Block] = [
        (
            "p",
            "Each run is a complete make bench run (its own report: results/report/<run id>/); "
            "this page puts their verdicts side by side.",
        )
    ]
    _write_text(out / "index.md", render_markdown(title, intro + blocks))
    _write_text(out / "index.html", render_html(title, intro + blocks))
    record = {"runs": [str(Path(d).resolve()) for d in run_dirs], "run_ids": names}
    _write_text(out / "compare.json", json.dumps(record, indent=1) + "\n")
    return out / "index.html"


def compare_text(run_dirs: Iterable[Path | str]) -> str:
    """The verdict-per-run table of ``compare_blocks`` as Markdown (printed by make bench)."""
    _, table = compare_blocks([load_run(d) for d in run_dirs])
    return render_markdown("Verdict per run", [table]).split("\n", 2)[2].rstrip()


# ---- the document --------------------------------------------------------------------------

# ("h2", text) | ("p", text) | ("table", headers, rows) | ("img", Plot) | ("pre", text)
Block = tuple


def render_markdown(title: str, blocks: list[Block]) -> str:
    lines = [f"# {title}", ""]
    for b in blocks:
        kind = b[0]
        if kind == "h2":
            lines += [f"## {b[1]}", ""]
        elif kind == "p":
            lines += [b[1], ""]
        elif kind == "table":
            cell = lambda s: str(s).replace("|", "\\|")  # noqa: E731
            lines.append("| " + " | ".join(cell(h) for h in b[1]) + " |")
            lines.append("|" + "---|" * len(b[1]))
            lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in b[2]]
            lines.append("")
        elif kind == "img":
            lines += [f"![{b[1].title}]({b[1].file})", "", f"*{b[1].caption}*", ""]
        elif kind == "pre":
            lines += ["```", b[1], "```", ""]
    return "\n".join(lines)


def render_html(title: str, blocks: list[Block]) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{e(title)}</title><style>",
        "body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}",
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;",
        "padding:3px 8px;font-size:90%;text-align:left}img{max-width:100%}",
        "pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:80%}",
        "</style></head><body>",
        f"<h1>{e(title)}</h1>",
    ]
    for b in blocks:
        kind = b[0]
        if kind == "h2":
            parts.append(f"<h2>{e(b[1])}</h2>")
        elif kind == "p":
            parts.append(f"<p>{e(b[1])}</p>")
        elif kind == "table":
            parts.append("<table><tr>" + "".join(f"<th>{e(str(h))}</th>" for h in b[1]) + "</tr>")
            for row in b[2]:
                parts.append("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>")
            parts.append("</table>")
        elif kind == "img":
            parts.append(
                f"<figure><img src='{e(b[1].file)}' alt='{e(b[1].title)}'>"
                f"<figcaption>{e(b[1].caption)}</figcaption></figure>"
            )
        elif kind == "pre":
            parts.append(f"<pre>{e(b[1])}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def header_section(data: RunData, wall_s: float | None) -> list[Block]:
    rec, md = data.record, data.metadata[data.flavours[0]]
    mode = rec.get("mode", md.get("bench_mode", "?"))
    blocks: list[Block] = [
        (
            "p",
            f"Run {rec.get('run_id', data.run_dir.name)}, mode {mode}, flavours "
            f"{', '.join(data.flavours)}; reference {data.reference}. Machine: "
            f"{md.get('cpu_model_name', '?')}, {md.get('cpu_count', '?')} CPUs, "
            f"{md.get('platform', '?')}. Commit {md.get('git_commit', '?')}."
            + (f" Filter: {rec['filter']!r}." if rec.get("filter") else ""),
        )
    ]
    if rec:
        settings = rec.get("mode_settings", {})
        blocks.append(
            (
                "p",
                f"Started {rec.get('started', '?')}; measurement {rec.get('measured_s', '?')} s"
                + (f", make bench wall time {wall_s:.0f} s" if wall_s is not None else "")
                + f". Per benchmark and flavour: {settings.get('rounds', '?')} worker processes "
                "(flavours interleaved, order rotated each round) x "
                f"({settings.get('warmups', '?')} warmup + {settings.get('values', '?')} "
                f"values of about {settings.get('target_time', '?')} s); memory points: "
                f"{settings.get('memory_rounds', '?')} fresh processes per flavour.",
            )
        )
    dims = run_dimensions(data)
    chosen = (rec.get("interpreter") or {}).get("chosen")
    blocks.append(
        (
            "p",
            f"Interpreter {dims['interpreter']}: {dims['build']}"
            + (f" (chosen by {chosen})" if chosen else "")
            + f". PYTHONMALLOC: {dims['PYTHONMALLOC']}.",
        )
    )
    keys = ("backend_primitive", "features", "python_version", "pythonmalloc", "glibc", "rustc")
    blocks += [
        ("h2", "Flavours"),
        (
            "table",
            ["flavour", "primitive", "features", "Python", "PYTHONMALLOC", "glibc", "rustc"],
            [[f, *(data.metadata[f].get(k, "?") for k in keys)] for f in data.flavours],
        ),
        ("h2", "Targets"),
        (
            "table",
            ["target", "goal", "measured", "met"],
            [[t.what, t.goal, t.measured, t.met] for t in targets(data, wall_s)],
        ),
    ]
    return blocks


def detail_section(data: RunData) -> list[Block]:
    """Tables behind the plots: fragmentation, the PyMem guard, calloc against memset."""
    blocks: list[Block] = []
    frag = fragmentation_rows(data)
    if frag:
        blocks.append(("h2", "Fragmentation: RSS per live byte and RSS kept after drop-all"))
        blocks.append(
            (
                "table",
                ["point", "flavour", "RSS above baseline / live bytes", "kept after drop"],
                [
                    [label, f, ", ".join(f"{p} {v:.2f}" for p, v in pl.items()), fmt_bytes(kept)]
                    for label, f, pl, kept in frag
                ],
            )
        )
    guard = []
    for p, unguarded in data.timed_points("alloc_pair_unguarded"):
        guarded = catalogue.get("alloc_pair").label(p)
        for f in data.flavours:
            a, b = data.mean(f, guarded), data.mean(f, unguarded)
            if a and b:
                guard.append([f, fmt_bytes(p["size"]), fmt_time(a), fmt_time(b), f"{a / b:.2f}"])
    if guard:
        blocks.append(("h2", "The PyMem guard's cost: alloc_pair against alloc_pair_unguarded"))
        blocks.append(("table", ["flavour", "size", "guarded", "unguarded", "ratio"], guard))
    zeroed = []
    for p, name in data.timed_points("zeroed_vec"):
        memset = catalogue.get("memset_vec").label(p)
        for f in data.flavours:
            z, m = data.mean(f, name), data.mean(f, memset)
            if z and m:
                touched = str(p["touch"]).lower()
                zeroed.append(
                    [f, fmt_bytes(p["size"]), touched, fmt_time(z), fmt_time(m), f"{m / z:.2f}x"]
                )
    if zeroed:
        blocks.append(("h2", "Zeroed allocation (alloc_zeroed) against alloc + memset"))
        blocks.append(
            (
                "table",
                ["flavour", "size", "touched", "zeroed_vec", "memset_vec", "speed-up"],
                zeroed,
            )
        )
    return blocks


def verdict_section(data: RunData) -> list[Block]:
    ref = data.reference
    verdict = verdicts(data)
    if not verdict:
        return [("h2", "Verdict"), ("p", "No family has benchmarks that every flavour ran.")]

    def judged(r: Ratio) -> str:
        sig = "significant" if r.significant else "not significant"
        return f"{fmt_ratio(r)}; {sig} (Welch {r.significant_benchmarks}/{r.n})"

    rows = []
    for v in verdict:
        r = v.ratios[v.winner]
        rows.append(
            [
                v.family,
                v.metric,
                v.n,
                v.winner,
                "the reference"
                if v.winner == ref
                else f"{ratio_words(r.value, v.family in VERDICT_MEMORY_FIGURE)}: {judged(r)}",
                f"{v.runner_up}: {judged(v.margin)}" if v.margin else "-",
                ", ".join(f"{f} {v.ratios[f].value:.2f}" for f in data.flavours),
            ]
        )
    return [
        ("h2", "Verdict"),
        (
            "p",
            f"Per family: geometric mean over the benchmarks every flavour ran of each "
            f"flavour's mean / {ref}'s mean, with its 95 % interval in brackets; significant = "
            "the interval excludes 1. Welch k/n: benchmarks where the two differ at 95 %.",
        ),
        (
            "table",
            [
                "family",
                "metric",
                "benchmarks",
                "winner",
                f"winner / {ref}",
                "winner / runner-up",
                f"every flavour / {ref}",
            ],
            rows,
        ),
    ]


PLOTS: tuple[Callable[[RunData, Path], Plot], ...] = (
    plot_size_scaling,
    plot_raw_ratio,
    plot_realloc,
    plot_fragmentation,
    plot_threads,
    plot_interplay,
)


def hazard_section(data: RunData) -> list[Block]:
    """The newest hazard matrix stored beside this run's results (``make hazards``),
    summarised per interpreter and flavour: the cells that did not complete, and which Rust
    blocks tracemalloc saw."""
    blocks: list[Block] = [("h2", "Hazard matrix (make hazards)")]
    runs = sorted((data.run_dir.parent.parent / "hazards").glob("*/hazards.json"))
    if not runs:
        return [*blocks, ("p", "No hazard run is stored: make hazards.")]
    try:
        h = json.loads(runs[-1].read_text(encoding="utf-8"))
        results, flavours = h["results"], h["flavours"]
        interpreters = list(h["interpreters"])
    except (ValueError, KeyError, TypeError) as e:
        return [*blocks, ("p", f"The stored hazard run {runs[-1]} cannot be read: {e}")]
    blocks.append(
        (
            "p",
            f"Run {h.get('run_id', runs[-1].parent.name)} ({runs[-1].parent}), every PYTHONMALLOC "
            f"value of it ({', '.join(h.get('pythonmalloc', []))}) pooled; timeout "
            f"{h.get('timeout_s')} s per cell. Cells: "
            + "; ".join(f"{k}: {v}" for k, v in h.get("cells", {}).items())
            + ". A cell is listed when it did not complete under some PYTHONMALLOC value.",
        )
    )
    rows = []
    for interp in interpreters:
        row = [f"{interp} ({h['interpreters'][interp].get('version', '?')})"]
        for fl in flavours:
            mine = [r for r in results if r["interpreter"] == interp and r["flavour"] == fl]
            bad = sorted(
                {r["cell"] for r in mine if r["cell"] != "c" and r["outcome"] != "completes"}
            )
            seen = sorted({r.get("label", r["outcome"]) for r in mine if r["cell"] == "c"})
            text = ("hangs/fails: " + ", ".join(bad)) if bad else "all complete"
            row.append(f"{text}; tracemalloc sees: {' / '.join(seen) or '-'}")
        rows.append(row)
    blocks.append(("table", ["interpreter", *flavours], rows))
    return blocks


def instruction_section(data: RunData, out: Path) -> list[Block]:
    """The newest instruction-count run stored beside this run's results (``make
    bench-instructions``): its table, its plot, and how well counts predicted wall time."""
    import shutil

    from . import instructions

    blocks: list[Block] = [("h2", "Instruction counts (callgrind)")]
    path = instructions.latest_run(data.run_dir.parent.parent)
    if path is None:
        return [*blocks, ("p", "No instruction-count run is stored: make bench-instructions.")]
    try:
        counts = instructions.load(path)
    except ValueError as e:
        return [*blocks, ("p", f"The stored instruction counts cannot be read: {e}")]
    blocks.append(
        (
            "p",
            f"Run {counts['run_id']} ({path.parent}): instructions per operation, "
            "(Ir(1 + k loops) - Ir(1 loop)) / ops; ratio "
            "to system and, for the pair workloads, to the flavour's own raw "
            "primitive. " + instructions.counting_note(counts),
        )
    )
    headers, rows = instructions.table_rows(counts)
    blocks.append(("table", headers, rows))
    for title, text, (headers, rows) in (
        (
            "Estimated cycles per operation (callgrind's cache simulation)",
            instructions.CYCLES_TEXT + " " + instructions.cycles_note(counts) + ".",
            instructions.cycles_rows(counts),
        ),
        (
            "Against the C-level pair (the physical limit)",
            instructions.C_BASELINE_TEXT,
            instructions.c_baseline_rows(counts),
        ),
        ("Every C-level pair", instructions.C_PAIRS_TEXT, instructions.c_pairs_rows(counts)),
    ):
        if rows:
            blocks += [("h2", title), ("p", text), ("table", headers, rows)]
    png = path.parent / "instructions_per_pair.png"
    if png.exists():
        shutil.copyfile(png, out / "instructions_per_pair.png")
        blocks.append(
            (
                "img",
                Plot(
                    "instructions_per_pair.png",
                    "Instructions per pair",
                    "Instructions per alloc+free pair against block size; "
                    "dashed: each backend's raw primitive.",
                    1,
                ),
            )
        )
    preds = instructions.predictions(counts)
    this_run = data.record.get("run_id", data.run_dir.name)
    stored = {p.get("pyperf_run") for _, p in preds}
    if this_run not in stored and instructions.same_interpreter(counts, data.record) is None:
        try:  # this report's own run, when it timed the interpreter the counts ran under
            p = instructions.pyperf_prediction(counts, data.run_dir)
            preds.append((f"pyperf {this_run} (this report's run)", p))
        except (ValueError, ReportInputError):
            pass
    if preds:
        blocks += [
            ("h2", "Do instructions or estimated cycles predict wall time here?"),
            ("p", instructions.prediction_notes(counts, preds)),
            ("table", *instructions.prediction_rows(preds)),
        ]
        headers, rows = instructions.prediction_family_rows(preds)
        if rows:
            blocks.append(("table", headers, rows))
    if counts.get("prediction"):
        if instructions.plot_prediction(counts, out / "instructions_vs_time.png"):
            blocks.append(
                (
                    "img",
                    Plot(
                        "instructions_vs_time.png",
                        "Instructions against wall time",
                        "Native ns per op against callgrind instructions per op (and "
                        "estimated cycles per op), measured in the same run: dots on one "
                        "rising line mean the figure ranks the flavours as the clock does.",
                        1,
                    ),
                )
            )
    return blocks


def build(run_dir: Path | str, out_dir: Path | str, bench_started: float | None = None) -> Path:
    """Writes the report of ``run_dir`` into ``out_dir``; returns the path of index.html.
    ``bench_started`` (a ``time.time()``) is given by ``make bench``, which is still running:
    the wall time is then measured up to the moment the index is written."""
    data = load_run(run_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plots = [p for p in (draw(data, out) for draw in PLOTS) if p.points > 0]
    comparison = (
        compare_to(data.run_dir, data.flavours, data.reference) if len(data.flavours) > 1 else None
    )
    if bench_started is not None:
        wall_s: float | None = time.time() - bench_started
    else:
        wall_s = data.record.get("total_wall_s")

    blocks = header_section(data, wall_s)
    blocks.append(("h2", "Plots"))
    blocks += [("img", p) for p in plots] or [("p", "This run measured no plotted workload.")]
    blocks += detail_section(data)
    if comparison is not None:
        blocks.append(("h2", f"python -m pyperf compare_to {data.reference}.json ... --table"))
        blocks.append(("pre", comparison))
    blocks += instruction_section(data, out)
    blocks += hazard_section(data)
    blocks += verdict_section(data)  # the report ends with the verdict

    title = f"allocbench report: {data.record.get('run_id', data.run_dir.name)}"
    _write_text(out / "index.md", render_markdown(title, blocks))
    index = out / "index.html"
    _write_text(index, render_html(title, blocks))
    return index


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m allocbench.report", description=__doc__.split("\n")[0]
    )
    ap.add_argument(
        "run_dir",
        nargs="+",
        help="results/pyperf/<run id>; several: their comparison (each family's verdict per "
        "run side by side)",
    )
    ap.add_argument(
        "--out",
        help="report directory (default: results/report/<run id>, or for several runs "
        "results/report/<first>_vs_<second>…)",
    )
    args = ap.parse_args(argv)
    run_dirs = [Path(d) for d in args.run_dir]
    if args.out:
        out = Path(args.out)
    elif all(d.resolve().parent.name == "pyperf" for d in run_dirs):
        name = "_vs_".join(d.resolve().name for d in run_dirs)
        out = run_dirs[0].resolve().parent.parent / "report" / name
    else:
        print(
            "error: --out is needed when the run directory is not <root>/pyperf/<run id>",
            file=sys.stderr,
        )
        return 2
    try:
        index = build(run_dirs[0], out) if len(run_dirs) == 1 else compare_runs(run_dirs, out)
    except ReportInputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(index)
    return 0


if __name__ == "__main__":
    sys.exit(main())
