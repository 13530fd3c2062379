"""The one workload catalogue: every workload's name, family, parameters (with allowed
ranges), unit and what it measures. The asv suite, the pyperf suite and the report read
it; nothing else describes a workload.

Timed workloads (``kind == "time"``) take ``loops`` and return seconds, pyperf's
``bench_time_func`` shape; ``ops_per_loop`` turns that into time per operation. Memory
workloads (``kind == "memory"``) return a dict of figures. Parameters are validated here,
before any Rust runs: wrong types raise ``TypeError``, out-of-range values ``ValueError``,
both naming the workload, the parameter and the allowed range. What an entry is (``Param``,
``Workload``): ``allocbench.workload``.
"""

# size: over 400 lines because it is the table itself: 16 entries of ~25 lines, kept in one
# file so that it stays the one place a workload is described.

from __future__ import annotations

import os
import re
import sys
import tempfile
from typing import Any

from . import registry

# LOOPS and MAX_LOOPS stay names of the catalogue: benchmarks/ reads them here, also in asv
# environments of commits from before allocbench.workload.
from .workload import LOOPS, MAX_LOOPS, U64, GiB, KiB, MiB, Param, Workload  # noqa: F401

# ---- parameters shared by several workloads -------------------------------------------------


def _size(lo=1, hi=16 * MiB, doc="block size in bytes"):
    return Param("size", int, doc, lo, hi)


SEED = Param("seed", int, "seed of the size / order generator (same seed, same sequence)", 0, U64)
ORDER = Param("order", str, "free order of the batch", choices=("lifo", "fifo"))
TOUCH = Param("touch", bool, "write one byte per 4 KiB page before freeing")
PAIR_SIZES = (8, 16, 32, 64, 128, 256, 512, 1024, 4 * KiB, 64 * KiB, 1 * MiB)
SMALL_SIZES = (16, 32, 64, 128, 256, 512)
# The C-level pair (c_pair): the pair sizes up to the first raw-domain one of the pymem
# backend, and the allocators it calls from C. "own" is the flavour's own primitive for the
# size, the one raw_pair calls (c_pair_own); the others are available in every flavour but
# mimalloc and jemalloc, which only their own flavour links (the extension refuses them
# elsewhere with a ValueError; its C_PAIR_PRIMITIVES lists what it takes).
C_PAIR_SIZES = tuple(s for s in PAIR_SIZES if s <= 1024)
C_PAIR_PRIMITIVES = ("own", "pymem", "pymem_calloc", "pymem_raw", "malloc", "mimalloc", "jemalloc")
# What each calls, as C code names it.
C_PAIR_CALLS = {
    "pymem": "PyMem_Malloc + PyMem_Free",
    "pymem_calloc": "PyMem_Calloc + PyMem_Free",
    "pymem_raw": "PyMem_RawMalloc + PyMem_RawFree",
    "malloc": "malloc + free",
    "mimalloc": "mi_malloc + mi_free",
    "jemalloc": "_rjem_malloc + _rjem_free",
}
# pymalloc's SMALL_REQUEST_THRESHOLD, the pymem backend's split
# (allocbench_alloc::PYMALLOC_SMALL_MAX; the catalogue needs no built extension, so
# tests/test_c_pair.py ties the two together).
PYMEM_SMALL_MAX = 512


def c_pair_own(flavour: str, size: int) -> str:
    """The primitive ``c_pair(primitive="own")`` calls for ``size`` in ``flavour``: the one
    its backend's raw baseline calls (``allocbench_alloc::primitive(size)``; the extension's
    ``c_pair_own`` says the same, checked by tests/test_c_pair.py), from the registry."""
    if flavour not in registry.BY_NAME:
        raise ValueError(f"no flavour {flavour!r}; the flavours are {', '.join(registry.NAMES)}")
    f = registry.BY_NAME[flavour]
    return f.c_pair_large if f.c_pair_large and size > PYMEM_SMALL_MAX else f.c_pair


# realloc_growth times a growth, realloc_moves counts its resizes: the same parameters.
GROWTH_PATTERNS = ("vec_push", "string_append", "reserve_exact", "shrink_to_fit")
GROWTH_PARAMS = (
    Param("pattern", str, "growth pattern", choices=GROWTH_PATTERNS),
    Param("target", int, "final size in bytes", 16, 64 * MiB),
)
GROWTH_POINTS = tuple(
    {"pattern": pat, "target": t} for pat in GROWTH_PATTERNS for t in (4 * KiB, 1 * MiB)
)
GROWTH_LIMITS = (
    (
        lambda p: p["pattern"] != "reserve_exact" or p["target"] <= 4 * MiB,
        "reserve_exact reallocates once per byte: target must be <= 4 MiB",
    ),
)


