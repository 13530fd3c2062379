"""CPython interpreters on this machine, by version (the tests' multi-version runs and the
asv tools use the same search)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

SID_ROOT_ENV = "ALLOCBENCH_SID_ROOT"


def sid_root() -> Path:
    """The Debian sid root of ``make pythons`` (allocbench.pythons): $ALLOCBENCH_SID_ROOT, by
    default ~/.cache/allocbench/sid-root."""
    return Path(os.environ.get(SID_ROOT_ENV) or os.path.expanduser("~/.cache/allocbench/sid-root"))


def sid_bin() -> Path:
    """Where ``make pythons`` writes the launchers of sid's interpreters: bin/ beside the root
    (~/.cache/allocbench/bin by default)."""
    return sid_root().parent / "bin"


def find_python(version: str) -> str | None:
    """The path of an interpreter that runs as CPython ``version`` ("3.12"):
    ``python<version>`` on PATH, else the newest ~/.pyenv/versions/<version>.*, else the
    launcher ``make pythons`` made for Debian sid's (python3.14, python3.15; sid's 3.13 is
    ``python3.13-debian``, never found here). Each candidate is run, because a pyenv shim of an
    inactive version is on PATH but fails."""
    pyenv = os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}")
    sid = str(sid_bin() / f"python{version}")
    for c in [f"python{version}", *sorted(glob.glob(pyenv), reverse=True), sid]:
        try:
            out = subprocess.run(
                [c, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0 and out.stdout.strip() == version:
            return shutil.which(c) or c
    return None
