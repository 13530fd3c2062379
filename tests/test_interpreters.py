"""The interpreter knob (PY=…, allocbench.interpreters): the ids and what each interpreter
is (linkage, build, glibc, checked against ldd and the C library), unknown ids and
free-threaded builds refused, PYTHONMALLOC as a dimension (mimalloc on 3.13+ only), make
bench on several interpreters with the verdict per interpreter side by side, instruction
counts inside the Debian sid root, and asv refusing the interpreters it cannot run.

Every bench run here is smoke-sized, into a temporary results root (never results/)."""

# size: just over 400 lines: the interpreter knob end to end, from the ids to make bench
# PY=... runs and the instruction counts under a sid interpreter.

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyperf
import pytest
from allocbench import instructions, interpreters, report
from allocbench.interpreters import IDS, InterpreterError
from helpers import ROOT, VERSIONS, built, need_python, selected_pythons

TINY = r"^churn_batch\[size=64,live=1024,order=lifo\]|^alloc_pair\[size=64\]"


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"))
    for name in ("PYTHONMALLOC", "FLAVOURS", "PY", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        env.pop(name, None)
    return env


def _bench_cli(*args: str, timeout: float = 900):
    return subprocess.run(
        [sys.executable, "-m", "allocbench.bench", *args],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _make(*args: str, timeout: float = 1800):
    return subprocess.run(
        ["make", "-s", "-C", str(ROOT), *args],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _need_flavours(*names: str) -> None:
    for f in names:
        if not built(f):
            pytest.fail(f"flavour {f} is not built: make build FLAVOUR={f}")


# ---- the ids and what each interpreter is --------------------------------------------------


def test_ids_are_the_documented_ones_and_unknown_ones_are_refused():
    # The required interpreters of make test (a missing one fails; CI runs make pythons).
    assert VERSIONS == ("3.11", "3.12", "3.13", "3.14", "3.15")
    assert set(VERSIONS) <= set(IDS)
    assert set(IDS) == {"3.11", "3.12", "3.13", "3.14", "3.15", "3.11-debian", "3.13-debian"}
    assert interpreters.parse_ids("3.11, 3.15") == ["3.11", "3.15"]
    with pytest.raises(InterpreterError) as e:
        interpreters.parse_ids("3.11,3.16")
    assert "unknown interpreter '3.16'" in str(e.value)
    assert "3.11, 3.12, 3.13, 3.14, 3.15, 3.11-debian, 3.13-debian" in str(e.value)
    with pytest.raises(InterpreterError, match="twice"):
        interpreters.parse_ids("3.15,3.15")
    # make test PY=…: the per-interpreter tests' selection.
    assert selected_pythons("") == VERSIONS
    assert selected_pythons("3.15,3.11-debian") == ("3.15", "3.11-debian")
    with pytest.raises(InterpreterError, match="unknown interpreter"):
        selected_pythons("3.9")


def test_bench_refuses_an_unknown_interpreter_and_writes_nothing(tmp_path):
    out = _bench_cli("--python", "3.16", "--mode", "smoke", "--out", str(tmp_path))
    assert out.returncode == 2, out.stderr
    assert "unknown interpreter '3.16'" in out.stderr and "3.11-debian" in out.stderr
    assert not any(tmp_path.iterdir())


def _ldd_lists_libpython(interp: interpreters.Interpreter) -> bool:
    """ldd of the interpreter's executable, run where it lives (inside the sid root for
    sid's: the launcher runs a Python there that runs ldd)."""
    code = (
        "import subprocess, sys; "
        "print(subprocess.run(['ldd', sys.executable], capture_output=True, text=True).stdout)"
    )
    out = subprocess.run([interp.command, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return "libpython" in out.stdout


@pytest.mark.parametrize("name", (*VERSIONS, "3.11-debian"))
def test_facts_say_what_each_interpreter_is(name):
    """Version, linkage (checked against ldd: sysconfig's Py_ENABLE_SHARED says 1 for
    Debian's static python3.1x), build and C library. sid's interpreters run on sid's glibc,
    the others on the host's."""
    need_python(name)
    interp = interpreters.resolve(name)
    f = interp.facts
    assert interp.version == IDS[name].version and f["implementation"] == "cpython"
    assert interp.id == name
    shared = _ldd_lists_libpython(interp)
    assert interpreters.linkage(f).startswith("shared" if shared else "static"), f
    host_glibc = os.confstr("CS_GNU_LIBC_VERSION")
    if IDS[name].sid:
        assert interp.in_sid_root and f["glibc"] != host_glibc, f["glibc"]
    else:
        assert not interp.in_sid_root and f["glibc"] == host_glibc
    if IDS[name].optimised:
        assert not shared and interpreters.optimisation(f).startswith("distribution build")
    summary = interpreters.summary(f)
    assert f["version"] in summary and f["glibc"] in summary and interpreters.linkage(f) in summary
    md = interpreters.metadata(f)
    assert all(isinstance(v, str) and v and "\n" not in v for v in md.values()), md


def test_a_pyenv_build_says_it_has_no_pgo_or_lto():
    f = {"config_args": "'--prefix=/x' '--enable-shared'", "cflags": "-O3", "prefix": "/x"}
    assert interpreters.optimisation(f).startswith("no PGO, no LTO")
    f["config_args"] += " '--enable-optimizations' '--with-lto'"
    assert interpreters.optimisation(f).startswith("PGO+LTO")


def test_make_bench_without_py_takes_the_newest_optimised_cpython(monkeypatch, tmp_path):
    have_sid = interpreters.locate("3.15") is not None
    interp, why = interpreters.default()
    assert interp.id == ("3.15" if have_sid else "3.11-debian") and "newest optimised" in why
    # Without the sid root: bookworm's own optimised python3.11.
    monkeypatch.setenv(interpreters.SID_ROOT_ENV, str(tmp_path / "no-root"))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    if interpreters.locate("3.11-debian") is None:
        pytest.fail(f"{interpreters.DEBIAN_HOST_PYTHON} is missing (Debian's python3.11)")
    assert interpreters.default()[0].id == "3.11-debian"


def test_a_missing_sid_interpreter_says_make_pythons(monkeypatch, tmp_path):
    import helpers

    monkeypatch.setenv(interpreters.SID_ROOT_ENV, str(tmp_path / "no-root"))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.delenv("ALLOCBENCH_SKIP_MISSING_PYTHONS", raising=False)
    helpers._locate.cache_clear()
    try:
        with pytest.raises(pytest.fail.Exception) as e:
            helpers.need_python("3.15")
        assert "make pythons" in str(e.value)
        with pytest.raises(InterpreterError, match="make pythons"):
            interpreters.resolve("3.14")
        monkeypatch.setenv("ALLOCBENCH_SKIP_MISSING_PYTHONS", "1")
        with pytest.raises(pytest.skip.Exception):
            helpers.need_python("3.15")
    finally:
        helpers._locate.cache_clear()


# ---- free-threaded builds are refused ------------------------------------------------------

FAKES = {
    # A GIL-less interpreter as 3.13t+ reports it at run time, and as its build says.
    "gil_disabled_at_run_time": "import sys\nsys._is_gil_enabled = lambda: False\n",
    "py_gil_disabled_build": (
        "import sysconfig\n_get = sysconfig.get_config_var\n"
        "sysconfig.get_config_var = lambda n: 1 if n == 'Py_GIL_DISABLED' else _get(n)\n"
    ),
    "control": "",
}


def _fake_python(tmp_path: Path, patch: str) -> str:
    """A real CPython behind a wrapper whose sitecustomize makes it look free-threaded."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(patch)
    real = os.path.realpath(sys._base_executable)
    exe = tmp_path / "python3-fake"
    exe.write_text(f'#!/bin/sh\nPYTHONPATH={site}${{PYTHONPATH:+:$PYTHONPATH}} exec {real} "$@"\n')
    exe.chmod(0o755)
    return str(exe)


@pytest.mark.parametrize("fake", FAKES)
def test_a_free_threaded_interpreter_is_refused(tmp_path, fake):
    exe = _fake_python(tmp_path, FAKES[fake])
    if fake == "control":  # the wrapper alone is accepted: the refusal is the patch's
        assert interpreters.resolve(exe).facts["gil_enabled"] is True
        return
    with pytest.raises(interpreters.FreeThreadedError) as e:
        interpreters.resolve(exe)
    assert "free-threaded" in str(e.value) and "abi3t" in str(e.value)
    out = _bench_cli("--python", exe, "--mode", "smoke", "--out", str(tmp_path / "r"))
    assert out.returncode == 2 and "does not run on free-threaded builds" in out.stderr
    assert not (tmp_path / "r").exists()


def test_something_that_is_not_cpython_is_refused():
    with pytest.raises(InterpreterError, match="not a CPython"):
        interpreters.resolve("/bin/true")


# ---- PYTHONMALLOC --------------------------------------------------------------------------


def test_pythonmalloc_values_and_mimalloc_before_3_13_are_refused(tmp_path):
    py311 = interpreters.resolve(need_python("3.11") and "3.11")
    with pytest.raises(InterpreterError, match=r"mimalloc needs CPython 3\.13 or newer"):
        interpreters.check_pythonmalloc("mimalloc", py311)
    assert interpreters.check_pythonmalloc("malloc", py311) == "malloc"
    with pytest.raises(InterpreterError, match="one of default, pymalloc, malloc, mimalloc"):
        interpreters.parse_pythonmallocs("debug")
    assert interpreters.parse_pythonmallocs("") == ["default"]
    # Refused before anything runs, for every interpreter named.
    out = _bench_cli(
        "--python", "3.11,3.15", "--pythonmalloc", "mimalloc", "--mode", "smoke",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert out.returncode == 2 and "3.11 is CPython 3.11" in out.stderr, out.stderr
    assert not any(tmp_path.iterdir())


def test_make_bench_pythonmalloc_dimension(tmp_path):
    """make bench PYTHONMALLOC=default,mimalloc: one run per value, the workers under it
    (recorded by each worker), the venv's own processes never (3.11 has no mimalloc), and
    a comparison that names PYTHONMALLOC as the one difference."""
    _need_flavours("pymem", "system")
    need_python("3.15")
    out = _make(
        "bench", "PY=3.15", "PYTHONMALLOC=default,mimalloc", "FLAVOURS=pymem,system",
        "MODE=smoke", f"FILTER={TINY}", f"RESULTS={tmp_path}",
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    runs = sorted((tmp_path / "pyperf").iterdir())
    assert [r.name.rsplit("-", 1)[1] for r in runs] == ["default", "mimalloc"]
    for run, pm in zip(runs, ("unset (pymalloc)", "mimalloc"), strict=True):
        record = json.loads((run / "run.json").read_text())
        assert record["pythonmalloc"] == run.name.rsplit("-", 1)[1]
        for f in ("pymem", "system"):
            suite = pyperf.BenchmarkSuite.load(str(run / f"{f}.json"))
            for b in suite.get_benchmarks():
                for r in b.get_runs():
                    assert r.get_metadata()["pythonmalloc"] == pm
    compare = tmp_path / "report" / (runs[0].name.rsplit("-py", 1)[0] + "-compare")
    md = (compare / "index.md").read_text()
    assert "The runs differ in: PYTHONMALLOC;" in md
    assert "| PYTHONMALLOC=default | PYTHONMALLOC=mimalloc | answer changes? |" in md


# ---- the answer per interpreter ------------------------------------------------------------


@pytest.fixture(scope="module")
def two_interpreters(tmp_path_factory):
    """make bench PY=3.11,3.15 (smoke, two flavours, two benchmarks)."""
    _need_flavours("pymem", "system")
    need_python("3.11")
    need_python("3.15")
    out_dir = tmp_path_factory.mktemp("results")
    out = _make(
        "bench", "PY=3.11,3.15", "FLAVOURS=pymem,system", "MODE=smoke", f"FILTER={TINY}",
        f"RESULTS={out_dir}",
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out_dir, sorted((out_dir / "pyperf").iterdir()), out.stdout


def test_bench_makes_one_run_per_interpreter_recording_it(two_interpreters):
    _, runs, stdout = two_interpreters
    assert [r.name.rsplit("-py", 1)[1] for r in runs] == ["3.11", "3.15"]
    facts = {}
    for run in runs:
        record = json.loads((run / "run.json").read_text())
        interp = record["interpreter"]
        assert record["status"] == "done" and interp["chosen"] == "PY=3.11,3.15"
        assert interp["id"] == run.name.rsplit("-py", 1)[1]
        for f in ("pymem", "system"):
            md = pyperf.BenchmarkSuite.load(str(run / f"{f}.json")).get_metadata()
            assert md["interpreter"] == interp["id"]
            assert md["python_version"].startswith(interp["id"] + ".")
            assert md["python_build"] == interp["summary"]
            facts[interp["id"]] = md
    # The worker ran where the id says: pyenv's shared 3.11 on the host's glibc, sid's
    # static 3.15 on sid's.
    assert facts["3.11"]["glibc"] == os.confstr("CS_GNU_LIBC_VERSION") != facts["3.15"]["glibc"]
    assert facts["3.11"]["python_linkage"].startswith("shared")
    assert facts["3.15"]["python_linkage"] == "static"
    assert facts["3.15"]["python_executable"] == "/usr/bin/python3.15"
    assert "comparison of the 2 runs" in stdout and "| family | metric | 3.11 | 3.15 |" in stdout


def test_the_comparison_gives_each_familys_verdict_per_interpreter(two_interpreters, tmp_path):
    out_dir, runs, _ = two_interpreters
    compare = out_dir / "report" / (runs[0].name.rsplit("-py", 1)[0] + "-compare")
    md = (compare / "index.md").read_text()
    assert (compare / "index.html").exists()
    assert json.loads((compare / "compare.json").read_text())["run_ids"] == [r.name for r in runs]
    assert "The runs differ in: interpreter, build, glibc;" in md
    assert "mixes an interpreter change with a C-library change" in md
    row = next(line for line in md.splitlines() if line.startswith("| throughput | time per op"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # The cells are each run's own verdict (report.verdicts, the one verdict code); the
    # answer is the winner where it beats the other flavour beyond the margin, else "tie".
    answers = []
    for cell, run in zip(cells[2:4], runs, strict=True):
        v = next(v for v in report.verdicts(report.load_run(run)) if v.family == "throughput")
        assert cell == report.verdict_short(v)
        answers.append(v.winner or "tie")
    same = answers[0] == answers[1]
    assert cells[4] == ("no" if same else f"yes: {answers[0]} / {answers[1]}")
    # make report-compare RUNS=a,b draws the same comparison from the stored JSON.
    out = _make("report-compare", f"RUNS={runs[0].name},{runs[1].name}", f"RESULTS={out_dir}")
    assert out.returncode == 0, out.stderr
    again = out_dir / "report" / f"{runs[0].name}_vs_{runs[1].name}" / "index.md"
    assert again.read_text() == md


def _tiny_suite(path: Path, backend: str, hostname: str) -> None:
    md = {"name": "alloc_pair[size=64]", "hostname": hostname, "cpu_model_name": "c"}
    md |= {"cpu_count": 2, "backend": backend, "unit": "second"}
    run = pyperf.Run([1.0, 1.1], metadata=md, collect_metadata=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    pyperf.BenchmarkSuite([pyperf.Benchmark([run])]).dump(str(path))


def test_the_comparison_refuses_other_machines_and_single_runs(tmp_path):
    for run, host in (("a", "host-a"), ("b", "host-b")):
        for f in ("pymem", "system"):
            _tiny_suite(tmp_path / run / f"{f}.json", f, host)
    with pytest.raises(report.ReportInputError, match="different machines"):
        report.compare_runs([tmp_path / "a", tmp_path / "b"], tmp_path / "out")
    with pytest.raises(report.ReportInputError, match="at least two runs"):
        report.compare_blocks([report.load_run(tmp_path / "a")])
    assert not (tmp_path / "out").exists()


# ---- instruction counts and asv ------------------------------------------------------------


def test_instruction_counts_on_sid_run_inside_the_root(tmp_path):
    """make bench-instructions PY=3.15: callgrind runs inside the sid root (its own
    valgrind, sid's glibc) and the run records the interpreter; the same point on the host's
    3.11 runs on another C library. (tests/test_instructions.py checks that counts repeat.)"""
    _need_flavours("system")
    need_python("3.15")
    point = r"^raw_pair\[size=64\]$"
    py315 = interpreters.resolve("3.15")
    first = instructions.count_flavour("system", point, ROOT, py315)
    key = "raw_pair[size=64]"
    host = instructions.count_flavour("system", point, ROOT)
    assert host[key]["ir_per_op"] != first[key]["ir_per_op"]
    out = subprocess.run(
        [sys.executable, "-m", "allocbench.instructions", "--python", "3.15", "--flavours",
         "system", "--filter", point, "--out", str(tmp_path), "--no-wall-time"],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    data = instructions.load(next(tmp_path.glob("instructions/*/instructions.json")))
    assert data["interpreter"]["id"] == "3.15" and data["glibc"] == py315.facts["glibc"]
    # The same figure (to the instruction only in the same environment: its size moves the
    # client's memory layout, and this process's environment differs from the CLI's).
    assert data["counts"]["system"][key]["ir_per_op"] == pytest.approx(
        first[key]["ir_per_op"], rel=0.01
    )
    assert "Interpreter 3.15: CPython 3.15" in instructions.report_markdown(data)


@pytest.mark.parametrize("name", ["3.15", "3.11-debian"])
@pytest.mark.parametrize("tool", ["asv_history.py", "asv_regress.py"])
def test_history_and_regress_refuse_interpreters_asv_cannot_run(tool, name):
    extra = ["--dry-run"] if tool == "asv_history.py" else ["HEAD"]
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / tool), *extra, "--python", name],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 2, out.stderr
    assert f"asv cannot run on {name}" in out.stderr and "make bench PY=" in out.stderr


def test_make_passes_py_to_every_target():
    """PY is the one knob: make test, bench, bench-instructions, history and regress."""
    assert 'ALLOCBENCH_PY="3.12"' in _make("-n", "pytest", "PY=3.12").stdout
    text = _make("-n", "bench", "PY=3.12").stdout
    assert re.search(r'allocbench\.bench --flavours [^\n]*\\\n[^\n]*\\\n\s+--python "3\.12"', text)
    text = _make("-n", "bench-instructions", "PY=3.12").stdout
    assert re.search(r'bench --instructions [^\n]*\\\n[^\n]*--python "3\.12"', text)
    text = _make("-n", "history", "PY=3.12").stdout
    assert re.search(r"asv_history\.py .*--python 3\.12", text)
    text = _make("-n", "regress", "BASE=HEAD", "PY=3.13").stdout
    assert re.search(r"asv_regress\.py HEAD .*--python 3\.13", text)
    text = _make("-n", "bench", "PYTHONMALLOC=mimalloc").stdout
    assert '--pythonmalloc "mimalloc"' in text
