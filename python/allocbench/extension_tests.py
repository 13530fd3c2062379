"""The extension's own tests in ``make bench-extension`` (``allocbench.extension``): its
test requirements installed for the interpreter, its ``test/`` or ``tests/`` run against
every flavour (CPython's default allocator and ``PYTHONMALLOC=debug``), and the judgement
of which flavours are left out of the timing (a crash, or a test the as-shipped build
passes)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from . import interpreters
from .extension_build import SHIPPED, ExtensionError
from .flavour import ROOT
from .pydeps import install_wheels

TEST_TIMEOUT_S = 1800

_MARKER_ENV = """
import json, os, platform, sys
def fmt(i):
    v = f"{i.major}.{i.minor}.{i.micro}"
    return v if i.releaselevel == "final" else v + i.releaselevel[0] + str(i.serial)
print(json.dumps({
    "implementation_name": sys.implementation.name,
    "implementation_version": fmt(sys.implementation.version),
    "os_name": os.name, "platform_machine": platform.machine(),
    "platform_release": platform.release(), "platform_system": platform.system(),
    "platform_version": platform.version(), "python_full_version": platform.python_version(),
    "platform_python_implementation": platform.python_implementation(),
    "python_version": ".".join(platform.python_version_tuple()[:2]),
    "sys_platform": sys.platform}))
"""


def tests_dir(project: Path) -> Path:
    for name in ("test", "tests"):
        if (project / name).is_dir() and any((project / name).glob("test_*.py")):
            return project / name
    raise ExtensionError(f"{project} ships no test/ or tests/ directory with test_*.py files")


def test_requirements(project: Path) -> list[str]:
    """The sdist's test requirements: ``test(s)/requirements.txt``, else the ``test``
    dependency group of pyproject.toml; pytest always."""
    reqs: list[str] = []
    for name in ("test/requirements.txt", "tests/requirements.txt"):
        path = project / name
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                line = line.split("#", 1)[0].strip()
                if line and not line.startswith("-"):
                    reqs.append(line)
            break
    else:
        meta = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
        groups = meta.get("dependency-groups", {})

        def expand(group: str, seen: tuple[str, ...] = (), groups=groups) -> list[str]:
            out = []
            for item in groups.get(group, []):
                if isinstance(item, str):
                    out.append(item)
                elif isinstance(item, dict) and item.get("include-group") not in seen:
                    out += expand(item["include-group"], (*seen, group))
            return out

        reqs = expand("test") or expand("tests")
    if not any(re.match(r"pytest\b(?!-)", r) for r in reqs):
        reqs.append("pytest")
    return reqs


def ensure_testdeps(project: Path, interp: interpreters.Interpreter, where: Path) -> Path:
    """The test requirements whose markers hold for ``interp``, installed for it into
    ``where``/testdeps (``pydeps.install_wheels``: binary wheels, a stamp, a lock)."""
    from packaging.requirements import Requirement

    env_out = subprocess.run(
        [interp.command, "-c", _MARKER_ENV], capture_output=True, text=True, cwd=ROOT
    )
    if env_out.returncode != 0:
        raise ExtensionError(f"{interp.command} could not report its marker environment")
    marker_env = json.loads(env_out.stdout)
    wanted = []
    for line in test_requirements(project):
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate(marker_env):
            req.marker = None
            wanted.append(str(req))
    target = where / "testdeps"
    install_wheels(
        target,
        sorted(wanted),
        interp.version,
        stamp_name=".allocbench-testdeps",
        error=ExtensionError,
    )
    return target


@dataclass
class TestRun:
    flavour: str
    pythonmalloc: str
    passed: int
    failed: list[str]  # test ids that failed or errored
    skipped: int
    exit_code: int
    seconds: float
    skip_reasons: dict[str, int]  # pytest's skip message (first 100 chars) -> tests

    @property
    def crashed(self) -> bool:
        # pytest exits 0 (all passed) or 1 (some failed); anything else is a crash, an
        # interrupted run or an internal error, never a clean result.
        return self.exit_code not in (0, 1)


def parse_junit(path: Path) -> tuple[int, list[str], dict[str, int]]:
    """(passed, failed or errored test ids, skip message -> count) from pytest's JUnit
    XML."""
    import xml.etree.ElementTree as ET

    root = ET.parse(path).getroot()
    passed, failed, skipped = 0, [], {}
    for case in root.iter("testcase"):
        tid = f"{case.get('classname')}::{case.get('name')}"
        children = {child.tag: child for child in case}
        if children.keys() & {"failure", "error"}:
            failed.append(tid)
        elif "skipped" in children:
            why = (children["skipped"].get("message") or "no reason given")[:100]
            skipped[why] = skipped.get(why, 0) + 1
        else:
            passed += 1
    return passed, sorted(set(failed)), dict(sorted(skipped.items(), key=lambda kv: -kv[1]))


def run_tests(
    project: Path,
    flavour_dir: Path,
    testdeps: Path,
    interp: interpreters.Interpreter,
    pythonmalloc: str,
    log_dir: Path,
) -> TestRun:
    """The sdist's tests against one flavour (its site/ first on the path)."""
    flavour = flavour_dir.name
    xml = log_dir / f"{flavour}-{pythonmalloc}.xml"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(flavour_dir / "site"), str(testdeps)])
    env.pop("PYTHONMALLOC", None)
    if pythonmalloc != "default":
        env["PYTHONMALLOC"] = pythonmalloc
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    cmd = [interp.command, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml", str(xml)]
    cmd += [str(tests_dir(project).relative_to(project))]
    t0 = time.perf_counter()
    with open(log_dir / f"{flavour}-{pythonmalloc}.log", "w", encoding="utf-8") as log:
        try:
            proc = subprocess.run(
                cmd,
                cwd=project,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=TEST_TIMEOUT_S,
            )
            code = proc.returncode
        except subprocess.TimeoutExpired:
            code = -9
    seconds = time.perf_counter() - t0
    passed, failed, reasons = parse_junit(xml) if xml.exists() else (0, [], {})
    skipped = sum(reasons.values())
    return TestRun(flavour, pythonmalloc, passed, failed, skipped, code, round(seconds, 1), reasons)


def judge_tests(runs: list[TestRun]) -> dict[str, list[str]]:
    """flavour -> why it is left out of the timing (empty: it passed). A flavour fails on a
    crash or on a test the as-shipped build passes under the same PYTHONMALLOC."""
    shipped = {r.pythonmalloc: r for r in runs if r.flavour == SHIPPED}
    out: dict[str, list[str]] = {}
    for r in runs:
        why = out.setdefault(r.flavour, [])
        if r.crashed:
            why.append(f"PYTHONMALLOC={r.pythonmalloc}: pytest exit {r.exit_code} (crash)")
            continue
        base = shipped.get(r.pythonmalloc)
        known = set(base.failed) if base is not None and r.flavour != SHIPPED else set()
        new = [t for t in r.failed if t not in known]
        if new and r.flavour != SHIPPED:
            why.append(f"PYTHONMALLOC={r.pythonmalloc}: {len(new)} failed: {', '.join(new[:8])}")
    return out
