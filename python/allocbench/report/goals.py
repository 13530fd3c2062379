"""The targets of the project (issue 3), checked against every run: make bench's wall time,
the RSD of the churn benchmarks, pymem's speed-up on small-block churn and of calloc against
alloc + memset. The report's last section (``targets_section``).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from .. import FLAVOURS, catalogue
from .document import Block, _interval_words, fmt_time
from .load import RunData
from .stats import family_ratio, rsd, welch_ratio
from .verdict import _pairs

# Targets of the project (issue 3), checked against every run.
TARGET_WALL_S = 300
TARGET_CHURN_RSD = 0.03
TARGET_SMALL_CHURN_SPEEDUP = 1.5
TARGET_CALLOC_SPEEDUP = 5.0
SMALL_SIZES = range(16, 513)
CALLOC_PARAMS = {"size": catalogue.MiB, "touch": False}


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
