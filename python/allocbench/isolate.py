"""Running one workload in a child process of a flavour, with an optional address-space
limit (RLIMIT_AS) and a timeout, and turning every way it can end into a clear outcome.

An allocator that runs out of memory inside Rust aborts the process (`handle_alloc_error`);
that must never take the caller (a benchmark run, a test) down with it, nor leave a half
result behind: the caller gets ``WorkloadOutOfMemory`` naming the workload and the limit.
"""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import catalogue
from .flavour import check_name, subprocess_env


class WorkloadFailed(RuntimeError):
    """The child process failed; the message names the workload and how it ended."""


class WorkloadOutOfMemory(WorkloadFailed):
    """The workload ran out of memory under the given address-space limit."""


class WorkloadTimeout(WorkloadFailed):
    """The workload did not finish within the timeout (the child is killed)."""


MEMORY_LIMIT_RANGE = (16 << 20, 1 << 46)


def check_memory_limit(memory_limit: int | None) -> int | None:
    """None (no limit) or an address-space limit in bytes within MEMORY_LIMIT_RANGE."""
    lo, hi = MEMORY_LIMIT_RANGE
    if memory_limit is not None and (
        not isinstance(memory_limit, int)
        or isinstance(memory_limit, bool)
        or not lo <= memory_limit <= hi
    ):
        raise ValueError(f"memory_limit must be an int in {lo}..{hi} bytes; got {memory_limit!r}")
    return memory_limit


def limit_address_space(nbytes: int | None):
    """A ``preexec_fn`` that sets RLIMIT_AS in the child (None: no limit)."""
    if nbytes is None:
        return None

    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (nbytes, nbytes))

    return apply


def failure(out: subprocess.CompletedProcess, label: str, memory_limit: int | None):
    """The exception for a child that exited non-zero: WorkloadOutOfMemory when it ran out
    of memory under ``memory_limit``, else WorkloadFailed; the message names ``label``,
    how the child ended and its last line of output."""
    stderr = out.stderr or ""
    tail = (stderr.strip().splitlines() or ["(no output)"])[-1]
    how = (
        f"killed by {signal.Signals(-out.returncode).name}"
        if out.returncode < 0
        else f"exit status {out.returncode}"
    )
    limit_text = (
        f"RLIMIT_AS={memory_limit} bytes ({memory_limit / (1 << 20):.0f} MiB)"
        if memory_limit is not None
        else "no memory limit"
    )
    oom = "memory allocation of" in stderr or "MemoryError" in stderr
    if memory_limit is not None and (oom or out.returncode == -signal.SIGABRT):
        return WorkloadOutOfMemory(
            f"workload {label} ran out of memory under {limit_text} ({how}): {tail}"
        )
    return WorkloadFailed(f"workload {label} failed ({how}, {limit_text}): {tail}")


def run_workload(
    flavour: str,
    name: str,
    params: Mapping[str, Any],
    *,
    loops: int | None = None,
    memory_limit: int | None = None,
    timeout: float = 600.0,
    python: str | None = None,
    root: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Runs catalogue workload ``name`` in a fresh process of ``flavour``; returns what
    ``python -m allocbench run`` prints (a dict). Parameters are validated here first."""
    check_name(flavour)
    w = catalogue.get(name)
    checked = w.validate(dict(params))
    if w.timed:
        catalogue.LOOPS.check(name, loops)
    check_memory_limit(memory_limit)
    if not (isinstance(timeout, int | float) and 0 < timeout <= 86400):
        raise ValueError(f"timeout must be a number of seconds in (0, 86400]; got {timeout!r}")
    args = [python or sys.executable, "-m", "allocbench", "run", name]
    for k, v in checked.items():
        args += ["--param", f"{k}={str(v).lower() if isinstance(v, bool) else v}"]
    if loops is not None:
        args += ["--loops", str(loops)]
    child_env = subprocess_env(flavour, root=root)
    child_env.update(env or {})
    label = f"{w.label(checked)} (flavour {flavour})"
    try:
        out = subprocess.run(
            args,
            env=child_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=limit_address_space(memory_limit),
        )
    except subprocess.TimeoutExpired:
        raise WorkloadTimeout(f"workload {label} did not finish within {timeout} s") from None
    if out.returncode == 0:
        return json.loads(out.stdout)
    raise failure(out, label, memory_limit)
