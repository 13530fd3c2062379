"""Swapping an extension's allocator: patch a pyo3/maturin crate so that its Rust heap goes
through one of our backends (the ``allocbench-alloc`` crate, ``crates/allocbench-alloc``).

Two edits, both plain text so the author's file stays as it was around them:

* ``Cargo.toml``: ``allocbench-alloc = { path = "…", features = ["<backend>"] }`` under
  ``[dependencies]`` (the table is added when the crate has none);
* the crate root (``[lib] path``, default ``src/lib.rs``): our ``#[global_allocator]`` item
  appended. A crate that ships its own (orjson's ``src/alloc.rs``) keeps the type and the
  static, but the attribute becomes ``#[allow(dead_code)]``: exactly one global allocator
  remains, ours.

A crate that builds from vendored sources only (``.cargo/config.toml`` replacing crates-io
with a ``directory`` source, as orjson's sdist does) gets our crate's dependencies copied
into that directory from a vendor cache (``cargo vendor`` of this workspace, made offline
from cargo's own cache); its own vendored crates stay as they are.

What this does not handle is refused with :class:`PatchRefused` before anything is written
(a workspace layout, no crate root, two global allocators, a global allocator behind
``cfg``, a crate that already depends on us), so a refused crate is never half-patched.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from . import FLAVOURS

ALLOC_CRATE = "allocbench-alloc"
ALLOC_CRATE_DIR = Path(__file__).resolve().parents[2] / "crates" / ALLOC_CRATE
# The item appended to the crate root; the marker lets a test and a reader find it.
MARKER = "// allocbench: the flavour's global allocator"
GLOBAL_ITEM = (
    "\n{marker} ({backend}; allocbench-alloc).\n"
    "#[global_allocator]\n"
    "static ALLOCBENCH_GLOBAL: allocbench_alloc::Allocator = allocbench_alloc::Allocator;\n"
)
_ATTR = re.compile(r"^(\s*)#\[global_allocator\]\s*$")


class PatchRefused(ValueError):
    """The crate cannot be patched (the message says why); nothing was written."""


@dataclass(frozen=True)
class Crate:
    """Where a maturin project's Rust crate is and what it ships."""

    project: Path  # the sdist / source directory (pyproject.toml)
    manifest: Path  # its Cargo.toml
    root: Path  # the crate root (lib.rs)
    shipped_allocators: tuple[tuple[Path, int], ...]  # (file, 1-based line of the attribute)

    def describe_shipped(self) -> str:
        if not self.shipped_allocators:
            return "none: Rust's default (the system allocator)"
        path, line = self.shipped_allocators[0]
        return f"its own #[global_allocator] ({path.relative_to(self.project)}:{line})"


def _manifest(project: Path) -> Path:
    pyproject = project / "pyproject.toml"
    manifest = project / "Cargo.toml"
    if pyproject.exists():
        try:
            tool = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {})
        except tomllib.TOMLDecodeError as e:
            raise PatchRefused(f"{pyproject} is not valid TOML ({e})") from e
        given = tool.get("maturin", {}).get("manifest-path")
        if given:
            manifest = project / given
    if not manifest.exists():
        raise PatchRefused(
            f"no Cargo.toml at {manifest}: not a maturin project whose crate allocbench can "
            "patch (a project without Rust, or one built by another backend)"
        )
    return manifest


def find_crate(project: Path | str) -> Crate:
    """The crate of the maturin project at ``project``; PatchRefused when its layout is one
    this patcher does not handle (nothing is written either way)."""
    project = Path(project).resolve()
    if not project.is_dir():
        raise PatchRefused(f"{project} is not a directory")
    manifest = _manifest(project)
    try:
        cargo = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise PatchRefused(f"{manifest} is not valid TOML ({e})") from e
    if "package" not in cargo:
        raise PatchRefused(
            f"{manifest} has no [package]: a virtual workspace manifest; patching a crate "
            "inside a workspace is not handled yet (point manifest-path at the member)"
        )
    members = cargo.get("workspace", {}).get("members", [])
    if any(m not in (".", "") for m in members):
        raise PatchRefused(
            f"{manifest} is a workspace with members {members}: which member's allocator is "
            "the extension's is not decided yet, so it is not patched"
        )
    deps = cargo.get("dependencies", {})
    if ALLOC_CRATE in deps:
        raise PatchRefused(f"{manifest} already depends on {ALLOC_CRATE}: patched already?")
    lib = cargo.get("lib", {})
    root = manifest.parent / lib.get("path", "src/lib.rs")
    if not root.is_file():
        raise PatchRefused(
            f"no crate root at {root} ([lib] path or src/lib.rs): not a library crate "
            "(an extension module is a cdylib with a lib.rs)"
        )
    found = []
    for rs in sorted(root.parent.rglob("*.rs")):
        lines = rs.read_text(encoding="utf-8", errors="replace").splitlines()
        for i, line in enumerate(lines):
            if _ATTR.match(line):
                prev = lines[i - 1].strip() if i else ""
                if prev.startswith("#[cfg"):
                    raise PatchRefused(
                        f"the #[global_allocator] at {rs.relative_to(project)}:{i + 1} is "
                        f"behind {prev}: which allocator a build uses depends on its "
                        "configuration, so swapping it is not handled"
                    )
                found.append((rs, i + 1))
            elif "global_allocator" in line and not line.lstrip().startswith("//"):
                raise PatchRefused(
                    f"{rs.relative_to(project)}:{i + 1} names global_allocator in a form "
                    f"this patcher does not handle ({line.strip()!r}); only a "
                    "#[global_allocator] attribute on its own line is"
                )
    if len(found) > 1:
        where = ", ".join(f"{p.relative_to(project)}:{n}" for p, n in found)
        raise PatchRefused(f"two or more #[global_allocator] items ({where}): not handled")
    return Crate(project, manifest, root, tuple(found))


