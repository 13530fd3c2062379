"""The verdict and the replication check on synthetic runs: pyperf files written here with
chosen per-round figures (no extension, no timing), so each rule of the verdict is seen to
decide: paired by round, a tie within the margin or the interval, a winner only when it beats
every flavour, one round without an interval, runs stored without round numbers, the
fragmentation family judged on RSS after free and after drop; and whether two runs agree."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pyperf
import pytest
from allocbench import report

CHURN = [f"churn_batch[size={s},live=1024,order=lifo]" for s in (16, 64)]
GROWTH = "realloc_growth[pattern=vec_push,target=4096]"
FRAG = "fragmentation[blocks=1048576,size_min=16,size_max=128,pattern=every_other,seed=1]"
# The reference's time per round: the machine's speed moves 2x from round to round.
DRIFT = (1.0, 2.0, 1.3)


def write_run(
    run_dir: Path,
    figures: dict[str, dict[str, list[float]]],
    *,
    rounds_recorded: bool = True,
    unit: str = "second",
    record: dict | None = None,
) -> Path:
    """flavour -> benchmark -> one figure per round (each round's process gets three values
    around it) into ``run_dir/<flavour>.json``; ``run.json`` from ``record``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for flavour, benches in figures.items():
        out = []
        for name, per_round in benches.items():
            runs = []
            for r, x in enumerate(per_round, 1):
                md = {"name": name, "backend": flavour, "hostname": "h", "cpu_model_name": "c"}
                md |= {"cpu_count": 2, "unit": "byte" if "/" in name else unit}
                if rounds_recorded:
                    md["bench_round"] = str(r)
                values = [x] if "/" in name else [x * 0.999, x, x * 1.001]
                runs.append(pyperf.Run(values, metadata=md, collect_metadata=False))
            out.append(pyperf.Benchmark(runs))
        pyperf.BenchmarkSuite(out).dump(str(run_dir / f"{flavour}.json"))
    rec = {"run_id": run_dir.name, "mode": "quick", "mode_settings": {"rounds": 3}}
    (run_dir / "run.json").write_text(json.dumps(rec | (record or {})))
    return run_dir


def times(factors: dict[str, list[float]], names=CHURN, drift=DRIFT):
    """flavour -> per-round factor against the reference, applied to every benchmark."""
    return {f: {n: [k * d for k, d in zip(ks, drift, strict=True)] for n in names}
            for f, ks in factors.items()}  # fmt: skip


def merged(*runs: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, list[float]]]:
    """Several families' figures in one run: flavour -> every benchmark."""
    out: dict[str, dict[str, list[float]]] = {}
    for run in runs:
        for flavour, benches in run.items():
            out.setdefault(flavour, {}).update(benches)
    return out


def verdict(run_dir: Path, family: str = "throughput") -> report.Verdict:
    return next(v for v in report.verdicts(report.load_run(run_dir)) if v.family == family)


def test_pairing_by_round_removes_the_machines_drift(tmp_path):
    # pymem is 10 % faster than system in every round, while the machine's speed moves 2x:
    # unpaired samples would overlap; paired round by round, a clear winner.
    v = verdict(write_run(tmp_path, times({"system": [1, 1, 1], "pymem": [0.9, 0.9, 0.9]})))
    assert v.winner == "pymem" and v.answer == "pymem" and v.tied == []
    assert v.ratios["pymem"].value == pytest.approx(0.9, rel=1e-6)
    assert v.ratios["pymem"].high < 0.901 and v.rounds == 3 and v.n == 2
    assert v.margin is v.against_best["system"] and v.runner_up == "system"
    assert report.verdict_short(v) == "pymem 0.90"


def test_one_slow_round_makes_a_tie_not_a_winner(tmp_path):
    v = verdict(write_run(tmp_path, times({"system": [1, 1, 1], "pymem": [0.9, 0.9, 1.2]})))
    r = v.ratios["pymem"]
    assert r.low < 1 < r.high
    assert v.winner is None and v.answer == "tie" and v.tied == ["pymem", "system"]
    assert v.tie_within == pytest.approx(r.within()) and v.tie_within > report.NOISY_TIE
    assert v.tie_within == pytest.approx(1 / r.low - 1)  # the interval's farther end, in logs
    assert report.verdict_short(v) == f"tie: pymem, system (a factor of {1 + v.tie_within:.2g})"
    assert "Too noisy to choose" in report.advice(v)


def test_a_difference_under_the_margin_is_a_tie(tmp_path):
    v = verdict(write_run(tmp_path, times({"system": [1, 1, 1], "pymem": [0.99, 0.991, 0.989]})))
    assert v.ratios["pymem"].significant  # the interval excludes 1 ...
    assert v.winner is None and v.tied == ["pymem", "system"]  # ... but 1 % is within 2 %
    assert v.tie_within == pytest.approx(report.EQUIVALENCE_MARGIN)
    assert report.verdict_short(v) == "tie: pymem, system (±2.0%)"
    assert "on other grounds" in report.advice(v)


