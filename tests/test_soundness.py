"""The PyMem backend's soundness hazards, reproduced (rustext/src/soundness.rs). Each runs in
a child process with a timeout: a hang is the failure, and so is an abort or a signal.

1. A detached thread holding a lock allocates > 512 B while the GIL holder waits for that
   lock. With tracemalloc tracing on CPython <= 3.14 the raw domain's hook waits for the GIL
   on that thread: no allocator call may do that.
2. A detached thread keeps allocating while the interpreter finalises (tracemalloc on): a
   call that reaches PyGILState_Ensure there is unwound by PyThread_exit_thread through
   Rust frames ("FATAL: exception not rethrown", exit 134).
3. A thread state created on thread A and attached on thread B: the probe must answer for
   the calling thread (A is detached) and agree with the debug hooks (B's state is not its
   GILState state, so PyMem calls on B abort under PYTHONMALLOC=debug).
4. fork() beside a detached small-block churner: the child's first fallback call must not
   find a class lock held by a thread that no longer exists.
5. Strict overcommit (vm.overcommit_memory=2): the fallback region must not be charged in
   full, and detached small allocations must work.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest
from helpers import PYTHONS, built, run_flavour_on

HANG = 20.0  # a deadlock is permanent; a passing child takes well under a second here
FLAVOURS = ("pymem", "pymem-raw", "system")


@pytest.fixture(scope="module", autouse=True)
def _built():
    missing = [f for f in ("pymem",) if not built(f)]
    if missing:
        pytest.fail(f"flavours not built: {missing}; make build-all")


def child(python: str, flavour: str, code: str, *, env=None, timeout=HANG):
    """Runs ``code`` in a child of interpreter ``python``; returns (outcome, process) where
    outcome is "ok", "hang", or "exit <code>"."""
    try:
        p = run_flavour_on(
            python,
            flavour,
            ["-X", "faulthandler", "-c", textwrap.dedent(code)],
            env=env,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as e:
        return "hang", e
    return ("ok" if p.returncode == 0 else f"exit {p.returncode}"), p


def expect_ok(outcome, p, what):
    detail = (
        "" if outcome == "hang" else f"\nstdout: {p.stdout[-2000:]}\nstderr: {p.stderr[-3000:]}"
    )
    assert outcome == "ok", f"{what}: {outcome}{detail}"


@pytest.mark.parametrize("python", PYTHONS)
def test_detached_allocation_waits_for_no_lock_held_by_the_gil_holder(python):
    """Hazard 1, with tracemalloc tracing: 16 rounds of each size, small and large."""
    code = """
        import tracemalloc, allocbench._rustext as r
        tracemalloc.start()
        for size in (64, 513, 1024, 1 << 20):
            for _ in range(16):
                r.sound_lock_then_alloc(size)
        print("done")
    """
    outcome, p = child(python, "pymem", code)
    expect_ok(outcome, p, f"pymem on {python}: lock held by a detached allocating thread")


@pytest.mark.parametrize("python", PYTHONS)
def test_no_forced_unwind_when_a_thread_allocates_through_finalisation(python):
    """Hazard 2: three churners of 64 B, 1 KiB and 64 KiB keep allocating while the
    interpreter exits with tracemalloc tracing; the exit must be clean, five times over."""
    code = """
        import tracemalloc, allocbench._rustext as r
        tracemalloc.start()
        for size in (64, 1024, 65536):
            r.sound_start_churner(size, 5.0)
        x = [bytes(100) for _ in range(1000)]
    """
    for attempt in range(5):
        outcome, p = child(python, "pymem", code)
        expect_ok(outcome, p, f"pymem on {python}: exit during allocation (attempt {attempt})")


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("pymalloc", ["", "debug"])
def test_probe_answers_for_the_calling_thread(python, pymalloc):
    """Hazard 3: A created T, B attached T. Neither may call the MEM domain: A is detached,
    and T is not B's GILState state (the debug hooks' rule), so both use the fallback."""
    code = """
        import allocbench._rustext as r
        for size in (16, 64, 512):
            a, a_region, b, b_region = r.sound_foreign_thread_state(size)
            print(size, a, a_region, b, b_region)
            assert not a, f"thread A (detached) was told it may call PyMem ({size} B)"
            assert a_region, f"thread A's {size} B block did not come from the fallback region"
            assert not b, f"thread B (attached to A's state) was told it may call PyMem"
            assert b_region, f"thread B's {size} B block did not come from the fallback region"
        print("done")
    """
    env = {"PYTHONMALLOC": pymalloc} if pymalloc else None
    outcome, p = child(python, "pymem", code, env=env)
    expect_ok(outcome, p, f"pymem on {python} PYTHONMALLOC={pymalloc or 'default'}")


# offsetof(PyThreadState, thread_id) from each version's headers (pyenv's include/).
THREAD_ID_OFFSET = {(3, 11): 152, (3, 12): 136, (3, 13): 152}


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("flavour", ["pymem", "system"])
def test_probe_says_yes_on_the_thread_holding_the_gil(python, flavour):
    """The other side of hazard 3: the probe found its layout at import and says yes on the
    thread that holds the GIL, so pymem's small blocks there come from pymalloc (a probe
    that always said no would pass every hazard test and turn pymem into the fallback)."""
    code = """
        import sys, allocbench._rustext as r
        layout, attached = r.sound_probe()
        print(sys.version_info[:2], layout, attached)
        assert attached, "the probe says no on the thread holding the GIL"
        offset, holder, tls = layout
        assert holder == (sys.version_info[:2] == (3, 11)), layout
        expected = EXPECTED.get(sys.version_info[:2])
        assert expected in (None, offset), (offset, expected)
        # A static interpreter's getter is one %fs load, which the probe makes itself; a
        # shared libpython's goes through __tls_get_addr and is called; 3.11 reads the holder.
        with open("/proc/self/maps") as maps:
            static = "libpython3" not in maps.read()
        assert (tls != 0) == (static and sys.version_info[:2] >= (3, 12)), (tls, static)
        if r.backend_name() == "pymem":
            assert r.sound_detached_alloc(64, 100) == 100  # detached: all in the region
            before, during = r.hazard_traced_growth(64, 1000, sys.getallocatedblocks)
            assert during - before >= 1000, (before, during)  # attached: pymalloc's blocks
        print("done")
    """.replace("EXPECTED", repr(THREAD_ID_OFFSET))
    outcome, p = child(python, flavour, code)
    expect_ok(outcome, p, f"{flavour} on {python}: probe on the GIL holder")


@pytest.mark.parametrize("python", PYTHONS)
def test_fork_beside_a_detached_churner_leaves_the_child_usable(python):
    """Hazard 4: 100 children forked while a detached thread churns 64 B blocks through the
    fallback region; each child makes detached 64 B blocks itself and exits. None may hang."""
    code = """
        import os, time, warnings, allocbench._rustext as r
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        r.sound_start_churner(64, 30.0)
        time.sleep(0.05)
        hung = 0
        for i in range(100):
            pid = os.fork()
            if pid == 0:
                r.sound_detached_alloc(64, 100)
                os._exit(0)
            deadline = time.monotonic() + 3.0
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    assert os.waitstatus_to_exitcode(status) == 0, status
                    break
                if time.monotonic() > deadline:
                    hung += 1
                    os.kill(pid, 9)
                    os.waitpid(pid, 0)
                    break
                time.sleep(0.001)
        print("hung", hung)
        assert hung == 0, f"{hung} of 100 forked children hung on their first fallback call"
    """
    outcome, p = child(python, "pymem", code, timeout=600)
    expect_ok(outcome, p, f"pymem on {python}: fork beside a churner")


OVERCOMMIT = Path("/proc/sys/vm/overcommit_memory")
OVERCOMMIT_KB = Path("/proc/sys/vm/overcommit_kbytes")
OVERCOMMIT_RATIO = Path("/proc/sys/vm/overcommit_ratio")


def _committed_kb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("Committed_AS:"):
            return int(line.split()[1])
    raise AssertionError("no Committed_AS in /proc/meminfo")


def test_fallback_region_works_under_strict_overcommit():
    """Hazard 5: with vm.overcommit_memory=2 and a commit limit 2 GiB above what is committed
    now, detached small allocations (fallback region) must succeed. The machine-wide setting
    is changed for the child's run only and restored. Needs root (CI runs as root)."""
    if os.geteuid() != 0 or not os.access(OVERCOMMIT, os.W_OK):
        pytest.skip("needs root to set vm.overcommit_memory (CI runs as root)")
    code = """
        import allocbench._rustext as r
        assert r.sound_detached_alloc(64, 10000) == 10000
        assert r.sound_detached_alloc(512, 10000) == 10000
        print("done")
    """
    old = {f: f.read_text().strip() for f in (OVERCOMMIT, OVERCOMMIT_KB, OVERCOMMIT_RATIO)}
    try:
        OVERCOMMIT_KB.write_text(str(_committed_kb() + (2 << 20)))
        OVERCOMMIT.write_text("2")
        outcome, p = child("3.11", "pymem", code, timeout=60)
    finally:
        OVERCOMMIT.write_text(old[OVERCOMMIT])
        # kbytes and ratio exclude each other: writing one zeroes the other.
        f = OVERCOMMIT_KB if old[OVERCOMMIT_KB] != "0" else OVERCOMMIT_RATIO
        f.write_text(old[f])
    expect_ok(outcome, p, "pymem under strict overcommit")


def test_reproductions_refuse_bad_input():
    code = """
        import allocbench._rustext as r
        for call in (
            lambda: r.sound_lock_then_alloc(0),
            lambda: r.sound_start_churner(64, 0.0),
            lambda: r.sound_detached_alloc(64, 0),
            lambda: r.sound_foreign_thread_state(0),
        ):
            try:
                call()
            except ValueError as e:
                assert "must be in" in str(e), e
            else:
                raise AssertionError("accepted")
    """
    outcome, p = child("3.11", "pymem", code)
    expect_ok(outcome, p, "bad input")
