"""rpds-py's workloads for ``make bench-extension PKG=rpds-py==<version>``.

rpds-py wraps the ``rpds`` crate's persistent (immutable, structurally shared) collections:
every ``insert``, ``remove`` or ``push_front`` returns a new collection that shares most of
its nodes with the old one and allocates a few new ones (``Arc``-counted HAMT nodes or list
cells) on the Rust heap. That makes it the opposite of orjson: most of a call is Rust heap
work, in blocks of tens to hundreds of bytes — the size class where the allocators differ
most in the micro-suite. It ships no global allocator (Rust's default, the system one).

Timed: building a map and a list one element at a time, removing every key again, the same
build from several Python threads at once, and lookups (no Rust allocation: a control that
should tie). Memory: many maps held at once (peak RSS), then dropped.
"""

from __future__ import annotations

import gc
import time

from allocbench.catalogue import Param, Workload
from allocbench.extension_workloads import (
    held_phases,
    peak_rss_bytes,
    rss_bytes,
    threads_wall_time,
)

EXTENSION = "rpds-py"
# rpds-py ships no #[global_allocator]: Rust's default, the system allocator.
SHIPPED_LIKE = "system"

N = Param("n", int, "elements per collection", 1, 1_000_000)
THREADS = Param("threads", int, "Python threads building maps at once", 2, 16)
COPIES = Param("copies", int, "maps held at once", 1, 1000)


def _keys(n: int) -> list[int]:
    # Spread-out ints: their hashes fill the trie as real keys would.
    return [i * 2654435761 % (1 << 32) for i in range(n)]


def map_insert(loops: int, n: int) -> float:
    from rpds import HashTrieMap

    keys = _keys(n)
    t0 = time.perf_counter()
    for _ in range(loops):
        m = HashTrieMap()
        for k in keys:
            m = m.insert(k, k)
    return time.perf_counter() - t0


def map_remove(loops: int, n: int) -> float:
    from rpds import HashTrieMap

    keys = _keys(n)
    full = HashTrieMap((k, k) for k in keys)
    t0 = time.perf_counter()
    for _ in range(loops):
        m = full
        for k in keys:
            m = m.remove(k)
    return time.perf_counter() - t0


def map_lookup(loops: int, n: int) -> float:
    from rpds import HashTrieMap

    keys = _keys(n)
    m = HashTrieMap((k, k) for k in keys)
    get = m.__getitem__
    t0 = time.perf_counter()
    for _ in range(loops):
        for k in keys:
            get(k)
    return time.perf_counter() - t0


def list_push(loops: int, n: int) -> float:
    from rpds import List

    items = list(range(n))
    t0 = time.perf_counter()
    for _ in range(loops):
        lst = List()
        for x in items:
            lst = lst.push_front(x)
    return time.perf_counter() - t0


def threads(loops: int, n: int, threads: int) -> float:
    """``threads`` Python threads each build ``loops`` maps of ``n`` keys at once."""
    from rpds import HashTrieMap

    keys = _keys(n)

    def work() -> None:
        for _ in range(loops):
            m = HashTrieMap()
            for k in keys:
                m = m.insert(k, k)

    return threads_wall_time(threads, work)


def held(n: int, copies: int) -> dict:
    """``copies`` maps of ``n`` keys each, built by insertion and held at once (their nodes
    on the Rust heap); then dropped. RSS at the start, while held, at the peak, after."""
    from rpds import HashTrieMap

    keys = _keys(n)
    gc.collect()
    start = rss_bytes()
    maps = []
    for c in range(copies):
        m = HashTrieMap()
        for k in keys:
            m = m.insert(k + c, c)
        maps.append(m)
    holding = rss_bytes()
    peak = peak_rss_bytes(holding)
    del maps, m
    gc.collect()
    return held_phases(start, holding, rss_bytes(), peak)


WORKLOADS = (
    Workload(
        name="map_insert",
        family="build",
        kind="time",
        unit="s/insert",
        measures="HashTrieMap.insert, one key at a time: new trie nodes per insert",
        params=(N,),
        points=({"n": 100}, {"n": 10_000}),
        smoke={"n": 10},
        ops_per_loop=lambda p: p["n"],
    ),
    Workload(
        name="map_remove",
        family="build",
        kind="time",
        unit="s/remove",
        measures="HashTrieMap.remove of every key: path copies, and old nodes freed",
        params=(N,),
        points=({"n": 10_000},),
        smoke={"n": 10},
        ops_per_loop=lambda p: p["n"],
    ),
    Workload(
        name="list_push",
        family="build",
        kind="time",
        unit="s/push",
        measures="List.push_front: one new cell per push",
        params=(N,),
        points=({"n": 10_000},),
        smoke={"n": 10},
        ops_per_loop=lambda p: p["n"],
    ),
    Workload(
        name="map_lookup",
        family="control",
        kind="time",
        unit="s/lookup",
        measures="HashTrieMap lookups: no Rust allocation, so every flavour should tie",
        params=(N,),
        points=({"n": 10_000},),
        smoke={"n": 10},
        ops_per_loop=lambda p: p["n"],
    ),
    Workload(
        name="threads",
        family="threads",
        kind="time",
        unit="s/insert",
        measures="map builds from several Python threads at once (they take turns on the GIL)",
        params=(N, THREADS),
        points=({"n": 1000, "threads": 4},),
        smoke={"n": 10, "threads": 2},
        ops_per_loop=lambda p: p["n"] * p["threads"],
    ),
    Workload(
        name="held",
        family="memory",
        kind="memory",
        unit="bytes",
        measures="RSS while many maps are held, at the peak, and after dropping them",
        params=(N, COPIES),
        points=({"n": 10_000, "copies": 50},),
        smoke={"n": 10, "copies": 2},
    ),
)
