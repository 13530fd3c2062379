"""The report of one run (``build``): the answer first (``answer_section``), every flavour /
the reference, the plots (``PLOTS``), the tables behind them, pyperf's compare_to, how the
run was made, the stored instruction counts and hazard matrix (``stored``), the targets.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from .. import atomic, catalogue
from .compare import run_dimensions
from .document import (
    Block,
    fmt_bytes,
    fmt_time,
    ratio_words,
    render_html,
    render_markdown,
)
from .goals import targets_section
from .load import RunData, compare_to, load_run
from .plots import Plot, plot_raw_ratio, plot_size_scaling, plot_verdict
from .stats import CONFIDENCE, EQUIVALENCE_MARGIN
from .stored import hazard_section, instruction_section
from .verdict import _rounds_words, advice, verdicts, within_words
from .workload_plots import (
    fragmentation_rows,
    plot_fragmentation,
    plot_interplay,
    plot_realloc,
    plot_threads,
)


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
    atomic.write_text(out / "index.md", render_markdown(title, blocks))
    index = out / "index.html"
    atomic.write_text(index, render_html(title, blocks))
    return index
