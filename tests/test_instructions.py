"""Instruction counts: repeatable to the instruction, a clear ratio to each backend's raw
primitive and to the C-level pair, refusal of foreign files, and the regression gate's
arithmetic."""

import json
import subprocess
import sys

import pytest
from allocbench import FLAVOURS, catalogue, instructions
from helpers import ROOT, built

FILTER = (
    r"^(alloc_pair|raw_pair)\[size=64\]|^churn_batch\[size=64,live=1024,order=(lifo|fifo)\]"
    r"|^collections\[n=10000,kind=hashmap\]|^c_pair\[size=64,primitive=own\]"
)
POINTS = {
    "alloc_pair[size=64]",
    "raw_pair[size=64]",
    "c_pair[size=64,primitive=own]",
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
    # The cache simulation too: every event, so the estimated cycles repeat exactly; but
    # mimalloc seeds its own randomness per process (getrandom) and places some memory by
    # it, and then a handful of its accesses hit other cache lines: its misses move by a few
    # per point (est. cycles by a few hundredths of a percent), never its instructions.
    assert all(v["warmed"] and v["cycles_per_op"] >= v["ir_per_op"] for v in first.values())
    if flavour == "mimalloc":
        for k, v in first.items():
            assert v["cycles_per_op"] == pytest.approx(second[k]["cycles_per_op"], rel=1e-3), k
        return
    events = ("events_loops_1", "events_loops_big", "events_warm_up")
    assert {k: [v[e] for e in events] for k, v in first.items()} == {
        k: [v[e] for e in events] for k, v in second.items()
    }
    pair, raw = first["alloc_pair[size=64]"]["ir_per_op"], first["raw_pair[size=64]"]["ir_per_op"]
    # A pair is tens to hundreds of instructions; the GlobalAlloc path costs at least its
    # primitive (minus the bookkeeping of the raw loop itself).
    assert 10 < raw < 2000 and 10 < pair < 2000 and pair > 0.8 * raw
    # The C loop calls the same primitive directly (through the PLT: one jump more per call
    # than Rust's call through the GOT), so Rust's raw pair is at or a little above it.
    c = first["c_pair[size=64,primitive=own]"]["ir_per_op"]
    assert 10 < c < 2000 and 0.95 * c < raw < 1.5 * c, (raw, c)


@pytest.mark.parametrize("flavour", ["pymem", "mimalloc"])
def test_every_c_pair_the_flavour_offers_is_counted(flavour):
    """With ``explicit``, every primitive the extension offers is counted beside the
    catalogue's points; 'own' counts as the primitive it resolves to (pymem: PyMem_Malloc
    up to 512 B, PyMem_RawMalloc above)."""
    if not built(flavour):
        pytest.fail(f"flavour {flavour} is not built")
    got = instructions.count_flavour(flavour, r"^c_pair\[size=(64|1024),", root=ROOT, explicit=True)
    offered = ["pymem", "pymem_calloc", "pymem_raw", "malloc"]
    offered += ["mimalloc"] if flavour == "mimalloc" else []
    explicit = {k for k, e in got.items() if e.get("explicit")}
    assert explicit == {f"c_pair[size={s},primitive={p}]" for p in offered for s in (64, 1024)}
    for size in (64, 1024):
        own = got[f"c_pair[size={size},primitive=own]"]["ir_per_op"]
        same = got[f"c_pair[size={size},primitive={catalogue.c_pair_own(flavour, size)}]"]
        assert abs(own / same["ir_per_op"] - 1) < 0.05, (size, own, same["ir_per_op"])
    # The C pairs of CPython and libc are the same code in every flavour.
    pymem = got["c_pair[size=64,primitive=pymem]"]["ir_per_op"]
    assert 20 < pymem < 500


def _pair_counts(flavour, **ir):
    """counts entries of ``flavour`` from label=ir_per_op keywords (a=alloc_pair, ...)."""
    names = {"a": "alloc_pair", "u": "alloc_pair_unguarded", "r": "raw_pair", "c": "c_pair"}
    out = {}
    for key, v in ir.items():
        w, size = names[key[0]], int(key[1:])
        params = {"size": size, **({"primitive": "own"} if w == "c_pair" else {})}
        out[catalogue.get(w).label(params)] = {"workload": w, "params": params, "ir_per_op": v}
    return out


def test_the_c_baseline_is_a_ratio_to_the_flavours_own_c_pair():
    """alloc_pair, alloc_pair_unguarded and raw_pair over the C pair of the same size, which
    is the flavour's own primitive (pymem: the raw domain above 512 B); wall-time ratios
    where the run timed both; tables for the markdown and the report."""
    data = {
        "counts": {
            "pymem": _pair_counts("pymem", a64=240.0, u64=120.0, r64=90.0, c64=80.0, c1024=160.0),
            "system": _pair_counts(
                "system", a64=140.0, u64=140.0, r64=139.0, c64=141.0, c1024=141.0
            ),
        },
        "wall_s_per_op": {
            "pymem": {"alloc_pair[size=64]": 30e-9, "c_pair[size=64,primitive=own]": 10e-9}
        },
    }
    base = instructions.c_baseline(data)
    assert [(r["size"], r["c_primitive"]) for r in base["pymem"]] == [
        (64, "pymem"),
        (1024, "pymem_raw"),
    ]
    r64 = base["pymem"][0]
    assert r64["ir_ratio"] == {"alloc_pair": 3.0, "alloc_pair_unguarded": 1.5, "raw_pair": 1.125}
    assert r64["time_ratio"] == pytest.approx({"alloc_pair": 3.0})
    assert r64["c_calls"] == "PyMem_Malloc + PyMem_Free"
    assert base["pymem"][1]["ir_ratio"] == {}  # no alloc_pair[size=1024] counted
    assert base["system"][0]["c_primitive"] == "malloc"
    headers, rows = instructions.c_baseline_rows(data)
    assert headers[:3] == ["flavour", "size", "C pair (the flavour's own primitive)"]
    assert rows[0] == [
        "pymem",
        "64",
        "PyMem_Malloc + PyMem_Free",
        "80.0",
        "10.0",
        "x3.00 (x3.00)",
        "x1.50",
        "x1.12",
    ]
    assert rows[-2][0] == "system" and rows[-2][5:] == ["x0.99", "x0.99", "x0.99"]
    assert rows[-1][:2] == ["system", "1024"] and rows[-1][5:] == ["-", "-", "-"]
    # Stored with the run, read back from it.
    stored = {**data, "c_baseline": base, "run_id": "x"}
    assert instructions.c_baseline_rows(stored) == (headers, rows)
    text = instructions.report_markdown(stored)
    assert "## Against the C-level pair (the physical limit)" in text
    assert "| pymem | 64 | PyMem_Malloc + PyMem_Free | 80.0 | 10.0 | x3.00 (x3.00) |" in text
    # A run without C pairs (stored before they existed) has no such section.
    old = {"counts": {"system": _pair_counts("system", a64=140.0)}, "run_id": "y"}
    assert instructions.c_baseline(old) == {}
    assert "C-level" not in instructions.report_markdown(old)


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
    # The newest run simulated the caches: its est. cycles per point and flavour, and how
    # well they predict wall time beside the instructions.
    cycles = [b for b in tables if "est. cycles/op" in b[1][1]]
    assert cycles and len(cycles[0][1]) == 6
    assert any("alloc_pair[size=64]" == row[0] for row in cycles[0][2])
    judged = [b for b in tables if b[1][:2] == ["wall times", "figure"]]
    assert judged and {row[1] for row in judged[0][2]} == {"instructions/op", "est. cycles/op"}


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
