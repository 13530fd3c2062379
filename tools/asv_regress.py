"""`make regress BASE=<rev>`: `asv continuous` between BASE and HEAD for the chosen flavours
on the default CPython; fails (exit 1) when a benchmark gets slower by more than FACTOR.

FACTOR defaults to 1.25: these machines are shared and a single asv sample moves by 10-15 %
between runs; a real allocator regression (a lost fast path, an extra syscall) is larger.
Results go to build/asv-regress, never to the stored history in results/.

``--deterministic`` (make regress DETERMINISTIC=1) gates on the deterministic lines only
(benchmarks/bench_deterministic.py: instructions/op and est. cycles/op by callgrind), with
the factor 1 + ``--threshold`` (make's THRESHOLD, default 0.01, as make regress-instructions):
those figures do not move between runs, so a 1 % rise is the code's.

Usage: python tools/asv_regress.py BASE [--flavours a,b] [--factor F] [--python 3.11]
                                   [--bench REGEX] [--deterministic [--threshold T]]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from asv_history import FLAVOURS, MACHINE, ROOT, asv_env_for, config_for, machine_args

# The deterministic lines (benchmarks/bench_deterministic.py).
DETERMINISTIC_BENCH = r"^bench_deterministic\."


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="make regress")
    ap.add_argument("base", help="git revision to compare HEAD against")
    ap.add_argument("--flavours", default="pymem,system")
    ap.add_argument("--factor", type=float, default=1.25)
    ap.add_argument("--python", default="3.11")
    ap.add_argument("--bench", default=None, help="regular expression on benchmark names")
    ap.add_argument(
        "--deterministic",
        action="store_true",
        help="only the track_ lines of bench_deterministic, factor 1 + --threshold",
    )
    ap.add_argument("--threshold", type=float, default=0.01)
    a = ap.parse_args(argv)
    if a.deterministic:
        if a.bench:
            ap.error("--deterministic picks the benchmarks itself; leave out --bench")
        if not a.threshold > 0:
            ap.error(f"--threshold must be > 0, got {a.threshold}")
        a.bench, a.factor = DETERMINISTIC_BENCH, 1.0 + a.threshold
    flavours = [f for f in a.flavours.split(",") if f]
    bad = [f for f in flavours if f not in FLAVOURS]
    if bad or not flavours:
        ap.error(f"--flavours: give names from {', '.join(FLAVOURS)}")
    if not a.factor > 1.0:
        ap.error(f"--factor must be > 1.0, got {a.factor}")
    try:
        env = asv_env_for(a.python)
    except ValueError as e:
        ap.error(f"--python: {e}")
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    base = subprocess.run(
        ["git", "rev-parse", "--verify", a.base + "^{commit}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if base.returncode != 0:
        ap.error(f"BASE {a.base!r} is not a commit of this repository")
    conf = config_for(flavours, "regress", ROOT / "build" / "asv-regress" / "results")
    asv = [sys.executable, "-m", "asv", "--config", str(conf)]
    subprocess.run([*asv, "machine", *machine_args()], check=True)
    cmd = [
        *asv,
        "continuous",
        "--machine",
        MACHINE,
        "--factor",
        str(a.factor),
        "--show-stderr",
        "-E",
        f"virtualenv:{a.python}",
        base.stdout.strip(),
        head,
    ]
    if a.bench:
        cmd[-2:-2] = ["--bench", a.bench]
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
