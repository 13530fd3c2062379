"""``make bench REPLICATE=1``: two interleaved halves, each stored and reported as a complete
run, and the report of whether their verdicts agree (also from the stored JSON, ``make
report-compare``). A smoke run into a temporary results root, never into results/.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pyperf
import pytest
from allocbench import bench, report
from helpers import ROOT, clean_env

FLAVOURS2 = ("pymem", "system")
SMOKE = bench.MODES["smoke"]
# One family (throughput), two points: the fastest replicated run.
REPLICATE_FILTER = r"^churn_batch\[size=(16|64),live=1024,order=lifo\]"


@pytest.fixture(scope="module")
def replicated_run(tmp_path_factory):
    """``make bench REPLICATE=1`` in smoke mode, one family, into a temporary results root."""
    out = tmp_path_factory.mktemp("results")
    proc = subprocess.run(
        ["make", "-C", str(ROOT), "bench", f"FLAVOURS={','.join(FLAVOURS2)}", "MODE=smoke",
         f"FILTER={REPLICATE_FILTER}", f"RESULTS={out}", "REPLICATE=1"],
        capture_output=True, text=True, timeout=1800, env=clean_env(),
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
        capture_output=True, text=True, env=clean_env(), timeout=300,
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
        env={**clean_env(), "PYTHONPATH": str(ROOT / "python")},
    )  # fmt: skip
    assert proc.returncode == 2 and "--replicate repeats timed rounds" in proc.stderr
