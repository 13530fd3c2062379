"""Estimated cycles from callgrind's cache simulation: the formula on hand-made callgrind
output, the warm-up protocol, the run's JSON and Markdown, and how well each figure
predicts wall time."""

import json
import math
import statistics
import subprocess
import sys

import pytest
from allocbench import catalogue, instructions, instructions_run
from helpers import ROOT

EVENTS_LINE = "events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw"


def dump(label: str, summary: str, events: str = EVENTS_LINE) -> str:
    """A callgrind dump as a client request writes it (header, then cost lines)."""
    return (
        "# callgrind format\nversion: 1\ncreator: callgrind-3.19.0\npid: 4242\n"
        "cmd:  python -m allocbench.instructions --worker-count\npart: 2\n\n\n"
        "desc: I1 cache: 32768 B, 64 B, 8-way associative\n"
        "desc: D1 cache: 32768 B, 64 B, 8-way associative\n"
        "desc: LL cache: 33554432 B, 64 B, 16-way associative\n\n"
        "desc: Timerange: Basic block 89618818 - 89651644\n"
        f"desc: Trigger: Client Request: {label}\n\n"
        f"positions: line\n{events}\nsummary: {summary}\n\n\n"
        "ob=(2) ???\nfl=(52) ???\nfn=(3640) 0x0000000004936788\n0 1 1\n"
        # a cost line that is not the summary: the parser must not read it
        "0 234 71 40 0 3\n"
    )


def test_cycles_formula_on_a_hand_made_callgrind_file(tmp_path):
    """L1 hits = Ir + Dr + Dw - (I1mr + D1mr + D1mw); LL hits = L1 misses - (ILmr + DLmr +
    DLmw); RAM hits = LL misses; cycles = L1 + 5 LL + 35 RAM. Callgrind leaves trailing
    zero events out of the summary line."""
    (tmp_path / "cg.out.1").write_text(dump("p[size=8]|1", "1000 300 200 10 20 5 2 3 1"))
    (tmp_path / "cg.out.2").write_text(dump("p[size=8]|9", "1000 300 200 10 20 5"))
    exit_dump = dump("x", "5 5 5").replace("desc: Trigger: Client Request: x\n", "")
    (tmp_path / "cg.out").write_text(exit_dump)  # the dump at exit: no client request
    (tmp_path / "cg.out.3").write_text(dump("ir-only|1", "777", events="events: Ir"))
    got = instructions.parse_dumps(tmp_path)
    assert set(got) == {"p[size=8]|1", "p[size=8]|9", "ir-only|1"}
    full = got["p[size=8]|1"]
    assert full == dict(zip(instructions.EVENTS, [1000, 300, 200, 10, 20, 5, 2, 3, 1], strict=True))
    assert instructions.hits(full) == {"l1": 1500 - 35, "ll": 35 - 6, "ram": 6}
    assert instructions.est_cycles(full) == 1465 + 5 * 29 + 35 * 6 == 1820
    short = got["p[size=8]|9"]
    assert short["ILmr"] == short["DLmr"] == short["DLmw"] == 0
    assert instructions.est_cycles(short) == 1465 + 5 * 35
    assert got["ir-only|1"] == {"Ir": 777}  # a run without the cache simulation


def _counts(label, warm, small, big):
    """The dumps of one point under the warm-up protocol (warm=None: an older worker)."""
    c = {f"{label}|1": small, f"{label}|{big[0]}": big[1]}
    if warm is not None:
        c[f"{label}|{instructions.WARM}"] = warm
    return c


def ev(ir, l1_misses=0, ll_misses=0):
    """Events with instruction fetches only: Ir, I1mr, ILmr."""
    values = dict.fromkeys(instructions.EVENTS, 0)
    return {**values, "Ir": ir, "I1mr": l1_misses, "ILmr": ll_misses}


