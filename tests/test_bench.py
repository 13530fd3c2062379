"""``make bench`` and its report: a smoke run of two flavours through the whole path (build,
interleaved pyperf workers, JSON, compare_to, report with plots), the report's refusal of
bad input, the orchestration's schedule, and the statistics behind the verdict.

The smoke run writes into a temporary results root, never into results/ (real runs only).
Its figures are noise; no timing is asserted here (the targets are in the report).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import types

import pyperf
import pytest
from allocbench import bench, catalogue, interleave, interpreters, report
from helpers import ROOT

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


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # Knobs of an outer `make test PY=…` reach a nested make through these: not here (the
    # smoke run checks the default interpreter).
    for name in ("PYTHONMALLOC", "FLAVOURS", "PY", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        env.pop(name, None)
    return env


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
        env=_env(),
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
        assert f"{report._rounds_words(rounds)} x" in row
        assert (v.winner or "tie: ") in row


def test_make_report_regenerates_from_stored_json(smoke_run, tmp_path):
    _, run_dir, _ = smoke_run
    results = tmp_path / "results"
    shutil.copytree(run_dir, results / "pyperf" / run_dir.name)
    proc = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "report", f"RUN={run_dir.name}", f"RESULTS={results}"],
        capture_output=True,
        text=True,
        env=_env(),
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
        env=_env(),
        timeout=300,
    )
    assert proc.returncode != 0
    assert "pymem.json is not a pyperf result file" in proc.stderr


def test_bench_never_writes_into_an_existing_run(smoke_run):
    out, run_dir, _ = smoke_run
    with pytest.raises(bench.BenchError, match="never overwritten"):
        bench.run_bench(list(FLAVOURS2), "smoke", SMOKE_FILTER, out, run_dir.name)


# ---- make bench REPLICATE=1 -------------------------------------------------------------------

# One family (throughput), two points: the fastest replicated run.
REPLICATE_FILTER = r"^churn_batch\[size=(16|64),live=1024,order=lifo\]"


@pytest.fixture(scope="module")
def replicated_run(tmp_path_factory):
    """``make bench REPLICATE=1`` in smoke mode, one family, into a temporary results root."""
    out = tmp_path_factory.mktemp("results")
    proc = subprocess.run(
        ["make", "-C", str(ROOT), "bench", f"FLAVOURS={','.join(FLAVOURS2)}", "MODE=smoke",
         f"FILTER={REPLICATE_FILTER}", f"RESULTS={out}", "REPLICATE=1"],
        capture_output=True, text=True, timeout=1800, env=_env(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return out, sorted((out / "pyperf").iterdir()), proc.stdout


def test_replicate_stores_each_half_as_a_complete_run(replicated_run):
    out, runs, _ = replicated_run
    assert [r.name[-2:] for r in runs] == ["-a", "-b"]
    base = runs[0].name[:-2]
    assert runs[1].name == base + "-b"
    dates: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for run, half in zip(runs, "ab", strict=True):
        record = json.loads((run / "run.json").read_text())
        assert record["status"] == "done" and record["run_id"] == run.name
        assert record["replicate"]["half"] == half
        assert record["replicate"]["runs"] == [r.name for r in runs]
        assert record["replicate"]["report"] == f"{base}-replication"
        assert record["mode_settings"]["rounds"] == SMOKE.rounds
        for f in FLAVOURS2:
            suite = pyperf.BenchmarkSuite.load(str(run / f"{f}.json"))
            for name in suite.get_benchmark_names():
                b = suite.get_benchmark(name)
                mds = [r.get_metadata() for r in b.get_runs()]
                # Each half has a complete set of rounds, numbered as a run's are.
                assert sorted(int(m["bench_round"]) for m in mds) == [1, 2]
                assert {m["bench_half"] for m in mds} == {half}
                assert {m["bench_run"] for m in mds} == {run.name}
                for m in mds:
                    dates.setdefault((f, name), []).append((m["date"], half))
        # Each half is an ordinary run: its own report, from its own files.
        assert (out / "report" / run.name / "index.html").exists()
        assert report.verdicts(report.load_run(run))
    # The halves alternate in time: per flavour and benchmark, a b a b.
    for key, seen in dates.items():
        assert [h for _, h in sorted(seen)] == ["a", "b", "a", "b"], key


def test_replicate_reports_whether_the_halves_agree(replicated_run, tmp_path):
    out, runs, stdout = replicated_run
    base = runs[0].name[:-2]
    md = (out / "report" / f"{base}-replication" / "index.md").read_text()
    assert md.startswith(f"# allocbench replication: {base}-a, {base}-b\n")
    section = md[md.index("## Replication") : md.index("## The runs")]
    agree = report.replication(report.load_run(runs[0]), report.load_run(runs[1]))
    assert [g.family for g in agree] == ["throughput"]
    n = sum(g.same for g in agree)
    assert f"{n} of 1 families agree" in section and f"{n} of 1 families agree" in stdout
    row = next(line for line in section.splitlines() if line.startswith("| throughput |"))
    assert row.split("|")[4].strip() == ("yes" if n else "no")
    # make report-compare RUNS=<id>-a,<id>-b draws the same section from the stored JSON.
    results = tmp_path / "results"
    for run in runs:
        shutil.copytree(run, results / "pyperf" / run.name)
    proc = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "report-compare", f"RUNS={runs[0].name},{runs[1].name}",
         f"RESULTS={results}"],
        capture_output=True, text=True, env=_env(), timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    again = (results / "report" / f"{runs[0].name}_vs_{runs[1].name}" / "index.md").read_text()
    assert again[again.index("## Replication") : again.index("## The runs")] == section


def test_replicate_refuses_counting_and_existing_halves(replicated_run, tmp_path):
    out, runs, _ = replicated_run
    with pytest.raises(bench.BenchError, match=r"-a exists: a run is never overwritten"):
        bench.run_plan(list(FLAVOURS2), "smoke", REPLICATE_FILTER, out, runs[0].name[:-2],
                       replicate=True)  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "allocbench.bench", "--instructions", "--replicate",
         "--out", str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT,
        env={**_env(), "PYTHONPATH": str(ROOT / "python")},
    )  # fmt: skip
    assert proc.returncode == 2 and "--replicate repeats timed rounds" in proc.stderr


# ---- the report refuses bad input ------------------------------------------------------------


def _suite(name: str, backend: str | None, hostname: str = "host-a"):
    metadata = {"name": name, "hostname": hostname, "cpu_model_name": "cpu", "cpu_count": 2}
    if backend is not None:
        metadata["backend"] = backend
    run = pyperf.Run([1.0, 1.1], metadata=metadata, collect_metadata=False)
    return pyperf.BenchmarkSuite([pyperf.Benchmark([run])])


def test_report_refuses_a_missing_directory(tmp_path):
    with pytest.raises(report.ReportInputError, match="does not exist"):
        report.load_run(tmp_path / "nope")


def test_report_refuses_json_that_is_not_pyperf(tmp_path):
    (tmp_path / "system.json").write_text('{"hello": 1}')
    with pytest.raises(report.ReportInputError, match=r"system\.json is not a pyperf result"):
        report.load_run(tmp_path)
    (tmp_path / "system.json").write_text("not json at all")
    with pytest.raises(report.ReportInputError, match=r"system\.json is not a pyperf result"):
        report.load_run(tmp_path)
    (tmp_path / "system.json").write_text("[1, 2]")
    with pytest.raises(report.ReportInputError, match=r"system\.json is not a pyperf result"):
        report.load_run(tmp_path)


def test_report_refuses_foreign_and_empty_directories(tmp_path):
    with pytest.raises(report.ReportInputError, match="holds no pyperf result"):
        report.load_run(tmp_path)
    _suite("x", "pymem").dump(str(tmp_path / "results.json"))
    with pytest.raises(report.ReportInputError, match=r"'results\.json' is neither"):
        report.load_run(tmp_path)


def test_report_refuses_pyperf_json_not_made_by_the_suite(tmp_path):
    _suite("x", None).dump(str(tmp_path / "pymem.json"))
    with pytest.raises(report.ReportInputError, match="not made by the allocbench suite"):
        report.load_run(tmp_path)
    _suite("x", "system").dump(str(tmp_path / "pymem.json"), replace=True)
    with pytest.raises(report.ReportInputError, match="backend 'system', not 'pymem'"):
        report.load_run(tmp_path)


def test_report_refuses_mixed_machines(tmp_path):
    _suite("x", "pymem", hostname="host-a").dump(str(tmp_path / "pymem.json"))
    _suite("x", "system", hostname="host-b").dump(str(tmp_path / "system.json"))
    with pytest.raises(report.ReportInputError, match="mixes machines") as e:
        report.load_run(tmp_path)
    assert "host-a" in str(e.value) and "host-b" in str(e.value)
    # Same machine: accepted.
    _suite("x", "system", hostname="host-a").dump(str(tmp_path / "system.json"), replace=True)
    assert report.load_run(tmp_path).flavours == ["pymem", "system"]


def test_report_cli_exits_2_with_the_reason(tmp_path):
    (tmp_path / "jemalloc.json").write_text("{}")
    proc = subprocess.run(
        [sys.executable, "-m", "allocbench.report", str(tmp_path), "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**_env(), "PYTHONPATH": str(ROOT / "python")},
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "jemalloc.json" in proc.stderr
    assert not (tmp_path / "r" / "index.html").exists()


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
        env={**_env(), "PYTHONPATH": str(ROOT / "python")},
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


# ---- statistics ---------------------------------------------------------------------------


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


def test_round_ratio_pairs_rounds_and_takes_students_t():
    # Per round the flavour is 10 % faster than the reference, while the machine's speed
    # moves 2x from round to round: the paired ratio stays 0.9 with no spread.
    ref = {1: 1.0, 2: 2.0, 3: 1.5}
    fast = {r: 0.9 * v for r, v in ref.items()}
    r = report.family_ratio([(fast, ref)])
    assert r.value == pytest.approx(0.9) and r.low == pytest.approx(0.9) and r.rounds == 3
    assert r.outcome() == "lower"
    # One slow round (0.9, 0.9, 1.5): the interval widens to include 1: a tie.
    r = report.round_ratio([0.9, 0.9, 1.5])
    assert r.low < 1 < r.high and r.outcome() == "tie"
    # 1 % faster in every round: significant, but within the 2 % margin: a tie.
    r = report.round_ratio([0.99, 0.991, 0.989])
    assert r.significant and r.outcome() == "tie" and r.within() == pytest.approx(0.02)


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


def test_report_summarises_the_newest_stored_hazard_run(tmp_path):
    """The report's hazard section reads the newest results/hazards/<id>/hazards.json: the
    cells that did not complete per interpreter and flavour, and what tracemalloc saw."""
    from allocbench import report

    run_dir = tmp_path / "pyperf" / "r1"
    run_dir.mkdir(parents=True)
    data = types.SimpleNamespace(run_dir=run_dir)
    assert ("p", "No hazard run is stored: make hazards.") in report.hazard_section(data)

    def cell(fl, c, outcome, label=None):
        return {"interpreter": "3.11", "flavour": fl, "cell": c, "outcome": outcome,
                "label": label or outcome}  # fmt: skip

    for rid, hang in (("20260101T000000Z", "completes"), ("20260102T000000Z", "hangs")):
        d = tmp_path / "hazards" / rid
        d.mkdir(parents=True)
        h = {
            "run_id": rid,
            "flavours": ["pymem", "system"],
            "pythonmalloc": ["default"],
            "timeout_s": 20,
            "cells": {"a": "join", "c": "seen"},
            "interpreters": {"3.11": {"version": "3.11.7"}},
            "results": [
                cell("pymem", "a", hang),
                cell("pymem", "c", "small+large"),
                cell("system", "a", "completes"),
                cell("system", "c", "none"),
            ],
        }
        (d / "hazards.json").write_text(json.dumps(h))
    blocks = report.hazard_section(data)
    table = next(b for b in blocks if b[0] == "table")
    assert table[1] == ["interpreter", "pymem", "system"]
    assert table[2] == [
        [
            "3.11 (3.11.7)",
            "hangs/fails: a; tracemalloc sees: small+large",
            "all complete; tracemalloc sees: none",
        ]
    ]
    assert any("20260102T000000Z" in b[1] for b in blocks if b[0] == "p")
