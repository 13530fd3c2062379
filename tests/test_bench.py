"""``make bench`` and its report: a smoke run of two flavours through the whole path (build,
interleaved pyperf workers, JSON, compare_to, report with plots), and the orchestration's
schedule. The report's refusal of bad input: test_report.py; make
bench REPLICATE=1: test_replicate.py; the statistics: test_statistics.py.

The smoke run writes into a temporary results root, never into results/ (real runs only).
Its figures are noise; no timing is asserted here (the targets are in the report).
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys

import pyperf
import pytest
from allocbench import bench, catalogue, interleave, interpreters, report
from helpers import ROOT, clean_env

FLAVOURS2 = ("pymem", "system")
# A few points of every plotted family, so every plot has data and the run stays short.
SMOKE_FILTER = (
    r"^(alloc_pair|raw_pair)\[size=(16|64)\]"
    r"|^churn_batch\[size=(16|64),live=1024,order=lifo\]"
    r"|^realloc_(growth|moves)\[pattern=vec_push,target=4096\]"
    r"|^threads_churn\[threads=[12],"
    r"|^(zeroed|memset)_vec\[size=1048576,touch=false\]"
    r"|^fragmentation\[.*every_other"
    r"|^python_interplay"
)
SMOKE = bench.MODES["smoke"]


def _suite_module():
    spec = importlib.util.spec_from_file_location("pyperf_suite", interleave.SUITE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- the whole path ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """``make bench`` with two flavours in smoke mode into a temporary results root."""
    out = tmp_path_factory.mktemp("results")
    proc = subprocess.run(
        [
            "make",
            "-C",
            str(ROOT),
            "bench",
            f"FLAVOURS={','.join(FLAVOURS2)}",
            "MODE=smoke",
            f"FILTER={SMOKE_FILTER}",
            f"RESULTS={out}",
        ],
        capture_output=True,
        text=True,
        timeout=1800,  # includes building the two flavours when they are out of date
        env=clean_env(),
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    runs = list((out / "pyperf").iterdir())
    assert len(runs) == 1, runs
    return out, runs[0], proc.stdout


def _expected_timed() -> list[str]:
    timed, _ = bench.select(SMOKE_FILTER)
    return [label for labels in timed.values() for label in labels]


def test_bench_writes_pyperf_json_per_flavour_with_metadata(smoke_run):
    _, run_dir, _ = smoke_run
    assert sorted(p.name for p in run_dir.glob("*.json")) == sorted(
        [f"{f}.json" for f in FLAVOURS2] + ["run.json"]
    )
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "done" and record["total_wall_s"] > 0
    # Without PY: the newest optimised CPython present, said and recorded.
    default, _ = interpreters.default()
    assert record["interpreter"]["id"] == default.id and record["pythonmalloc"] == "default"
    assert record["interpreter"]["chosen"].startswith("default (PY not given)")
    assert record["interpreter_facts"]["version"] == default.facts["version"]
    assert sorted(record["loops_per_call"]) == sorted(_expected_timed())
    for f in FLAVOURS2:
        suite = pyperf.BenchmarkSuite.load(str(run_dir / f"{f}.json"))
        names = suite.get_benchmark_names()
        for label in _expected_timed():
            b = suite.get_benchmark(label)
            assert b.get_unit() == "second"
            # One run per round (a worker process), each with its values.
            assert b.get_nrun() == SMOKE.rounds
            assert all(len(r.values) == SMOKE.values for r in b.get_runs())
            md = b.get_metadata()
            for key in ("backend", "features", "rustc", "glibc", "pythonmalloc", "git_commit"):
                assert md[key], key
            for key in ("python_linkage", "python_optimisation", "python_build", "os_release"):
                assert md[key], key
            assert md["interpreter"] == default.id and md["glibc"] == default.facts["glibc"]
            for key in ("cpu_model_name", "python_version", "hostname"):
                assert md[key], key
            assert md["backend"] == f and md["bench_mode"] == "smoke"
            assert md["pythonmalloc"] == "unset (pymalloc)"
        memory = [n for n in names if "]/" in n]
        assert any(n.endswith("/refill/rss_bytes") for n in memory)
        assert any(n.startswith("realloc_moves[") for n in memory)
        for n in memory:
            b = suite.get_benchmark(n)
            assert b.get_unit() in ("byte", "integer")
            assert b.get_nrun() == SMOKE.memory_rounds


def test_bench_interleaves_the_flavours(smoke_run):
    """For every benchmark, each flavour has a run before the other flavour's last run: the
    flavours alternate instead of running one after the other."""
    _, run_dir, _ = smoke_run
    suites = {f: pyperf.BenchmarkSuite.load(str(run_dir / f"{f}.json")) for f in FLAVOURS2}
    for label in _expected_timed():
        dated = sorted(
            (r.get_metadata()["date"], f)
            for f in FLAVOURS2
            for r in suites[f].get_benchmark(label).get_runs()
        )
        order = [f for _, f in dated]
        for f in FLAVOURS2:
            other_last = max(i for i, g in enumerate(order) if g != f)
            assert order.index(f) < other_last, (label, order)


def test_pyperf_tools_read_the_json(smoke_run):
    _, run_dir, stdout = smoke_run
    for f in FLAVOURS2:
        for cmd in ("show", "stats", "check"):
            proc = subprocess.run(
                [sys.executable, "-m", "pyperf", cmd, str(run_dir / f"{f}.json")],
                capture_output=True,
                text=True,
            )
            assert proc.returncode == 0, proc.stderr
    # make bench printed compare_to's table, system as the reference.
    assert "compare_to system.json" in stdout
    table = stdout[stdout.index("compare_to system.json") :]
    assert "| Benchmark" in table and "| system" in table and "| pymem" in table
    assert re.search(r"^\[\s*1/\d+\]", stdout, re.M) and "round 2/2" in stdout  # n of m
    assert re.search(r"^interpreter \S+: CPython .*\(default \(PY not given\)", stdout, re.M)


def test_report_leads_with_the_answer_and_ends_with_the_targets(smoke_run):
    out, run_dir, _ = smoke_run
    report_dir = out / "report" / run_dir.name
    html = (report_dir / "index.html").read_text()
    md = (report_dir / "index.md").read_text()
    pngs = ("verdict", "size_scaling", "raw_ratio", "realloc", "fragmentation", "threads")
    for png in (*pngs, "interplay"):
        path = report_dir / f"{png}.png"
        assert path.stat().st_size > 10_000, png
        assert f"{png}.png" in html and f"{png}.png" in md
    data = report.load_run(run_dir)
    for draw in report.PLOTS:
        assert draw(data, out).points > 0, draw.__name__
    headings = re.findall(r"^## (.*)$", md, re.M)
    assert headings[:3] == ["The answer", "Every flavour / system", "Plots"], headings
    assert headings[-1] == "Targets of the project"
    assert "small-block churn" in md and "PyMem_Calloc" in md
    # The first image is the verdict at a glance.
    assert re.findall(r"^!\[[^]]*\]\(([^)]+)\)", md, re.M)[0] == "verdict.png"
    families = {v.family for v in report.verdicts(data)}
    assert {"throughput", "raw", "realloc", "zeroed", "threads", "fragmentation"} <= families
    answer = md[md.index("## The answer") : md.index("## Every flavour")]
    assert "| family | answer | by how much | how sure | advice |" in answer
    for v in report.verdicts(data):
        row = next(line for line in answer.splitlines() if line.startswith(f"| {v.family} |"))
        rounds = SMOKE.memory_rounds if v.memory else SMOKE.rounds
        assert f"{report.verdict._rounds_words(rounds)} x" in row
        assert (v.winner or "tie: ") in row


def test_make_report_regenerates_from_stored_json(smoke_run, tmp_path):
    _, run_dir, _ = smoke_run
    results = tmp_path / "results"
    shutil.copytree(run_dir, results / "pyperf" / run_dir.name)
    proc = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "report", f"RUN={run_dir.name}", f"RESULTS={results}"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert (results / "report" / run_dir.name / "index.html").exists()

    # A run directory with a foreign file is refused, with the file named.
    bad = results / "pyperf" / run_dir.name / "pymem.json"
    bad.write_text('{"not": "pyperf"}')
    proc = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "report", f"RUN={run_dir.name}", f"RESULTS={results}"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=300,
    )
    assert proc.returncode != 0
    assert "pymem.json is not a pyperf result file" in proc.stderr


def test_bench_never_writes_into_an_existing_run(smoke_run):
    out, run_dir, _ = smoke_run
    with pytest.raises(bench.BenchError, match="never overwritten"):
        bench.run_bench(list(FLAVOURS2), "smoke", SMOKE_FILTER, out, run_dir.name)


# ---- knobs and schedule ----------------------------------------------------------------------


def test_knobs_reject_bad_values_with_the_allowed_ones():
    assert bench.parse_flavours("pymem,system") == ["pymem", "system"]
    assert bench.parse_flavours(" pymem  system ") == ["pymem", "system"]
    with pytest.raises(ValueError, match="flavour must be one of pymem, pymem-raw"):
        bench.parse_flavours("pymem,tcmalloc")
    with pytest.raises(ValueError, match="twice"):
        bench.parse_flavours("pymem,pymem")
    with pytest.raises(ValueError, match="at least one"):
        bench.parse_flavours(" , ")
    with pytest.raises(ValueError, match="mode must be one of smoke, quick, rigorous; got 'fast'"):
        bench.check_mode("fast")
    with pytest.raises(ValueError, match="not a valid regular expression"):
        bench.select("churn[")
    with pytest.raises(ValueError, match="matches no benchmark"):
        bench.select("no_such_workload")
    with pytest.raises(ValueError, match="run id"):
        bench.run_bench(["system"], "smoke", "alloc_pair", "/nonexistent", "../escape")


def test_bench_cli_exits_2_on_a_bad_mode(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "allocbench.bench", "--mode", "fast", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**clean_env(), "PYTHONPATH": str(ROOT / "python")},
    )
    assert proc.returncode == 2 and "mode must be one of" in proc.stderr
    assert not any(tmp_path.iterdir())


def test_filter_selects_timed_groups_and_memory_points():
    timed, memory = bench.select(SMOKE_FILTER)
    assert timed["churn_batch"] == [
        "churn_batch[size=16,live=1024,order=lifo]",
        "churn_batch[size=64,live=1024,order=lifo]",
    ]
    assert {w for w, _ in memory} == {"realloc_moves", "fragmentation", "python_interplay"}
    every_timed, every_memory = bench.select(None)
    assert sum(map(len, every_timed.values())) == sum(
        len(w.points) for w in catalogue.WORKLOADS if w.timed
    )
    assert len(every_memory) == sum(len(w.points) for w in catalogue.WORKLOADS if not w.timed)


def test_schedule_rotates_the_flavours_every_round():
    mode = bench.MODES["quick"]
    flavours = ["pymem", "pymem-raw", "system"]
    timed = {"churn_batch": ["a", "b"], "alloc_pair": ["c"]}
    steps = bench.schedule(timed, [("fragmentation", "f")], flavours, mode)
    assert [s.flavour for s in steps if s.kind == "calibrate"] == ["system", "system"]
    for kind, name in (
        ("time", "churn_batch"),
        ("time", "alloc_pair"),
        ("memory", "fragmentation"),
    ):
        rounds = {}
        for s in steps:
            if s.kind == kind and s.workload == name:
                rounds.setdefault(s.round, []).append(s.flavour)
        assert len(rounds) == (mode.rounds if kind == "time" else mode.memory_rounds)
        for order in rounds.values():
            assert sorted(order) == sorted(flavours)  # every flavour once per round
        firsts = [order[0] for _, order in sorted(rounds.items())]
        assert len(set(firsts)) == len(firsts)  # a different flavour leads each round
    # A workload's rounds are consecutive: its flavours alternate within seconds.
    kinds = [(s.kind, s.workload) for s in steps if s.kind == "time"]
    assert kinds == sorted(kinds, key=lambda k: list(timed).index(k[1]))


def test_schedule_of_a_replicated_run_alternates_the_halves():
    """--replicate: each workload's rounds alternate a, b, a, b; each half is a complete run
    (every flavour once per round, the leading flavour rotating); calibration once."""
    mode = bench.MODES["quick"]
    flavours = ["pymem", "system"]
    timed = {"churn_batch": ["a", "b"], "alloc_pair": ["c"]}
    memory = [("fragmentation", "f")]
    steps = bench.schedule(timed, memory, flavours, mode, halves=("a", "b"))
    assert [s.workload for s in steps if s.kind == "calibrate"] == ["churn_batch", "alloc_pair"]
    for kind, name, rounds in (
        ("time", "churn_batch", mode.rounds),
        ("time", "alloc_pair", mode.rounds),
        ("memory", "fragmentation", mode.memory_rounds),
    ):
        mine = [s for s in steps if s.kind == kind and s.workload == name]
        # In time: a1 a1 b1 b1 a2 a2 b2 b2 ... (one step per flavour).
        order = [(s.round, s.half) for s in mine]
        expected = [(r, h) for r in range(1, rounds + 1) for h in "ab" for _ in flavours]
        assert order == expected
        for half in "ab":
            per_round: dict[int, list[str]] = {}
            for s in mine:
                if s.half == half:
                    per_round.setdefault(s.round, []).append(s.flavour)
            assert all(sorted(o) == flavours for o in per_round.values())
            firsts = [o[0] for _, o in sorted(per_round.items())]
            assert len(set(firsts)) == len(flavours), (half, firsts)  # rotation in each half
        # Round r of a and of b start with different flavours.
        for r in range(1, rounds + 1):
            a, b = ([s.flavour for s in mine if s.round == r and s.half == h] for h in "ab")
            assert a[0] != b[0]
    # Without halves: the plain schedule, no step marked.
    plain = bench.schedule(timed, memory, flavours, mode)
    assert all(s.half == "" for s in plain)
    assert len(steps) - 2 == 2 * (len(plain) - 2)
    assert "(b)" in steps[-1].describe(mode) and "(" not in plain[-1].describe(mode)


# ---- the suite's figures ------------------------------------------------------------------


def test_memory_figures_are_flattened_by_phase():
    suite = _suite_module()
    flat = suite.figures(
        {
            "baseline_rss": 10,
            "phases": [
                {"phase": "fill", "rss_bytes": 20, "live_bytes": 5},
                {"phase": "start", "rss_bytes": 30, "python": {"arenas": 2, "arena_bytes": None}},
            ],
        }
    )
    assert flat == {
        "baseline_rss": 10,
        "fill/rss_bytes": 20,
        "fill/live_bytes": 5,
        "start/rss_bytes": 30,
        "start/python.arenas": 2,
    }
    with pytest.raises(ValueError, match="unexpected value"):
        suite.figures({"x": "text"})
