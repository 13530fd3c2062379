"""Helpers shared by the top-level tests (each flavour runs in a child process)."""

from __future__ import annotations

import os
import subprocess
import sys
from functools import cache
from pathlib import Path

from allocbench import FLAVOURS
from allocbench.flavour import flavour_dir, subprocess_env
from allocbench.interpreters import find_python

ROOT = Path(__file__).resolve().parents[1]
__all__ = ["FLAVOURS", "ROOT", "VERSIONS", "built", "need_python", "pythons", "run_flavour"]


def built(flavour: str) -> bool:
    return (flavour_dir(flavour, ROOT) / ".stamp").exists()


# The interpreters the README promises the suite runs on. A missing one fails the tests
# that need it (never a silent skip that lets `make test` pass); a developer without one
# may say so explicitly with ALLOCBENCH_SKIP_MISSING_PYTHONS=1.
VERSIONS = ("3.11", "3.12", "3.13")


@cache
def pythons() -> dict[str, str | None]:
    """CPython 3.11-3.13 found on this machine (PATH, then ~/.pyenv), None where absent."""
    return {v: find_python(v) for v in VERSIONS}


def need_python(version: str) -> str:
    """The interpreter for ``version``; fails the test when it is missing (skips only
    under ALLOCBENCH_SKIP_MISSING_PYTHONS=1)."""
    import pytest

    p = pythons()[version]
    if p is None:
        why = (
            f"CPython {version} is not installed on this machine (looked for python{version} "
            f"on PATH and ~/.pyenv/versions/{version}.*): install it, e.g. pyenv install "
            f"{version}, or set ALLOCBENCH_SKIP_MISSING_PYTHONS=1 to skip its tests"
        )
        if os.environ.get("ALLOCBENCH_SKIP_MISSING_PYTHONS") == "1":
            pytest.skip(why)
        pytest.fail(why)
    return p


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