def test_the_winner_must_beat_every_flavour_not_only_the_runner_up(tmp_path):
    # mimalloc beats pymem (the runner-up) and system clearly, but jemalloc, third by its
    # point estimate, is so noisy that its interval against mimalloc contains 1: mimalloc is
    # not the winner; jemalloc ties with it.
    factors = {"system": [1, 1, 1], "mimalloc": [0.5, 0.5, 0.5], "pymem": [0.6, 0.6, 0.6]}
    v = verdict(write_run(tmp_path, times(factors | {"jemalloc": [0.3, 1.6, 0.7]})))
    assert v.best == "mimalloc" and v.runner_up == "pymem"
    assert v.margin.outcome() == "lower" and v.against_best["system"].outcome() == "lower"
    assert v.against_best["jemalloc"].outcome() == "tie"
    assert v.winner is None and v.tied == ["mimalloc", "jemalloc"]
    # Without jemalloc's noise mimalloc wins.
    v = verdict(write_run(tmp_path / "b", times(factors | {"jemalloc": [0.7, 0.7, 0.7]})))
    assert v.winner == "mimalloc" and v.runner_up == "pymem"
    assert v.against_best["jemalloc"].value == pytest.approx(0.5 / 0.7, rel=1e-6)


def test_the_reference_can_win(tmp_path):
    v = verdict(write_run(tmp_path, times({"system": [1, 1, 1], "pymem": [1.5, 1.6, 1.4]})))
    assert v.winner == "system" and report.verdict_short(v) == "system (the reference)"


def test_a_single_round_run_ties_without_an_interval_and_still_renders(tmp_path):
    run = write_run(
        tmp_path / "pyperf" / "one",
        times({"system": [1], "pymem": [0.5]}, drift=(1.0,)),
        record={"mode_settings": {"rounds": 1}},
    )
    v = verdict(run)
    assert v.rounds == 1 and not v.ratios["pymem"].has_interval
    assert v.winner is None and math.isnan(v.tie_within)
    assert report.verdict_short(v) == "tie: pymem, system (no interval (1 round))"
    assert "One round cannot separate" in report.advice(v)
    index = report.build(run, tmp_path / "report")
    md = index.with_name("index.md").read_text()
    assert "0.500 (1 round: no interval) tie" in md
    assert re.findall(r"^## (.*)$", md, re.M)[0] == "The answer"


def test_runs_stored_without_round_numbers_pair_processes_in_order(tmp_path):
    figures = times({"system": [1, 1, 1], "pymem": [0.9, 0.92, 0.88]})
    with_rounds = verdict(write_run(tmp_path / "a", figures))
    without = verdict(write_run(tmp_path / "b", figures, rounds_recorded=False))
    assert without.ratios["pymem"] == with_rounds.ratios["pymem"]
    assert without.winner == with_rounds.winner == "pymem"


def test_fragmentation_is_judged_on_rss_after_free_and_after_drop(tmp_path):
    mib = 1 << 20

    def frag(free: float, refill: float, drop: float) -> dict[str, list[float]]:
        figs = {"fill": 130, "free": free, "refill": refill, "drop": drop}
        return {f"{FRAG}/{p}/rss_bytes": [x * mib] * 3 for p, x in figs.items()}

    # pymem's heap is larger at refill (the peak) but it gives memory back after the frees.
    run = write_run(
        tmp_path,
        {"system": frag(130, 200, 114), "pymem": frag(90, 210, 24)},
        unit="byte",
    )
    metric, names = report.family_benchmarks(report.load_run(run), "fragmentation")
    assert sorted(n.split("/", 1)[1] for n in names) == ["drop/rss_bytes", "free/rss_bytes"]
    assert "after freeing half" in metric and "after dropping all" in metric
    v = verdict(run, "fragmentation")
    assert v.memory and v.winner == "pymem"
    assert v.ratios["pymem"].value == pytest.approx(math.sqrt(90 / 130 * 24 / 114), rel=1e-6)


def test_the_answer_table_says_winner_by_how_much_how_sure_and_advice(tmp_path):
    run = write_run(
        tmp_path,
        times({"system": [1, 1, 1], "pymem": [0.8, 0.8, 0.8], "mimalloc": [0.5, 0.5, 0.5]}) | {},
    )
    blocks = report.answer_section(report.load_run(run))
    assert blocks[0] == ("h2", "The answer")
    table = next(b for b in blocks if b[0] == "table")
    assert table[1] == ["family", "answer", "by how much", "how sure", "advice"]
    (row,) = table[2]
    assert row[0] == "throughput" and row[1] == "mimalloc"
    assert row[2] == "1.60x faster than pymem (the next best); 2.00x faster than system"
    assert (
        row[3].startswith("mimalloc / pymem: 0.625 [0.62") and "3 rounds x 2 benchmarks" in row[3]
    )
    assert row[4].startswith("If allocation-heavy code") and "use mimalloc" in row[4]
    text = next(b[1] for b in blocks if b[0] == "p")
    assert "±2%" in text and "95%" in text


