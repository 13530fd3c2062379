"""The report of a ``make bench`` run, from its stored pyperf JSON alone.

    python -m allocbench.report results/pyperf/<run id> [--out results/report/<run id>]
    python -m allocbench.report results/pyperf/<a> results/pyperf/<b> … [--out DIR]

(the second: the comparison of several runs, e.g. one per interpreter or PYTHONMALLOC value:
each family's verdict per run side by side, ``compare_runs``)

reads ``<flavour>.json`` (pyperf's format, written by ``allocbench.bench``) and ``run.json``
(the orchestrator's record: mode, plan, wall time), and writes ``index.html`` and
``index.md`` (the same content). The answer comes first: per family the winner or a tie, by
how much, how sure, one sentence of advice (``answer_section``), and every flavour's ratio to
the reference; then PNG plots drawn by matplotlib as small multiples (the verdict per family,
each flavour / the reference against block size, each flavour against its raw baseline,
realloc growth and the in-place fraction, the fragmentation timeline, thread scaling, the
Python interplay), the tables behind them, ``pyperf compare_to``, how the run was made, the
stored instruction counts and hazard matrix, and the targets of the project last. Two runs
given together also get ``replication_blocks``: do their verdicts agree?

Statistics (``round_ratio``, ``family_ratio``; the comment above them says why). The unit
is the round: ``make bench`` runs every flavour once per round, within seconds, order
rotated. Per benchmark and round: flavour mean / reference mean; per family and round: the
geometric mean over the family's benchmarks; the verdict's ratio: the geometric mean over
rounds with a 95 % Student-t interval over the rounds (in logs). Two flavours tie when that
interval contains 1 or the ratio is within ``EQUIVALENCE_MARGIN`` (2 %) of 1; a family has a
winner only when its best flavour beats every other one so. A run of one round has no
interval: every family ties. Runs stored before rounds were recorded (no ``bench_round``
metadata) pair each flavour's k-th process as round k. A ratio (< 1: the flavour is faster,
or uses less memory) is flavour / reference. ``make bench REPLICATE=1`` measures two
interleaved halves; ``replication_blocks`` says whether their verdicts agree.

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
import textwrap
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
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
# The verdicts' confidence, and the equivalence margin: a difference smaller than this is a
# tie even when its interval excludes 1 (allocators within 2 % of each other are not worth
# a choice, and a stored run's 2 % moves from day to day on this shared host).
CONFIDENCE = 0.95
EQUIVALENCE_MARGIN = 0.02

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
# Each family's figures (a benchmark per point and figure; the family's ratio is their
# geometric mean) and the words for them.
VERDICT_MEMORY_FIGURE = {
    # What a user of a fragmenting heap sees: the process's RSS once half the blocks are freed
    # (does the allocator give the holes back?) and once everything is dropped (what the
    # process keeps for good). The refill (the peak) is in the detail table.
    "fragmentation": ("free/rss_bytes", "drop/rss_bytes"),
    # RSS once the Rust and then the Python side are dropped: what the process keeps.
    "interplay": ("python_dropped/rss_bytes",),
}
VERDICT_MEMORY_WORDS = {
    "fragmentation": "process RSS after freeing half, and after dropping all (lower wins)",
    "interplay": "process RSS after dropping the Rust, then the Python side (lower wins)",
}


class ReportInputError(ValueError):
    """The run directory cannot be reported on (the message names the file and why)."""


# ---- statistics ------------------------------------------------------------------------------
#
# The unit of replication is the round. In a round every flavour runs one worker process of a
# workload, within seconds of the others (bench.schedule), so a slow stretch of this shared
# host hits a round's numerator and denominator alike; values inside one process, and the
# processes of one round, share that moment and are not independent. Per benchmark and round
# the figure is flavour mean / reference mean; per family and round the geometric mean of
# those over the family's benchmarks; the family's ratio is the geometric mean over rounds,
# with a Student-t interval over the rounds' log ratios (n - 1 degrees of freedom).
#
# Why Student's t and not a bootstrap over rounds: a run has 2 to 6 rounds. Resampling 3
# rounds gives 10 distinct means, and the percentile interval of so few is far too narrow
# (it ignores that the spread itself is estimated from 3 points); Student's t widens the
# interval for exactly that (t(0.975, 2) = 4.30 against 1.96), and the log of a ratio of
# means over several values is close to normal. A bootstrap would need 20+ rounds.


def round_ratio(per_round: Sequence[float], confidence: float = CONFIDENCE) -> RoundRatio:
    """The geometric mean of per-round ratios with a Student-t interval over the rounds
    (in logs). One round: the ratio without an interval (low and high are NaN)."""
    if not per_round:
        raise ValueError("a ratio needs at least one round")
    if any(not r > 0 for r in per_round):
        raise ValueError(f"per-round ratios must be > 0; got {list(per_round)}")
    from scipy import stats

    logs = [math.log(r) for r in per_round]
    mean = statistics.fmean(logs)
    n = len(logs)
    if n < 2:
        return RoundRatio(math.exp(mean), math.nan, math.nan, n, tuple(per_round))
    half = stats.t.ppf((1 + confidence) / 2, n - 1) * statistics.stdev(logs) / math.sqrt(n)
    return RoundRatio(
        math.exp(mean), math.exp(mean - half), math.exp(mean + half), n, tuple(per_round)
    )


def family_ratio(pairs: Sequence[tuple[dict[int, float], dict[int, float]]]) -> RoundRatio | None:
    """``pairs``: per benchmark, (round -> mean of a flavour, round -> mean of the other).
    Per round: the geometric mean over the benchmarks of a / b; then ``round_ratio`` over
    the rounds every benchmark has on both sides (None when there is none)."""
    if not pairs:
        raise ValueError("a family ratio needs at least one benchmark")
    rounds = set.intersection(*(set(a) & set(b) for a, b in pairs))
    per_round = [
        math.exp(statistics.fmean(math.log(a[r] / b[r]) for a, b in pairs)) for r in sorted(rounds)
    ]
    return round_ratio(per_round) if per_round else None


def welch_ratio(
    a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE
) -> RoundRatio:
    """exp(mean log a - mean log b) with Welch's interval (scipy.stats.ttest_ind,
    unequal variances): for samples that no round pairs, such as one flavour in two runs,
    or two workloads whose rounds ran at different moments. ``rounds`` is the smaller
    sample; fewer than two values on a side: no interval."""
    if not a or not b:
        raise ValueError(f"a ratio needs values on both sides; got {len(a)} and {len(b)}")
    la, lb = [math.log(x) for x in a], [math.log(x) for x in b]
    diff = statistics.fmean(la) - statistics.fmean(lb)
    n = min(len(la), len(lb))
    if n < 2:
        return RoundRatio(math.exp(diff), math.nan, math.nan, n)
    from scipy import stats

    with warnings.catch_warnings():  # a side without spread: "precision loss", harmless
        warnings.simplefilter("ignore", RuntimeWarning)
        ci = stats.ttest_ind(la, lb, equal_var=False).confidence_interval(confidence)
    low, high = float(ci.low), float(ci.high)
    return RoundRatio(math.exp(diff), math.exp(low), math.exp(high), n)


@dataclass(frozen=True)
class RoundRatio:
    """A ratio (geometric mean over rounds) with its interval; ``rounds`` is how many
    rounds it rests on, ``per_round`` their ratios (empty for a Welch ratio)."""

    value: float
    low: float
    high: float
    rounds: int
    per_round: tuple[float, ...] = ()

    @property
    def has_interval(self) -> bool:
        return not (math.isnan(self.low) or math.isnan(self.high))

    @property
    def significant(self) -> bool:
        """The interval excludes 1."""
        return self.has_interval and (self.high < 1 or self.low > 1)

    def outcome(self, margin: float = EQUIVALENCE_MARGIN) -> str:
        """ "lower" or "higher" when the interval excludes 1 and the ratio is more than
        ``margin`` away from 1 (in logs, so r and 1/r agree); else "tie"."""
        if not self.significant or abs(math.log(self.value)) < math.log1p(margin):
            return "tie"
        return "lower" if self.value < 1 else "higher"

    def within(self, margin: float = EQUIVALENCE_MARGIN) -> float:
        """How far from 1 the run cannot tell apart, as x in "between 1 / (1 + x) and
        1 + x" (in logs, as the margin): the margin, or the interval's farther end when
        that is farther (NaN without an interval)."""
        if not self.has_interval:
            return math.nan
        return max(margin, 1 / self.low - 1, self.high - 1)

    def contains(self, value: float) -> bool:
        return self.has_interval and self.low <= value <= self.high

    def text(self) -> str:
        if not self.has_interval:
            return f"{self.value:.3f} ({self.rounds} round{'s' * (self.rounds != 1)}: no interval)"
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


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


def fmt_ratio(r: RoundRatio) -> str:
    return r.text()


def _interval_words(r: RoundRatio) -> str:
    if not r.has_interval:
        return f"{r.rounds} round{'s' * (r.rounds != 1)}: no interval"
    return f"{CONFIDENCE:.0%} interval {r.low:.2f}-{r.high:.2f} over {r.rounds} rounds"


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


def _grid(n: int, cols: int = 3, size: tuple[float, float] = (5.2, 3.8), **kw):
    plt = _pyplot()
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(size[0] * cols, size[1] * rows),
        squeeze=False,
        layout="constrained",
        **kw,
    )
    flat = [ax for row in axes for ax in row]
    for ax in flat[n:]:
        ax.set_visible(False)
    return plt, fig, flat[:n]


# Ticks for ratio axes on a log scale (matplotlib's log ticks skip everything in 0.5..2),
# from coarse to fine: the finest set that leaves the ticks apart is used.
RATIO_TICKS = (
    (0.01, 0.03, 0.1, 0.3, 1.0, 3, 10, 30, 100),
    (0.05, 0.1, 0.2, 0.5, 1.0, 2, 5, 10, 20, 50),
    (0.25, 0.5, 0.67, 1.0, 1.5, 2, 4),
    (0.5, 0.67, 0.8, 1.0, 1.25, 1.5, 2),
    (0.8, 0.9, 1.0, 1.1, 1.25),
    (0.9, 0.95, 1.0, 1.05, 1.1),
)


def _ratio_axis(ax, axis: str = "y") -> None:
    """Log scale with readable ticks inside the drawn range, and the ±margin band at 1."""
    from matplotlib import ticker

    band = (1 / (1 + EQUIVALENCE_MARGIN), 1 + EQUIVALENCE_MARGIN)
    (ax.axhspan if axis == "y" else ax.axvspan)(*band, color="grey", alpha=0.2, lw=0)
    (ax.axhline if axis == "y" else ax.axvline)(1.0, color="grey", lw=0.8)
    getattr(ax, f"set_{axis}scale")("log")
    ax.autoscale_view()
    lo, hi = sorted(getattr(ax, f"get_{axis}lim")())
    decades = math.log10(hi / lo) if lo > 0 else 4.0
    # Coarser sets for wider ranges: about 6 ticks over the range.
    level = 0 if decades > 2.5 else 1 if decades > 1.2 else 2 if decades > 0.6 else 3
    level = level if decades > 0.25 else 4 if decades > 0.1 else 5
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_locator(ticker.FixedLocator(RATIO_TICKS[level]))
    target.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_locator(ticker.NullLocator())


def plot_verdict(data: RunData, out: Path) -> Plot:
    """The verdict at a glance: one panel per family, each flavour's ratio to the reference
    (dot), its interval over rounds (bar) and every round's ratio (ticks); grey band: the
    equivalence margin."""
    verdict = verdicts(data) if len(data.flavours) > 1 else []
    if not verdict:
        return Plot("verdict.png", "", "", 0)
    rows_per_panel = len(data.flavours)
    plt, fig, axes = _grid(len(verdict), cols=4, size=(4.0, 0.42 * rows_per_panel + 1.3))
    drawn = 0
    for ax, v in zip(axes, verdict, strict=True):
        order = list(reversed(v.ranked))  # the best on top
        for y, f in enumerate(order):
            r = v.ratios[f]
            if r.has_interval:
                ax.plot([r.low, r.high], [y, y], color=COLOURS[f], lw=3, alpha=0.6)
            if r.per_round:
                ax.plot(r.per_round, [y] * len(r.per_round), "|", color=COLOURS[f], ms=9)
            edge = "black" if f == v.winner else COLOURS[f]
            ax.plot([r.value], [y], "o", color=COLOURS[f], ms=7, mec=edge, mew=1.5)
            drawn += 1
        ax.set_yticks(range(len(order)), order, fontsize=8)
        ax.set_ylim(-0.6, len(order) - 0.4)
        _ratio_axis(ax, "x")
        ax.tick_params(axis="x", labelsize=8)
        ax.set_title(f"{v.family}\n{textwrap.fill(verdict_short(v), 44)}", fontsize=9)
        ax.set_xlabel(f"{'RSS' if v.memory else 'time'} / {data.reference}", fontsize=8)
        ax.grid(True, axis="x", alpha=0.3)
    fig.suptitle("Each family's verdict: flavour / reference, left is better")
    return _saved(
        plt,
        fig,
        out,
        Plot(
            "verdict.png",
            "The verdict at a glance",
            f"One panel per family: each flavour's ratio to {data.reference} (dot; ringed: "
            f"the winner), its {CONFIDENCE:.0%} interval over rounds (bar) and each round's "
            f"ratio (ticks), on a log scale; grey band: the ±{EQUIVALENCE_MARGIN:.0%} "
            "equivalence margin.",
            drawn,
        ),
    )


def _benchmark_ratio(data: RunData, flavour: str, name: str) -> RoundRatio | None:
    a, b = data.round_means(flavour, name), data.round_means(data.reference, name)
    return family_ratio([(a, b)]) if a and b else None


def plot_size_scaling(data: RunData, out: Path) -> Plot:
    """Flavour / reference against block size: one row of panels per flavour, one column
    per family, a line per workload (and setting of its other parameters) with its interval
    over rounds as a band."""
    others = [f for f in data.flavours if f != data.reference]
    columns: dict[str, list[tuple[str, list[tuple[int, str]]]]] = {}
    for w in catalogue.WORKLOADS:
        if not w.timed or w.name in VERDICT_EXCLUDED or "size" not in [p.name for p in w.params]:
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
                line = f"{w.name}[{rest}]" if rest else w.name
                columns.setdefault(w.family, []).append((line, sorted(pts)))
    if not others or not columns:
        return Plot("size_scaling.png", "", "", 0)
    fams = list(columns)
    plt, fig, axes = _grid(
        len(others) * len(fams), cols=len(fams), size=(4.2, 2.6), sharey=True, sharex="col"
    )
    cmap = plt.get_cmap("tab10")
    drawn = 0
    for i, f in enumerate(others):
        for j, fam in enumerate(fams):
            ax = axes[i * len(fams) + j]
            for k, (line, pts) in enumerate(columns[fam]):
                xs, ys, lo, hi = [], [], [], []
                for size, name in pts:
                    r = _benchmark_ratio(data, f, name)
                    if r is not None:
                        xs.append(size)
                        ys.append(r.value)
                        lo.append(r.low if r.has_interval else r.value)
                        hi.append(r.high if r.has_interval else r.value)
                if xs:
                    colour = cmap(k % 10)
                    ax.plot(xs, ys, marker="o", ms=3, color=colour, label=line)
                    ax.fill_between(xs, lo, hi, color=colour, alpha=0.15, lw=0)
                    drawn += len(xs)
            ax.set_xscale("log", base=2)
            ax.grid(True, which="major", alpha=0.3)
            if i == 0:
                ax.set_title(fam, fontsize=10)
                ax.legend(fontsize=6, loc="upper left")
            if j == 0:
                ax.set_ylabel(f"{f} / {data.reference}", color=COLOURS[f], fontsize=10)
            if i == len(others) - 1:
                ax.set_xlabel("block size (bytes)", fontsize=8)
    for ax in axes:
        _ratio_axis(ax)
    fig.suptitle(
        f"Time per operation, each flavour / {data.reference}, against block size "
        "(below 1: faster; band: interval over rounds)"
    )
    return _saved(
        plt,
        fig,
        out,
        Plot(
            "size_scaling.png",
            "Against block size: each flavour / the reference",
            f"One row per flavour, one column per family: time per op divided by "
            f"{data.reference}'s, round by round, geometric mean over rounds (line) and its "
            f"{CONFIDENCE:.0%} interval (band); log axes; grey band: ±{EQUIVALENCE_MARGIN:.0%}. "
            "Absolute times: the compare_to table.",
            drawn,
        ),
    )


def plot_raw_ratio(data: RunData, out: Path) -> Plot:
    """alloc_pair / raw_pair per flavour and size: the GlobalAlloc path's cost over the
    backend's own primitive; one panel per flavour."""
    pairs = {p["size"]: n for p, n in data.timed_points("alloc_pair")}
    raws = {p["size"]: n for p, n in data.timed_points("raw_pair")}
    sizes = sorted(set(pairs) & set(raws))
    if not sizes:
        return Plot("raw_ratio.png", "", "", 0)
    plt, fig, axes = _grid(len(data.flavours), cols=5, size=(3.0, 2.8), sharey=True)
    drawn = 0
    for ax, f in zip(axes, data.flavours, strict=True):
        xs, ys = [], []
        for s in sizes:
            a, r = data.mean(f, pairs[s]), data.mean(f, raws[s])
            if a and r:
                xs.append(s)
                ys.append(a / r)
        if xs:
            ax.plot(xs, ys, marker="o", ms=3, color=COLOURS[f])
            drawn += len(xs)
        ax.set_xscale("log", base=2)
        ax.set_title(f, color=COLOURS[f], fontsize=10)
        ax.set_xlabel("block size (bytes)", fontsize=8)
        ax.grid(True, which="major", alpha=0.3)
    for ax in axes:
        _ratio_axis(ax)
    axes[0].set_ylabel("alloc_pair / raw_pair")
    fig.suptitle("Each flavour against its raw baseline (1 = no overhead)")
    return _saved(
        plt,
        fig,
        out,
        Plot(
            "raw_ratio.png",
            "Each flavour against its raw baseline",
            "One panel per flavour: time of one alloc+free pair through the global allocator "
            "divided by the backend's own primitive called directly (raw_pair), per block size.",
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


def _flavour_panels(data: RunData, extra: int = 0, cols: int = 3, **kw):
    """A grid of one panel per flavour (the reference first), plus ``extra`` panels."""
    order = [data.reference] + [f for f in data.flavours if f != data.reference]
    plt, fig, axes = _grid(len(order) + extra, cols=cols, size=(4.2, 3.0), **kw)
    for ax, f in zip(axes, order, strict=False):
        ax.set_title(f, color=COLOURS[f], fontsize=10)
    return plt, fig, order, axes


def plot_fragmentation(data: RunData, out: Path) -> Plot:
    """RSS above the baseline, phase by phase: one panel per flavour, a line per free
    pattern; the reference's lines grey in the others; dotted: the bytes the workload
    holds."""
    points = data.memory_points("fragmentation")
    if not points:
        return Plot("fragmentation.png", "", "", 0)
    plt, fig, order, axes = _flavour_panels(data, sharey=True)
    cmap = plt.get_cmap("tab10")
    mib = 1 << 20

    def series(f: str, label: str, key: str) -> tuple[list[str], list[float]]:
        runs = [r for r in data.figure_runs(f, label) if "baseline_rss" in r]
        phases = [p for p in data.phases(label) if runs and f"{p}/rss_bytes" in runs[0]]
        if key == "live":
            ys = [statistics.fmean(r[f"{p}/live_bytes"] for r in runs) / mib for p in phases]
        else:
            ys = [
                statistics.fmean(r[f"{p}/rss_bytes"] - r["baseline_rss"] for r in runs) / mib
                for p in phases
            ]
        return phases, ys

    drawn = 0
    for ax, f in zip(axes, order, strict=True):
        for k, (params, label) in enumerate(points):
            colour = cmap(k % 10)
            if f != data.reference:
                ax.plot(*series(data.reference, label, "rss"), color="grey", lw=1, ls="--")
            phases, ys = series(f, label, "rss")
            if phases:
                ax.plot(phases, ys, marker="o", ms=3, color=colour, label=params.get("pattern"))
                drawn += len(phases)
        phases, live = series(f, points[0][1], "live")
        ax.plot(phases, live, color="black", lw=1, ls=":", label="live bytes")
        ax.set_ylabel("RSS above baseline (MiB)", fontsize=8)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(
        "Fragmentation: RSS after each phase (fill, free half, refill, drop all); "
        f"dashed grey: {data.reference}"
    )
    return _saved(
        plt,
        fig,
        out,
        Plot(
            "fragmentation.png",
            "Fragmentation timeline",
            "One panel per flavour: process RSS above its baseline after each phase, a line "
            f"per free pattern; dashed grey: {data.reference}'s; dotted: the bytes the "
            "workload holds (the first pattern's). The verdict compares RSS after free and "
            "after drop; RSS per live byte is in the table below.",
            drawn,
        ),
    )


def plot_threads(data: RunData, out: Path) -> Plot:
    """threads_churn against the thread count, one panel per flavour (the reference grey
    in each); cross_thread_free as bars in a last panel."""
    scaling = data.timed_points("threads_churn")
    cross = data.timed_points("cross_thread_free")
    if not scaling and not cross:
        return Plot("threads.png", "", "", 0)
    drawn = 0
    if scaling:
        plt, fig, order, axes = _flavour_panels(data, extra=1 if cross else 0)

        def line(f: str) -> list[tuple[int, float]]:
            return [(p["threads"], m * 1e9) for p, n in scaling if (m := data.mean(f, n))]

        for ax, f in zip(axes, order, strict=False):
            if f != data.reference and (ref := line(data.reference)):
                ax.plot(*zip(*ref, strict=True), color="grey", lw=1, ls="--")
            if pts := line(f):
                ax.plot(*zip(*pts, strict=True), marker="o", color=COLOURS[f])
                drawn += len(pts)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ticks = [p["threads"] for p, _ in scaling]
            ax.set_xticks(ticks, [str(t) for t in ticks])
            ax.set_xlabel("Rust threads allocating at once", fontsize=8)
            ax.set_ylabel("ns per op (a pair on every thread)", fontsize=8)
            ax.grid(True, which="both", alpha=0.3)
        # One y range for the flavours' panels (not shared with the bars of the last one).
        lims = [ax.get_ylim() for ax in axes[: len(order)]]
        for ax in axes[: len(order)]:
            ax.set_ylim(min(lo for lo, _ in lims), max(hi for _, hi in lims))
        cross_ax = axes[-1] if cross else None
    else:
        plt, fig, axes = _grid(1, cols=1)
        cross_ax = axes[0]
    if cross_ax is not None:
        drawn += _mean_time_bars(
            cross_ax,
            data,
            [(fmt_bytes(p["size"]), n) for p, n in cross],
            1e9,
            "ns per block",
            "cross_thread_free: freed on another thread",
        )
    fig.suptitle(f"Thread scaling (flat = perfect scaling); dashed grey: {data.reference}")
    return _saved(
        plt,
        fig,
        out,
        Plot(
            "threads.png",
            "Thread scaling",
            "threads_churn, one panel per flavour: time per operation as threads are added (the "
            f"machine has {data.metadata[data.flavours[0]].get('cpu_count', '?')} CPUs); dashed "
            f"grey: {data.reference}. cross_thread_free (last panel): blocks freed by another "
            "thread than the one that allocated them.",
            drawn,
        ),
    )


def plot_interplay(data: RunData, out: Path) -> Plot:
    """python_interplay phase by phase, one panel per flavour: RSS above the start and the
    bytes of pymalloc's arenas (the reference's RSS grey in each)."""
    points = data.memory_points("python_interplay")
    if not points:
        return Plot("interplay.png", "", "", 0)
    label = points[0][1]
    phases = data.phases(label)
    mib = 1 << 20

    def rss(f: str) -> list[float]:
        runs = data.figure_runs(f, label)
        return [
            statistics.fmean(r[f"{p}/rss_bytes"] - r[f"{phases[0]}/rss_bytes"] for r in runs) / mib
            for p in phases
        ]

    plt, fig, order, axes = _flavour_panels(data, sharey=True)
    drawn = 0
    for ax, f in zip(axes, order, strict=True):
        runs = data.figure_runs(f, label)
        if not runs:
            continue
        if f != data.reference and data.figure_runs(data.reference, label):
            ax.plot(phases, rss(data.reference), color="grey", lw=1, ls="--")
        ax.plot(phases, rss(f), marker="o", color=COLOURS[f], label="RSS above the start")
        drawn += len(phases)
        if f"{phases[0]}/python.arena_bytes" in runs[0]:
            arenas = [
                statistics.fmean(r[f"{p}/python.arena_bytes"] for r in runs) / mib for p in phases
            ]
            ax.plot(
                phases, arenas, marker="s", ms=3, ls=":", color=COLOURS[f], label="pymalloc arenas"
            )
            drawn += len(phases)
        ax.set_ylabel("MiB", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Python interplay by phase; dashed grey: {data.reference}'s RSS")
    return _saved(
        plt,
        fig,
        out,
        Plot(
            "interplay.png",
            "Python interplay",
            f"{label}, one panel per flavour: Python bytes objects interleaved with Rust blocks, "
            "then the Rust side dropped, then the Python side; RSS above the start (solid) and "
            "the bytes of pymalloc's arenas (dotted: do Rust blocks pin them?).",
            drawn,
        ),
    )


# ---- verdict and targets -------------------------------------------------------------------


@dataclass
class Verdict:
    """A family's verdict. ``ratios``: each flavour / the reference; ``against_best``: the
    best flavour (lowest ratio) / each other flavour, paired round by round. The family has
    a winner only when the best flavour beats every other one (``RoundRatio.outcome``:
    the interval excludes 1 and the difference exceeds the margin); otherwise the flavours
    it does not beat tie with it."""

    family: str
    metric: str
    n: int  # benchmarks
    reference: str
    ratios: dict[str, RoundRatio]
    best: str
    against_best: dict[str, RoundRatio]
    memory: bool = False

    @property
    def ranked(self) -> list[str]:
        return sorted(self.ratios, key=lambda f: self.ratios[f].value)

    @property
    def runner_up(self) -> str | None:
        return self.ranked[1] if len(self.ratios) > 1 else None

    @property
    def margin(self) -> RoundRatio | None:
        """The best flavour / the runner-up."""
        return self.against_best.get(self.runner_up) if self.runner_up else None

    @property
    def rounds(self) -> int:
        return min((r.rounds for r in self.against_best.values()), default=0)

    @property
    def winner(self) -> str | None:
        beaten = [r.outcome() == "lower" for r in self.against_best.values()]
        complete = len(beaten) == len(self.ratios) - 1
        return self.best if beaten and complete and all(beaten) else None

    @property
    def tied(self) -> list[str]:
        """The flavours the run cannot tell from the best (the best first)."""
        if self.winner:
            return []
        return [
            f
            for f in self.ranked
            if f == self.best or (r := self.against_best.get(f)) is None or r.outcome() != "lower"
        ]

    @property
    def tie_within(self) -> float:
        """How close the tied flavours are, as far as the run can tell (NaN: no interval)."""
        spans = [
            r.within() if (r := self.against_best.get(f)) else math.nan
            for f in self.tied
            if f != self.best
        ]
        return max(spans) if spans and not any(math.isnan(x) for x in spans) else math.nan

    @property
    def answer(self) -> str:
        """The winner's name, or "tie"."""
        return self.winner or "tie"


def family_benchmarks(data: RunData, family: str) -> tuple[str, list[str]]:
    """(metric, benchmark names) a family's verdict compares."""
    if family in VERDICT_MEMORY_FIGURE:
        suffixes = tuple("/" + fig for fig in VERDICT_MEMORY_FIGURE[family])
        names = [
            n
            for n in data.names("byte")
            if n.endswith(suffixes)
            and (w := catalogue.CATALOGUE.get(n.split("[", 1)[0])) is not None
            and w.family == family
        ]
        return VERDICT_MEMORY_WORDS[family], names
    names = [
        n
        for n in data.names("second")
        if (w := catalogue.CATALOGUE.get(n.split("[", 1)[0])) is not None
        and w.family == family
        and w.name not in VERDICT_EXCLUDED
    ]
    return "time per op (lower wins)", names


def _pairs(data: RunData, names: list[str], a: str, b: str):
    return [(data.round_means(a, n), data.round_means(b, n)) for n in names]


def verdicts(data: RunData) -> list[Verdict]:
    out = []
    for family in catalogue.FAMILIES:
        metric, names = family_benchmarks(data, family)
        # Only benchmarks every flavour ran, with a positive figure: a geometric mean over
        # different sets misleads.
        names = [
            n
            for n in names
            if all((m := data.round_means(f, n)) and min(m.values()) > 0 for f in data.flavours)
        ]
        if not names:
            continue
        ratios = {f: family_ratio(_pairs(data, names, f, data.reference)) for f in data.flavours}
        if any(r is None for r in ratios.values()):
            continue  # no round that every flavour ran (an interrupted run)
        best = min(data.flavours, key=lambda f: ratios[f].value)
        against = {
            f: r
            for f in data.flavours
            if f != best and (r := family_ratio(_pairs(data, names, best, f))) is not None
        }
        out.append(
            Verdict(
                family,
                metric,
                len(names),
                data.reference,
                ratios,
                best,
                against,
                family in VERDICT_MEMORY_FIGURE,
            )
        )
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
    small = [
        n
        for n in small
        if {"pymem", "system"} <= set(data.benches)
        and data.round_means("system", n)
        and data.round_means("pymem", n)
    ]
    r = family_ratio(_pairs(data, small, "system", "pymem")) if small else None
    if r is not None:  # system time / pymem time, round by round: pymem's speed-up
        out.append(
            Target(
                "pymem against system, small-block churn (16-512 B, geometric mean)",
                f">= {TARGET_SMALL_CHURN_SPEEDUP}x faster",
                f"{r.value:.2f}x ({_interval_words(r)}, {len(small)} benchmarks)",
                "yes" if r.value >= TARGET_SMALL_CHURN_SPEEDUP else "no",
            )
        )
    else:
        out.append(Target("pymem against system, small churn", ">= 1.5x", "not measured", "n/a"))

    zeroed = catalogue.get("zeroed_vec").label(CALLOC_PARAMS)
    memset = catalogue.get("memset_vec").label(CALLOC_PARAMS)
    if (
        "pymem" in data.benches
        and data.round_means("pymem", zeroed)
        and data.round_means("pymem", memset)
    ):
        # Two workloads, so their rounds ran at different moments: Welch, not paired.
        r = welch_ratio(
            list(data.round_means("pymem", memset).values()),
            list(data.round_means("pymem", zeroed).values()),
        )
        out.append(
            Target(
                "pymem: vec![0; 1 MiB] untouched via PyMem_Calloc against alloc + memset",
                f">= {TARGET_CALLOC_SPEEDUP:g}x faster",
                f"{r.value:.2f}x ({_interval_words(r)}; {fmt_time(data.mean('pymem', zeroed))} "
                f"against {fmt_time(data.mean('pymem', memset))})",
                "yes" if r.value >= TARGET_CALLOC_SPEEDUP else "no",
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


def _family_level(data: RunData, names: list[str], flavour: str) -> list[float]:
    """Per round (those every benchmark has): the geometric mean over ``names`` of the
    flavour's own mean, for comparing a flavour with itself in another run."""
    if not names:
        return []
    means = [data.round_means(flavour, n) for n in names]
    rounds = set.intersection(*(set(m) for m in means))
    return [math.exp(statistics.fmean(math.log(m[r]) for m in means)) for r in sorted(rounds)]


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

    rows = []
    for fam in families:
        vs = [p.get(fam) for p in per_run]
        answers = [v.answer if v is not None else "-" for v in vs]
        metric = next(v.metric for v in vs if v is not None)
        rows.append(
            [fam, metric]
            + [verdict_short(v) if v is not None else "-" for v in vs]
            + ["no" if len(set(answers)) == 1 else "yes: " + " / ".join(answers)]
        )
    refs = sorted({d.reference for d in datas})
    verdict_table: Block = ("table", ["family", "metric", *labels, "answer changes?"], rows)
    blocks += [
        ("h2", "Verdict per run"),
        (
            "p",
            f"Each cell: the family's winner and its ratio to {'/'.join(refs)} measured within "
            "that run (< 1: faster or smaller), or the flavours that tie (within the margin "
            f"of {EQUIVALENCE_MARGIN:.0%} or the {CONFIDENCE:.0%} interval over rounds), the "
            "same verdict as each run's own report. Answer changes: whether the winners "
            "differ (a tie is an answer too).",
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
            "Geometric mean over the family's benchmarks and the run's rounds of flavour mean "
            f"/ reference mean in each run, with its {CONFIDENCE:.0%} interval over rounds.",
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
                    and d.round_means(f, n)
                    and base.round_means(f, n)
                ]
                mine, theirs = _family_level(d, names, f), _family_level(base, names, f)
                cells.append(fmt_ratio(welch_ratio(mine, theirs)) if mine and theirs else "-")
            cross_rows.append([fam, f, *cells])
    blocks += [
        ("h2", f"Each flavour against itself: run / {labels[0]}"),
        (
            "p",
            "Geometric mean over the family's benchmarks of the flavour's mean in the run / its "
            f"mean in {labels[0]} (< 1: faster or smaller there), with Welch's "
            f"{CONFIDENCE:.0%} interval over the two runs' rounds (no round pairs them). The "
            "runs ran one after the other, so machine drift between them enters these ratios "
            "(the verdicts above are measured within each run and do not have that problem).",
        ),
        ("table", ["family", "flavour", *labels[1:]], cross_rows),
    ]
    return blocks, verdict_table


# ---- replication: do two runs of the same plan agree? ----------------------------------------


@dataclass
class Agreement:
    """One family in two runs: the same verdict? each run's ratios inside the other's
    interval? ``inside_ab``: flavour -> run a's ratio (to the reference) inside run b's
    interval (None: b has no interval); ``inside_ba`` the other way round."""

    family: str
    a: Verdict
    b: Verdict
    inside_ab: dict[str, bool | None]
    inside_ba: dict[str, bool | None]

    @property
    def same(self) -> bool:
        """The same winner, or both a tie."""
        return self.a.answer == self.b.answer


def agreement(a: Verdict, b: Verdict) -> Agreement:
    """Compares one family's verdicts of two runs (the reference's own ratio, 1 in both,
    is left out)."""
    if a.family != b.family:
        raise ValueError(f"agreement compares one family; got {a.family!r} and {b.family!r}")
    flavours = [f for f in a.ratios if f in b.ratios and f not in (a.reference, b.reference)]

    def inside(x: RoundRatio, y: RoundRatio) -> bool | None:
        return y.contains(x.value) if y.has_interval else None

    return Agreement(
        a.family,
        a,
        b,
        {f: inside(a.ratios[f], b.ratios[f]) for f in flavours},
        {f: inside(b.ratios[f], a.ratios[f]) for f in flavours},
    )


def replication(a: RunData, b: RunData) -> list[Agreement]:
    """Every family both runs have a verdict for, in the catalogue's order."""
    va, vb = {v.family: v for v in verdicts(a)}, {v.family: v for v in verdicts(b)}
    return [agreement(va[f], vb[f]) for f in catalogue.FAMILIES if f in va and f in vb]


def _inside_cell(inside: dict[str, bool | None], x: Verdict, y: Verdict) -> str:
    known = {f: v for f, v in inside.items() if v is not None}
    if not known:
        return "no interval" if inside else "-"
    outside = [
        f"{f} {x.ratios[f].value:.2f} outside {y.ratios[f].text().split(' ', 1)[1]}"
        for f, v in known.items()
        if not v
    ]
    return f"{len(known) - len(outside)} of {len(known)}" + (
        f" ({'; '.join(outside)})" if outside else ""
    )


def replication_blocks(a: RunData, b: RunData) -> list[Block]:
    """The replication section: per family both runs' verdicts, whether they agree, and
    whether each run's ratios lie inside the other's intervals; "N of M families agree"."""
    names = [d.record.get("run_id", d.run_dir.name) for d in (a, b)]
    rows, agree = [], replication(a, b)
    for g in agree:
        rows.append(
            [
                g.family,
                verdict_short(g.a),
                verdict_short(g.b),
                "yes" if g.same else "no",
                _inside_cell(g.inside_ab, g.a, g.b),
                _inside_cell(g.inside_ba, g.b, g.a),
            ]
        )
    pairs = [
        (v, w)
        for g in agree
        for v, w in zip(g.inside_ab.values(), g.inside_ba.values(), strict=True)
    ]
    ab = [v for v, _ in pairs if v is not None]
    ba = [w for _, w in pairs if w is not None]
    same = sum(g.same for g in agree)
    summary = f"{same} of {len(agree)} families agree (the same winner, or both a tie)."
    if ab or ba:
        summary += (
            f" Ratios to the reference inside the other run's {CONFIDENCE:.0%} interval: "
            f"{sum(ab)} of {len(ab)} ({names[0]} in {names[1]}'s), {sum(ba)} of {len(ba)} "
            f"({names[1]} in {names[0]}'s)."
        )
    return [
        ("h2", f"Replication: do {names[0]} and {names[1]} agree?"),
        ("p", summary),
        (
            "p",
            "Each family's verdict in both runs (winner and its ratio to the reference, or the "
            f"flavours that tie: within the ±{EQUIVALENCE_MARGIN:.0%} margin or the interval "
            "over rounds). Agree: the same winner, or a tie in both. When both runs measure "
            "the same thing, one run's ratio lies inside the other's interval most of the "
            "time (about 83 % for a 95 % interval, more with few rounds); many misses mean "
            "the intervals are narrower than the drift between the runs.",
        ),
        (
            "table",
            [
                "family",
                names[0],
                names[1],
                "agree?",
                f"{names[0]}'s ratios inside {names[1]}'s interval",
                f"{names[1]}'s ratios inside {names[0]}'s interval",
            ],
            rows,
        ),
    ]


def replication_text(run_dirs: Iterable[Path | str]) -> str:
    """The replication section of two runs as Markdown (printed by make bench REPLICATE=1)."""
    a, b = [load_run(d) for d in run_dirs]
    return render_markdown("Replication", replication_blocks(a, b)).split("\n", 2)[2].rstrip()


def compare_runs(run_dirs: Iterable[Path | str], out_dir: Path | str) -> Path:
    """Writes the comparison of ``run_dirs`` (``compare_blocks``) into ``out_dir``
    (index.html, index.md, compare.json); returns the path of index.html."""
    datas = [load_run(d) for d in run_dirs]
    blocks, _ = compare_blocks(datas)
    if len(datas) == 2:  # two runs: first, do their verdicts agree?
        blocks = [*replication_blocks(*datas), ("h2", "The runs"), *blocks]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = [d.record.get("run_id", d.run_dir.name) for d in datas]
    halves = [(d.record.get("replicate") or {}).get("runs") for d in datas]
    kind = "replication" if len(datas) == 2 and halves[0] == halves[1] == names else "comparison"
    title = f"allocbench {kind}: " + ", ".join(names)
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


def header_section(data: RunData) -> list[Block]:
    """The report's first lines: what was run, how often, where."""
    rec, md = data.record, data.metadata[data.flavours[0]]
    mode = rec.get("mode", md.get("bench_mode", "?"))
    rounds = (rec.get("mode_settings") or {}).get("rounds", "?")
    blocks: list[Block] = [
        (
            "p",
            f"Run {rec.get('run_id', data.run_dir.name)}, mode {mode} ({rounds} rounds), "
            f"flavours {', '.join(data.flavours)}; reference {data.reference}. Machine: "
            f"{md.get('cpu_model_name', '?')}, {md.get('cpu_count', '?')} CPUs. Interpreter "
            f"{run_dimensions(data)['interpreter']}. Commit {str(md.get('git_commit', '?'))[:12]}."
            + (f" Filter: {rec['filter']!r}." if rec.get("filter") else ""),
        )
    ]
    half = rec.get("replicate")
    if half:
        blocks.append(
            (
                "p",
                f"This run is half {half.get('half', '?')} of a replicated pair "
                f"({', '.join(half.get('runs', []))}): the two halves' rounds alternated in "
                "time; their agreement: report "
                f"{half.get('report', '<run id>-replication')}.",
            )
        )
    return blocks


def run_section(data: RunData, wall_s: float | None) -> list[Block]:
    """How the run was made: settings, interpreter, the flavours' builds."""
    rec, md = data.record, data.metadata[data.flavours[0]]
    blocks: list[Block] = [("h2", "The run")]
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
            + f". PYTHONMALLOC: {dims['PYTHONMALLOC']}. Platform {md.get('platform', '?')}; "
            f"commit {md.get('git_commit', '?')}.",
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
    ]
    return blocks


def targets_section(data: RunData, wall_s: float | None) -> list[Block]:
    """The project's own targets (issue 3): last in the report."""
    return [
        ("h2", "Targets of the project"),
        (
            "table",
            ["target", "goal", "measured", "met"],
            [[t.what, t.goal, t.measured, t.met] for t in targets(data, wall_s)],
        ),
    ]


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


# What each family measures, in a user's words (the advice of the answer table).
FAMILY_WHAT = {
    "throughput": "allocation-heavy code (small-block churn, mixed sizes, collections, JSON)",
    "raw": "the backends' primitives called directly (a diagnostic: not the GlobalAlloc path)",
    "realloc": "growing and shrinking buffers (Vec push, String append, reserve_exact)",
    "zeroed": "large zeroed or memset buffers (4 KiB to 1 MiB)",
    "fragmentation": "a heap that fills, frees half, refills and drops everything",
    "threads": "allocation on several Rust threads at once, and frees on another thread",
    "interplay": "Rust blocks interleaved with Python objects, then both dropped",
}
# A tie wider than this says more about the machine than about the allocators.
NOISY_TIE = 0.10


def _rounds_words(n: int) -> str:
    return f"{n} round{'s' * (n != 1)}"


def within_words(v: Verdict) -> str:
    """How closely tied flavours are: "±3.1%", or for wide ties "a factor of 2.8"."""
    x = v.tie_within
    if math.isnan(x):
        return f"no interval ({_rounds_words(v.rounds)})"
    return f"±{x:.1%}" if x <= 0.5 else f"a factor of {1 + x:.2g}"


def verdict_short(v: Verdict) -> str:
    """A family's answer in a few words: the winner and its ratio to the reference, or the
    flavours that tie and how closely."""
    if v.winner == v.reference:
        return f"{v.winner} (the reference)"
    if v.winner:
        return f"{v.winner} {v.ratios[v.winner].value:.2f}"
    return f"tie: {', '.join(v.tied)} ({within_words(v)})"


def advice(v: Verdict) -> str:
    """One sentence a user can act on."""
    what = FAMILY_WHAT.get(v.family, v.family)
    if v.winner:
        return f"If {what} dominates your extension, use {v.winner}."
    if v.rounds < 2:
        return (
            "One round cannot separate the flavours: run make bench with more rounds "
            "(MODE=quick or rigorous)."
        )
    if v.tie_within > NOISY_TIE:
        return (
            f"Too noisy to choose (the flavours could differ by {within_words(v)}): "
            "rerun with MODE=rigorous, on a quiet machine."
        )
    return (
        f"For {what}, choose between {', '.join(v.tied)} on other grounds: this run cannot "
        f"tell them apart by more than {v.tie_within:.1%}."
    )


def answer_section(data: RunData) -> list[Block]:
    """The report's first table: per family, the winner or a tie, by how much, how sure,
    and one sentence of advice."""
    ref = data.reference
    verdict = verdicts(data)
    blocks: list[Block] = [("h2", "The answer")]
    if not verdict:
        return [*blocks, ("p", "No family has benchmarks that every flavour ran.")]
    if len(data.flavours) < 2:
        return [*blocks, ("p", f"Only {data.flavours[0]} was measured: nothing to compare.")]
    rows = []
    for v in verdict:
        less = ("smaller", "larger") if v.memory else ("faster", "slower")
        m, runner = v.margin, v.runner_up
        if v.winner:
            much = f"{ratio_words(m.value, v.memory)} than {runner} (the next best)"
            if ref not in (v.winner, runner):
                much += f"; {ratio_words(v.ratios[v.winner].value, v.memory)} than {ref}"
            answer = v.winner
        else:
            answer = "tie: " + ", ".join(v.tied)
            much = f"within {within_words(v)}" + (
                f"; best point estimate {v.best} ({less[0]} than {runner} by "
                f"{abs(1 - m.value):.1%})"
                if m is not None and m.value < 1
                else ""
            )
        sure = (
            f"{v.best} / {runner}: {m.text()}; " if m is not None else ""
        ) + f"{_rounds_words(v.rounds)} x {v.n} benchmark{'s' * (v.n != 1)}"
        rows.append([v.family, answer, much, sure, advice(v)])
    return [
        *blocks,
        (
            "p",
            "Per family: the flavour that beats every other one, or the flavours that tie. "
            f"Each comparison is paired round by round (a round runs every flavour within "
            f"seconds); a tie: the {CONFIDENCE:.0%} Student-t interval over rounds contains "
            f"1, or the difference is under the equivalence margin of ±{EQUIVALENCE_MARGIN:.0%}. "
            "How sure: the best flavour / the next best with that interval.",
        ),
        ("table", ["family", "answer", "by how much", "how sure", "advice"], rows),
    ]


def ratio_section(data: RunData) -> list[Block]:
    """Every flavour / the reference, per family: ratio, interval, tie or not."""
    ref = data.reference
    verdict = verdicts(data)
    if not verdict or len(data.flavours) < 2:
        return []
    others = [f for f in data.flavours if f != ref]
    rows = []
    for v in verdict:
        words = {"lower": "smaller" if v.memory else "faster", "tie": "tie"}
        words["higher"] = "larger" if v.memory else "slower"
        rows.append(
            [v.family, v.metric, v.n, v.rounds]
            + [f"{v.ratios[f].text()} {words[v.ratios[f].outcome()]}" for f in others]
        )
    return [
        ("h2", f"Every flavour / {ref}"),
        (
            "p",
            f"Per family: geometric mean over the rounds of each round's geometric mean over the "
            f"family's benchmarks of flavour mean / {ref} mean, with its {CONFIDENCE:.0%} "
            f"Student-t interval over rounds in brackets; tie: the interval contains 1 or the "
            f"ratio is within ±{EQUIVALENCE_MARGIN:.0%}.",
        ),
        ("table", ["family", "metric", "benchmarks", "rounds", *others], rows),
    ]


PLOTS: tuple[Callable[[RunData, Path], Plot], ...] = (
    plot_verdict,
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

    # The answer first, then the evidence, then how the run was made; targets last.
    blocks = header_section(data) + answer_section(data) + ratio_section(data)
    blocks.append(("h2", "Plots"))
    blocks += [("img", p) for p in plots] or [("p", "This run measured no plotted workload.")]
    blocks += detail_section(data)
    if comparison is not None:
        blocks.append(("h2", f"python -m pyperf compare_to {data.reference}.json ... --table"))
        blocks.append(("pre", comparison))
    blocks += run_section(data, wall_s)
    blocks += instruction_section(data, out)
    blocks += hazard_section(data)
    blocks += targets_section(data, wall_s)

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
