"""The report of a ``make bench-extension`` run: ``report.md`` beside its pyperf files.

It answers two questions: does the allocator matter for this extension, and does the sound
``pymem`` backend keep what the as-shipped build gets? Everything is a ratio to
``as-shipped`` measured in the same run, flavours interleaved.

Statistics are ``make bench``'s (``allocbench.report``: ``family_ratio``, ``RoundRatio``):
the unit is the round (every flavour's worker process of a round ran within seconds of the
others); per round the geometric mean over a family's benchmarks of flavour mean /
as-shipped mean; a Student-t interval over the rounds; a tie unless the interval excludes 1
and the ratio is more than ``EQUIVALENCE_MARGIN`` away from it. The verdict table asks many
questions at once (each flavour against as-shipped, per family and over all), so its
intervals are Bonferroni's: each at 1 - 5 % / m for the m comparisons of its kind (time,
memory). At 95 % each, one in twenty of them would call a difference where there is none:
the A/A control of rpds-py's rigorous run (``system`` against an as-shipped build that uses
the same allocator) read "1.37x slower" for one family.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from . import atomic
from .report import CONFIDENCE, EQUIVALENCE_MARGIN, RUN_RECORD, RoundRatio, family_ratio
from .report.stats import bonferroni

SHIPPED = "as-shipped"
MEMORY_PHASES = ("held", "peak", "dropped")


def load(run_dir: Path) -> dict[str, dict[str, dict[int, list[float]]]]:
    """flavour -> benchmark -> round -> values (seconds per op, or bytes)."""
    import pyperf

    out: dict[str, dict[str, dict[int, list[float]]]] = {}
    for path in sorted(run_dir.glob("*.json")):
        if path.name in (RUN_RECORD, "tests.json"):
            continue
        suite = pyperf.BenchmarkSuite.load(str(path))
        per: dict[str, dict[int, list[float]]] = {}
        for bench in suite.get_benchmarks():
            rounds: dict[int, list[float]] = {}
            for run in bench.get_runs():
                if run.values:
                    r = int(run.get_metadata().get("bench_round", 0))
                    rounds.setdefault(r, []).extend(run.values)
            per[bench.get_name()] = rounds
        out[path.stem] = per
    return out


def family_of(name: str, families: dict[str, str]) -> str:
    return families.get(name.split("[", 1)[0], "?")


def family_ratios(
    data: dict[str, dict[str, dict[int, list[float]]]],
    names: list[str],
    flavour: str,
    confidence: float = CONFIDENCE,
) -> RoundRatio | None:
    """The flavour against as-shipped over ``names``, paired round by round, with an
    interval at ``confidence``."""
    ref, mine = data.get(SHIPPED, {}), data.get(flavour, {})
    if not names or any(n not in ref or n not in mine for n in names):
        return None
    pairs = [
        (
            {r: statistics.fmean(v) for r, v in mine[n].items()},
            {r: statistics.fmean(v) for r, v in ref[n].items()},
        )
        for n in names
    ]
    return family_ratio(pairs, confidence)


def _words(r: RoundRatio, memory: bool) -> str:
    less, more = ("smaller", "larger") if memory else ("faster", "slower")
    outcome = r.outcome()
    if outcome == "tie":
        within = r.within()
        return "tie" if math.isnan(within) else f"tie (within ±{within:.1%})"
    return f"{1 / r.value:.2f}x {less}" if outcome == "lower" else f"{r.value:.2f}x {more}"


def micro_prediction(record: dict[str, Any], flavours: list[str], root: Path) -> dict[str, Any]:
    """What the micro-suite's throughput family predicts for flavour vs as-shipped: the
    newest stored ``make bench`` run on the same interpreter with every flavour (pinned in
    ``run.json`` as ``prediction_run`` once chosen), its throughput ratio of the flavour
    over the flavour closest to as-shipped."""
    from . import report

    shipped_like = record.get("shipped_like")
    interp = record.get("interpreter", {}).get("id")
    if not shipped_like:
        return {}
    best = None
    pinned = record.get("prediction_run")  # chosen when the run was made
    candidates = (
        [root / "pyperf" / pinned] if pinned else sorted((root / "pyperf").glob("*"), reverse=True)
    )
    for run_dir in candidates:
        try:
            rec = json.loads((run_dir / RUN_RECORD).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        fl = rec.get("flavours", [])
        got = rec.get("interpreter", {}).get("id")
        if rec.get("status") == "done" and shipped_like in fl and got == interp:
            if all(f in fl for f in flavours if f != SHIPPED):
                best = run_dir
                break
    if best is None:
        return {}
    data = report.load_run(best)
    thr = next((v for v in report.verdicts(data) if v.family == "throughput"), None)
    if thr is None:
        return {}
    base = thr.ratios[shipped_like].value
    pred = {f: thr.ratios[f].value / base for f in flavours if f in thr.ratios}
    pred[SHIPPED] = 1.0
    return {"run": best.name, "shipped_like": shipped_like, "ratios": pred}


def build(run_dir: Path | str, results_root: Path | str | None = None) -> Path:
    """Writes ``report.md`` into the run directory; returns its path. ``results_root``
    (default: the root the run is stored in) holds the micro-suite runs of the prediction."""
    run_dir = Path(run_dir)
    root = Path(results_root) if results_root is not None else run_dir.parents[2]
    record = json.loads((run_dir / RUN_RECORD).read_text(encoding="utf-8"))
    tests = json.loads((run_dir / "tests.json").read_text(encoding="utf-8"))
    name, version = record["extension"], record["extension_version"]
    lines = [f"# {name} {version}: which allocator?", ""]
    interp = record.get("interpreter", {})
    lines += [
        f"Run `{record['run_id']}` ({record['mode']}), CPython {interp.get('id')} "
        f"({interp.get('command', record.get('python'))}), commit "
        f"`{record.get('git_commit', '?')[:12]}`; source: {record['source']}.",
        f"As shipped: {next(iter(record['builds'].values()))['shipped_allocator']}. Every "
        "other flavour is the same sdist with one allocbench-alloc backend as its "
        "`#[global_allocator]`, built with the crate's own release profile.",
        "",
    ]
    lines += _tests_section(tests, record)
    if record.get("notes"):
        lines += [
            "Known cause of the failures (from the extension's source, in its "
            f"workload file `{record['workloads_file']}`): {record['notes']}",
            "",
        ]
    data = load(run_dir) if record.get("status") != "tested" else {}
    flavours = [f for f in record["flavours"] if f in data]
    if len(flavours) < 2:
        lines += ["No timing: fewer than two flavours were measured.", ""]
    else:
        lines += _verdict_section(root, record, data, flavours)
    out = run_dir / "report.md"
    atomic.write_text(out, "\n".join(lines).rstrip() + "\n")
    return out


def _tests_section(tests: dict[str, Any], record: dict[str, Any]) -> list[str]:
    lines = [
        f"## Correctness: the sdist's own tests (`{tests['tests_dir']}/`) in every flavour",
        "",
        "| flavour | default: passed / failed / skipped | PYTHONMALLOC=debug | timed |",
        "|---|---|---|---|",
    ]
    by = {(r["flavour"], r["pythonmalloc"]): r for r in tests["runs"]}
    for f in dict.fromkeys(r["flavour"] for r in tests["runs"]):
        cells = []
        for pm in ("default", "debug"):
            r = by.get((f, pm))
            cells.append(
                "—"
                if r is None
                else f"{r['passed']} / {len(r['failed'])} / {r['skipped']}"
                + ("" if r["exit_code"] in (0, 1) else f" (exit {r['exit_code']})")
            )
        timed = "no: " + "; ".join(tests["left_out"][f]) if tests["left_out"].get(f) else "yes"
        lines.append(f"| {f} | {cells[0]} | {cells[1]} | {timed} |")
    shipped_failed = sorted(
        {t for r in tests["runs"] if r["flavour"] == SHIPPED for t in r["failed"]}
    )
    lines.append("")
    shipped = next((r for r in tests["runs"] if r["flavour"] == SHIPPED), None)
    if shipped and shipped.get("skip_reasons"):
        top = list(shipped["skip_reasons"].items())[:5]
        lines.append(
            "Skipped (as-shipped, default; the same in every flavour that ran): "
            + "; ".join(f"{n} x {why!r}" for why, n in top)
            + "."
        )
        lines.append("")
    if shipped_failed:
        lines.append(
            f"Failing in as-shipped too (the sdist's, not an allocator's; not held against "
            f"any flavour): {', '.join(shipped_failed[:10])}"
            + (f" and {len(shipped_failed) - 10} more" if len(shipped_failed) > 10 else "")
            + "."
        )
        lines.append("")
    return lines


def _verdict_section(
    root: Path, record: dict[str, Any], data: dict[str, Any], flavours: list[str]
) -> list[str]:
    from .extension_workloads import load_workloads
    from .flavour import ROOT

    module = load_workloads(ROOT / record["workloads_file"])
    families = {w.name: w.family for w in module.WORKLOADS}
    order = list(dict.fromkeys(w.family for w in module.WORKLOADS))
    names = sorted(data[SHIPPED])
    timed = [n for n in names if "/" not in n]
    others = [f for f in flavours if f != SHIPPED]
    timed_families = [
        fam
        for fam in order
        if fam != "memory" and any(family_of(n, families) == fam for n in timed)
    ]
    phases = [p for p in MEMORY_PHASES if any(n.endswith(f"/{p}/rss_bytes") for n in names)]
    # Bonferroni over the table's comparisons of each kind (the families and "all timed").
    m_time = len(others) * (len(timed_families) + 1)
    m_memory = len(others) * len(phases)
    conf_time = bonferroni(max(m_time, 1))
    conf_memory = bonferroni(max(m_memory, 1))
    lines = [
        "## Verdict: each flavour against as-shipped",
        "",
        "Ratio = flavour / as-shipped (time per call, or RSS; below 1 is better), geometric "
        f"mean over the family's benchmarks, with its interval over the {record['mode']} "
        f"run's rounds. The table makes {m_time} comparisons of time and {m_memory} of "
        f"memory; so that all of a kind hold together at {CONFIDENCE:.0%} (Bonferroni), each "
        f"interval is at {conf_time:.2%} (time) or {conf_memory:.2%} (memory). A tie: the "
        f"interval contains 1, or the difference is under {EQUIVALENCE_MARGIN:.0%}.",
        "",
        "| family (benchmarks) | " + " | ".join(others) + " |",
        "|---|" + "---|" * len(others),
    ]
    summary: dict[str, dict[str, RoundRatio]] = {}
    for fam in timed_families:
        fam_names = [n for n in timed if family_of(n, families) == fam]
        cells = []
        for f in others:
            r = family_ratios(data, fam_names, f, conf_time)
            summary.setdefault(fam, {})[f] = r
            cells.append("—" if r is None else f"{r.text()} {_words(r, False)}")
        lines.append(f"| {fam} ({len(fam_names)}) | " + " | ".join(cells) + " |")
    overall = {f: family_ratios(data, timed, f, conf_time) for f in others}
    lines.append(
        f"| **all timed ({len(timed)})** | "
        + " | ".join(
            "—" if overall[f] is None else f"{overall[f].text()} {_words(overall[f], False)}"
            for f in others
        )
        + " |"
    )
    for phase in phases:
        mem = [n for n in names if n.endswith(f"/{phase}/rss_bytes")]
        cells = []
        for f in others:
            r = family_ratios(data, mem, f, conf_memory)
            cells.append("—" if r is None else f"{r.text()} {_words(r, True)}")
        lines.append(f"| RSS {phase} ({len(mem)}) | " + " | ".join(cells) + " |")
    lines += ["", "## Answer", ""]
    lines += _answer(record, overall, summary)
    pred = micro_prediction(record, flavours, root)
    lines += ["", "## The micro-suite's prediction against the real result", ""]
    if not pred:
        lines.append(
            "No stored `make bench` run on this interpreter with these flavours: no "
            "prediction to set beside the result."
        )
    else:
        lines.append(
            f"Prediction: the throughput family of `results/pyperf/{pred['run']}`, each "
            f"flavour's ratio over `{pred['shipped_like']}` (the flavour closest to what "
            f"{record['extension']} ships). Measured: all timed benchmarks above."
        )
        lines += ["", "| flavour | predicted (micro throughput) | measured (this run) |"]
        lines.append("|---|---|---|")
        for f in others:
            p = pred["ratios"].get(f)
            m = overall.get(f)
            lines.append(
                f"| {f} | {'—' if p is None else f'{p:.3f}'} | {'—' if m is None else m.text()} |"
            )
    lines += ["", "## Every benchmark (mean of all rounds; ratio to as-shipped)", ""]
    lines += ["| benchmark | as-shipped | " + " | ".join(others) + " |"]
    lines.append("|---|---|" + "---|" * len(others))
    for n in names:
        ref = [v for vals in data[SHIPPED][n].values() for v in vals]
        m_ref = statistics.fmean(ref)
        memory = "/" in n
        cells = []
        for f in others:
            vals = [v for vs in data.get(f, {}).get(n, {}).values() for v in vs]
            cells.append(f"{statistics.fmean(vals) / m_ref:.3f}" if vals else "—")
        shown = f"{m_ref / 2**20:.1f} MiB" if memory else f"{m_ref * 1e9:,.0f} ns"
        lines.append(f"| `{n}` | {shown} | " + " | ".join(cells) + " |")
    return lines


def _answer(
    record: dict[str, Any],
    overall: dict[str, RoundRatio | None],
    summary: dict[str, dict[str, RoundRatio]],
) -> list[str]:
    name = record["extension"]
    decided = {f: r for f, r in overall.items() if r is not None}
    moved = [f for f, r in decided.items() if r.outcome() != "tie"]
    out = []
    if record.get("left_out"):
        out_ = sorted(record["left_out"])
        ok = [f for f in record["flavours"] if f != SHIPPED]
        out.append(
            f"Correctness decides first: {name}'s own tests fail (or the build fails) with "
            f"{', '.join(out_)}, so {'it is' if len(out_) == 1 else 'they are'} not timed; "
            f"of the five backends only {', '.join(ok) or 'none'} "
            f"{'is' if len(ok) == 1 else 'are'} correct for {name}."
        )
    if not moved:
        out.append(
            f"Does the allocator matter for {name}? Not measurably in this run: every flavour "
            "ties with as-shipped over all timed benchmarks."
        )
    else:
        parts = [f"{f} {_words(decided[f], False)}" for f in moved]
        out.append(
            f"Does the allocator matter for {name}? Yes, against as-shipped: "
            + "; ".join(parts)
            + "."
        )
    pm = decided.get("pymem")
    if pm is not None:
        if pm.outcome() == "tie":
            out.append(
                "The sound pymem backend keeps what as-shipped gets: a tie over all timed "
                f"benchmarks ({pm.text()})."
            )
        elif pm.outcome() == "lower":
            out.append(f"The sound pymem backend is faster than as-shipped ({pm.text()}).")
        else:
            out.append(
                f"The sound pymem backend costs {pm.value - 1:.1%} against as-shipped "
                f"({pm.text()}): the price of its thread-state check and alignment handling "
                "on this extension."
            )
        worse = [
            fam
            for fam, rs in summary.items()
            if rs.get("pymem") is not None and rs["pymem"].outcome() == "higher"
        ]
        if worse:
            out.append(f"Families where pymem is slower: {', '.join(worse)}.")
    return out
