"""Reliability: the allocators never corrupt, leak, deadlock or abort.

`make test` runs this file at its fast size; `make stress` sets ALLOCBENCH_STRESS=long and
runs it with far more operations. Each case runs in a child process of one flavour (and one
CPython), under the debug hooks where it says so: a MEM-domain call without the GIL, a
block freed by the wrong family ("bad ID") or a write past a block aborts the child.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest
from allocbench import isolate
from helpers import FLAVOURS, PYTHONS, ROOT, built, need_python, run_flavour

LONG = os.environ.get("ALLOCBENCH_STRESS") == "long"
SCALE = 20 if LONG else 1


def _need(flavour):
    if not built(flavour):
        pytest.fail(f"flavour {flavour} is not built: make build FLAVOUR={flavour}")


def _ok(out, marker):
    assert out.returncode == 0 and marker in out.stdout, (
        f"exit {out.returncode}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    )


CONCURRENT = """
import threading, allocbench.flavour as f
m = f.load()
ops = {ops}
errors = []
def python_thread(k):
    steps = [((k + i) % 4, (i * 7) % 13, (i * 7919 + k) % 5000 + 1, 1 << ((i + k) % 13))
             for i in range(ops // 4)]
    try:
        m.check_ops(13, steps, k % 2 == 0)
    except Exception as e:
        errors.append(e)
ts = [threading.Thread(target=python_thread, args=(k,)) for k in range(3)]
for t in ts: t.start()
verified = m.stress_threads(4, ops, {seed}, 4 << 20)
for t in ts: t.join()
assert not errors, errors
print("verified", verified)
"""


@pytest.mark.parametrize("mode", ["debug", "default"])
@pytest.mark.parametrize("version", PYTHONS)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_concurrent_random_mixes_keep_their_contents(flavour, version, mode):
    """4 Rust threads (no thread state) and 3 Python threads (with and without the GIL) at
    once: sizes 1 B .. 4 MiB, alignments 1 .. 4096, every block checked before each resize
    and free."""
    python = need_python(version)
    _need(flavour)
    env = {"PYTHONMALLOC": "debug"} if mode == "debug" else {}
    code = CONCURRENT.format(ops=1000 * SCALE, seed=hash((flavour, version, mode)) & 0xFFFF)
    _ok(run_flavour(flavour, ["-c", code], python=python, env=env, timeout=900), "verified")


DETACHED = """
import atexit, threading
def late():
    # Registered before the module's own hook, so it runs after it: during shutdown.
    m.alloc_pair(1000, 64); m.check_handoff(200, 64, "attached_to_detached")
    m.threads_churn(2, 2, 64, 32)
    print("late atexit ok", flush=True)
atexit.register(late)
import allocbench.flavour as f
m = f.load()
def early():
    m.alloc_pair(1000, 64); m.check_handoff(200, 64, "detached_to_attached")
    print("early atexit ok", flush=True)
atexit.register(early)

m.threads_churn(3, 4, 64, 64)                      # threads that never held the GIL
m.cross_thread_free(3, 64, 64)                     # allocated on one, freed on another
m.check_ops(8, [(0, 1, 40, 8), (2, 1, 4000, 8), (3, 1, 1, 1)] * 50, True)  # inside detach
before = m.counters()["deferred_frees"]
m.check_handoff({n}, 48, "attached_to_detached")   # allocated with the GIL, dropped without
m.check_handoff({n}, 48, "detached_to_attached")
ts = [threading.Thread(target=m.fill_thread_local, args=({n}, 48)) for _ in range(4)]
for t in ts: t.start()
for t in ts: t.join()                              # thread_local! destructors at exit
m.alloc_pair(10, 64)                               # drains what was deferred
c = m.counters()
assert c["deferred_frees"] - before >= {n}, c
assert c["deferred_pending"] == 0, c
print("detached ok", c, flush=True)
"""


@pytest.mark.parametrize("version", PYTHONS)
def test_pymem_on_detached_threads_and_during_shutdown(version):
    python = need_python(version)
    _need("pymem")
    code = DETACHED.format(n=2000 * SCALE)
    out = run_flavour("pymem", ["-c", code], python=python, env={"PYTHONMALLOC": "debug"})
    for marker in ("detached ok", "early atexit ok", "late atexit ok"):
        _ok(out, marker)


@pytest.mark.parametrize("version", PYTHONS)
def test_tracemalloc_with_pymem_raw_on_detached_threads_does_not_deadlock(version):
    """On CPython <= 3.14 tracemalloc's raw hook takes the GIL on a detached thread; the
    suite always detaches while it waits, so this must finish (timeout = failure)."""
    python = need_python(version)
    _need("pymem-raw")
    code = (
        "import tracemalloc, allocbench.flavour as f\n"
        "m = f.load(); tracemalloc.start()\n"
        f"m.threads_churn({5 * SCALE}, 4, 64, 64); m.cross_thread_free({5 * SCALE}, 4096, 64)\n"
        f"m.stress_threads(2, {500 * SCALE}, 3, 1 << 20)\n"
        "print('no deadlock', tracemalloc.get_traced_memory())\n"
    )
    try:
        out = run_flavour("pymem-raw", ["-c", code], python=python, timeout=180 * SCALE)
    except subprocess.TimeoutExpired:
        pytest.fail(f"deadlock: tracemalloc + pymem-raw + detached threads on {version}")
    _ok(out, "no deadlock")


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_out_of_memory_is_a_clear_error(flavour):
    _need(flavour)
    limit = 192 << 20
    with pytest.raises(isolate.WorkloadOutOfMemory) as info:
        isolate.run_workload(
            flavour,
            "zeroed_vec",
            {"size": 256 << 20, "touch": True},
            loops=1,
            memory_limit=limit,
            root=ROOT,
        )
    msg = str(info.value)
    assert "zeroed_vec[size=268435456,touch=true]" in msg and f"RLIMIT_AS={limit}" in msg
    assert f"flavour {flavour}" in msg
    # The same workload within its limit still runs.
    r = isolate.run_workload(
        flavour,
        "zeroed_vec",
        {"size": 1 << 20, "touch": True},
        loops=1,
        memory_limit=limit,
        root=ROOT,
    )
    assert r["seconds"] > 0


def _bench(out, run_id, filter_re, *extra):
    cmd = [sys.executable, "-m", "allocbench.bench", "--flavours", "system", "--mode", "smoke"]
    cmd += ["--filter", filter_re, "--out", str(out), "--run-id", run_id, *extra]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"))
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def _tree(directory):
    return {p.relative_to(directory): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


def test_a_bench_run_out_of_memory_keeps_what_it_measured_and_earlier_runs(tmp_path):
    """make bench MEMORY_LIMIT=…: a worker that outgrows the limit fails the run with a
    clear error; the steps measured before it stay stored in the run's pyperf file, the run
    record says failed, and an earlier run in the same results root is left byte-identical."""
    import pyperf

    _need("system")
    out = tmp_path / "results"
    pair = r"^alloc_pair\[size=64\]$"
    first = _bench(out, "earlier", pair)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    earlier = {d: _tree(out / d / "earlier") for d in ("pyperf", "report")}
    limit = 96 << 20  # alloc_pair needs ~30 MiB of address space, the fragmentation run ~150
    frag = r"^fragmentation\[blocks=1048576,.*pattern=every_other"
    failed = _bench(out, "oom", f"{pair}|{frag}", "--memory-limit", str(limit))
    assert failed.returncode == 2, failed.stdout[-2000:] + failed.stderr[-2000:]
    assert "fragmentation" in failed.stderr
    assert f"ran out of memory under RLIMIT_AS={limit}" in failed.stderr, failed.stderr[-2000:]
    run = out / "pyperf" / "oom"
    record = json.loads((run / "run.json").read_text())
    assert record["status"].startswith("failed: BenchError"), record["status"]
    assert record["memory_limit"] == limit
    stored = pyperf.BenchmarkSuite.load(str(run / "system.json"))
    assert stored.get_benchmark_names() == ["alloc_pair[size=64]"]
    assert len(stored.get_benchmark("alloc_pair[size=64]").get_values()) >= 2
    assert {d: _tree(out / d / "earlier") for d in ("pyperf", "report")} == earlier


def test_isolate_rejects_bad_limits_and_reports_crashes(tmp_path):
    with pytest.raises(ValueError, match="memory_limit"):
        isolate.run_workload("system", "alloc_pair", {"size": 8}, loops=1, memory_limit=10)
    with pytest.raises(ValueError, match="'size'"):
        isolate.run_workload("system", "alloc_pair", {"size": 0}, loops=1)
    with pytest.raises(isolate.WorkloadTimeout):
        isolate.run_workload(
            "system", "json_roundtrip", {"kib": 16384, "seed": 1}, loops=10**6, timeout=3, root=ROOT
        )


LEAK_CHECK = """
import gc, math, sys, tracemalloc, json
from allocbench import catalogue
import allocbench.flavour as f
m = f.load()
OPS = {ops}

def fallback_live():
    return m.counters().get("fallback_live_blocks", 0)  # pymem only

def settle():
    gc.collect(); m.alloc_pair(1, 16)  # drains the pymem backend's deferred frees

tracemalloc.start()
report = {{}}
for w in catalogue.WORKLOADS:
    # Enough operations that a leak of one block per op stands out from the noise.
    loops = math.ceil(OPS / w.ops_per_loop(w.smoke)) if w.timed else None
    run = lambda: w.run(loops=loops, module=m, **w.smoke)
    run()  # first run: one-time state (fallback region, lazy statics)
    settle()
    before = (sys.getallocatedblocks(), tracemalloc.get_traced_memory()[0], fallback_live())
    for _ in range(3):
        run()
    settle()
    after = (sys.getallocatedblocks(), tracemalloc.get_traced_memory()[0], fallback_live())
    report[w.name] = [a - b for a, b in zip(after, before)]
print(json.dumps(report))
"""
LEAK_OPS = 2000


@pytest.mark.parametrize("flavour", ["pymem", "pymem-raw"])
def test_pymem_flavours_return_to_their_baseline_after_every_workload(flavour):
    """After a warm-up run, three more runs of every workload (>= 2000 operations each for
    the timed ones) leave pymalloc's block count, tracemalloc's traced bytes and the
    fallback region's live blocks where they were. A leak of one 64 B block per op would
    be >= 6000 blocks and 384 KB; a few Python objects (result floats, tracemalloc's own
    records) are what may move."""
    _need(flavour)
    out = run_flavour(flavour, ["-c", LEAK_CHECK.format(ops=LEAK_OPS)], timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    bad = {k: v for k, v in report.items() if v[0] > 16 or v[1] > 2048 or v[2] != 0}
    assert not bad, f"(blocks, traced bytes, fallback blocks) left over: {bad}; all: {report}"


VALGRIND_WORKLOADS = """
from allocbench import catalogue
import allocbench.flavour as f
m = f.load()
for name in ("alloc_pair", "churn_batch", "mixed_sizes", "collections", "json_roundtrip",
             "realloc_growth", "zeroed_vec", "threads_churn", "cross_thread_free",
             "fragmentation", "c_pair"):
    w = catalogue.get(name)
    w.run(loops=w.smoke_loops if w.timed else None, module=m, **w.smoke)
m.check_ops(8, [(0, 1, 40, 64), (2, 1, 4000, 64), (1, 2, 300, 8), (3, 1, 1, 1)] * 20, True)
print("valgrind workloads done")
"""


def test_valgrind_memcheck_finds_no_leak_or_invalid_access_in_our_code(tmp_path):
    """System flavour under memcheck. CPython itself reports uninitialised reads at
    shutdown without its suppression file, so errors count only when a frame of the
    extension (_rustext) is on their stack."""
    if shutil.which("valgrind") is None:
        pytest.fail("valgrind is needed (.ci/run installs it)")
    _need("system")
    xml = tmp_path / "memcheck.xml"
    import sys

    cmd = [
        "valgrind",
        "--tool=memcheck",
        "--leak-check=full",
        "--show-leak-kinds=definite",
        "--xml=yes",
        f"--xml-file={xml}",
        sys.executable,
        "-c",
        VALGRIND_WORKLOADS,
    ]
    out = run_flavour(
        "system", cmd[1:], python=cmd[0], env={"PYTHONMALLOC": "malloc"}, timeout=1800
    )
    assert out.returncode == 0 and "valgrind workloads done" in out.stdout, out.stderr[-3000:]
    ours = []
    for err in ET.parse(xml).getroot().iter("error"):
        kind = err.findtext("kind")
        objs = [o.text or "" for o in err.iter("obj")]
        if any("_rustext" in o for o in objs) and (
            kind.startswith("Invalid")
            or kind.startswith("Uninit")
            or kind == "Leak_DefinitelyLost"
            or "Mismatched" in kind
            or "Cond" in kind
        ):
            ours.append((kind, err.findtext("what") or err.findtext("xwhat/text")))
    assert not ours, ours
    # valgrind writes a RUNNING status first and a FINISHED one only when the client exits.
    states = [st.findtext("state") for st in ET.parse(xml).getroot().iter("status")]
    assert states[-1:] == ["FINISHED"], states


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_make_bench_leaves_only_loadable_files(tmp_path, sig):
    """SIGINT/SIGTERM in the middle of a bench run: every flavour file is complete pyperf
    JSON (they are replaced atomically after each step) and the run record says partial."""
    import pyperf

    for f in ("pymem", "system"):
        _need(f)
    out = tmp_path / "results"
    cmd = [
        sys.executable,
        "-m",
        "allocbench.bench",
        "--flavours",
        "pymem,system",
        "--mode",
        "smoke",
        "--filter",
        r"^(alloc_pair|churn_batch)\[",
        "--out",
        str(out),
        "--run-id",
        "interrupted",
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"))
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    run_dir = out / "pyperf" / "interrupted"
    deadline = time.monotonic() + 300
    while not list(run_dir.glob("*.json")) or len(list(run_dir.glob("*.json"))) < 2:
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "no flavour file appeared"
        time.sleep(0.1)
    proc.send_signal(sig)
    log, _ = proc.communicate(timeout=120)
    assert proc.returncode in (130, 143), log
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"].startswith("partial: interrupted by"), record["status"]
    flavour_files = [p for p in run_dir.glob("*.json") if p.name != "run.json"]
    assert flavour_files
    for p in flavour_files:
        assert pyperf.BenchmarkSuite.load(str(p)).get_benchmark_names()