def _python_probe() -> dict[str, Any]:
    """The Python side's figures for the interplay workload: allocated blocks and pymalloc
    arenas (parsed from ``sys._debugmallocstats()``, None when pymalloc is not in use)."""
    return {"allocated_blocks": sys.getallocatedblocks(), **_pymalloc_arenas()}


_ARENAS = re.compile(r"#\s*arenas allocated current\s*=\s*([\d,]+)")
_ARENA_BYTES = re.compile(r"(\d[\d,]*) arenas \* (\d+) bytes/arena\s*=\s*([\d,]+)")


def _pymalloc_arenas() -> dict[str, int | None]:
    """Reads pymalloc's arena count from ``sys._debugmallocstats()`` (it writes to the C
    stderr, so fd 2 is redirected to a temporary file for the call)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        try:
            os.dup2(tmp.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        text = tmp.read().decode("ascii", "replace")
    m = _ARENAS.search(text)
    b = _ARENA_BYTES.search(text)
    return {
        "arenas": int(m.group(1).replace(",", "")) if m else None,
        "arena_bytes": int(b.group(3).replace(",", "")) if b else None,
    }


def _interplay(fn, params):
    return fn(**params, probe=_python_probe)


# ---- the catalogue ------------------------------------------------------------------------

WORKLOADS: tuple[Workload, ...] = (
    Workload(
        name="alloc_pair",
        family="throughput",
        kind="time",
        unit="s/op",
        measures=(
            "one alloc+free pair of one size through the global allocator (the fastest path: "
            "the block is reused every time)"
        ),
        params=(_size(),),
        points=tuple({"size": s} for s in PAIR_SIZES),
        smoke={"size": 64},
    ),
    Workload(
        name="alloc_pair_unguarded",
        family="throughput",
        kind="time",
        unit="s/op",
        measures=(
            "alloc_pair with the PyMem backend's thread-state guard compiled out (orjson's "
            "unchecked design); equals alloc_pair in other flavours: the guard's cost"
        ),
        params=(_size(),),
        points=tuple({"size": s} for s in (16, 64, 256, 1024)),
        smoke={"size": 64},
    ),
    Workload(
        name="raw_pair",
        family="raw",
        kind="time",
        unit="s/op",
        measures=(
            "the primitive the backend calls for that size, called directly (pymem: "
            "PyMem_Malloc/Free up to 512 B, PyMem_RawMalloc/Free above; pymem-raw: "
            "PyMem_RawMalloc/Free; malloc/free; mi_malloc/mi_free; jemalloc's malloc/free): "
            "the limit the GlobalAlloc path is compared to"
        ),
        params=(_size(),),
        points=tuple({"size": s} for s in PAIR_SIZES),
        smoke={"size": 64},
    ),
    Workload(
        name="c_pair",
        family="raw",
        kind="time",
        unit="s/op",
        measures=(
            "the alloc+free pair called from C: the limit each flavour's GlobalAlloc path is "
            "measured against (rustext/csrc/c_pairs.c: the raw_pair loop in C, one byte "
            "written, calls as a C extension makes them; primitive 'own' is the flavour's own "
            "primitive for the size, as raw_pair calls it; 'pymem', 'pymem_calloc', "
            "'pymem_raw', 'malloc' in every flavour, 'mimalloc' and 'jemalloc' in their own)"
        ),
        params=(
            _size(8, 1024, "block size in bytes (pymalloc's blocks and the first raw one)"),
            Param(
                "primitive",
                str,
                "allocator pair called from C ('own': the flavour's own for this size)",
                choices=C_PAIR_PRIMITIVES,
            ),
        ),
        points=tuple({"size": s, "primitive": "own"} for s in C_PAIR_SIZES),
        smoke={"size": 64, "primitive": "own"},
    ),
    Workload(
        name="churn_batch",
        family="throughput",
        kind="time",
        unit="s/op",
        measures=(
            "allocate `live` blocks of one size (8 bytes written each), then free them all "
            "LIFO or FIFO; one op is one block allocated and freed"
        ),
        params=(
            _size(hi=MiB),
            Param("live", int, "blocks allocated before any is freed", 1, MiB),
            ORDER,
        ),
        points=tuple(
            {"size": s, "live": 1024, "order": o}
            for o in ("lifo", "fifo")
            for s in (16, 32, 64, 128, 256, 512, 1024, 8 * KiB)
        ),
        smoke={"size": 64, "live": 64, "order": "lifo"},
        ops_per_loop=lambda p: p["live"],
        limits=((lambda p: p["size"] * p["live"] <= GiB, "size * live must be <= 1 GiB"),),
    ),
    Workload(
        name="mixed_sizes",
        family="throughput",
        kind="time",
        unit="s/op",
        measures=(
            "allocate `live` blocks with sizes shaped like an extension's objects (60% 16-64 B, "
            "25% to 256 B, 10% to 4 KiB, 4% to 64 KiB, 1% to 1 MiB), free them in a seeded "
            "random order; one op is one block"
        ),
        params=(Param("live", int, "blocks per round", 1, 1 << 16), SEED),
        points=({"live": 4096, "seed": 42},),
        smoke={"live": 256, "seed": 42},
        ops_per_loop=lambda p: p["live"],
    ),
    Workload(
        name="collections",
        family="throughput",
        kind="time",
        unit="s/op",
        measures=(
            "build and drop a collection of `n` elements: Vec of short formatted Strings, Vec "
            "of 4-element Vecs, HashMap<u64, String>, BTreeMap<u64, u64>; one op is one element"
        ),
        params=(
            Param("n", int, "elements per collection", 1, MiB),
            Param(
                "kind", str, "collection built", choices=("string", "vec", "hashmap", "btreemap")
            ),
        ),
        points=tuple({"n": 10_000, "kind": k} for k in ("string", "vec", "hashmap", "btreemap")),
        smoke={"n": 100, "kind": "hashmap"},
        ops_per_loop=lambda p: p["n"],
    ),
    Workload(
        name="json_roundtrip",
        family="throughput",
        kind="time",
        unit="s/op",
        measures=(
            "parse a seeded JSON document of about `kib` KiB into serde_json::Value and "
            "serialise it back; one op is one document"
        ),
        params=(Param("kib", int, "document size in KiB", 1, 16 * KiB), SEED),
        points=({"kib": 64, "seed": 7},),
        smoke={"kib": 2, "seed": 7},
        call_ops=4,
    ),
    Workload(
        name="realloc_growth",
        family="realloc",
        kind="time",
        unit="s/op",
        measures=(
            "grow a buffer to `target` bytes: Vec<u8> push (amortised doubling), String append "
            "of 7-byte pieces, reserve_exact(1) per byte (worst case), or fill then halve with "
            "shrink_to_fit; one op is one whole growth"
        ),
        params=GROWTH_PARAMS,
        points=GROWTH_POINTS,
        smoke={"pattern": "vec_push", "target": 4 * KiB},
        call_ops=4,
        limits=GROWTH_LIMITS,
    ),
    Workload(
        name="realloc_moves",
        family="realloc",
        kind="memory",
        unit="count",
        measures=(
            "one growth as in realloc_growth, counting the reallocs that kept the pointer "
            "(in place) and those that moved the block"
        ),
        params=GROWTH_PARAMS,
        points=GROWTH_POINTS,
        smoke={"pattern": "reserve_exact", "target": 4 * KiB},
        limits=GROWTH_LIMITS,
    ),
    Workload(
        name="zeroed_vec",
        family="zeroed",
        kind="time",
        unit="s/op",
        measures=(
            "vec![0u8; size] (alloc_zeroed: calloc where the backend has it), pages touched or "
            "left alone, then dropped; one op is one buffer"
        ),
        params=(_size(hi=256 * MiB), TOUCH),
        points=tuple(
            {"size": s, "touch": t} for t in (False, True) for s in (4 * KiB, 64 * KiB, MiB)
        ),
        smoke={"size": 64 * KiB, "touch": True},
        call_ops=64,
    ),
    Workload(
        name="memset_vec",
        family="zeroed",
        kind="time",
        unit="s/op",
        measures=(
            "allocate then memset to zero (what vec![0; n] costs without calloc), pages touched "
            "or not, then dropped; one op is one buffer"
        ),
        params=(_size(hi=256 * MiB), TOUCH),
        points=tuple(
            {"size": s, "touch": t} for t in (False, True) for s in (4 * KiB, 64 * KiB, MiB)
        ),
        smoke={"size": 64 * KiB, "touch": False},
        call_ops=64,
    ),
    Workload(
        name="fragmentation",
        family="fragmentation",
        kind="memory",
        unit="bytes",
        measures=(
            "fill with `blocks` blocks of size_min..size_max bytes, free a pattern (every other, "
            "random half, oldest half), refill half as many with sizes 2x larger, drop all; RSS "
            "after each phase against the live bytes requested, and RSS kept after drop-all"
        ),
        params=(
            Param("blocks", int, "blocks in the fill", 2, 1 << 24),
            Param("size_min", int, "smallest fill block", 1, MiB),
            Param("size_max", int, "largest fill block", 1, MiB),
            Param(
                "pattern",
                str,
                "which blocks the free phase frees",
                choices=("every_other", "random_half", "oldest_half"),
            ),
            SEED,
        ),
        points=tuple(
            {"blocks": 1 << 20, "size_min": 16, "size_max": 128, "pattern": pat, "seed": 1}
            for pat in ("every_other", "random_half", "oldest_half")
        ),
        smoke={
            "blocks": 4096,
            "size_min": 16,
            "size_max": 128,
            "pattern": "every_other",
            "seed": 1,
        },
        limits=(
            (lambda p: p["size_min"] <= p["size_max"], "size_min must be <= size_max"),
            (
                lambda p: p["blocks"] * p["size_max"] <= 2 * GiB,
                "blocks * size_max must be <= 2 GiB (the refill doubles it)",
            ),
        ),
    ),
    Workload(
        name="threads_churn",
        family="threads",
        kind="time",
        unit="s/op",
        measures=(
            "`threads` Rust threads (GIL released, no thread state) each allocate and free "
            "batches of one size at once; one op is one pair on every thread, so perfect "
            "scaling keeps the time per op constant"
        ),
        params=(
            Param("threads", int, "concurrent Rust threads", 1, 64),
            _size(hi=MiB),
            Param("batch", int, "blocks live per thread before they are freed", 1, 1 << 16),
        ),
        points=tuple({"threads": t, "size": 64, "batch": 256} for t in (1, 2, 4)),
        smoke={"threads": 2, "size": 64, "batch": 32},
        ops_per_loop=lambda p: p["batch"],
        call_ops=1 << 16,  # thread start-up must not dominate
        limits=(
            (
                lambda p: p["threads"] * p["size"] * p["batch"] <= GiB,
                "threads * size * batch must be <= 1 GiB",
            ),
        ),
    ),
    Workload(
        name="cross_thread_free",
        family="threads",
        kind="time",
        unit="s/op",
        measures=(
            "a producer thread allocates batches of blocks and sends them over a channel; a "
            "consumer thread frees them (the pattern of channel payloads); time spent allocating "
            "plus time spent freeing, the channel and waiting left out; one op is one block"
        ),
        params=(_size(hi=MiB), Param("batch", int, "blocks per message", 1, 1 << 16)),
        points=tuple({"size": s, "batch": 256} for s in (64, 4 * KiB)),
        smoke={"size": 64, "batch": 32},
        ops_per_loop=lambda p: p["batch"],
        call_ops=1 << 16,
        limits=(
            (lambda p: p["size"] * p["batch"] <= 256 * MiB, "size * batch must be <= 256 MiB"),
        ),
    ),
    Workload(
        name="python_interplay",
        family="interplay",
        kind="memory",
        unit="bytes",
        measures=(
            "interleave Python bytes objects (kept alive by a list) with Rust blocks, drop the "
            "Rust side, then the Python side; RSS, allocated blocks and pymalloc arenas after "
            "each phase (do Rust blocks pin pymalloc arenas?)"
        ),
        params=(
            Param("rounds", int, "rounds of interleaving", 1, 10_000),
            Param("per_round", int, "Python objects and Rust blocks per round", 1, 10_000),
            Param("rust_block_size", int, "bytes per Rust block", 1, 64 * KiB),
            Param("py_object_size", int, "payload bytes per Python bytes object", 0, 64 * KiB),
        ),
        points=({"rounds": 1000, "per_round": 1000, "rust_block_size": 64, "py_object_size": 32},),
        smoke={"rounds": 10, "per_round": 100, "rust_block_size": 64, "py_object_size": 32},
        limits=(
            (
                lambda p: p["rounds"] * p["per_round"] <= 10_000_000,
                "rounds * per_round must be <= 10000000",
            ),
            (
                lambda p: (
                    p["rounds"] * p["per_round"] * (p["rust_block_size"] + p["py_object_size"])
                    <= 2 * GiB
                ),
                "rounds * per_round * (rust_block_size + py_object_size) must be <= 2 GiB",
            ),
        ),
        extra=_interplay,
    ),
)

CATALOGUE: dict[str, Workload] = {w.name: w for w in WORKLOADS}
FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(w.family for w in WORKLOADS))


def get(name: str) -> Workload:
    if not isinstance(name, str):
        raise TypeError(f"workload name must be a str; got {name!r}")
    try:
        return CATALOGUE[name]
    except KeyError:
        raise ValueError(
            f"no workload {name!r}; the catalogue has {', '.join(CATALOGUE)}"
        ) from None


def run(name: str, *, loops: int | None = None, **params: Any):
    """Runs catalogue workload ``name`` in the loaded flavour (see ``Workload.run``)."""
    return get(name).run(loops=loops, **params)
