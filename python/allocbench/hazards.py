"""The hazard matrix: the evidence PyO3's PR 6279 (a ``PyMem_Raw`` global allocator) asks
for, per flavour x interpreter x ``PYTHONMALLOC``.

    python -m allocbench.hazards [--flavours pymem,system] [--pythons 3.11,3.15,3.11-debian]
                                 [--pythonmalloc default,malloc,mimalloc,debug]
                                 [--cells a,b,c,d,a-small,a-large] [--timeout 20]
                                 [--no-stacks] [--out results/hazards/<run id>/hazards.json]

The hazard: with tracemalloc tracing, CPython <= 3.14's raw-domain hook calls
``PyGILState_Ensure`` on alloc/realloc (gh-155725, fixed in 3.15). A thread holding the GIL
that waits for a Rust thread whose allocations reach the raw domain therefore waits forever.
The cells (``CELLS``; the Rust side is ``rustext/src/hazards.rs``):

* ``a``: tracemalloc on, the GIL holder joins, *without* detaching, a Rust thread that
  allocates and frees 64 B and 64 KiB blocks; ``a-small`` / ``a-large``: the same with one
  size only (which of a flavour's paths takes the GIL);
* ``b``: the same wait inside a ``Drop`` during panic unwinding (``catch_unwind`` in the
  pyfunction; a guard's ``drop`` joins the thread);
* ``c``: which Rust blocks tracemalloc sees: N blocks of each size made on the attached
  thread, traced growth measured while they are live: ``small+large``, ``large only``,
  ``none`` (seen = at least 90 % of the bytes, unseen = under 10 %);
* ``d``: clean without tracemalloc: both hazard functions and ``python -m allocbench smoke``
  exit 0 (under ``PYTHONMALLOC=debug`` the debug hooks abort on a violation).

Every cell runs in its own child process (at most two at once) with a timeout: a child that
does not finish is reported as ``hangs (timeout N s)`` and killed (first, unless ``--no-stacks``,
gdb's backtrace of every thread, stored in ``stacks/``); one killed by a signal ``crashes
(SIGABRT)``. The run uses a private copy of each flavour taken at its start (another build
of ``build/flavours`` during the run cannot change it; the extension's sha256 is recorded).

Interpreters: the ids of the PY knob (``allocbench.interpreters.IDS``: pyenv's 3.11-3.13,
Debian sid's optimised 3.14/3.15/3.13-debian of ``make pythons``, bookworm's 3.11-debian),
or ``label=/path/to/python``; found, described and refused (free-threaded builds) by
``allocbench.interpreters``. Missing ones are listed. Each interpreter's record says whether
tracemalloc's raw hook is *expected* to take the GIL (version <= 3.14) and each cell what
that predicts; the tables show what was measured, and ``surprises`` where they differ.

One cell (its child process, prediction and verdict): ``allocbench.hazards_cell``; the
stored record and its Markdown: ``allocbench.hazards_report``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from . import FLAVOURS, interpreters
from .flavour import ENV_VAR, ROOT, check_name
from .hazards_cell import (
    C_COUNTS,
    COUNT,
    LARGE,
    SEEN,
    SMALL,
    TIMEOUT,
    UNSEEN,
    Interpreter,
    kill_all,
    raw_hook_takes_gil,
    run_cell,
)
from .hazards_report import write

FORMAT = "allocbench-hazards/1"
INTERPRETERS = tuple(interpreters.IDS)  # the PY knob's ids
PYTHONMALLOCS = ("default", "malloc", "mimalloc", "debug")
CELLS = {
    "a": "tracemalloc on; the GIL holder joins (no detach) a Rust thread allocating 64 B + 64 KiB",
    "b": "as a, the join inside a Drop during panic unwinding (catch_unwind in the pyfunction)",
    "c": "tracemalloc sees the Rust blocks (N blocks per size made on the attached thread)",
    "d": "no tracemalloc: both hazard functions and `allocbench smoke` exit 0",
    "a-small": "as a, 64 B blocks only",
    "a-large": "as a, 64 KiB blocks only",
}
MAX_PARALLEL = 2  # a 2-core machine: never more children at once
HAZARD_FUNCTIONS = (
    "hazard_join_allocating_thread",
    "hazard_join_in_unwinding_drop",
    "hazard_traced_growth",
)


class HazardError(RuntimeError):
    """The matrix cannot run as asked (the message says why and what to do)."""


# ---- interpreters ----------------------------------------------------------------------------


# The interpreters are allocbench.interpreters' (ids, location, facts, refusals); the matrix
# adds only its prediction (hazards_cell.raw_hook_takes_gil) and a label for ``label=/path``
# interpreters.


def record(interp: Interpreter) -> dict[str, Any]:
    f = interp.facts
    return {
        "command": interp.command,
        "implementation": f["implementation"],
        "version": f["version"],
        "version_info": f["version_info"],
        "sys_version": f["sys_version"],
        "executable": f["executable"],
        "gil_disabled_build": f["gil_disabled_build"],
        "gil_enabled": f["gil_enabled"],
        "libc": f"glibc {f.get('glibc', 'unknown')}",
        "build": interpreters.summary(f),
        "pythonmalloc_mimalloc": pythonmalloc_applies(interp, "mimalloc"),
        "tracemalloc_raw_hook_takes_gil_expected": raw_hook_takes_gil(interp),
        "why_expected": "CPython <= 3.14 (gh-155725, fixed in 3.15 by PR 156409)",
    }


def resolve(idents: Iterable[str]) -> tuple[list[Interpreter], dict[str, str], dict[str, str]]:
    """(present interpreters, missing id -> why, refused id -> why). An ident is a PY id or
    ``label=/path/to/python``."""
    found, missing, refused = [], {}, {}
    for ident in idents:
        label, _, path = ident.partition("=")
        name = os.path.abspath(path) if path else ident
        if name not in interpreters.IDS and not path:
            raise HazardError(f"unknown interpreter {ident!r}: one of {', '.join(INTERPRETERS)}")
        if interpreters.locate(name) is None:
            missing[label] = interpreters.missing_hint(name)
            continue
        try:
            interp = interpreters.resolve(name)
        except interpreters.UnsupportedInterpreter as e:
            refused[label] = str(e)
            continue
        except interpreters.InterpreterError as e:
            missing[label] = str(e)
            continue
        found.append(dataclasses.replace(interp, id=label))
    return found, missing, refused


def pythonmalloc_applies(interp: Interpreter, value: str) -> bool:
    """Whether the interpreter takes PYTHONMALLOC=value (debug and malloc: every one)."""
    if value not in interpreters.PYTHONMALLOC_VALUES:
        return True
    try:
        interpreters.check_pythonmalloc(value, interp)
    except interpreters.InterpreterError:
        return False
    return True


# ---- flavours: a private copy for the whole run ---------------------------------------------


def so_path(flavour_dir: Path) -> Path:
    found = sorted((flavour_dir / "allocbench").glob("_rustext*.so"))
    if not found:
        raise HazardError(f"{flavour_dir} holds no built extension (allocbench/_rustext*.so)")
    return found[0]


def snapshot(flavours: list[str], src_root: Path, dest: Path, wait: float = 600) -> dict:
    """Copies each built flavour to ``dest`` (a consistent copy: the build's stamp exists and
    is unchanged across the copy; a build in progress is waited for) and checks that it loads
    and has the hazard functions. Returns the facts per flavour."""
    facts = {}
    for f in flavours:
        src, dst = src_root / f, dest / f
        deadline = time.monotonic() + wait
        while True:
            stamp = src / ".stamp"
            if stamp.exists():
                before = stamp.stat().st_mtime_ns
                shutil.rmtree(dst, ignore_errors=True)
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
                if stamp.exists() and stamp.stat().st_mtime_ns == before:
                    break
            if time.monotonic() > deadline:
                raise HazardError(f"flavour {f} is not built in {src}: make build FLAVOUR={f}")
            time.sleep(2)
        code = (
            "import json, allocbench.flavour as f; m = f.load(); "
            f"print(json.dumps({{'build': m.build_info(), 'has': [hasattr(m, n) for n in "
            f"{list(HAZARD_FUNCTIONS)!r}]}}))"
        )
        env = {**os.environ, "PYTHONPATH": str(dst), ENV_VAR: f}
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
        )
        if out.returncode != 0:
            raise HazardError(f"flavour {f} does not load: {out.stderr.strip()[-400:]}")
        info = json.loads(out.stdout.strip().splitlines()[-1])
        if not all(info["has"]):
            raise HazardError(
                f"flavour {f} was built without the hazard functions (rustext/src/hazards.rs): "
                f"make build FLAVOUR={f}"
            )
        so = so_path(dst)
        facts[f] = {
            "source": str(src),
            "extension_sha256": hashlib.sha256(so.read_bytes()).hexdigest(),
            "build_info": info["build"],
        }
    return facts


# ---- the matrix -----------------------------------------------------------------------------


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=30
        )
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def run_matrix(
    flavours: list[str],
    interps: list[Interpreter],
    pythonmallocs: list[str],
    cells: list[str],
    *,
    timeout: float = TIMEOUT,
    parallel: int = MAX_PARALLEL,
    out_dir: Path,
    flavours_root: Path | None = None,
    stacks: bool = False,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Runs every cell (at most ``parallel`` <= 2 children at once); returns the record that
    ``write`` stores."""
    if not 1 <= parallel <= MAX_PARALLEL:
        raise HazardError(f"parallel must be 1..{MAX_PARALLEL} (a 2-core machine)")
    started = time.monotonic()
    t_start = dt.datetime.now(dt.UTC)
    work = Path(tempfile.mkdtemp(prefix="allocbench-hazards-"))
    try:
        fl_facts = snapshot(flavours, flavours_root or ROOT / "build" / "flavours", work)
        jobs = [
            (i, pm, f, c)
            for i in interps
            for pm in pythonmallocs
            if pythonmalloc_applies(i, pm)
            for f in flavours
            for c in cells
        ]
        results: list[dict[str, Any]] = []
        lock = threading.Lock()

        def one(job):
            i, pm, f, c = job
            t = time.monotonic() - started
            r = run_cell(f, work / f, i, pm, c, timeout, out_dir / "stacks" if stacks else None)
            r["start_s"], r["end_s"] = round(t, 3), round(time.monotonic() - started, 3)
            with lock:
                results.append(r)
                progress(f"[{len(results)}/{len(jobs)}] {i.id} {pm} {f} ({c}): {r['label']}")
            return r

        try:
            with ThreadPoolExecutor(max_workers=parallel) as pool:
                list(pool.map(one, jobs))
        except BaseException:
            kill_all()
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    order = {(i.id, pm, f, c): n for n, (i, pm, f, c) in enumerate(jobs)}
    results.sort(
        key=lambda r: order[(r["interpreter"], r["pythonmalloc"], r["flavour"], r["cell"])]
    )
    return {
        "format": FORMAT,
        "started": t_start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "wall_s": round(time.monotonic() - started, 1),
        "git_commit": git_commit(),
        "machine": os.uname().nodename,
        "timeout_s": timeout,
        "parallel": parallel,
        "cells": {c: CELLS[c] for c in cells},
        "parameters": {
            "small": SMALL,
            "large": LARGE,
            "count": COUNT,
            "c_counts": C_COUNTS,
            "c_seen_fraction": SEEN,
            "c_unseen_fraction": UNSEEN,
        },
        "flavours": fl_facts,
        "pythonmalloc": pythonmallocs,
        "interpreters": {i.id: record(i) for i in interps},
        "results": results,
    }


