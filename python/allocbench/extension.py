"""``make bench-extension``: a real extension built in every flavour, tested, then measured.

    python -m allocbench.extension (--pkg NAME==VERSION | --src DIR)
        [--flavours as-shipped,pymem,…] [--mode smoke|quick|rigorous] [--python 3.15]
        [--results RESULTS] [--run-id ID] [--filter REGEX] [--no-bench]

1. Source: ``--pkg`` downloads the sdist from PyPI (``pip download --no-binary :all:``,
   cached in ``build/extensions/sdists``); ``--src`` takes a project on disk.
2. Flavours, all for one interpreter and the crate's own release profile: ``as-shipped``
   (untouched) and each backend of ``crates/allocbench-alloc`` swapped in
   (``allocbench.extension_patch``). Each is built in a scratch directory and moved into
   ``build/extensions/<name>-<version>/cp<ver>/<flavour>`` only when complete; a crate the
   patcher refuses, or a build that fails, leaves nothing behind.
3. Correctness first: the sdist's own tests (``test/`` or ``tests/``) run in every flavour,
   with CPython's default allocator and again under ``PYTHONMALLOC=debug``. A flavour that
   fails a test the as-shipped build passes is reported with those tests and left out of
   the timing (a test that fails in as-shipped too is the sdist's, not the allocator's).
4. The workloads of ``benchmarks/extensions/<name>.py`` through the interleaved pyperf
   engine of ``make bench`` (``allocbench.bench.measure``); results in
   ``<results>/extensions/<name>-<version>/<run id>/<flavour>.json`` beside ``run.json``,
   ``tests.json`` and the report (``allocbench.extension_report``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import FLAVOURS, interpreters, split_names
from .atomic import write_json as write_json_atomically
from .bench import MODES, BenchError, check_mode, git_commit, measure, schedule, select
from .extension_patch import (
    ALLOC_CRATE_DIR,
    PatchRefused,
    find_crate,
    patch,
    supply_vendored,
    vendor_cache,
    vendored_dir,
)
from .extension_workloads import load_workloads
from .flavour import ENV_VAR, ROOT
from .report import RUN_RECORD

SHIPPED = "as-shipped"
EXT_FLAVOURS = (SHIPPED, *FLAVOURS)
BUILD_ROOT = ROOT / "build" / "extensions"
WORKLOADS_DIR = ROOT / "benchmarks" / "extensions"
TESTS_RECORD = "tests.json"
TEST_TIMEOUT_S = 1800
_SPEC = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9][A-Za-z0-9.+!_-]*)$")


class ExtensionError(RuntimeError):
    """A step of an extension run failed or was refused (the message says which, why)."""


def parse_flavours(text: str) -> list[str]:
    def check(n: str) -> None:
        if n not in EXT_FLAVOURS:
            raise ValueError(f"flavours must be among {', '.join(EXT_FLAVOURS)}; got {n!r}")

    names = split_names(text, check, lambda n: ValueError(f"flavours names {n!r} twice"))
    if SHIPPED not in names:
        raise ValueError(
            f"flavours must include {SHIPPED!r}: it is the reference every backend is "
            f"compared with (tests and timing); got {text!r}"
        )
    return [SHIPPED] + [n for n in names if n != SHIPPED]


def normalise(name: str) -> str:
    """PEP 503 name with '_' (the workload file's name): rpds-py -> rpds_py."""
    return re.sub(r"[-_.]+", "_", name).lower()


# ---- 1. source ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    name: str
    version: str
    path: Path  # the unpacked project (pyproject.toml, Cargo.toml)
    origin: str  # where it came from, recorded


def parse_spec(spec: str) -> tuple[str, str]:
    m = _SPEC.match(spec.strip()) if isinstance(spec, str) else None
    if not m:
        raise ValueError(
            f"PKG must pin one version of a PyPI project, like orjson==3.13.0; got {spec!r}"
        )
    return m.group(1), m.group(2)


def fetch_sdist(spec: str, cache: Path = BUILD_ROOT / "sdists") -> Path:
    """The sdist of ``name==version`` from PyPI, downloaded once (pip's configured index)."""
    name, version = parse_spec(spec)
    where = cache / f"{normalise(name)}-{version}"
    found = sorted(where.glob("*.tar.gz")) if where.is_dir() else []
    if found:
        return found[0]
    tmp = where.with_name(where.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
    cmd += ["--disable-pip-version-check", "-q", "-d", str(tmp), f"{name}=={version}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    got = sorted(tmp.glob("*.tar.gz"))
    if proc.returncode != 0 or len(got) != 1:
        shutil.rmtree(tmp, ignore_errors=True)
        tail = (proc.stderr or proc.stdout).strip()[-1500:]
        raise ExtensionError(f"downloading the sdist of {name}=={version} failed:\n{tail}")
    shutil.rmtree(where, ignore_errors=True)
    tmp.rename(where)
    return where / got[0].name


def unpack(sdist: Path, dest: Path) -> Path:
    """The sdist unpacked into ``dest`` (replaced); returns the project directory."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    with tarfile.open(sdist) as tar:
        tar.extractall(dest, filter="data")
    tops = [p for p in dest.iterdir() if p.is_dir()]
    if len(tops) != 1 or not (tops[0] / "pyproject.toml").exists():
        raise ExtensionError(f"{sdist} does not unpack to one project with a pyproject.toml")
    return tops[0]


def project_identity(project: Path) -> tuple[str, str]:
    """(name, version) from pyproject.toml, the version from Cargo.toml when dynamic."""
    meta = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    proj = meta.get("project", {})
    name, version = proj.get("name"), proj.get("version")
    if not version:
        crate = find_crate(project)
        version = tomllib.loads(crate.manifest.read_text(encoding="utf-8"))["package"].get(
            "version"
        )
    if not name or not version:
        raise ExtensionError(f"{project}/pyproject.toml names no project name and version")
    return name, str(version)


def source(pkg: str | None, src: str | None) -> Source:
    if bool(pkg) == bool(src):
        raise ValueError("give exactly one of PKG=<name>==<version> and SRC=<directory>")
    if pkg:
        name, version = parse_spec(pkg)
        sdist = fetch_sdist(pkg)
        digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
        path = unpack(sdist, BUILD_ROOT / f"{normalise(name)}-{version}" / "source")
        got = project_identity(path)
        if normalise(got[0]) != normalise(name) or got[1] != version:
            raise ExtensionError(f"{sdist.name} holds {got[0]} {got[1]}, not {name} {version}")
        return Source(name, version, path, f"PyPI sdist {sdist.name} sha256:{digest}")
    path = Path(src).resolve()
    if not (path / "pyproject.toml").exists():
        raise ValueError(f"SRC must be a project directory with a pyproject.toml; got {src!r}")
    name, version = project_identity(path)
    return Source(name, version, path, f"local directory {path}")


def workloads_file(name: str) -> Path:
    path = WORKLOADS_DIR / f"{normalise(name)}.py"
    if not path.exists():
        have = ", ".join(sorted(p.stem for p in WORKLOADS_DIR.glob("*.py")))
        raise ExtensionError(
            f"no workloads for {name}: write {path.relative_to(ROOT)} (a WORKLOADS list, like "
            f"the files there: {have})"
        )
    return path


# ---- 2. builds ---------------------------------------------------------------------------------


def pyo3_config(interp: interpreters.Interpreter, where: Path) -> Path | None:
    """A PyO3 build configuration for an interpreter of the sid root: its launcher runs it,
    but the build scripts would run the path it reports (``/usr/bin/python3.15``), which
    exists only inside that root. Host interpreters need none."""
    if not interp.in_sid_root:
        return None
    cfg = where / f"pyo3-cp{interp.version}.cfg"
    cfg.write_text(
        f"implementation=CPython\nversion={interp.version}\nshared=true\nabi3=false\n"
        f"lib_name=python{interp.version}\npointer_width=64\n"
        "suppress_build_script_link_lines=false\n",
        encoding="utf-8",
    )
    return cfg


def rustc_version() -> str:
    out = subprocess.run(["rustc", "--version"], capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def flavour_root(src: Source, interp: interpreters.Interpreter) -> Path:
    return BUILD_ROOT / f"{normalise(src.name)}-{src.version}" / f"cp{interp.version}"


def build_key(src: Source, flavour: str, interp: interpreters.Interpreter) -> str:
    """What a flavour's build depends on: the source (the sdist's digest, or a local tree's
    files), the flavour, the interpreter, rustc, our crate's files and the patcher."""
    h = hashlib.sha256()
    for part in (src.origin, flavour, interp.command, interp.version, rustc_version()):
        h.update(part.encode() + b"\0")
    trees = [ALLOC_CRATE_DIR, Path(__file__).with_name("extension_patch.py")]
    if not src.origin.startswith("PyPI sdist"):
        trees.append(src.path)
    for tree in trees:
        files = [tree] if tree.is_file() else sorted(p for p in tree.rglob("*") if p.is_file())
        for p in files:
            if "target" in p.parts or "__pycache__" in p.parts:
                continue
            h.update(str(p).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:20]


def build_flavour(src: Source, flavour: str, interp: interpreters.Interpreter) -> Path:
    """Builds and installs one flavour; returns its directory (``site/`` to import from,
    ``build.json``, ``build.log``). A complete build with the same ``build_key`` is reused.
    On any failure nothing is left at that path."""
    root = flavour_root(src, interp)
    dest, tmp = root / flavour, root / f".{flavour}.tmp"
    key = build_key(src, flavour, interp)
    try:
        if json.loads((dest / "build.json").read_text(encoding="utf-8"))["build_key"] == key:
            return dest
    except (OSError, ValueError, KeyError):
        pass
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        work = tmp / "src"
        shutil.copytree(src.path, work, symlinks=True)
        crate = find_crate(work)
        shipped = crate.describe_shipped()
        supplied: list[str] = []
        if flavour != SHIPPED:
            patch(work, flavour)
            if vendored_dir(work) is not None:
                supplied = supply_vendored(work, vendor_cache(BUILD_ROOT / "vendor"))
        env = dict(os.environ, MATURIN_NO_INSTALL_RUST="1")
        env["CARGO_TARGET_DIR"] = str(BUILD_ROOT / "target")
        cfg = pyo3_config(interp, tmp)
        if cfg is not None:
            env["PYO3_CONFIG_FILE"] = str(cfg)
        maturin = Path(sys.executable).with_name("maturin")
        cmd = [str(maturin), "build", "--release", "-i", interp.command, "-o", str(tmp / "wheel")]
        t0 = time.perf_counter()
        with open(tmp / "build.log", "w", encoding="utf-8") as log:
            proc = subprocess.run(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
        seconds = time.perf_counter() - t0
        wheels = sorted((tmp / "wheel").glob("*.whl"))
        if proc.returncode != 0 or len(wheels) != 1:
            tail = (tmp / "build.log").read_text(encoding="utf-8", errors="replace")
            raise ExtensionError(
                f"building {src.name} {src.version} ({flavour}) failed:\n"
                + "\n".join(tail.strip().splitlines()[-20:])
            )
        with zipfile.ZipFile(wheels[0]) as z:
            z.extractall(tmp / "site")
        record = {
            "extension": src.name,
            "extension_version": src.version,
            "flavour": flavour,
            "backend": flavour if flavour != SHIPPED else f"as shipped: {shipped}",
            "shipped_allocator": shipped,
            "source": src.origin,
            "wheel": wheels[0].name,
            "rustc": rustc_version(),
            "rust_profile": "release (the crate's own [profile.release])",
            "interpreter": interp.id,
            "build_seconds": round(seconds, 1),
            "vendored_crates_added": len(supplied),
            "build_key": key,
        }
        write_json_atomically(tmp / "build.json", record)
        shutil.rmtree(work)
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
        return dest
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# ---- 3. the extension's own tests ---------------------------------------------------------------

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
    """The test requirements whose markers hold for ``interp``, installed for it with the
    venv's pip (binary wheels, ``--target``; the sid interpreters have no pip)."""
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
    key = hashlib.sha256(json.dumps(sorted(wanted)).encode()).hexdigest()[:16]
    target = where / "testdeps"
    stamp = target / ".allocbench-testdeps"
    if stamp.exists() and stamp.read_text() == key:
        return target
    tmp = where / f".testdeps.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    cmd += ["--target", str(tmp), "--python-version", interp.version, "--implementation", "cp"]
    cmd += ["--only-binary=:all:", "--no-compile", *wanted]
    print(f"test requirements for CPython {interp.version}: {' '.join(wanted)}", flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ExtensionError(
            "installing the test requirements failed:\n" + (proc.stderr or proc.stdout)[-1500:]
        )
    (tmp / stamp.name).write_text(key)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
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


# ---- 4. the benchmark ----------------------------------------------------------------------------


def bench_env(flavour_dir: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join([str(flavour_dir / "site"), str(ROOT / "python")])
    env[ENV_VAR] = flavour_dir.name
    env["ALLOCBENCH_EXTENSION_BUILD"] = str(flavour_dir / "build.json")
    return env


def run(
    pkg: str | None = None,
    src: str | None = None,
    flavours: str = ",".join(EXT_FLAVOURS),
    mode_name: str = "quick",
    python: str | None = None,
    results: Path | str = ROOT / "results",
    run_id: str | None = None,
    pattern: str | None = None,
    bench: bool = True,
) -> Path:
    """The whole job; returns the run directory. Everything cheap is checked first."""
    started = time.time()
    mode = check_mode(mode_name)
    names = parse_flavours(flavours)
    if python:
        interp, chosen = interpreters.resolve(python), f"PY={python}"
    else:
        interp, why = interpreters.default()
        chosen = f"default: {why}"
    run_id = run_id or dt.datetime.now().strftime("%Y%m%d-%H%M%S") + f"-{mode_name}"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", run_id):
        raise ValueError(f"run id must be letters, digits, '.', '_' or '-'; got {run_id!r}")
    src_ = source(pkg, src)
    wfile = workloads_file(src_.name)
    spec = load_workloads(wfile)
    timed, memory = select(pattern, spec.WORKLOADS)
    run_dir = Path(results) / "extensions" / f"{normalise(src_.name)}-{src_.version}" / run_id
    if run_dir.exists():
        raise BenchError(f"{run_dir} exists: a run is never overwritten; pick another --run-id")
    find_crate(src_.path)  # refuses an unhandled layout before anything is built

    print(f"{src_.name} {src_.version} from {src_.origin}", flush=True)
    print(f"interpreter {interp.summary()} ({chosen})", flush=True)
    built: dict[str, Path] = {}
    build_failures: dict[str, str] = {}
    for f in names:
        print(f"== build {f}", flush=True)
        try:
            built[f] = build_flavour(src_, f, interp)
        except (ExtensionError, PatchRefused) as e:
            if f == SHIPPED or isinstance(e, PatchRefused):
                raise
            lines = str(e).splitlines()
            errors = [x for x in lines if x.lstrip().startswith(("error", "Error"))]
            build_failures[f] = (errors[0] if errors else lines[-1]).strip()
            print(f"   {f}: {e}", flush=True)
        else:
            print(f"   {json.loads((built[f] / 'build.json').read_text())['build_seconds']} s")

    where = flavour_root(src_, interp)
    testdeps = ensure_testdeps(src_.path, interp, where)
    log_dir = where / "tests"
    shutil.rmtree(log_dir, ignore_errors=True)
    log_dir.mkdir()
    test_runs = []
    for pm in ("default", "debug"):
        for f in built:
            r = run_tests(src_.path, built[f], testdeps, interp, pm, log_dir)
            test_runs.append(r)
            print(
                f"   tests {f:10} PYTHONMALLOC={pm:7} passed {r.passed}, failed "
                f"{len(r.failed)}, skipped {r.skipped} (exit {r.exit_code}, {r.seconds} s)",
                flush=True,
            )
    verdict = judge_tests(test_runs)
    for f, why in build_failures.items():
        verdict[f] = [f"build failed: {why}"]
    if verdict.get(SHIPPED):
        raise ExtensionError(f"the as-shipped build fails its own tests: {verdict[SHIPPED]}")
    passing = [f for f in names if not verdict.get(f)]

    run_dir.mkdir(parents=True)
    tests_record = {
        "runs": [r.__dict__ for r in test_runs],
        "left_out": {f: why for f, why in verdict.items() if why},
        "tests_dir": str(tests_dir(src_.path).relative_to(src_.path)),
    }
    write_json_atomically(run_dir / TESTS_RECORD, tests_record)
    record: dict[str, Any] = {
        "run_id": run_id,
        "kind": "extension",
        "extension": src_.name,
        "extension_version": src_.version,
        "source": src_.origin,
        "workloads_file": str(wfile.relative_to(ROOT)),
        "shipped_like": getattr(spec, "SHIPPED_LIKE", None),
        "notes": getattr(spec, "NOTES", None),
        "mode": mode_name,
        "mode_settings": MODES[mode_name].__dict__,
        "flavours": passing,
        "left_out": tests_record["left_out"],
        "reference": SHIPPED,
        "filter": pattern,
        "git_commit": git_commit(),
        "python": interp.command,
        "interpreter": {**interp.record(), "chosen": chosen},
        "builds": {f: json.loads((built[f] / "build.json").read_text()) for f in built},
        "started": dt.datetime.fromtimestamp(started).isoformat(timespec="seconds"),
        "status": "tested" if not bench else "running",
    }
    write_json_atomically(run_dir / RUN_RECORD, record)
    if bench:
        if len(passing) < 2:
            raise ExtensionError(f"only {passing} passed the tests: nothing to compare")
        steps = schedule(timed, memory, passing, mode, reference=SHIPPED)
        print(
            f"== bench {src_.name}: {len(steps)} worker processes, flavours {', '.join(passing)}",
            flush=True,
        )
        metadata = [f"git_commit={record['git_commit']}", f"bench_run={run_id}"]
        metadata += [f"bench_mode={mode_name}", f"interpreter={interp.id}"]
        measure(
            steps,
            mode,
            run_dir,
            record,
            metadata,
            interp,
            "default",
            None,
            started,
            env_for=lambda f: bench_env(built[f]),
            suite_args=("--workloads", str(wfile)),
        )
    from . import extension_report

    pred = extension_report.micro_prediction(record, passing, Path(results))
    record["prediction_run"] = pred.get("run")
    write_json_atomically(run_dir / RUN_RECORD, record)
    report = extension_report.build(run_dir)
    record["total_wall_s"] = round(time.time() - started, 1)
    record["status"] = "done" if bench else "tested"
    write_json_atomically(run_dir / RUN_RECORD, record)
    print(report.read_text(encoding="utf-8"), flush=True)
    print(f"report: {report}\nwall time: {record['total_wall_s']:.0f} s", flush=True)
    return run_dir


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m allocbench.extension", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--pkg", help="NAME==VERSION of a PyPI project (its sdist)")
    ap.add_argument("--src", help="a maturin project on disk instead")
    ap.add_argument("--flavours", default=",".join(EXT_FLAVOURS), help="comma-separated")
    ap.add_argument("--mode", default="quick", help=f"one of {', '.join(MODES)}")
    ap.add_argument("--python", default="", help=f"interpreter id ({interpreters.allowed()})")
    ap.add_argument("--results", default=str(ROOT / "results"), help="results root")
    ap.add_argument("--run-id", help="default: date-time-mode")
    ap.add_argument("--filter", default="", help="regular expression on benchmark names")
    ap.add_argument("--no-bench", action="store_true", help="build and test only")
    args = ap.parse_args(argv)
    try:
        run(
            args.pkg or None,
            args.src or None,
            args.flavours,
            args.mode,
            args.python or None,
            args.results,
            args.run_id,
            args.filter or None,
            not args.no_bench,
        )
    except (ValueError, ExtensionError, BenchError, interpreters.InterpreterError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
