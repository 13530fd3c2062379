"""The flavour registry: every allocator backend the extension is built with, and what the
rest of the project needs to know about each. The one list of flavours.

    python python/allocbench/registry.py          # the names, space-separated (the Makefile's)
    python python/allocbench/registry.py --write  # regenerate the lists below (make registry)
    python python/allocbench/registry.py --check  # exit 1 naming each list out of date

Read at run time by ``allocbench.FLAVOURS`` (and so every ``FLAVOURS=`` knob, the tests and
the suites), the Makefile (``FLAVOURS_ALL``), asv's build step (``tools/asv_build_wheel.py``),
the fold guard (``allocbench.calls``), the catalogue (``c_pair``'s own primitive) and the
report (its colours).

Lists that cannot read it (cargo and asv read only their own files) are generated from it:
``write()`` rewrites the marked blocks of ``crates/allocbench-alloc/Cargo.toml`` (the backend
features), ``rustext/Cargo.toml`` (the ``alloc-<name>`` features that forward to them),
``crates/allocbench-alloc/src/lib.rs`` (the exactly-one list, each backend's module and its
``Allocator``) and asv's matrix (``asv.conf.json``). ``tests/test_registry.py`` fails when
one of them differs from what ``write()`` would make, and checks each built flavour's own
answers (its backend name, ``PRIMITIVE`` and ``ROUTES_THROUGH_PYMEM``). Adding a flavour
is one entry here and one backend file: CONTRIBUTING.md.

Standard library only, and no import of the package: the Makefile runs this file with any
Python 3.11+, and asv's build step imports it in environments of other commits.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class Flavour:
    """One allocator backend."""

    # The flavour's name: the backend's cargo feature in allocbench-alloc, ``NAME`` in Rust.
    name: str
    # What its raw baseline calls, in words (the backend's ``PRIMITIVE``).
    primitive: str
    # Its colour in the report's plots (a matplotlib colour).
    colour: str
    # Whether the allocator calls CPython's (tracemalloc sees its blocks;
    # ``ROUTES_THROUGH_PYMEM``).
    routes_through_pymem: bool = False
    # The C-level pair (``c_pair``, rustext/csrc/c_pairs.c) of its own primitive: what
    # ``c_pair(primitive="own")`` and ``raw_pair`` call; ``c_pair_large`` for blocks above
    # pymalloc's 512 B when that differs (pymem: the raw domain).
    c_pair: str
    c_pair_large: str = ""
    # The fold guard (``allocbench.calls``): the symbols its allocation paths reach in the
    # built extension, for plain, zeroed and freed blocks; and what ``raw_pair`` must call
    # (empty: the pair is called through pointers the machine code does not name).
    alloc_symbols: tuple[str, ...]
    zeroed_symbols: tuple[str, ...]
    free_symbols: tuple[str, ...]
    raw_pair_symbols: tuple[str, ...] = ()
    # Its file's allocator type (``pub use <module>::<allocator> as Allocator`` in lib.rs),
    # and the optional crates its cargo feature turns on (``dep:<crate>``; the crate's own
    # ``[dependencies]`` line, optional, is written by hand with the backend).
    allocator: str
    cargo_deps: tuple[str, ...] = ()

    @property
    def feature(self) -> str:
        """The extension's cargo feature (``rustext/Cargo.toml``)."""
        return f"alloc-{self.name}"

    @property
    def module(self) -> str:
        """Its backend file: ``crates/allocbench-alloc/src/<module>.rs``."""
        return self.name.replace("-", "_")


# pymem's raw_pair takes the address of both of its pairs (pymalloc up to 512 B, the raw
# domain above): the functions nested in allocbench_alloc::pymem::primitive.
_PYMEM_PAIRS = "allocbench_alloc::pymem::primitive::"

REGISTRY: tuple[Flavour, ...] = (
    Flavour(
        name="pymem",
        allocator="PyMemAllocator",
        primitive="PyMem_Malloc + PyMem_Free (<= 512 B), PyMem_RawMalloc + PyMem_RawFree (> 512 B)",
        colour="tab:blue",
        routes_through_pymem=True,
        c_pair="pymem",
        c_pair_large="pymem_raw",
        # CPython is called through dlsym'ed pointers, invisible in the machine code; what
        # marks the paths is the __rust_alloc* shims (where not inlined) and the libc
        # fallback both take in a process without an interpreter.
        alloc_symbols=("__rustc::__rust_alloc", "malloc"),
        zeroed_symbols=("__rustc::__rust_alloc_zeroed", "calloc"),
        free_symbols=("__rustc::__rust_dealloc", "free"),
        raw_pair_symbols=tuple(_PYMEM_PAIRS + f for f in ("m", "f", "rm", "rf")),
    ),
    Flavour(
        name="pymem-raw",
        allocator="PyMemRawAllocator",
        primitive="PyMem_RawMalloc + PyMem_RawFree",
        colour="tab:cyan",
        routes_through_pymem=True,
        c_pair="pymem_raw",
        alloc_symbols=("malloc",),
        zeroed_symbols=("calloc",),
        free_symbols=("free",),
    ),
    Flavour(
        name="system",
        allocator="SystemAllocator",
        primitive="malloc + free (libc)",
        colour="black",
        c_pair="malloc",
        alloc_symbols=("malloc", "posix_memalign", "aligned_alloc"),
        zeroed_symbols=("calloc",),
        free_symbols=("free",),
        raw_pair_symbols=("malloc", "free"),
    ),
    Flavour(
        name="mimalloc",
        allocator="MimallocAllocator",
        cargo_deps=("dep:mimalloc", "dep:libmimalloc-sys"),
        primitive="mi_malloc + mi_free",
        colour="tab:orange",
        c_pair="mimalloc",
        alloc_symbols=("mi_malloc", "mi_malloc_aligned"),
        zeroed_symbols=("mi_zalloc", "mi_zalloc_aligned", "mi_calloc"),
        free_symbols=("mi_free",),
        raw_pair_symbols=("mi_malloc", "mi_free"),
    ),
    Flavour(
        name="jemalloc",
        allocator="JemallocAllocator",
        cargo_deps=("dep:tikv-jemallocator", "dep:tikv-jemalloc-sys"),
        primitive="malloc + free (jemalloc, prefixed)",
        colour="tab:red",
        c_pair="jemalloc",
        alloc_symbols=("_rjem_malloc", "_rjem_mallocx"),
        zeroed_symbols=("_rjem_calloc",),
        free_symbols=("_rjem_sdallocx", "_rjem_free"),
        raw_pair_symbols=("_rjem_malloc", "_rjem_free"),
    ),
)

