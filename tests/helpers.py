"""Helpers shared by the top-level tests (each flavour runs in a child process)."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

from allocbench import FLAVOURS
from allocbench.flavour import flavour_dir, subprocess_env

ROOT = Path(__file__).resolve().parents[1]
__all__ = ["FLAVOURS", "ROOT", "built", "pythons", "run_flavour"]


def built(flavour: str) -> bool:
    return (flavour_dir(flavour, ROOT) / ".stamp").exists()


@cache
def pythons() -> dict[str, str | None]:
    """CPython 3.11-3.13 found on this machine (PATH, then ~/.pyenv), None where absent."""
    found: dict[str, str | None] = {}
    for minor in (11, 12, 13):
        v = f"3.{minor}"
        candidates = [
            f"python{v}",
            *sorted(
                glob.glob(os.path.expanduser(f"~/.pyenv/versions/{v}.*/bin/python{v}")),
                reverse=True,
            ),
        ]
        found[v] = None
        for c in candidates:
            try:
                out = subprocess.run(
                    [c, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                    capture_output=True,
                    text=True,
                    timeout=30,
                )
            except (OSError, subprocess.TimeoutExpired):
                continue
            if out.returncode == 0 and out.stdout.strip() == v:
                found[v] = c
                break
    return found


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
