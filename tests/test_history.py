"""The history tools: foreign or corrupted result files are refused with a clear error, and
an interrupted asv run leaves every earlier result file intact and no truncated JSON."""

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from helpers import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import asv_history


def _asv_result(commit="0" * 40, **facts):
    return {
        "version": 2,
        "commit_hash": commit,
        "env_name": "virtualenv-py3.11-x",
        "params": {"machine": "m", "python": "3.11", **facts},
        "results": {},
    }


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('{"version": 2, "commit_hash": "ab', "not readable as JSON"),
        (json.dumps({"benchmarks": []}), "no 'version' key"),
        (json.dumps({"version": 1, "metadata": {}}), "not an asv result file"),
        ("\x00\x01binary", "not readable as JSON"),
    ],
)
def test_foreign_or_corrupted_result_files_are_refused(tmp_path, content, fragment):
    (tmp_path / "machine.json").write_text(json.dumps({"machine": "m", "version": 1}))
    (tmp_path / "good.json").write_text(json.dumps(_asv_result()))
    bad = tmp_path / "zz-bad.json"
    bad.write_text(content)
    with pytest.raises(asv_history.ResultFileError) as info:
        asv_history.check_results(tmp_path)
    assert str(bad) in str(info.value) and fragment in str(info.value)


def test_a_result_with_other_machine_facts_is_refused(tmp_path):
    """asv draws results whose machine facts differ as separate lines: one flavour would
    show up twice on the dashboard with half its history each."""
    machine = {"machine": "m", "ram": "24684096 kB", "version": 1}
    (tmp_path / "machine.json").write_text(json.dumps(machine))
    (tmp_path / "a.json").write_text(json.dumps(_asv_result(ram="24684096 kB")))
    assert asv_history.check_results(tmp_path) == 2
    (tmp_path / "b.json").write_text(json.dumps(_asv_result("1" * 40)))
    with pytest.raises(asv_history.ResultFileError, match=r"b\.json: recorded with machine facts"):
        asv_history.check_results(tmp_path)


def test_stored_results_are_all_asv_files():
    assert asv_history.check_results(ROOT / "results" / asv_history.MACHINE) >= 1


def test_results_only_commits_are_never_benchmarked(tmp_path):
    """A scratch repository whose commits are known: only those that change code and can
    build (rustext/Cargo.toml in the tree) are benchmarked."""
    repo = tmp_path / "repo"
    repo.mkdir()

    def commit(files, message):
        for name, text in files.items():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            (repo / name).write_text(text)
        asv_history.git("add", "-A", cwd=repo)
        env = ["-c", "user.name=t", "-c", "user.email=t@t"]
        asv_history.git(*env, "commit", "-q", "-m", message, cwd=repo)
        return asv_history.git("rev-parse", "HEAD", cwd=repo).strip()

    asv_history.git("init", "-q", cwd=repo)
    commit({"README.md": "no crate yet"}, "before the crate: cannot build")
    code = commit({"rustext/Cargo.toml": "[package]"}, "the crate")
    commit({"results/a.json": "{}"}, "results only")
    both = commit({"results/b.json": "{}", "rustext/src/lib.rs": "//"}, "code and results")
    commit({"results/machine.json": "{}", "results/c.json": "{}"}, "results only again")
    assert asv_history.code_commits(repo) == [code, both]


FAKE_ASV = """
import json, pathlib, sys, time
d = pathlib.Path(sys.argv[1])
(d / "old.json").write_text('{"version": 2, "commit_ha')   # rewritten in place, cut short
(d / "new.json").write_text('{"version": 2, "resu')        # a new file, cut short
(d / "done.json").write_text(json.dumps({"version": 2, "commit_hash": "c", "env_name": "e",
                                         "results": {}}))
pathlib.Path(sys.argv[2]).write_text("ready")
time.sleep(120)
"""

