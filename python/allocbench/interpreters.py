"""CPython interpreters on this machine, by version (the tests' multi-version runs and the
asv tools use the same search)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess


def find_python(version: str) -> str | None:
    """The path of an interpreter that runs as CPython ``version`` ("3.12"):
    ``python<version>`` on PATH, else the newest ~/.pyenv/versions/<version>.*. Each
    candidate is run, because a pyenv shim of an inactive version is on PATH but fails."""
    pyenv = os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}")
    for c in [f"python{version}", *sorted(glob.glob(pyenv), reverse=True)]:
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
