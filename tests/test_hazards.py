"""The hazard matrix (allocbench.hazards, rustext/src/hazards.rs), a few cells of it: each
cell is measured in its own child process with a timeout, as ``make hazards`` does.

The hazard (PyO3 PR 6279): with tracemalloc tracing, CPython <= 3.14's raw-domain hook calls
PyGILState_Ensure on alloc/realloc, so a thread holding the GIL that joins, without
detaching, a Rust thread whose blocks reach the raw domain waits forever (gh-155725, fixed
in 3.15). What each test asserts is what was measured on this machine kind; the comments
say why it is so.
"""

from __future__ import annotations

import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import pytest
from allocbench import hazards, hazards_cell
from helpers import ROOT, built

# A deadlock is permanent: a few seconds prove a hang and keep the suite fast. A cell that
# completes takes well under a second here; its timeout only has to never be reached.
HANG_TIMEOUT = 8.0
TIMEOUT = 60.0
USED = ("pymem", "pymem-raw", "system")


@pytest.fixture(scope="module")
def flavours(tmp_path_factory):
    """A private copy of the built flavours, so a build beside the tests cannot swap one
    between two cells (allocbench.hazards.snapshot; it also checks the hazard functions)."""
    missing = [f for f in USED if not built(f)]
    if missing:
        pytest.fail(f"flavours not built: {missing}; make build-all")
    dest = tmp_path_factory.mktemp("hazard-flavours")
    hazards.snapshot(list(USED), ROOT / "build" / "flavours", dest, wait=120)
    return dest


@cache
def _resolve(ident: str):
    found, missing, refused = hazards.resolve([ident])
    return (found[0], None) if found else (None, missing.get(ident) or refused.get(ident))


def interp(ident: str) -> hazards.Interpreter:
    """The interpreter of an id; a missing one fails the test (skips only under
    ALLOCBENCH_SKIP_MISSING_PYTHONS=1, as the rest of the suite)."""
    found, why = _resolve(ident)
    if found is None:
        if os.environ.get("ALLOCBENCH_SKIP_MISSING_PYTHONS") == "1":
            pytest.skip(f"interpreter {ident}: {why}")
        pytest.fail(f"interpreter {ident}: {why}")
    return found


def run(flavours, cells):
    """Runs (flavour, interpreter id, cell, PYTHONMALLOC, timeout) cells, two at a time;
    returns {(flavour, id, cell, PYTHONMALLOC): record}."""

    def one(c):
        f, ident, cell, pm, timeout = c
        return hazards_cell.run_cell(f, flavours / f, interp(ident), pm, cell, timeout)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return {c[:4]: r for c, r in zip(cells, pool.map(one, cells), strict=True)}


def outcomes(records):
    return {k: (r["outcome"], r["label"]) for k, r in records.items()}


def test_pymem_raw_hangs_on_311_only_with_tracemalloc(flavours):
    """pymem-raw on 3.11 with tracemalloc: the joined thread's first allocation asks for the
    GIL, which the joining thread holds: a hang, reported as such and killed (the suite goes
    on). Without tracemalloc (cell d) the same two joins complete: tracemalloc is the cause."""
    r = run(
        flavours,
        [
            ("pymem-raw", "3.11", "a", "default", HANG_TIMEOUT),
            ("pymem-raw", "3.11", "d", "default", TIMEOUT),
        ],
    )
    a, d = r["pymem-raw", "3.11", "a", "default"], r["pymem-raw", "3.11", "d", "default"]
    assert a["outcome"] == "hangs", a
    # The child reached the join (not a slow start), and was killed promptly.
    assert a["label"] == f"hangs (timeout {HANG_TIMEOUT:g} s)", a
    assert a["seconds"] < HANG_TIMEOUT + 30, a
    assert a["returncode"] == -9, a
    assert a["as_predicted"], a
    assert d["outcome"] == "completes", d


@pytest.mark.parametrize("ident", ["3.11", "3.14"])
def test_pymem_completes_where_pymem_raw_hangs(flavours, ident):
    """Our pymem flavour completes (a) and (b) on CPython <= 3.14 with tracemalloc tracing:
    a thread without an attached thread state never calls PyMem_RawMalloc/RawCalloc/
    RawRealloc (its large blocks go to libc, tagged so any thread frees them right), so it
    never asks for the GIL. Until 2026-11-25 its large blocks went to the raw domain on
    every thread and a-large, a and b hung (results/hazards/20261125T044816Z)."""
    cells = [("pymem", ident, c, "default", TIMEOUT) for c in ("a-small", "a-large", "a", "b")]
    r = outcomes(run(flavours, cells))
    assert set(r.values()) == {("completes", "completes")}, r


