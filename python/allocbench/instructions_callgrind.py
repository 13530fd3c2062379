"""Running ``valgrind --tool=callgrind`` on the counting worker and reading what it wrote,
for ``make bench-instructions`` (``allocbench.instructions``): the pinned cache geometry,
the allocators' settings for a repeatable count, the events of a dump and the estimated
cycles they give (L1 hits + 5 x LL hits + 35 x RAM hits)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from . import interpreters
from .flavour import ROOT, subprocess_env

# jemalloc and mimalloc act on the clock: both return memory to the OS on a timer (decay /
# purge delay), and jemalloc's experimental thread-cache GC runs at most once per time
# interval. Under callgrind the clock runs ~50x slower, so that work lands at arbitrary
# points and counts changed from run to run by 0.1 % to 2x. Counting runs switch the
# timers off (the purges they drive are system calls, which callgrind does not count) and
# give jemalloc its byte-count thread-cache GC (jemalloc 5.3.0's); timed runs keep the
# defaults. The report says so next to the table.
CLOCK_FREE_ALLOCATOR_ENV = {
    "_RJEM_MALLOC_CONF": "dirty_decay_ms:-1,muzzy_decay_ms:-1,experimental_tcache_gc:false",
    "MIMALLOC_PURGE_DELAY": "-1",
}

# Callgrind's cache simulation. Valgrind reads the geometry from cpuid, which on this KVM
# guest (AMD EPYC) reports a 256 MiB direct-mapped LL; pinned instead to what the machine
# has (lscpu: 32 KiB 8-way L1i and L1d per core, 32 MiB 16-way L3, 64 B lines), so the
# estimate does not depend on what a hypervisor tells valgrind. Callgrind simulates two
# levels: L1 and the last level (LL).
CACHE_GEOMETRY = {"I1": "32768,8,64", "D1": "32768,8,64", "LL": "33554432,16,64"}
CACHE_SIM_ARGS = ["--cache-sim=yes", *(f"--{k}={v}" for k, v in CACHE_GEOMETRY.items())]
# The events of a cache-simulating run, in callgrind's order.
EVENTS = ("Ir", "Dr", "Dw", "I1mr", "D1mr", "D1mw", "ILmr", "DLmr", "DLmw")
# Estimated cycles = L1 hits + 5 x LL hits + 35 x RAM hits (iai-callgrind's and CodSpeed's
# weights).
CYCLE_WEIGHTS = {"l1": 1, "ll": 5, "ram": 35}


def hits(ev: dict[str, int]) -> dict[str, int]:
    """L1, LL and RAM hits of a callgrind cache-simulation event set: every instruction
    fetch and data access is an L1 hit unless it missed L1; an L1 miss is an LL hit
    unless it missed LL too (then it went to RAM)."""
    accesses = ev["Ir"] + ev["Dr"] + ev["Dw"]
    l1_misses = ev["I1mr"] + ev["D1mr"] + ev["D1mw"]
    ll_misses = ev["ILmr"] + ev["DLmr"] + ev["DLmw"]
    return {"l1": accesses - l1_misses, "ll": l1_misses - ll_misses, "ram": ll_misses}


def est_cycles(ev: dict[str, int]) -> int:
    """Estimated cycles of an event set: L1 hits + 5 x LL hits + 35 x RAM hits."""
    return sum(CYCLE_WEIGHTS[k] * n for k, n in hits(ev).items())


_DESC = re.compile(r"^desc: Trigger: Client Request: (.*)$", re.M)
_EVENTS = re.compile(r"^events: (.*)$", re.M)
_SUMMARY = re.compile(r"^summary: ([\d ]+)$", re.M)


def parse_dump(text: str) -> tuple[str, dict[str, int]] | None:
    """(label, events) of one client-request dump; None for any other dump (the one at
    exit). Callgrind leaves trailing zero events out of the summary line: they count 0."""
    d, e, s = _DESC.search(text), _EVENTS.search(text), _SUMMARY.search(text)
    if not (d and e and s):
        return None
    names, values = e.group(1).split(), [int(v) for v in s.group(1).split()]
    if len(values) > len(names):
        raise ValueError(f"callgrind summary has {len(values)} values for events {names}")
    values += [0] * (len(names) - len(values))
    return d.group(1).strip(), dict(zip(names, values, strict=True))


def parse_dumps(directory: Path) -> dict[str, dict[str, int]]:
    """label -> events (Ir, and with the cache simulation the others of ``EVENTS``) of every
    client-request dump callgrind wrote into ``directory``."""
    counts = {}
    for f in sorted(directory.iterdir()):
        got = parse_dump(f.read_text(errors="replace"))
        if got:
            counts[got[0]] = got[1]
    return counts


# Run by the interpreter inside the sid root: becomes valgrind there (argv follows).
EXEC_IN_ROOT = "import os, sys; os.execvp(sys.argv[1], sys.argv[1:])"


def _here() -> interpreters.Interpreter:
    """This interpreter (the project venv's), as an Interpreter."""
    return interpreters.Interpreter("venv", sys.executable, interpreters.facts())


def callgrind_counts(
    flavour: str,
    filter_re: str,
    root: Path = ROOT,
    python: interpreters.Interpreter | None = None,
    explicit: bool = False,
    cache_sim: bool = True,
) -> dict[str, dict[str, int]]:
    """label -> events of every dump of one callgrind process running the counting worker
    (``python -m allocbench.instructions --worker-count``) of ``flavour`` under ``python``
    (default: this interpreter), with ``explicit`` on every C pair the flavour offers."""
    in_root = python is not None and python.in_sid_root
    if in_root:
        if not (interpreters.sid_root() / "usr" / "bin" / "valgrind").exists():
            raise RuntimeError(
                f"valgrind is not installed in the Debian sid root {interpreters.sid_root()}: "
                "run make pythons (it installs valgrind there)"
            )
        valgrind = "/usr/bin/valgrind"
    else:
        valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise RuntimeError("valgrind is not installed (Debian package valgrind)")
    env = subprocess_env(flavour, root=root)
    env["PYTHONHASHSEED"] = "0"
    # pymalloc stays on: PYTHONMALLOC=malloc would count glibc where pymem calls pymalloc.
    env.pop("PYTHONMALLOC", None)
    env.update(CLOCK_FREE_ALLOCATOR_ENV)
    # A fixed directory, not a random temporary one: the length of valgrind's own command
    # line shifts the client's memory layout, and with it memcpy/memset paths and counts.
    tmp = root / "build" / "callgrind" / flavour
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    cmd = [
        valgrind,
        "--tool=callgrind",
        f"--callgrind-out-file={tmp}/cg.out",
        "--dump-instr=no",
        "--dump-line=no",
        *(CACHE_SIM_ARGS if cache_sim else []),
        python.facts["executable"] if in_root else (python or _here()).command,
        "-m",
        "allocbench.instructions",
        "--worker-count",
        "--filter",
        filter_re,
        *(["--explicit"] if explicit else []),
    ]
    if in_root:
        assert python is not None
        cmd = [python.command, "-c", EXEC_IN_ROOT, *cmd]
    if shutil.which("setarch"):
        cmd = ["setarch", os.uname().machine, "-R", *cmd]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(f"callgrind run of {flavour} failed: {out.stderr[-2000:]}")
    return parse_dumps(tmp)
