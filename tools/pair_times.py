"""Wall time of builds side by side: ns per operation, best of ``--repeats`` calls in each of
``--rounds`` alternating processes per build (the best round is kept: the machine is shared,
and the minimum is the figure noise can only raise).

    python tools/pair_times.py --python 3.11,3.15 --build now=build/flavours/pymem \\
        --build before=/tmp/before/build/flavours/pymem --build system=build/flavours/system
    python tools/pair_times.py --threads --build ...

Each build directory is a flavour's install (a PYTHONPATH entry). Prints a markdown table:
one row per interpreter and build. Default columns: the 64 B (``--size``) alloc_pair,
alloc_pair_unguarded, raw_pair and, where the build has it, c_pair (the C-level pair of the
flavour's own primitive). ``--threads``: threads_churn (64 B, batch 256) at 1, 2 and 4
threads and cross_thread_free (64 B, batch 256), the detached-thread paths.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

from allocbench import interpreters  # noqa: E402

CHILD = """
import json, sys, allocbench._rustext as r
size, loops, repeats = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
calls = {"alloc_pair": lambda: r.alloc_pair(loops, size),
         "alloc_pair_unguarded": lambda: r.alloc_pair_unguarded(loops, size),
         "raw_pair": lambda: r.raw_pair(loops, size)}
if hasattr(r, "c_pair"):
    calls["c_pair"] = lambda: r.c_pair(loops, size, "own")
for f in calls.values():
    f()  # warm-up
print(json.dumps({k: min(f() for _ in range(repeats)) / loops * 1e9 for k, f in calls.items()}))
"""
COLUMNS = ("alloc_pair", "alloc_pair_unguarded", "raw_pair", "c_pair")
THREADS_CHILD = """
import json, sys, allocbench._rustext as r
loops, repeats = 256, int(sys.argv[3])
calls = {f"threads_churn t={t}": (lambda t=t: r.threads_churn(loops, t, 64, 256))
         for t in (1, 2, 4)}
calls["cross_thread_free"] = lambda: r.cross_thread_free(loops, 64, 256)
for f in calls.values():
    f()  # warm-up
print(json.dumps({k: min(f() for _ in range(repeats)) / (loops * 256) * 1e9
                  for k, f in calls.items()}))
"""
THREADS_COLUMNS = (
    "threads_churn t=1",
    "threads_churn t=2",
    "threads_churn t=4",
    "cross_thread_free",
)


def measure(
    interp, build: Path, size: int, loops: int, repeats: int, child: str = CHILD
) -> dict[str, float]:
    env = interpreters.worker_env(interp, {"PYTHONPATH": str(build)}, root=ROOT)
    out = subprocess.run(
        [interp.command, "-c", child, str(size), str(loops), str(repeats)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return json.loads(out.stdout)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", default="3.11", help="interpreter ids, comma-separated")
    ap.add_argument("--build", action="append", required=True, help="label=flavour dir")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--loops", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", action="store_true", help="the detached-thread workloads")
    a = ap.parse_args(argv)
    builds = dict(b.split("=", 1) for b in a.build)
    child, columns = (THREADS_CHILD, THREADS_COLUMNS) if a.threads else (CHILD, COLUMNS)
    print(f"| interpreter | build | {' | '.join(columns)} (ns/op) |")
    print("|---|---|" + "---|" * len(columns))
    for ident in interpreters.parse_ids(a.python):
        interp = interpreters.resolve(ident)
        best: dict[str, dict[str, float]] = {label: {} for label in builds}
        for _ in range(a.rounds):
            for label, path in builds.items():
                got = measure(interp, Path(path), a.size, a.loops, a.repeats, child)
                for k, v in got.items():
                    best[label][k] = min(v, best[label].get(k, v))
        for label, b in best.items():
            cells = " | ".join(f"{b[c]:.2f}" if c in b else "-" for c in columns)
            print(
                f"| {ident} ({interp.facts.get('version', interp.version)}) | {label} | {cells} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