def test_pymem_and_pymem_raw_complete_on_315(flavours):
    """CPython 3.15 (gh-155725): tracemalloc's raw hook no longer takes the GIL, so both
    PyMem flavours complete (a) and (b), tracemalloc tracing, the GIL held throughout."""
    cells = [(f, "3.15", c, "default", TIMEOUT) for f in ("pymem", "pymem-raw") for c in "ab"]
    r = outcomes(run(flavours, cells))
    assert set(r.values()) == {("completes", "completes")}, r


def test_system_completes_on_311(flavours):
    """The system allocator never calls CPython: no GIL is asked for, on any version."""
    cells = [("system", "3.11", c, "default", TIMEOUT) for c in ("a", "b")]
    r = outcomes(run(flavours, cells))
    assert set(r.values()) == {("completes", "completes")}, r


def test_tracemalloc_sees_pymem_flavours_only(flavours):
    """(c) on 3.11: 2000 x 64 B and 100 x 64 KiB blocks made on the attached thread. pymem
    (pymalloc for 64 B, the raw domain for 64 KiB) and pymem-raw show both sizes in
    tracemalloc's traced bytes, each within a few percent of the bytes held; system none."""
    r = run(flavours, [(f, "3.11", "c", "default", TIMEOUT) for f in USED])
    assert r["pymem", "3.11", "c", "default"]["outcome"] == "small+large", r
    assert r["pymem-raw", "3.11", "c", "default"]["outcome"] == "small+large", r
    assert r["system", "3.11", "c", "default"]["outcome"] == "none", r
    for f in ("pymem", "pymem-raw"):
        for size in ("small", "large"):
            g = r[f, "3.11", "c", "default"]["result"][size]
            assert 0.97 * g["bytes"] <= g["growth"] <= 1.03 * g["bytes"], (f, g)


def test_debug_hooks_are_clean(flavours):
    """(d) under PYTHONMALLOC=debug on 3.11: both hazard functions (without tracemalloc) and
    the smoke run of every workload exit 0: the debug hooks abort on a MEM-domain call
    without the GIL or a block freed by another family, and saw neither."""
    r = outcomes(run(flavours, [(f, "3.11", "d", "debug", TIMEOUT) for f in USED]))
    assert set(r.values()) == {("completes", "completes")}, r


def test_cli_writes_the_matrix(flavours, tmp_path, capsys):
    """The command line: runs the cells on the interpreters present, names the missing one,
    records each interpreter's version and the prediction, writes JSON and markdown, never
    more than two children at once, and never overwrites a run."""
    out = tmp_path / "run" / "hazards.json"
    argv = ["--flavours", "system", "--pythons", "3.11,gone=/nonexistent/python"]
    argv += ["--pythonmalloc", "default,malloc", "--cells", "a,c,d", "--timeout", "60"]
    argv += ["--out", str(out), "--flavours-root", str(flavours), "--no-stacks"]
    assert hazards.main(argv) == 0
    err = capsys.readouterr().err
    assert "interpreter gone is missing" in err
    data = json.loads(out.read_text())
    i = data["interpreters"]["3.11"]
    assert i["version_info"][:2] == [3, 11] and i["sys_version"].startswith("3.11")
    assert i["tracemalloc_raw_hook_takes_gil_expected"] is True
    assert list(data["missing"]) == ["gone"]
    got = {(r["pythonmalloc"], r["cell"]): r["label"] for r in data["results"]}
    assert got == {
        (pm, c): "none" if c == "c" else "completes" for pm in ("default", "malloc") for c in "acd"
    }
    assert all(r["as_predicted"] for r in data["results"])
    spans = [(r["start_s"], r["end_s"]) for r in data["results"]]
    for s, _ in spans:
        assert sum(a <= s < b for a, b in spans) <= 2, spans
    md = out.with_suffix(".md").read_text()
    assert "| 3.11 | malloc | completes |" in md and "Missing: gone" in md
    with pytest.raises(SystemExit):
        hazards.main(argv)