NAMES: tuple[str, ...] = tuple(f.name for f in REGISTRY)
BY_NAME: dict[str, Flavour] = {f.name: f for f in REGISTRY}


def get(name: str) -> Flavour:
    """The flavour ``name``; ``ValueError`` naming the flavours otherwise."""
    try:
        return BY_NAME[name]
    except (KeyError, TypeError):
        raise ValueError(f"flavour must be one of {', '.join(NAMES)}; got {name!r}") from None


# ---- the lists cargo and asv read, generated ------------------------------------------------
BEGIN, END = "generated from python/allocbench/registry.py (make registry)", "end generated"
ROOT = Path(__file__).resolve().parents[2]


def _between(text: str, comment: str, body: str, where: str) -> str:
    """``text`` with the lines between its ``<comment> BEGIN`` and ``<comment> END`` lines
    replaced by ``body``."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, ln in enumerate(lines) if ln.strip() == f"{comment} {BEGIN}"]
    ends = [i for i, ln in enumerate(lines) if ln.strip() == f"{comment} {END}"]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise ValueError(f"{where}: needs one '{comment} {BEGIN}' line, then one '{comment} {END}'")
    return "".join(lines[: starts[0] + 1]) + body + "".join(lines[ends[0] :])


def _alloc_features() -> str:
    return "".join(
        f"{f.name} = [{', '.join(json.dumps(d) for d in f.cargo_deps)}]\n" for f in REGISTRY
    )


def _rustext_features() -> str:
    return "".join(f'{f.feature} = ["allocbench-alloc/{f.name}"]\n' for f in REGISTRY)


def _lib_rs_backends() -> str:
    # rustfmt's layout: the call on one line while its arguments fit in 60 columns (its
    # fn_call_width), else one argument per line.
    names = ", ".join(json.dumps(n) for n in NAMES)
    call = f"exactly_one!({names});\n"
    if len(names) > 60:
        # No comma after the last: the macro's pattern takes none.
        call = "exactly_one!(\n" + ",\n".join(f"    {json.dumps(n)}" for n in NAMES) + "\n);\n"
    blocks = [
        f'#[cfg(feature = "{f.name}")]\npub mod {f.module};\n'
        f'#[cfg(feature = "{f.name}")]\npub use {f.module}::{f.allocator} as Allocator;\n'
        for f in REGISTRY
    ]
    return call + "\n" + "\n".join(blocks)


def _asv_matrix(text: str) -> str:
    pattern = re.compile(r'("ALLOCBENCH_FLAVOUR": )\[[^\]]*\]')
    if len(pattern.findall(text)) != 1:
        raise ValueError('asv.conf.json: needs one "ALLOCBENCH_FLAVOUR": [...] list')
    return pattern.sub(lambda m: m.group(1) + json.dumps(list(NAMES)), text)


def generated(root: Path = ROOT) -> dict[Path, str]:
    """Every file with a list generated from the registry, and its text as ``write()``
    would leave it."""
    alloc_toml = root / "crates" / "allocbench-alloc" / "Cargo.toml"
    rustext_toml = root / "rustext" / "Cargo.toml"
    lib_rs = root / "crates" / "allocbench-alloc" / "src" / "lib.rs"
    asv_conf = root / "asv.conf.json"
    read = {p: p.read_text(encoding="utf-8") for p in (alloc_toml, rustext_toml, lib_rs, asv_conf)}
    return {
        alloc_toml: _between(read[alloc_toml], "#", _alloc_features(), str(alloc_toml)),
        rustext_toml: _between(read[rustext_toml], "#", _rustext_features(), str(rustext_toml)),
        lib_rs: _between(read[lib_rs], "//", _lib_rs_backends(), str(lib_rs)),
        asv_conf: _asv_matrix(read[asv_conf]),
    }


def stale(root: Path = ROOT) -> list[Path]:
    """The generated files whose lists differ from the registry's."""
    return [p for p, text in generated(root).items() if p.read_text(encoding="utf-8") != text]


def write(root: Path = ROOT) -> list[Path]:
    """Regenerates the lists; returns the files it changed."""
    changed = stale(root)
    for path, text in generated(root).items():
        if path in changed:
            # allocbench.atomic's way, by hand: this file imports nothing of the package.
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
    return changed


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        for path in write():
            print(f"registry: rewrote {path.relative_to(ROOT)}")
    elif sys.argv[1:] == ["--check"]:
        if out_of_date := stale():
            names = ", ".join(str(p.relative_to(ROOT)) for p in out_of_date)
            print(
                f"registry: out of date with python/allocbench/registry.py: {names}; "
                "run make registry",
                file=sys.stderr,
            )
            sys.exit(1)
    elif sys.argv[1:]:
        print("usage: registry.py [--write | --check]", file=sys.stderr)
        sys.exit(2)
    else:
        print(" ".join(NAMES))
