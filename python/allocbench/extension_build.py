"""The source and the builds of ``make bench-extension`` (``allocbench.extension``): the sdist
fetched from PyPI once (``build/extensions/sdists``) or a project on disk, unpacked and
identified; each flavour built with maturin in a scratch directory and kept in the build
cache (``build/extensions/<name>-<version>/cp<ver>/<flavour>``) only when complete, reused
while its ``build_key`` (source, flavour, interpreter, rustc, our crate, the patcher) holds."""

from __future__ import annotations

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

from . import interpreters
from .atomic import write_json as write_json_atomically
from .extension_patch import (
    ALLOC_CRATE_DIR,
    find_crate,
    patch,
    supply_vendored,
    vendor_cache,
    vendored_dir,
)
from .flavour import ROOT

SHIPPED = "as-shipped"
BUILD_ROOT = ROOT / "build" / "extensions"
WORKLOADS_DIR = ROOT / "benchmarks" / "extensions"
_SPEC = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9][A-Za-z0-9.+!_-]*)$")


class ExtensionError(RuntimeError):
    """A step of an extension run failed or was refused (the message says which, why)."""


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
