"""One cell of the hazard matrix (``allocbench.hazards``): a child process that runs the
cell's Rust side (``rustext/src/hazards.rs``) under one interpreter, flavour and
``PYTHONMALLOC``, with a timeout; what the known facts predict for it; how it ended (a hung
child's gdb backtraces, summarised); and cell c's visibility verdict.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from . import interpreters
from .flavour import ENV_VAR

Interpreter = interpreters.Interpreter

SMALL, LARGE = 64, 64 << 10
COUNT = 100  # blocks of each size the joined thread allocates and frees
C_COUNTS = {"small": 2000, "large": 100}  # 128 000 B and 6.4 MiB held for cell c
SEEN, UNSEEN = 0.9, 0.1  # cell c: fraction of the held bytes in the traced growth
TIMEOUT = 20.0
# Variables that would change what a cell measures: tracing, debug hooks, allocator stats.
SCRUBBED_ENV = ("PYTHONMALLOC", "PYTHONTRACEMALLOC", "PYTHONDEVMODE", "PYTHONMALLOCSTATS")

# Runs in the child (standard library + the flavour only). argv[1] is the cell's spec.
CHILD = r"""
import json, sys, time
spec = json.loads(sys.argv[1])
def emit(tag, **kw):
    print(tag + " " + json.dumps(kw), flush=True)
try:
    import allocbench.flavour as flavour
    m = flavour.load()
    cell, small, large, count = spec["cell"], spec["small"], spec["large"], spec["count"]
    small = 0 if cell == "a-large" else small
    large = 0 if cell == "a-small" else large
    r = {"backend": m.backend_name()}
    if cell in ("a", "a-small", "a-large", "b"):
        import tracemalloc
        tracemalloc.start()
        f = m.hazard_join_in_unwinding_drop if cell == "b" else m.hazard_join_allocating_thread
        emit("HAZARD-START")
        t0 = time.perf_counter()
        r["blocks"] = f(small, large, count)
        r["seconds"] = time.perf_counter() - t0
        r["expected_blocks"] = count * ((small > 0) + (large > 0))
    elif cell == "c":
        import tracemalloc
        tracemalloc.start()
        probe = lambda: tracemalloc.get_traced_memory()[0]
        for name, size in (("small", small), ("large", large)):
            n = spec["c_counts"][name]
            before, during = m.hazard_traced_growth(size, n, probe)
            r[name] = {"size": size, "count": n, "bytes": size * n, "growth": during - before}
    elif cell == "d":
        r["expected_blocks"] = 2 * count
        r["blocks_joined"] = m.hazard_join_allocating_thread(small, large, count)
        r["blocks_unwound"] = m.hazard_join_in_unwinding_drop(small, large, count)
        from allocbench.__main__ import main
        r["smoke_exit"] = main(["smoke"])
    else:
        raise ValueError("unknown cell " + repr(cell))
    emit("HAZARD-RESULT", **r)
except Exception as e:
    emit("HAZARD-ERROR", error="%s: %s" % (type(e).__name__, e))
    sys.exit(3)
"""


def raw_hook_takes_gil(interp: Interpreter) -> bool:
    """CPython <= 3.14: tracemalloc's raw-domain hook calls PyGILState_Ensure on
    alloc/realloc (gh-155725; 3.15 and main no longer do). A prediction, recorded as data
    next to what is measured, never used in its place."""
    return tuple(interp.facts["version_info"][:2]) <= (3, 14)


def predicted(flavour: str, cell: str, raw_hook_takes_gil: bool) -> str:
    """What the known facts predict for a cell: the joined thread's blocks reach the raw
    domain in pymem-raw (every size) and pymem (blocks > 512 B; its small blocks go to the
    fallback region on a thread without a thread state); the other flavours never call
    CPython's allocator."""
    if cell == "c":
        return "small+large" if flavour in ("pymem", "pymem-raw") else "none"
    if cell == "d":
        return "completes"
    small = cell != "a-large"
    large = cell != "a-small"
    via_raw = flavour == "pymem-raw" or (flavour == "pymem" and large)
    return "hangs" if raw_hook_takes_gil and via_raw and (small or large) else "completes"


