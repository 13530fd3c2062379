"""Instruction counts: repeatable to the instruction, a clear ratio to each backend's raw
primitive, refusal of foreign files, and the regression gate's arithmetic."""

import json
import subprocess
import sys

import pytest
from allocbench import FLAVOURS, instructions
from helpers import ROOT, built

FILTER = (
    r"^(alloc_pair|raw_pair)\[size=64\]|^churn_batch\[size=64,live=1024,order=(lifo|fifo)\]"
    r"|^collections\[n=10000,kind=hashmap\]"
)
POINTS = {
    "alloc_pair[size=64]",
    "raw_pair[size=64]",
    "churn_batch[size=64,live=1024,order=lifo]",
    "churn_batch[size=64,live=1024,order=fifo]",
    "collections[n=10000,kind=hashmap]",
}


# jemalloc's FIFO churn and std's randomly seeded HashMap were the points that moved from
# run to run before the counting runs switched off clock-driven allocator work and the
# workload fixed its hasher's keys.
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_counts_are_identical_from_run_to_run(flavour):
    if not built(flavour):
        pytest.fail(f"flavour {flavour} is not built")
    first = instructions.count_flavour(flavour, FILTER, root=ROOT)
    second = instructions.count_flavour(flavour, FILTER, root=ROOT)
    assert set(first) == POINTS
    assert {k: (v["ir_loops_1"], v["ir_loops_big"]) for k, v in first.items()} == {
        k: (v["ir_loops_1"], v["ir_loops_big"]) for k, v in second.items()
    }
    pair, raw = first["alloc_pair[size=64]"]["ir_per_op"], first["raw_pair[size=64]"]["ir_per_op"]
    # A pair is tens to hundreds of instructions; the GlobalAlloc path costs at least its
    # primitive (minus the bookkeeping of the raw loop itself).
    assert 10 < raw < 2000 and 10 < pair < 2000 and pair > 0.8 * raw


def _data(values, repeatable=True):
    return {
        "format": instructions.FORMAT,
        "counts": {
            "system": {
                k: {
                    "ir_per_op": v,
                    "repeatable": repeatable,
                    "workload": "alloc_pair",
                    "params": {"size": 64},
                }
                for k, v in values.items()
            }
        },
    }


def test_compare_flags_only_growth_beyond_the_threshold():
    base = _data({"a": 100.0, "b": 100.0, "c": 100.0})
    head = _data({"a": 100.9, "b": 101.1, "c": 50.0})
    worse = instructions.compare(base, head, 0.01)
    assert len(worse) == 1 and worse[0].startswith("system b: 100.0 -> 101.1")
    assert instructions.compare(base, _data({"b": 150.0}, repeatable=False), 0.01) == []


def test_foreign_files_are_refused(tmp_path):
    p = tmp_path / "x.json"
    p.write_text(json.dumps({"benchmarks": []}))
    with pytest.raises(ValueError, match="not an instruction-count file"):
        instructions.load(p)
    p.write_text("{truncated")
    with pytest.raises(ValueError, match="not a readable instruction-count file"):
        instructions.load(p)


def test_threads_are_left_out():
    pts = instructions.points("")
    assert pts and all(w.family != "threads" for w, _ in pts)
    assert {w.family for w, _ in pts} >= {"throughput", "raw", "realloc", "zeroed"}


def _run_module(module, *args):
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "python"), "PATH": "/usr/bin:/bin"},
    )


def test_cli_rejects_bad_arguments():
    run = lambda *a: _run_module("allocbench.instructions", *a)  # noqa: E731
    out = run("--flavours", "tcmalloc")
    assert out.returncode == 2 and "--flavours" in out.stderr
    out = run("--filter", "nothing-matches-this")
    assert out.returncode == 2 and "selects no timed workload point" in out.stderr
    out = run("--filter", "(")
    assert out.returncode == 2 and "not a regular expression" in out.stderr


def test_regress_refuses_a_base_without_instruction_counting():
    first = subprocess.run(
        ["git", "rev-list", "--max-parents=0", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[0]
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "regress_instructions.py"),
            first,
            "--flavours",
            "system",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert out.returncode != 0 and "predates instruction counting" in out.stderr


def test_the_report_shows_the_stored_instruction_counts(tmp_path):
    """The bench report carries the newest stored instruction run: table, plot, and how
    well counts predicted wall time."""
    from allocbench import report

    runs = sorted((ROOT / "results" / "pyperf").glob("*/run.json"))
    assert runs and instructions.latest_run(ROOT / "results") is not None
    blocks = report.instruction_section(report.load_run(runs[-1].parent), tmp_path)
    tables = [b for b in blocks if b[0] == "table"]
    assert tables and len(tables[0][1]) == 6  # the point + five flavours
    assert any("alloc_pair[size=64]" == row[0] for row in tables[0][2])
    assert (tmp_path / "instructions_per_pair.png").stat().st_size > 10_000
    assert any(b[0] == "p" and "Pearson correlation" in b[1] for b in blocks)
    assert (tmp_path / "instructions_vs_time.png").stat().st_size > 10_000


def test_the_counting_settings_travel_with_the_run():
    """The note beside the table is read from the run, not from today's code: an older
    run without the record says so instead of claiming today's settings."""
    env = {"_RJEM_MALLOC_CONF": "dirty_decay_ms:-1", "MIMALLOC_PURGE_DELAY": "-1"}
    note = instructions.counting_note({"counting_env": env})
    assert "_RJEM_MALLOC_CONF=dirty_decay_ms:-1" in note and "MIMALLOC_PURGE_DELAY=-1" in note
    assert "predates" in instructions.counting_note({})
    stored = instructions.load(instructions.latest_run(ROOT / "results"))
    assert instructions.counting_note(stored) in instructions.report_markdown(stored)


def test_the_suite_has_an_instructions_mode():
    """`python -m allocbench.bench --instructions` is the counting mode of the main job
    (what `make bench-instructions` runs); it takes the suite's knobs, refuses --mode."""
    run = lambda *a: _run_module("allocbench.bench", "--instructions", *a)  # noqa: E731
    out = run("--mode", "quick")
    assert out.returncode == 2 and "give one" in out.stderr
    out = run("--flavours", "tcmalloc")
    assert out.returncode == 2 and "--flavours" in out.stderr and "tcmalloc" in out.stderr
    out = run("--filter", "nothing-matches-this")
    assert out.returncode == 2 and "selects no timed workload point" in out.stderr