def test_free_threaded_interpreter_is_refused(tmp_path, capsys):
    """A free-threaded build is refused with the reason (there is none on this machine: a
    stand-in answers the probe as a free-threaded 3.14 would)."""
    fake = tmp_path / "python3.14t"
    facts = {
        "implementation": "cpython",
        "version": "3.14.0",
        "version_info": [3, 14, 0],
        "sys_version": "3.14.0 experimental free-threading build",
        "executable": str(fake),
        "gil_disabled_build": True,
        "gil_enabled": False,
        "libc": "glibc 2.36",
    }
    fake.write_text(
        f"#!{sys.executable}\nprint('ALLOCBENCH-FACTS ' + {json.dumps(json.dumps(facts))})\n"
    )
    fake.chmod(0o755)
    argv = ["--pythons", f"3.14t={fake}", "--out", str(tmp_path / "h.json"), "--no-stacks"]
    assert hazards.main(argv) == 2
    err = capsys.readouterr().err
    assert "3.14t refused" in err and "free-threaded build" in err
    assert not (tmp_path / "h.json").exists()


GDB_311 = """\
Thread 2 (Thread 0x7faf41ea16c0 (LWP 16755) "hazard-alloc"):
#0  __futex_abstimed_wait_common64 (private=0) at ./nptl/futex-internal.c:57
#6  take_gil (tstate=tstate@entry=0x7faf3c000c60) at Python/ceval_gil.h:231
#7  0x00007faf42c4fd4e in PyEval_RestoreThread (tstate=0x7faf3c000c60) at Python/ceval.c:521
#8  0x00007faf42c96636 in PyGILState_Ensure () at Python/pystate.c:1712
#9  0x00007faf42cd6fc4 in tracemalloc_raw_alloc (elsize=65536) at ./Modules/_tracemalloc.c:777
#10 tracemalloc_raw_alloc (elsize=65536, nelem=1) at ./Modules/_tracemalloc.c:759
#12 0x00007faf41ef9b74 in std::sys::backtrace::__rust_begin_short_backtrace::h194e3c917dd71241 () from /x.so

Thread 1 (Thread 0x7faf43031b80 (LWP 16751) "python3.11"):
#3  0x00007faf428a8ce3 in __pthread_clockjoin_ex (threadid=1) at ./nptl/pthread_join_common.c:102
#4  0x00007faf41f0ec24 in _rustext::hazards::joined::h2d52a7b996cc6ee0 () from /x.so
"""  # noqa: E501
GDB_SID = """\
Thread 2 (LWP 30663 "hazard-alloc"):
#0  __syscall_cancel_arch () at ../sysdeps/unix/sysv/linux/x86_64/syscall_cancel.S:56
#7  0x000000000054086b in ?? ()
#8  0x000000000058b740 in PyEval_RestoreThread ()
#13 0x00007ff724b0a566 in <std[e28293b1aa0f68bd]::sys::thread::unix::Thread>::new::thread_start () from /x.so
"""  # noqa: E501


def test_stack_summary_reads_both_gdb_thread_formats():
    t = hazards_cell.stack_summary(GDB_311, pid=16751)
    assert [(x["name"], x["main"]) for x in t] == [("hazard-alloc", False), ("python3.11", True)]
    assert t[0]["frames"] == [
        "take_gil",
        "PyEval_RestoreThread",
        "PyGILState_Ensure",
        "tracemalloc_raw_alloc",
        "std::sys::backtrace::__rust_begin_short_backtrace",
    ]
    assert t[1]["frames"] == ["__pthread_clockjoin_ex", "_rustext::hazards::joined"]
    (s,) = hazards_cell.stack_summary(GDB_SID, pid=1)
    assert s["name"] == "hazard-alloc" and s["lwp"] == 30663
    assert s["frames"] == [
        "??",
        "PyEval_RestoreThread",
        "<std::sys::thread::unix::Thread>::new::thread_start",
    ]


def test_visibility_thresholds():
    def v(small, large):
        return hazards_cell.visibility(
            {"small": {"bytes": 1000, "growth": small}, "large": {"bytes": 1000, "growth": large}}
        )

    assert v(1000, 1000) == "small+large"
    assert v(950, 5) == "small only"
    assert v(-20, 900) == "large only"
    assert v(40, 99) == "none"
    assert v(500, 1000) == "partly: large, small 50%"