# ---- replication: do two runs agree? ---------------------------------------------------------


def rr(value: float, low: float, high: float, rounds: int = 3) -> report.RoundRatio:
    return report.RoundRatio(value, low, high, rounds)


def fake_verdict(ratios: dict[str, report.RoundRatio], against: dict[str, report.RoundRatio],
                 family: str = "zeroed") -> report.Verdict:  # fmt: skip
    best = min(ratios, key=lambda f: ratios[f].value)
    return report.Verdict(family, "time", 12, "system", ratios, best, against)


ONE = rr(1.0, 1.0, 1.0)


def test_agreement_same_winner_or_both_a_tie():
    win = fake_verdict(
        {"system": ONE, "jemalloc": rr(0.85, 0.8, 0.9)}, {"system": rr(0.85, 0.8, 0.9)}
    )
    win2 = fake_verdict(
        {"system": ONE, "jemalloc": rr(0.78, 0.7, 0.95)}, {"system": rr(0.78, 0.7, 0.95)}
    )
    tie = fake_verdict(
        {"system": ONE, "jemalloc": rr(1.05, 0.9, 1.2)}, {"jemalloc": rr(1 / 1.05, 0.8, 1.1)}
    )
    other_tie = fake_verdict(
        {"system": ONE, "jemalloc": rr(0.97, 0.9, 1.05)}, {"system": rr(0.97, 0.9, 1.05)}
    )
    assert win.answer == "jemalloc" and tie.answer == "tie" and other_tie.answer == "tie"
    assert report.agreement(win, win2).same
    assert report.agreement(tie, other_tie).same  # both ties: agree, whichever is ahead
    assert not report.agreement(win, tie).same and not report.agreement(tie, win).same
    # Ratios inside the other run's interval, both ways; the reference is left out.
    g = report.agreement(win, tie)
    assert g.inside_ab == {"jemalloc": False} and g.inside_ba == {"jemalloc": False}
    g = report.agreement(win, win2)
    assert g.inside_ab == {"jemalloc": True} and g.inside_ba == {"jemalloc": False}
    # No interval on the other side: unknown, not a miss.
    single = fake_verdict(
        {"system": ONE, "jemalloc": rr(0.85, math.nan, math.nan, 1)},
        {"system": rr(0.85, math.nan, math.nan, 1)},
    )
    g = report.agreement(win, single)
    assert g.inside_ab == {"jemalloc": None} and g.inside_ba == {"jemalloc": True}
    with pytest.raises(ValueError, match="one family"):
        report.agreement(win, fake_verdict(win.ratios, win.against_best, family="raw"))


def test_the_winner_flipping_between_runs_is_a_disagreement(tmp_path):
    """The issue's case: two runs of the same code name different winners."""
    a = write_run(
        tmp_path / "a",
        merged(
            times({"system": [1, 1, 1], "jemalloc": [0.85, 0.86, 0.84], "mimalloc": [1, 1, 1]}),
            times({"system": [1, 1, 1], "jemalloc": [1, 1, 1], "mimalloc": [1, 1, 1]}, [GROWTH]),
        ),
    )
    b = write_run(
        tmp_path / "b",
        merged(
            times(
                {"system": [1, 1, 1], "jemalloc": [1.11, 1.1, 1.12], "mimalloc": [0.9, 0.9, 0.9]}
            ),
            times({"system": [1, 1, 1], "jemalloc": [1, 1, 1], "mimalloc": [1, 1, 1]}, [GROWTH]),
        ),
    )
    da, db = report.load_run(a), report.load_run(b)
    agree = report.replication(da, db)
    fams = {g.family: g for g in agree}
    assert set(fams) == {"throughput", "realloc"}
    assert not fams["throughput"].same and fams["realloc"].same
    md = report.render_markdown("t", report.replication_blocks(da, db))
    assert "1 of 2 families agree (the same winner, or both a tie)." in md
    row = next(line for line in md.splitlines() if line.startswith("| throughput |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "jemalloc 0.85" and cells[2] == "mimalloc 0.90" and cells[3] == "no"
    assert cells[4].startswith("0 of 2 (") and "jemalloc 0.85 outside [1.08" in cells[4]
    assert report.replication_text([a, b]).startswith("## Replication: do a and b agree?")
