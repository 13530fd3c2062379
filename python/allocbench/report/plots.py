"""The plots' common parts and the ratio plots (matplotlib, Agg, PNG files).

``Plot`` (a written figure and its caption), a grid of small multiples, log ratio axes with
the equivalence band, grouped bars; the verdict at a glance (``plot_verdict``), each flavour
/ the reference against block size, each flavour against its raw baseline. The plots of
single workloads are in ``workload_plots``.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import atomic, catalogue, registry
from .load import RunData
from .stats import CONFIDENCE, EQUIVALENCE_MARGIN, RoundRatio, family_ratio
from .verdict import VERDICT_EXCLUDED, verdict_short, verdicts

COLOURS = {f.name: f.colour for f in registry.REGISTRY}


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
    atomic.write_with(
        out_dir / name, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    )


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


def _flavour_panels(data: RunData, extra: int = 0, cols: int = 3, **kw):
    """A grid of one panel per flavour (the reference first), plus ``extra`` panels."""
    order = [data.reference] + [f for f in data.flavours if f != data.reference]
    plt, fig, axes = _grid(len(order) + extra, cols=cols, size=(4.2, 3.0), **kw)
    for ax, f in zip(axes, order, strict=False):
        ax.set_title(f, color=COLOURS[f], fontsize=10)
    return plt, fig, order, axes