def child_env(flavour: str, flavour_dir: Path, pythonmalloc: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env.update(
        {
            "PYTHONPATH": str(flavour_dir),
            ENV_VAR: flavour,
            "PYTHONFAULTHANDLER": "1",  # a crash prints the Python stack
            "RUST_BACKTRACE": "0",  # cell b's deliberate panic: one line on stderr
        }
    )
    if pythonmalloc != "default":
        env["PYTHONMALLOC"] = pythonmalloc
    return env


FRAME = re.compile(r"^#\d+\s+(?:0x[0-9a-f]+ in )?(.+?) \(")
# gdb writes `Thread 2 (Thread 0x7f… (LWP 123) "name"):` or `Thread 2 (LWP 123 "name"):`.
THREAD = re.compile(r'^Thread \d+ \((?:Thread 0x[0-9a-f]+ \()?LWP (\d+)\)?(?: "([^"]*)")?\)?:')
NOISE = re.compile(r"futex|pthread_cond|syscall_cancel|PyCOND|PyMUTEX|_PySemaphore|PyParkingLot")


def stack_summary(text: str, pid: int | None = None, frames: int = 8) -> list[dict[str, Any]]:
    """Per thread of a gdb ``thread apply all bt``: its name, whether it is the process's
    main thread (LWP = ``pid``) and its first function names, innermost first (waiting
    primitives left out, Rust hashes stripped, repeats of one name (inlined) merged; ``??``
    is a frame without a symbol, e.g. a static function of a stripped interpreter)."""
    threads: list[dict[str, Any]] = []
    for line in text.splitlines():
        t = THREAD.match(line)
        if t:
            lwp = int(t.group(1))
            threads.append({"lwp": lwp, "name": t.group(2) or "", "main": lwp == pid})
            threads[-1]["frames"] = []
            continue
        m = FRAME.match(line)
        if m and threads and len(threads[-1]["frames"]) < frames:
            name = re.sub(r"::h[0-9a-f]{16}$", "", m.group(1))
            name = re.sub(r"\[[0-9a-f]{16}\]", "", name)
            kept = threads[-1]["frames"]
            if not NOISE.search(name) and (not kept or kept[-1] != name):
                kept.append(name)
    return threads


def gdb_stacks(pid: int) -> str:
    gdb = shutil.which("gdb")
    if gdb is None:
        return "gdb not found: no stack"
    cmd = [gdb, "-batch", "-nx", "-iex", "set debuginfod enabled off"]
    # A sid interpreter runs chrooted: its libraries are found through /proc/<pid>/root.
    cmd += ["-iex", f"set sysroot /proc/{pid}/root", "-p", str(pid)]
    cmd += ["-ex", "thread apply all bt 40"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired:
        return "gdb timed out"
    return out.stdout


_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()


def _kill(p: subprocess.Popen) -> None:
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def kill_all() -> None:
    """Kills every cell's child still running (the matrix was interrupted)."""
    with _LIVE_LOCK:
        for p in list(_LIVE):
            _kill(p)


def run_cell(
    flavour: str,
    flavour_dir: Path,
    interp: Interpreter,
    pythonmalloc: str,
    cell: str,
    timeout: float = TIMEOUT,
    stacks_dir: Path | None = None,
) -> dict[str, Any]:
    """Runs one cell in a child process; returns how it ended (``outcome``: completes,
    hangs, crashes, error, or cell c's visibility; ``label``: the table's text)."""
    spec = {"cell": cell, "small": SMALL, "large": LARGE, "count": COUNT, "c_counts": C_COUNTS}
    rec: dict[str, Any] = {
        "interpreter": interp.id,
        "pythonmalloc": pythonmalloc,
        "flavour": flavour,
        "cell": cell,
        "predicted": predicted(flavour, cell, raw_hook_takes_gil(interp)),
    }
    t0 = time.monotonic()
    p = subprocess.Popen(
        [interp.command, "-c", CHILD, json.dumps(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(flavour, flavour_dir, pythonmalloc),
        cwd=flavour_dir,
        start_new_session=True,  # the whole group is killed on a hang
    )
    with _LIVE_LOCK:
        _LIVE.add(p)
    try:
        try:
            stdout, stderr = p.communicate(timeout=timeout)
            hung = False
        except subprocess.TimeoutExpired:
            hung = True
            if stacks_dir is not None:
                text = gdb_stacks(p.pid)
                stacks_dir.mkdir(parents=True, exist_ok=True)
                name = f"{interp.id}_{pythonmalloc}_{flavour}_{cell}.txt"
                (stacks_dir / name).write_text(text)
                rec["stack_file"] = f"stacks/{name}"
                rec["stack"] = stack_summary(text, p.pid)
            _kill(p)
            stdout, stderr = p.communicate()
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(p)
    rec["seconds"] = round(time.monotonic() - t0, 3)
    rec["returncode"] = p.returncode
    rec["stderr_tail"] = stderr.strip()[-800:]
    marks = {}
    for line in stdout.splitlines():
        tag, _, body = line.partition(" ")
        if tag.startswith("HAZARD-"):
            marks[tag] = json.loads(body)
    result = marks.get("HAZARD-RESULT")
    if hung:
        where = "" if "HAZARD-START" in marks or cell in ("c", "d") else " before the hazard"
        rec["outcome"], rec["label"] = "hangs", f"hangs{where} (timeout {timeout:g} s)"
    elif p.returncode < 0:
        sig = signal.Signals(-p.returncode).name
        rec["outcome"], rec["label"] = "crashes", f"crashes ({sig})"
    elif "HAZARD-ERROR" in marks:
        rec["outcome"] = "error"
        rec["label"] = f"error ({marks['HAZARD-ERROR']['error'][:80]})"
    elif p.returncode != 0 or result is None:
        rec["outcome"], rec["label"] = "crashes", f"crashes (exit {p.returncode})"
    else:
        rec["result"] = result
        rec["outcome"], rec["label"] = judge(cell, result)
    rec["as_predicted"] = rec["outcome"] == rec["predicted"]
    return rec


def visibility(result: dict[str, Any]) -> str:
    """Cell c: which sizes tracemalloc saw (``small+large``, ``large only``, ``none``, or a
    percentage where the growth is neither ~all nor ~none of the bytes)."""
    seen, partial = [], []
    for name in ("small", "large"):
        share = result[name]["growth"] / result[name]["bytes"]
        if share >= SEEN:
            seen.append(name)
        elif share >= UNSEEN:
            partial.append(f"{name} {100 * share:.0f}%")
    if partial:
        return "partly: " + ", ".join(seen + partial)
    if len(seen) == 2:
        return "small+large"
    return f"{seen[0]} only" if seen else "none"


def judge(cell: str, r: dict[str, Any]) -> tuple[str, str]:
    if cell == "c":
        v = visibility(r)
        return v, v
    if cell == "d":
        if r["smoke_exit"] != 0:
            return "error", f"error (smoke exit {r['smoke_exit']})"
        blocks = (r["blocks_joined"], r["blocks_unwound"])
    else:
        blocks = (r["blocks"],)
    if any(b != r["expected_blocks"] for b in blocks):
        return "error", f"error (blocks {blocks}, expected {r['expected_blocks']})"
    return "completes", "completes"
