"""Wall time of builds side by side, for catalogue points chosen by a regular expression: ns
per operation, best of ``--repeats`` calls in each of ``--rounds`` alternating processes
per build (the best round is kept: the machine is shared, and the minimum is the figure
noise can only raise).

    python tools/pair_times.py --python 3.11,3.15 --build now=build/flavours/pymem \\
        --build before=/tmp/before/build/flavours/pymem --build system=build/flavours/system
    python tools/pair_times.py --filter '^(threads_churn|cross_thread_free)\\[.*size=64,' ...

Each build directory is a flavour's install (a PYTHONPATH entry); its own catalogue names
the points and runs them (a build whose catalogue lacks a point shows "-"). The default
filter takes the 64 B pair paths: alloc_pair, alloc_pair_unguarded, raw_pair and c_pair
(the C-level pair of the flavour's own primitive). Prints a markdown table, one row per
interpreter and build.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

from allocbench import interpreters, pydeps  # noqa: E402

PAIRS = r"^(alloc_pair|alloc_pair_unguarded|raw_pair|c_pair)\[size=64[],]"

# Runs in the build's interpreter: every matching timed point of the build's own catalogue,
# about `ops` operations per call.
CHILD = """
import json, re, sys
from allocbench import catalogue
pattern, ops, repeats = re.compile(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
best = {}
for w in catalogue.WORKLOADS:
    for p in w.points:
        if w.timed and pattern.search(w.label(p)):
            per_loop = w.ops_per_loop(p)
            loops = max(1, ops // per_loop)
            w.run(loops=loops, **p)  # warm-up
            s = min(w.run(loops=loops, **p) for _ in range(repeats))
            best[w.label(p)] = s / (loops * per_loop) * 1e9
print(json.dumps(best))
"""


def measure(interp, build: Path, pattern: str, ops: int, repeats: int) -> dict[str, float]:
    env = pydeps.worker_env(interp, {"PYTHONPATH": str(build)}, root=ROOT)
    out = subprocess.run(
        [interp.command, "-c", CHILD, pattern, str(ops), str(repeats)],
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
    ap.add_argument("--filter", default=PAIRS, help="regex on catalogue point names")
    ap.add_argument("--ops", type=int, default=200_000, help="operations per call")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args(argv)
    builds = dict(b.split("=", 1) for b in a.build)
    for ident in interpreters.parse_ids(a.python):
        interp = interpreters.resolve(ident)
        best: dict[str, dict[str, float]] = {label: {} for label in builds}
        for _ in range(a.rounds):
            for label, path in builds.items():
                for k, v in measure(interp, Path(path), a.filter, a.ops, a.repeats).items():
                    best[label][k] = min(v, best[label].get(k, v))
        points = list(dict.fromkeys(k for b in best.values() for k in b))
        print(f"\n{ident} ({interp.facts.get('version', interp.version)}), ns/op\n")
        print(f"| build | {' | '.join(points)} |")
        print("|---|" + "---|" * len(points))
        for label, b in best.items():
            cells = " | ".join(f"{b[p]:.2f}" if p in b else "-" for p in points)
            print(f"| {label} | {cells} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
