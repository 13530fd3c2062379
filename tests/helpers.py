"""Helpers shared by the top-level tests (each flavour runs in a child process)."""

from __future__ import annotations

import os
import subprocess
import sys
from functools import cache
from pathlib import Path

from allocbench import FLAVOURS, interpreters, pydeps
from allocbench.flavour import flavour_dir, subprocess_env

ROOT = Path(__file__).resolve().parents[1]
__all__ = ["FLAVOURS", "PYTHONS", "ROOT", "VERSIONS", "built", "need_python", "pythons"]
__all__ += ["clean_env", "run_flavour", "run_flavour_on"]


def built(flavour: str) -> bool:
    return (flavour_dir(flavour, ROOT) / ".stamp").exists()


# The interpreters the README promises the suite runs on (ids of allocbench.interpreters):
# pyenv's 3.11-3.13 and Debian sid's 3.14 and 3.15 (`make pythons`, which CI runs first). A
# missing one fails the tests that need it (never a silent skip that lets `make test` pass);
# a developer without one may say so explicitly with ALLOCBENCH_SKIP_MISSING_PYTHONS=1.
VERSIONS = ("3.11", "3.12", "3.13", "3.14", "3.15")


def selected_pythons(text: str | None = None) -> tuple[str, ...]:
    """The interpreters of the per-interpreter tests (in-flavour suite, debug hooks, stress):
    ``make test PY=3.15`` (ALLOCBENCH_PY: ids, comma-separated; any id of
    allocbench.interpreters, e.g. 3.11-debian), else VERSIONS."""
    text = os.environ.get("ALLOCBENCH_PY", "") if text is None else text
    return tuple(interpreters.parse_ids(text)) if text.strip() else VERSIONS


PYTHONS = selected_pythons()


@cache
def _locate(name: str) -> str | None:
    return interpreters.locate(name)


def pythons() -> dict[str, str | None]:
    """The interpreters of VERSIONS found on this machine, None where absent."""
    return {v: _locate(v) for v in VERSIONS}


def need_python(name: str) -> str:
    """The command of interpreter ``name`` ("3.15", "3.11-debian"); fails the test when it
    is missing (skips only under ALLOCBENCH_SKIP_MISSING_PYTHONS=1)."""
    import pytest

    p = _locate(name)
    if p is None:
        why = (
            f"CPython {name} is not on this machine: {interpreters.missing_hint(name)}; or set "
            "ALLOCBENCH_SKIP_MISSING_PYTHONS=1 to skip its tests"
        )
        if os.environ.get("ALLOCBENCH_SKIP_MISSING_PYTHONS") == "1":
            pytest.skip(why)
        pytest.fail(why)
    return p


@cache
def _interpreter(name: str) -> interpreters.Interpreter:
    return interpreters.resolve(name)


def run_flavour_on(
    name: str,
    flavour: str,
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 600,
):
    """Runs ``args`` under interpreter ``name`` with ``flavour`` on the path and that
    interpreter's worker packages (pytest, hypothesis, pyperf: build/pydeps) after it, as the
    bench workers run; returns the CompletedProcess."""
    need_python(name)
    interp = _interpreter(name)
    e = pydeps.worker_env(interp, subprocess_env(flavour, root=ROOT), root=ROOT)
    e.update(env or {})
    return subprocess.run(
        [interp.command, *args], cwd=ROOT, env=e, capture_output=True, text=True, timeout=timeout
    )


def run_flavour(
    flavour: str,
    args: list[str],
    *,
    python: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 600,
):
    """Runs ``python args`` with ``flavour`` on the path; returns the CompletedProcess."""
    e = subprocess_env(flavour, root=ROOT)
    e.pop("PYTHONMALLOC", None)
    e.update(env or {})
    return subprocess.run(
        [python or sys.executable, *args],
        cwd=ROOT,
        env=e,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def clean_env() -> dict[str, str]:
    """The environment for a nested ``make`` or ``python -m allocbench…`` child."""
    env = dict(os.environ)
    # Knobs of an outer `make test PY=…` reach a nested make through these: not here (the
    # smoke run checks the default interpreter).
    for name in ("PYTHONMALLOC", "FLAVOURS", "PY", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        env.pop(name, None)
    return env
