"""CPython interpreters on this machine: by version (``find_python``, the tests' and asv
tools' search) and by the suite's interpreter ids (``PY=3.15``: ``resolve``), what each one
is (``facts``: version, build, C library), the refusal of free-threaded builds, the
``PYTHONMALLOC`` values each accepts. The pure-Python packages (pyperf, pytest, hypothesis)
its worker processes need: ``allocbench.pydeps``.

The ids, in one place (``IDS``): "3.11", "3.12", "3.13" are ``python3.1x`` on PATH or the
newest ~/.pyenv build (unoptimised builds linking libpython shared, on this machine kind);
"3.14", "3.15" and "3.13-debian" are Debian sid's optimised builds in the root ``make
pythons`` makes (run through its launchers, on sid's glibc); "3.11-debian" is Debian
bookworm's own optimised ``/usr/bin/python3.11`` on the host's glibc. An absolute path to an
interpreter is accepted too (it is described like the others).

The facts come from the interpreter itself (``_probe``, run in it): linkage is read from
``/proc/self/maps`` (a mapped libpython = shared; sysconfig's Py_ENABLE_SHARED says 1 for
Debian's statically linked python3.1x), PGO/LTO from CONFIG_ARGS and the compiler flags
(Debian drives both from its packaging rules, so a distribution build says so instead), and
glibc from ``confstr``: inside the sid root a result changes interpreter and C library at
once, and both are recorded so they can be told apart.
"""

# size: just over 400 lines, one concern: the interpreter ids and what each one is (found,
# probed, described, refused); what its workers import is allocbench.pydeps.

from __future__ import annotations

import contextlib
import glob
import inspect
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import split_names

SID_ROOT_ENV = "ALLOCBENCH_SID_ROOT"


def sid_root() -> Path:
    """The Debian sid root of ``make pythons`` (allocbench.pythons): $ALLOCBENCH_SID_ROOT, by
    default ~/.cache/allocbench/sid-root."""
    return Path(os.environ.get(SID_ROOT_ENV) or os.path.expanduser("~/.cache/allocbench/sid-root"))


def sid_bin() -> Path:
    """Where ``make pythons`` writes the launchers of sid's interpreters: bin/ beside the root
    (~/.cache/allocbench/bin by default)."""
    return sid_root().parent / "bin"


