"""The plots of single workloads (matplotlib): realloc growth and its in-place fraction, the
fragmentation timeline (and the rows of its table, ``fragmentation_rows``), thread scaling,
the Python interplay; mostly one panel per flavour with the reference grey in the others.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from .document import fmt_bytes
from .load import RunData
from .plots import (
    COLOURS,
    Plot,
    _flavour_panels,
    _grid,
    _grouped_bars,
    _mean_time_bars,
    _panel_plot,
    _saved,
)


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
