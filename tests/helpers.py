"""Helpers shared by the top-level tests (each flavour runs in a child process)."""

from __future__ import annotations

import subprocess
import sys
from functools import cache
from pathlib import Path

from allocbench import FLAVOURS
from allocbench.flavour import flavour_dir, subprocess_env
from allocbench.interpreters import find_python

ROOT = Path(__file__).resolve().parents[1]
__all__ = ["FLAVOURS", "ROOT", "built", "pythons", "run_flavour"]


def built(flavour: str) -> bool:
    return (flavour_dir(flavour, ROOT) / ".stamp").exists()


@cache
def pythons() -> dict[str, str | None]:
    """CPython 3.11-3.13 found on this machine (PATH, then ~/.pyenv), None where absent."""
    return {v: find_python(v) for v in ("3.11", "3.12", "3.13")}


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