def _reports_version(command: str, version: str) -> bool:
    try:
        out = subprocess.run(
            [command, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip() == version


def find_python(version: str) -> str | None:
    """The path of an interpreter that runs as CPython ``version`` ("3.12"):
    ``python<version>`` on PATH, else the newest ~/.pyenv/versions/<version>.*, else the
    launcher ``make pythons`` made for Debian sid's (python3.14, python3.15; sid's 3.13 is
    ``python3.13-debian``, never found here). Each candidate is run, because a pyenv shim of an
    inactive version is on PATH but fails."""
    pyenv = os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}")
    sid = str(sid_bin() / f"python{version}")
    for c in [f"python{version}", *sorted(glob.glob(pyenv), reverse=True), sid]:
        if _reports_version(c, version):
            return shutil.which(c) or c
    return None


# ---- the interpreter ids -------------------------------------------------------------------


@dataclass(frozen=True)
class Id:
    """One interpreter id of the PY knob."""

    name: str
    version: str  # "3.15"
    what: str  # for the allowed list and the messages
    optimised: bool  # a distribution's PGO/LTO build
    sid: bool  # lives in the make pythons root


IDS: dict[str, Id] = {
    i.name: i
    for i in (
        Id("3.11", "3.11", "python3.11 on PATH or pyenv's (unoptimised, shared)", False, False),
        Id("3.12", "3.12", "python3.12 on PATH or pyenv's (unoptimised, shared)", False, False),
        Id("3.13", "3.13", "python3.13 on PATH or pyenv's (unoptimised, shared)", False, False),
        Id("3.14", "3.14", "Debian sid's python3.14 (optimised, static; make pythons)", True, True),
        Id("3.15", "3.15", "Debian sid's python3.15 (optimised, static; make pythons)", True, True),
        Id("3.11-debian", "3.11", "Debian bookworm's /usr/bin/python3.11 (optimised)", True, False),
        Id("3.13-debian", "3.13", "Debian sid's python3.13 (optimised; make pythons)", True, True),
    )
}
# `make bench` without PY: the newest optimised CPython present, in this order.
DEFAULT_ORDER = ("3.15", "3.14", "3.13-debian", "3.11-debian")
DEBIAN_HOST_PYTHON = "/usr/bin/python3.11"
PYTHONMALLOC_VALUES = ("default", "pymalloc", "malloc", "mimalloc")


class InterpreterError(ValueError):
    """An interpreter id that is unknown, absent, or refused (the message says why)."""


class UnsupportedInterpreter(InterpreterError):
    """An interpreter that is present but refused by ``check_supported``."""


class FreeThreadedError(UnsupportedInterpreter):
    """A free-threaded build: the suite does not run on one (see ``check_supported``)."""


def allowed() -> str:
    return ", ".join(IDS) + " or an absolute path to a CPython"


def check_id(name: str) -> str:
    if not isinstance(name, str):
        raise InterpreterError(f"interpreter must be a str, one of {allowed()}; got {name!r}")
    if name not in IDS and not name.startswith("/"):
        raise InterpreterError(f"unknown interpreter {name!r}: one of {allowed()}")
    return name


def parse_ids(text: str) -> list[str]:
    """``3.11,3.15`` (commas or spaces) -> checked, de-duplicated ids."""
    names = split_names(
        text or "",
        check_id,
        lambda n: InterpreterError(f"interpreter {n!r} is named twice in {text!r}"),
    )
    if not names:
        raise InterpreterError(f"name at least one interpreter: {allowed()}")
    return names


def locate(name: str) -> str | None:
    """The command that runs interpreter ``name`` (an interpreter or a sid launcher), or None
    when it is not on this machine."""
    check_id(name)
    if name.startswith("/"):
        return name if os.access(name, os.X_OK) and not os.path.isdir(name) else None
    if name == "3.11-debian":
        return DEBIAN_HOST_PYTHON if _reports_version(DEBIAN_HOST_PYTHON, "3.11") else None
    if name == "3.13-debian":
        launcher = sid_bin() / "python3.13-debian"
        return str(launcher) if _reports_version(str(launcher), "3.13") else None
    return find_python(IDS[name].version)


def missing_hint(name: str) -> str:
    i = IDS.get(name)
    if i is None:
        return f"{name} is not an executable file"
    if i.sid:
        return (
            f"{i.what}: run `make pythons` (it makes the Debian sid root {sid_root()} and the "
            f"launchers in {sid_bin()})"
        )
    if name == "3.11-debian":
        return f"{DEBIAN_HOST_PYTHON} does not run here (apt-get install python3.11)"
    return (
        f"looked for python{i.version} on PATH and ~/.pyenv/versions/{i.version}.*: install "
        f"it, e.g. pyenv install {i.version}"
    )


# ---- what an interpreter is ----------------------------------------------------------------


def _probe() -> dict:
    """Runs inside the interpreter described (standard library only; its source is sent to
    other interpreters as is): the facts ``describe`` and every result record."""
    import os
    import platform
    import site
    import sys
    import sysconfig

    libs = set()
    with contextlib.suppress(OSError), open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            if os.path.basename(path).startswith("libpython"):
                libs.add(path)
    os_name = ""
    with contextlib.suppress(OSError), open("/etc/os-release") as f:
        for line in f:
            if line.startswith("PRETTY_NAME="):
                os_name = line.partition("=")[2].strip().strip("\"'")
    cv = sysconfig.get_config_var
    gil = getattr(sys, "_is_gil_enabled", None)
    try:
        sites = site.getsitepackages()
    except AttributeError:
        sites = []
    return {
        "implementation": sys.implementation.name,
        "version": platform.python_version(),
        "version_info": list(sys.version_info[:2]),
        "sys_version": " ".join(sys.version.split()),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "libpython": sorted(libs),
        "py_enable_shared": cv("Py_ENABLE_SHARED"),
        "config_args": cv("CONFIG_ARGS") or "",
        "cflags": " ".join(str(cv(k) or "") for k in ("PY_CFLAGS", "PY_CFLAGS_NODIST")).strip(),
        "ldflags": str(cv("PY_LDFLAGS_NODIST") or "").strip(),
        "compiler": platform.python_compiler(),
        "gil_disabled_build": bool(cv("Py_GIL_DISABLED")),
        "gil_enabled": bool(gil()) if gil is not None else True,
        "with_pymalloc": bool(cv("WITH_PYMALLOC")),
        "with_mimalloc": bool(cv("WITH_MIMALLOC")),
        "debug_build": hasattr(sys, "gettotalrefcount"),
        "glibc": os.confstr("CS_GNU_LIBC_VERSION") or "unknown",
        "os": os_name or "unknown",
        "dist_packages": any("dist-packages" in p for p in sites),
    }


def facts() -> dict[str, Any]:
    """The facts of the running interpreter (what a worker records about itself)."""
    return _probe()


PROBE_SOURCE = (
    "import contextlib, json\n"
    + inspect.getsource(_probe)
    + "print('ALLOCBENCH-FACTS ' + json.dumps(_probe()))\n"
)


def probe(command: str, timeout: float = 120) -> dict[str, Any]:
    """The facts of the interpreter ``command`` runs (run in it)."""
    env = dict(os.environ)
    env.pop("PYTHONMALLOC", None)
    try:
        out = subprocess.run(
            [command, "-c", PROBE_SOURCE], capture_output=True, text=True, timeout=timeout, env=env
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise InterpreterError(f"{command} does not run: {e}") from None
    lines = [x for x in out.stdout.splitlines() if x.startswith("ALLOCBENCH-FACTS ")]
    if out.returncode != 0 or not lines:
        tail = (out.stderr or out.stdout).strip()[-600:]
        raise InterpreterError(
            f"{command} is not a CPython this suite can describe (exit {out.returncode}): {tail}"
        )
    return json.loads(lines[-1].split(" ", 1)[1])


def linkage(f: dict[str, Any]) -> str:
    """ "static" or "shared (<libpython>)", from the mapped libraries."""
    if f.get("libpython"):
        return "shared (" + ", ".join(os.path.basename(p) for p in f["libpython"]) + ")"
    return "static"


def optimisation(f: dict[str, Any]) -> str:
    """PGO/LTO as far as the build tells: CONFIG_ARGS and the compiler/linker flags; a
    distribution build (prefix /usr with dist-packages: Debian's layout) drives both from its
    packaging rules, which these do not show."""
    args, flags = f.get("config_args", ""), f"{f.get('cflags', '')} {f.get('ldflags', '')}"
    pgo = "--enable-optimizations" in args or "-fprofile-use" in flags
    lto = "--with-lto" in args or "-flto" in flags
    if pgo or lto:
        return "+".join(n for n, on in (("PGO", pgo), ("LTO", lto)) if on) + " (CONFIG_ARGS/flags)"
    if f.get("dist_packages") and f.get("prefix") == "/usr":
        os_name = f.get("os", "unknown")
        return (
            f"distribution build ({os_name}): PGO/LTO come from its packaging rules, not "
            "visible in CONFIG_ARGS"
        )
    return "no PGO, no LTO (neither --enable-optimizations nor --with-lto in CONFIG_ARGS)"


def summary(f: dict[str, Any]) -> str:
    """One line: CPython 3.15.2, libpython static, <optimisation>; glibc 2.43, <os>."""
    impl = "CPython" if f.get("implementation") == "cpython" else f.get("implementation", "?")
    debug = ", debug build" if f.get("debug_build") else ""
    return (
        f"{impl} {f.get('version', '?')}{debug}, libpython {linkage(f)}, {optimisation(f)}; "
        f"{f.get('glibc', '?')}, {f.get('os', '?')}"
    )


def metadata(f: dict[str, Any]) -> dict[str, str]:
    """The interpreter's facts as pyperf metadata (one-line strings; pyperf itself records
    python_version, python_executable, python_cflags and python_config_args)."""
    return {
        "python_linkage": linkage(f),
        "python_optimisation": optimisation(f),
        "python_build": summary(f),
        "glibc": f.get("glibc") or "unknown",
        "os_release": f.get("os") or "unknown",
    }


def check_supported(f: dict[str, Any], name: str = "") -> None:
    """The one place that refuses an interpreter the suite cannot run on: not CPython, or a
    free-threaded build. The flavours are abi3 wheels for the GIL build (free-threading needs
    pyo3's abi3t wheel and another thread-state probe in the pymem backend), and none of
    Debian's or PyPI's CPythons here is free-threaded, so nothing was measured on one: the
    suite says so instead of guessing."""
    label = f"{name} ({f.get('executable', '?')})" if name else f.get("executable", "?")
    if f.get("implementation") != "cpython":
        raise UnsupportedInterpreter(f"{label} is {f.get('implementation')!r}, not CPython")
    if f.get("gil_disabled_build") or not f.get("gil_enabled", True):
        raise FreeThreadedError(
            f"{label} is a free-threaded build of CPython {f.get('version', '?')} (Py_GIL_DISABLED "
            f"build: {f.get('gil_disabled_build')}, GIL enabled: {f.get('gil_enabled')}): "
            "allocbench does not run on free-threaded builds: its flavours are abi3 wheels "
            "for the GIL build (a free-threaded one needs pyo3's abi3t wheel) and the pymem "
            "backend's thread-state check is written for the GIL"
        )
    if tuple(f.get("version_info", (0, 0))) < (3, 11):
        raise UnsupportedInterpreter(
            f"{label} is CPython {f.get('version')}; the wheels need >= 3.11"
        )


@dataclass(frozen=True)
class Interpreter:
    id: str
    command: str  # what to run: the interpreter, or the launcher of a sid one
    facts: dict[str, Any] = field(compare=False)

    @property
    def version(self) -> str:
        return ".".join(map(str, self.facts["version_info"]))

    @property
    def in_sid_root(self) -> bool:
        return Path(self.command).parent == sid_bin()

    def summary(self) -> str:
        return f"{self.id}: {summary(self.facts)} [{self.command}]"

    def record(self) -> dict[str, Any]:
        """What a run record stores about the interpreter."""
        return {"id": self.id, "command": self.command, "summary": summary(self.facts)}


def resolve(name: str) -> Interpreter:
    """Interpreter id -> the interpreter, described and checked; InterpreterError with the
    reason (and what to do) when it is unknown, absent or refused."""
    check_id(name)
    command = locate(name)
    if command is None:
        raise InterpreterError(f"interpreter {name} is not on this machine: {missing_hint(name)}")
    f = probe(command)
    check_supported(f, name)
    want = IDS[name].version if name in IDS else None
    if want is not None and ".".join(map(str, f["version_info"])) != want:
        raise InterpreterError(f"{command} runs CPython {f['version']}, not {want}")
    # A host interpreter of an id runs as itself (a pyenv shim re-resolves on every start);
    # sid's run through their launchers, a path as given.
    if name in IDS and not IDS[name].sid and os.path.isfile(f.get("executable", "")):
        command = f["executable"]
    return Interpreter(name, command, f)


def default() -> tuple[Interpreter, str]:
    """``make bench`` without PY: the newest optimised CPython present, and why."""
    for name in DEFAULT_ORDER:
        if locate(name) is not None:
            return resolve(name), f"the newest optimised CPython present (order {DEFAULT_ORDER})"
    raise InterpreterError(
        f"no optimised CPython is present (looked for {', '.join(DEFAULT_ORDER)}): run "
        f"`make pythons`, or name one with PY= ({allowed()})"
    )


def check_pythonmalloc(value: str, interp: Interpreter) -> str:
    """A PYTHONMALLOC value this interpreter accepts, or InterpreterError with the reason."""
    if value not in PYTHONMALLOC_VALUES:
        raise InterpreterError(
            f"PYTHONMALLOC must be one of {', '.join(PYTHONMALLOC_VALUES)}; got {value!r}"
        )
    f = interp.facts
    if value == "mimalloc":
        if tuple(f["version_info"]) < (3, 13):
            raise InterpreterError(
                f"PYTHONMALLOC=mimalloc needs CPython 3.13 or newer (CPython's mimalloc "
                f"allocator came in 3.13); {interp.id} is CPython {f['version']}"
            )
        if not f.get("with_mimalloc"):
            raise InterpreterError(f"{interp.id} was built without mimalloc (WITH_MIMALLOC)")
    if value == "pymalloc" and not f.get("with_pymalloc"):
        raise InterpreterError(f"{interp.id} was built without pymalloc (WITH_PYMALLOC)")
    return value


def parse_pythonmallocs(text: str | None) -> list[str]:
    """``pymalloc,mimalloc`` -> checked names (empty: ["default"])."""
    names = [n for n in re.split(r"[,\s]+", (text or "").strip()) if n] or ["default"]
    for n in names:
        if n not in PYTHONMALLOC_VALUES:
            raise InterpreterError(
                f"PYTHONMALLOC must be one of {', '.join(PYTHONMALLOC_VALUES)}; got {n!r}"
            )
    if len(set(names)) != len(names):
        raise InterpreterError(f"PYTHONMALLOC names a value twice: {text!r}")
    return names
