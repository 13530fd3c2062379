"""The report (``allocbench.report``) on hand-made input: it refuses a run directory it
cannot report on (naming the file; the command line exits 2 with the reason), and its hazard
section summarises the newest stored hazard run. The report of a real run: test_bench.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import types

import pyperf
import pytest
from allocbench import report
from helpers import ROOT, clean_env


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
        env={**clean_env(), "PYTHONPATH": str(ROOT / "python")},
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "jemalloc.json" in proc.stderr
    assert not (tmp_path / "r" / "index.html").exists()


def test_report_summarises_the_newest_stored_hazard_run(tmp_path):
    """The report's hazard section reads the newest results/hazards/<id>/hazards.json: the
    cells that did not complete per interpreter and flavour, and what tracemalloc saw."""
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