def dependency_line(backend: str, crate_dir: Path = ALLOC_CRATE_DIR) -> str:
    return f'{ALLOC_CRATE} = {{ path = "{crate_dir}", features = ["{backend}"] }}'


def patched_manifest(text: str, backend: str, crate_dir: Path = ALLOC_CRATE_DIR) -> str:
    """Cargo.toml's text with our dependency added under ``[dependencies]``."""
    line = dependency_line(backend, crate_dir)
    lines = text.splitlines(keepends=True)
    for i, row in enumerate(lines):
        if row.strip() == "[dependencies]":
            lines.insert(i + 1, line + "\n")
            break
    else:
        lines.append(("\n" if text and not text.endswith("\n") else "") + "\n[dependencies]\n")
        lines.append(line + "\n")
    out = "".join(lines)
    dep = tomllib.loads(out).get("dependencies", {}).get(ALLOC_CRATE)
    if not dep or dep.get("features") != [backend]:
        raise PatchRefused(f"adding the dependency to Cargo.toml did not give it ({line})")
    return out


def vendored_dir(project: Path) -> Path | None:
    """The directory that replaces crates-io in the project's cargo configuration, if any."""
    for name in ("config.toml", "config"):
        cfg = project / ".cargo" / name
        if not cfg.exists():
            continue
        try:
            sources = tomllib.loads(cfg.read_text(encoding="utf-8")).get("source", {})
        except tomllib.TOMLDecodeError as e:
            raise PatchRefused(f"{cfg} is not valid TOML ({e})") from e
        replacement = sources.get("crates-io", {}).get("replace-with")
        if replacement:
            directory = sources.get(replacement, {}).get("directory")
            if not directory:
                raise PatchRefused(
                    f"{cfg} replaces crates-io with {replacement!r}, which is not a directory "
                    "source: our crate's dependencies cannot be supplied to it"
                )
            return project / directory
    return None


def vendor_cache(dest: Path, workspace: Path = ALLOC_CRATE_DIR.parents[1]) -> Path:
    """``cargo vendor --versioned-dirs`` of this workspace into ``dest`` (once per
    Cargo.lock; offline, from cargo's cache, which building the flavours filled)."""
    import hashlib
    import shutil
    import subprocess

    key = hashlib.sha256((workspace / "Cargo.lock").read_bytes()).hexdigest()[:16]
    stamp = dest / ".allocbench-vendor"
    if stamp.exists() and stamp.read_text() == key:
        return dest
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    proc = subprocess.run(
        ["cargo", "vendor", "--offline", "--versioned-dirs", "--quiet", str(tmp)],
        cwd=workspace,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise PatchRefused(
            "cargo vendor of allocbench's workspace failed (build the flavours first, so "
            f"cargo's cache holds every crate): {proc.stderr.strip()[-800:]}"
        )
    (tmp / stamp.name).write_text(key)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest


def supply_vendored(project: Path, cache: Path) -> list[str]:
    """Copies the vendor cache's crates the project's vendored directory lacks; returns
    their names (nothing when the project does not vendor)."""
    import shutil

    target = vendored_dir(project)
    if target is None:
        return []
    added = []
    for crate in sorted(p for p in cache.iterdir() if p.is_dir()):
        if not (target / crate.name).exists():
            shutil.copytree(crate, target / crate.name)
            added.append(crate.name)
    return added


def patch(project: Path | str, backend: str, crate_dir: Path = ALLOC_CRATE_DIR) -> Crate:
    """Patches the maturin project at ``project`` in place to use ``backend`` as its global
    allocator; returns what was found. PatchRefused (nothing written) when it cannot."""
    if backend not in FLAVOURS:
        raise ValueError(f"backend must be one of {', '.join(FLAVOURS)}; got {backend!r}")
    crate = find_crate(project)
    manifest_text = patched_manifest(crate.manifest.read_text(encoding="utf-8"), backend, crate_dir)
    edits: dict[Path, str] = {crate.manifest: manifest_text}
    for path, line in crate.shipped_allocators:
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        indent = _ATTR.match(lines[line - 1]).group(1)
        lines[line - 1] = (
            f"{indent}#[allow(dead_code)] // allocbench: the shipped global allocator, "
            f"replaced by {backend} (allocbench-alloc)\n"
        )
        edits[path] = "".join(lines)
    root_text = edits.get(crate.root) or crate.root.read_text(encoding="utf-8")
    if not root_text.endswith("\n"):
        root_text += "\n"
    edits[crate.root] = root_text + GLOBAL_ITEM.format(marker=MARKER, backend=backend)
    for path, text in edits.items():  # every check passed: now write
        path.write_text(text, encoding="utf-8")
    return crate