def test_an_entry_is_the_difference_of_the_two_warm_calls():
    """cycles/op = (cycles(1 + k loops) - cycles(1 loop)) / ops, both calls after the
    warm-up; the warm-up (the point's cold first call) is kept apart, never subtracted."""
    w = catalogue.get("alloc_pair")
    params = {"size": 64}
    label, k = w.label(params), w.call_loops(params)
    ops = k * w.ops_per_loop(params)
    small, big = ev(1000, 10, 1), ev(1000 + 70 * ops, 10 + ops, 1)
    counts = _counts(label, ev(5000, 400, 300), small, (1 + k, big))
    e = instructions._entry("system", w, params, counts, required=True)
    assert e["warmed"] and e["ir_per_op"] == 70
    # per op: 70 instructions, one of them an L1 miss that hit LL: 69 + 5 cycles
    assert e["cycles_per_op"] == pytest.approx(74)
    assert e["events_warm_up"]["Ir"] == 5000
    # An older worker (no warm-up dump): still counted, marked as such.
    old = instructions._entry("system", w, params, _counts(label, None, small, (1 + k, big)), True)
    assert not old["warmed"] and old["cycles_per_op"] == e["cycles_per_op"]
    # A run without the cache simulation has instructions only.
    ir_only = {f"{label}|1": {"Ir": 1000}, f"{label}|{1 + k}": {"Ir": 1000 + 70 * ops}}
    e = instructions._entry("system", w, params, ir_only, required=True)
    assert e["ir_per_op"] == 70 and "cycles_per_op" not in e


POINTS = [
    "alloc_pair[size=64]",
    "alloc_pair[size=4096]",
    "churn_batch[size=64,live=1024,order=lifo]",
]


def _fake_counts(flavour, *_a, **_k):
    """count_flavour's answer for three points: system needs fewer instructions than pymem
    everywhere, but misses caches at 4096 B (so its est. cycles are higher there)."""
    out = {}
    for i, label in enumerate(POINTS):
        w = catalogue.get(label.split("[")[0])
        params = dict(next(p for p in w.points if w.label(p) == label))
        k = w.call_loops(params)
        ops = k * w.ops_per_loop(params)
        ir = (100 if flavour == "system" else 150) * (i + 1)
        ram = 10 if (flavour == "system" and i == 1) else 0
        small = ev(1000, 20, 5)
        big = ev(1000 + ir * ops, 20 + ram * ops, 5 + ram * ops)
        counts = _counts(label, ev(900), small, (1 + k, big))
        out[label] = instructions._entry(flavour, w, params, counts, True)
    return out


def _fake_times(flavour, *_a, **_k):
    # pymem slower at 64 B and in churn (as its instructions say), faster at 4096 B (as
    # its est. cycles say)
    t = {"system": [10e-9, 80e-9, 30e-9], "pymem": [15e-9, 40e-9, 45e-9]}[flavour]
    return dict(zip(POINTS, t, strict=True))


def test_the_run_stores_cycles_in_its_json_and_markdown(tmp_path, monkeypatch):
    # run() reads them from its own module (instructions re-exports them).
    monkeypatch.setattr(instructions_run, "count_flavour", _fake_counts)
    monkeypatch.setattr(instructions_run, "time_flavour", _fake_times)
    out = instructions.run(["pymem", "system"], "", tmp_path, "r1", True, ROOT, None, [])
    data = instructions.load(out / "instructions.json")
    assert data["cache_sim"]["geometry"] == instructions.CACHE_GEOMETRY
    assert data["cache_sim"]["weights"] == {"l1": 1, "ll": 5, "ram": 35}
    e = data["counts"]["system"]["alloc_pair[size=4096]"]
    assert e["ir_per_op"] == 200 and e["cycles_per_op"] == pytest.approx(200 + 10 * 34)
    assert all("cycles_per_op" in e for c in data["counts"].values() for e in c.values())
    pred = data["prediction"]["metrics"]
    # 3 points, one pair each, all > 5 % apart: instructions get 64 B and churn right,
    # est. cycles all three.
    assert data["prediction"]["pairs_compared"] == 3
    assert pred["ir_per_op"]["pairs_agreeing"] == 2
    assert pred["cycles_per_op"]["pairs_agreeing"] == 3
    md = (out / "instructions.md").read_text()
    assert "## Estimated cycles per operation (callgrind's cache simulation)" in md
    assert "| alloc_pair[size=4096] | 300.0 (x0.56, 1.00) | 540.0 (x1.00, 2.70) |" in md
    assert "| native, this run (median of 5) | est. cycles/op | 6 |" in md
    assert "3 of 3 (100 %)" in md and "2 of 3 (67 %)" in md
    assert "I1 32768,8,64" in md
    # A pyperf run named to judge against is checked before any counting.
    with pytest.raises(ValueError, match=r"--pyperf .*no readable run record"):
        instructions.run(["system"], "", tmp_path, "r2", True, ROOT, None, [tmp_path / "nope"])
    assert not (tmp_path / "instructions" / "r2").exists()


