"""What the workload files of ``benchmarks/extensions/`` share: loading one, timing Python
threads that call an extension at once, and the memory figures of a ``held`` workload."""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType


def load_workloads(path: str | Path) -> ModuleType:
    """An extension's workload file as a module, under its own name (a file named
    ``orjson.py`` must not shadow orjson), checked to define ``WORKLOADS``; ValueError
    otherwise. Loaded once per process: the run, its workers and its report share it."""
    import importlib.util

    path = Path(path)
    name = "allocbench_extension_" + re.sub(r"\W", "_", path.stem)
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if path.suffix != ".py" or spec is None or spec.loader is None:
        raise ValueError(f"workloads must be a Python file; got {str(path)!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    if not getattr(module, "WORKLOADS", None):
        del sys.modules[name]
        raise ValueError(f"{path} defines no WORKLOADS")
    return module


def threads_wall_time(threads: int, work: Callable[[], None]) -> float:
    """Starts ``threads`` threads running ``work`` at once; the wall time from the release
    of the start barrier until the last one is done (starting them is not timed)."""
    barrier = threading.Barrier(threads + 1)

    def run() -> None:
        barrier.wait()
        work()

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in pool:
        t.join()
    return time.perf_counter() - t0


def rss_bytes() -> int:
    """The process's resident set now (/proc/self/statm)."""
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes(at_least: int) -> int:
    """ru_maxrss, or ``at_least`` (a statm reading taken just before) when larger: the
    kernel updates the high-water mark lazily, so it can trail that reading."""
    import resource

    return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, at_least)


def held_phases(start: int, holding: int, dropped: int, peak: int | None = None) -> dict:
    """A ``held`` workload's result: RSS at the start, while held, at the peak (default:
    read now), after the drop."""
    return {
        "phases": [
            {"phase": "start", "rss_bytes": start},
            {"phase": "held", "rss_bytes": holding},
            {"phase": "peak", "rss_bytes": peak or peak_rss_bytes(holding)},
            {"phase": "dropped", "rss_bytes": dropped},
        ]
    }