def split(text: str) -> list[str]:
    return [x for x in re.split(r"[,\s]+", text.strip()) if x]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m allocbench.hazards", description=__doc__)
    ap.add_argument("--flavours", default=",".join(FLAVOURS))
    ap.add_argument(
        "--pythons",
        default=",".join(INTERPRETERS),
        help="interpreter ids (" + ", ".join(INTERPRETERS) + ") or label=/path/to/python",
    )
    ap.add_argument("--pythonmalloc", default=",".join(PYTHONMALLOCS))
    ap.add_argument("--cells", default=",".join(CELLS))
    ap.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds per cell")
    ap.add_argument("--parallel", type=int, default=MAX_PARALLEL, help="children at once (1-2)")
    ap.add_argument("--results", default=str(ROOT / "results"), help="results root")
    ap.add_argument("--out", help="the JSON (default <results>/hazards/<run id>/hazards.json)")
    ap.add_argument("--run-id")
    ap.add_argument(
        "--stacks",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="a gdb backtrace of every hung cell, before it is killed (default: on)",
    )
    ap.add_argument("--flavours-root", default=str(ROOT / "build" / "flavours"))
    a = ap.parse_args(argv)
    try:
        flavours = [check_name(f) for f in split(a.flavours)]
    except (TypeError, ValueError) as e:
        ap.error(f"--flavours: {e}")
    for name, values, allowed in (
        ("--pythonmalloc", split(a.pythonmalloc), PYTHONMALLOCS),
        ("--cells", split(a.cells), tuple(CELLS)),
    ):
        bad = [v for v in values if v not in allowed]
        if bad or not values:
            ap.error(f"{name}: {bad or 'none given'}; allowed: {', '.join(allowed)}")
    if not a.timeout > 0:
        ap.error("--timeout must be > 0")
    if not 1 <= a.parallel <= MAX_PARALLEL:
        ap.error(f"--parallel must be 1..{MAX_PARALLEL}")
    run_id = a.run_id or dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", run_id):
        ap.error(f"--run-id must be letters, digits, '.', '_' or '-'; got {run_id!r}")
    json_path = Path(a.out) if a.out else Path(a.results) / "hazards" / run_id / "hazards.json"
    if json_path.exists():
        ap.error(f"{json_path} exists: runs are never overwritten")
    try:
        interps, missing, refused = resolve(split(a.pythons))
    except HazardError as e:
        ap.error(str(e))
    for ident, why in missing.items():
        print(f"hazards: interpreter {ident} is missing: {why}", file=sys.stderr)
    for ident, why in refused.items():
        print(f"hazards: interpreter {ident} refused: {why}", file=sys.stderr)
    if not interps:
        print("hazards: no interpreter to run on", file=sys.stderr)
        return 2
    for i in interps:
        print(f"hazards: {i.id}: {i.facts['sys_version']} [{i.command}]", flush=True)
    try:
        data = run_matrix(
            flavours,
            interps,
            split(a.pythonmalloc),
            split(a.cells),
            timeout=a.timeout,
            parallel=a.parallel,
            out_dir=json_path.parent,
            flavours_root=Path(a.flavours_root),
            stacks=a.stacks,
            progress=lambda s: print(s, flush=True),
        )
    except HazardError as e:
        print(f"hazards: {e}", file=sys.stderr)
        return 2
    args = sys.argv[1:] if argv is None else argv
    data.update(run_id=run_id, command=["python", "-m", "allocbench.hazards", *args])
    data.update(missing=missing, refused=refused)
    md = write(data, json_path)
    print(md.read_text())
    print(f"written: {json_path} and {md.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
