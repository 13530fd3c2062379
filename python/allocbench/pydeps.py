"""The workers' packages under another interpreter: pyperf (bench workers), pytest and
hypothesis (the in-flavour tests), installed per CPython minor version into
``build/pydeps/cp<version>`` by the project venv's pip (the sid root's interpreters have
none), and the environment a worker runs with (``worker_env``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from .interpreters import Interpreter, InterpreterError

# What worker processes import besides the flavour: pyperf (bench workers), pytest and
# hypothesis (the in-flavour tests). Pinned as in requirements/dev.txt; their dependencies
# are held to the versions of the project venv. All pure Python or abi3 (psutil).
WORKER_PACKAGES = ("pyperf", "pytest", "hypothesis")


def _root() -> Path:
    from .flavour import ROOT

    return ROOT


def worker_requirements(root: Path | None = None) -> list[str]:
    """``name==version`` of WORKER_PACKAGES, read from requirements/dev.txt."""
    path = (root or _root()) / "requirements" / "dev.txt"
    pins = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s#;]+)", line)
        if m:
            pins[m.group(1).lower()] = f"{m.group(1)}=={m.group(2)}"
    missing = [p for p in WORKER_PACKAGES if p not in pins]
    if missing:
        raise InterpreterError(f"{path} pins no {', '.join(missing)} (name==version)")
    return [pins[p] for p in WORKER_PACKAGES]


def _venv_constraints() -> list[str]:
    from importlib import metadata as md

    out = set()
    for d in md.distributions():
        name = d.metadata.get("Name")
        if name:
            out.add(f"{name}=={d.version}")
    return sorted(out, key=str.lower)


def pydeps_dir(version: str, root: Path | None = None) -> Path:
    """build/pydeps/cp<version>: one per minor version (3.11 and 3.11-debian share it)."""
    return (root or _root()) / "build" / "pydeps" / f"cp{version}"


def install_wheels(
    target: Path,
    requirements: list[str],
    version: str,
    *,
    stamp_name: str,
    constraints: list[str] | None = None,
    error: type[Exception] = InterpreterError,
    quiet: bool = True,
) -> None:
    """``requirements`` (binary wheels for CPython ``version``) installed into ``target`` by
    the project venv's pip (``--target``, ``--python-version``, ``--only-binary=:all:``: the
    interpreters of the sid root have no pip). A stamp in ``target`` holds what was asked;
    unchanged, nothing is installed again. Installers of one parent directory take turns
    (a lock), and ``target`` is replaced whole once the new one is complete, so a failed or
    interrupted install leaves the previous one. A failure raises ``error``."""
    import fcntl
    import tempfile

    constraints = constraints or []
    stamp_text = json.dumps({"requirements": requirements, "constraints": constraints}, indent=1)
    key = hashlib.sha256(stamp_text.encode()).hexdigest()[:16]
    stamp = target / stamp_name
    if stamp.exists() and stamp.read_text() == key:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == key:
            return  # another process installed it while this one waited
        print(
            f"installing {' '.join(requirements)} for CPython {version} into {target}",
            file=sys.stderr,
            flush=True,
        )
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            (tmp / "site").mkdir()
            cmd = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check"]
            cmd += ["--target", str(tmp / "site"), "--python-version", version]
            cmd += ["--implementation", "cp", "--only-binary=:all:", "--no-compile"]
            if constraints:
                cfile = tmp / "constraints.txt"
                cfile.write_text("\n".join(constraints) + "\n")
                cmd += ["-c", str(cfile)]
            cmd += [*(["-q"] if quiet else []), *requirements]
            # Nothing to install (an extension without test requirements): only the stamp.
            out = subprocess.run(cmd, capture_output=True, text=True) if requirements else None
            if out is not None and out.returncode != 0:
                raise error(
                    f"installing {' '.join(requirements)} for CPython {version} failed:\n"
                    + (out.stderr or out.stdout).strip()[-2000:]
                )
            (tmp / "site" / stamp.name).write_text(key)
            old = target.with_name(target.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            if target.exists():
                target.rename(old)
            (tmp / "site").rename(target)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def ensure_pydeps(interp: Interpreter, root: Path | None = None, quiet: bool = True) -> Path:
    """build/pydeps/cp<version>: WORKER_PACKAGES for the interpreter's minor version, pinned
    to the project venv's versions (``install_wheels``). Returns the directory (a PYTHONPATH
    entry of the workers)."""
    target = pydeps_dir(interp.version, root)
    mtime = _stamp_mtime(target)
    if mtime is not None and _PYDEPS_READY.get(target) == mtime:
        return target  # checked in this process already (every worker step asks)
    install_wheels(
        target,
        worker_requirements(root),
        interp.version,
        stamp_name=STAMP,
        constraints=_venv_constraints(),
        quiet=quiet,
    )
    _PYDEPS_READY[target] = _stamp_mtime(target)
    return target


STAMP = ".allocbench-pydeps"
_PYDEPS_READY: dict[Path, float | None] = {}


def _stamp_mtime(target: Path) -> float | None:
    try:
        return (target / STAMP).stat().st_mtime
    except OSError:
        return None


def worker_env(
    interp: Interpreter,
    base: dict[str, str],
    pythonmalloc: str = "default",
    root: Path | None = None,
) -> dict[str, str]:
    """``base`` (a flavour's environment: PYTHONPATH = the flavour) with the interpreter's
    worker packages appended to PYTHONPATH and PYTHONMALLOC set (``default``: unset, which
    CPython treats the same)."""
    env = dict(base)
    deps = str(ensure_pydeps(interp, root))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), deps) if p)
    if pythonmalloc == "default":
        env.pop("PYTHONMALLOC", None)
    else:
        env["PYTHONMALLOC"] = pythonmalloc
    return env