def test_predict_judges_every_figure_on_the_same_cells_and_pairs():
    def e(ir, cyc, family="throughput"):
        return {"ir_per_op": ir, "cycles_per_op": cyc, "family": family}

    counts = {
        "a": {"p": e(100, 300), "q": e(10, 10, "raw"), "r": e(5, 5), "s": e(0, 9)},
        "b": {"p": e(200, 200), "q": e(20, 20, "raw"), "r": e(9, 9), "s": e(1, 1)},
    }
    wall = {
        "a": {"p": 3.0, "q": 1.0, "r": 1.0, "s": 1.0},
        "b": {"p": 2.0, "q": 2.0, "r": 1.04},  # r: a tie on the clock (< 5 %); s: untimed in b
    }
    got = instructions.predict(counts, wall)
    assert got["cells"] == 6  # s in a has 0 instructions, s in b no time
    assert got["pairs_compared"] == 2
    m = got["metrics"]
    assert (m["ir_per_op"]["pairs_agreeing"], m["cycles_per_op"]["pairs_agreeing"]) == (1, 2)
    assert got["by_family"] == {
        "throughput": {"pairs": 1, "ir_per_op": 0, "cycles_per_op": 1},
        "raw": {"pairs": 1, "ir_per_op": 1, "cycles_per_op": 1},
    }
    xs = [math.log(v) for v in (300, 10, 5, 200, 20, 9)]
    ys = [math.log(v) for v in (3.0, 1.0, 1.0, 2.0, 2.0, 1.04)]
    assert m["cycles_per_op"]["pearson_log"] == pytest.approx(statistics.correlation(xs, ys))
    # Instructions only (a run stored before the cache simulation).
    old = {f: {k: {"ir_per_op": v["ir_per_op"]} for k, v in c.items()} for f, c in counts.items()}
    assert list(instructions.predict(old, wall)["metrics"]) == ["ir_per_op"]
    assert instructions.predict(counts, {}) is None


def test_a_pyperf_run_of_another_interpreter_is_refused():
    data = {"python": "3.11.7", "interpreter": {"summary": "CPython 3.11.7, x"}}
    assert (
        instructions.same_interpreter(data, {"interpreter": {"summary": "CPython 3.11.7, x"}})
        is None
    )
    why = instructions.same_interpreter(data, {"interpreter": {"summary": "CPython 3.15.2, y"}})
    assert "3.15.2" in why
    old = {"python": "3.11.7"}  # runs before the interpreter's build was recorded
    assert instructions.same_interpreter(old, {"interpreter_facts": {"version": "3.11.7"}}) is None
    assert "does not record" in instructions.same_interpreter(old, {})


def test_the_predict_tool_reads_stored_runs():
    """python -m allocbench.predict on the stored 3.11 counts and pyperf runs: instructions
    only (counted before the cache simulation); another interpreter's run is refused."""
    instr = ROOT / "results" / "instructions" / "20261124T004837Z"
    if not instr.exists():
        pytest.skip("the stored 3.11 instruction run is gone")
    run = lambda *a: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "allocbench.predict", str(instr), *a],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "python"), "PATH": "/usr/bin:/bin"},
    )
    out = run(str(ROOT / "results" / "pyperf" / "20261125-054036-quick-py3.11"))
    assert out.returncode == 0, out.stderr
    assert "| pyperf 20261125-054036-quick-py3.11 | instructions/op | 340 | 0.974 |" in out.stdout
    out = run(str(ROOT / "results" / "pyperf" / "20261125-054036-quick-py3.15"))
    assert out.returncode == 2 and "timed under CPython 3.15.2" in out.stderr
    assert json.loads((instr / "instructions.json").read_text())["format"] == instructions.FORMAT
