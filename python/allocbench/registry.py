"""The flavour registry: every allocator backend the extension is built with, and what the
rest of the project needs to know about each. The one list of flavours.

    python python/allocbench/registry.py        # the names, space-separated (the Makefile's)

Read at run time by ``allocbench.FLAVOURS`` (and so every ``FLAVOURS=`` knob, the tests and
the suites), the Makefile (``FLAVOURS_ALL``), asv's build step (``tools/asv_build_wheel.py``),
the fold guard (``allocbench.calls``) and the catalogue (``c_pair``'s own primitive).

Lists that cannot read it are checked against it by ``tests/test_registry.py``: the cargo
features (``alloc-<name>`` of ``rustext/Cargo.toml``, ``<name>`` of
``crates/allocbench-alloc/Cargo.toml``), the backend modules and the exactly-one list of
``crates/allocbench-alloc/src/lib.rs``, asv's matrix (``asv.conf.json``), the report's
colours (``allocbench.report.COLOURS``), and each built flavour's own answers (its backend
name, ``PRIMITIVE`` and ``ROUTES_THROUGH_PYMEM``). Adding a flavour: CONTRIBUTING.md.

Standard library only, and no import of the package: the Makefile runs this file with any
Python 3.11+, and asv's build step imports it in environments of other commits.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass


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


if __name__ == "__main__":
    print(" ".join(NAMES))
    sys.exit(0)