DRIVER = """
import sys, pathlib
sys.path.insert(0, {tools!r})
import asv_history
rc = asv_history.run_guarded([sys.executable, "-c", {fake!r}, {d!r}, {ready!r}],
                             pathlib.Path({d!r}), pathlib.Path({partial!r}))
sys.exit(rc)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_history_run_keeps_earlier_results_intact(tmp_path, sig):
    d, partial, ready = tmp_path / "results", tmp_path / "partial", tmp_path / "ready"
    d.mkdir()
    old = json.dumps(_asv_result("1" * 40)).encode()
    (d / "old.json").write_bytes(old)
    code = DRIVER.format(
        tools=str(ROOT / "tools"), fake=FAKE_ASV, d=str(d), partial=str(partial), ready=str(ready)
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert time.monotonic() < deadline, "the fake asv never started"
        time.sleep(0.05)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, out
    assert (d / "old.json").read_bytes() == old  # put back as it was
    assert not (d / "new.json").exists()
    assert (partial / "new.json.partial").exists()  # kept, clearly marked, outside results
    json.loads((d / "done.json").read_text())  # completed files stay
    assert f"interrupted by {signal.Signals(sig).name}" in out


def test_history_and_regress_refuse_an_unknown_python():
    for tool, extra in (("asv_history.py", ["--dry-run"]), ("asv_regress.py", ["HEAD"])):
        out = subprocess.run(
            [sys.executable, str(ROOT / "tools" / tool), *extra, "--python", "3.9"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
        assert out.returncode == 2, out.stderr
        assert "--python: '3.9' is not one of asv.conf.json's 3.11, 3.12, 3.13" in out.stderr


def test_asv_finds_the_interpreter_the_history_asks_for():
    """asv looks up python<version> on PATH; the history puts a working one first (a pyenv
    shim of an inactive version is on PATH but fails)."""
    env = asv_history.asv_env_for("3.11")
    first = env["PATH"].split(os.pathsep)[0]
    out = subprocess.run(
        [os.path.join(first, "python3.11"), "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 0 and out.stdout.strip() == "(3, 11)"


def test_spread_picks_evenly_with_both_ends():
    commits = [f"c{i}" for i in range(72)]
    got = asv_history.spread(commits, 10)
    assert len(got) == 10 and got[0] == "c0" and got[-1] == "c71"
    assert got == sorted(got, key=commits.index)
    gaps = [commits.index(b) - commits.index(a) for a, b in itertools.pairwise(got)]
    assert max(gaps) - min(gaps) <= 1, gaps
    assert asv_history.spread(commits[:3], 10) == commits[:3]


def test_a_commit_is_done_only_when_its_file_holds_the_selected_benchmarks(tmp_path):
    """make history BENCH=…: a result file of the commit without those benchmarks (an
    earlier history of other benchmarks) leaves it to do."""
    names = ["bench_deterministic.AllocPair.track_instructions"]
    path = tmp_path / "abcdef12-virtualenv-py3.11-ALLOCBENCH_FLAVOURsystem.json"
    assert not asv_history.is_done(path, names)
    path.write_text(json.dumps({**_asv_result(), "results": {"bench_x.A.time_a": [1.0]}}))
    assert asv_history.is_done(path, None)
    assert not asv_history.is_done(path, names)
    path.write_text(json.dumps({**_asv_result(), "results": {names[0]: [None, [["64"]]]}}))
    assert not asv_history.is_done(path, names)  # failed: run it again
    path.write_text(json.dumps({**_asv_result(), "results": {names[0]: [[140.0], [["64"]]]}}))
    assert asv_history.is_done(path, names)


def test_benchmark_names_match_as_asv_bench_does(tmp_path):
    f = tmp_path / "benchmarks.json"
    f.write_text(json.dumps({"a.B.track_x": {}, "c.D.time_y": {}, "version": 2}))
    assert asv_history.benchmark_names("track_", f) == ["a.B.track_x"]
    assert asv_history.benchmark_names("^c\\.", f) == ["c.D.time_y"]


def test_regress_deterministic_gates_on_the_callgrind_lines(monkeypatch, tmp_path):
    """make regress DETERMINISTIC=1: asv continuous over bench_deterministic only, with the
    factor 1 + THRESHOLD."""
    import asv_regress

    calls = []

    class Done:
        returncode, stdout = 0, "0" * 40 + "\n"

    def fake_run(cmd, *args, **kwargs):
        calls.append(cmd)
        return Done()

    monkeypatch.setattr(asv_regress.subprocess, "run", fake_run)
    monkeypatch.setattr(asv_regress, "asv_env_for", lambda v: {})
    monkeypatch.setattr(asv_regress, "config_for", lambda *a: tmp_path / "c.json")
    rc = asv_regress.main(["HEAD", "--deterministic", "--threshold", "0.02"])
    assert rc == 0
    cont = next(c for c in calls if "continuous" in c)
    assert cont[cont.index("--factor") + 1] == "1.02"
    assert cont[cont.index("--bench") + 1] == asv_regress.DETERMINISTIC_BENCH
    assert all(
        re.search(asv_regress.DETERMINISTIC_BENCH, b) for b in ("bench_deterministic.A.track_x",)
    )
    assert not re.search(asv_regress.DETERMINISTIC_BENCH, "bench_throughput.A.time_a")
    with pytest.raises(SystemExit):
        asv_regress.main(["HEAD", "--deterministic", "--bench", "x"])
