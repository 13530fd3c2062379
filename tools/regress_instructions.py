"""`make regress-instructions BASE=<rev>`: instruction counts of a chosen subset, BASE
against HEAD, for the chosen flavours; fails when any repeatable point needs more than
THRESHOLD (a fraction, default 0.01 = 1 %) more instructions per op.

Counts are deterministic (same binary, same input, same paths: see allocbench.instructions),
so the threshold can be tight; 1 % leaves room only for changes that are meant.

Both revisions are checked out as git worktrees at paths of the same length
(build/ri/base, build/ri/head: the client's memory layout depends on path lengths) and
built with the shared cargo target dir and the project venv.

Usage: python tools/regress_instructions.py BASE [--flavours a,b] [--filter RE]
                                                 [--threshold F]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
from allocbench import FLAVOURS, instructions  # noqa: E402

DEFAULT_FILTER = (
    r"^(alloc_pair|alloc_pair_unguarded|raw_pair)\[size=(16|64|256|4096)\]"
    r"|^churn_batch\[size=(64|512),live=1024,order=lifo\]|^json_roundtrip"
)


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def prepare(rev: str, where: Path, flavours: list[str]) -> None:
    if where.exists():
        subprocess.run(["git", "worktree", "remove", "--force", str(where)], cwd=ROOT)
        shutil.rmtree(where, ignore_errors=True)
    subprocess.run(["git", "worktree", "prune"], cwd=ROOT, check=True)
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(where), rev],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    if not (where / "python" / "allocbench" / "instructions.py").exists():
        raise SystemExit(
            f"regress-instructions: {rev} predates instruction counting "
            "(python/allocbench/instructions.py); pick a later BASE"
        )
    # The project venv and the shared cargo target dir: no second venv, no cold builds.
    (where / ".venv").symlink_to(ROOT / ".venv")
    env = dict(os.environ, CARGO_TARGET_DIR=str(ROOT / "build" / "target"))
    for f in flavours:
        subprocess.run(["make", "-C", str(where), "build", f"FLAVOUR={f}"], env=env, check=True)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="make regress-instructions")
    ap.add_argument("base")
    ap.add_argument("--flavours", default="pymem,system")
    ap.add_argument("--filter", default=DEFAULT_FILTER)
    ap.add_argument("--threshold", type=float, default=0.01)
    a = ap.parse_args(argv)
    flavours = [f for f in a.flavours.split(",") if f]
    if not flavours or any(f not in FLAVOURS for f in flavours):
        ap.error(f"--flavours: names from {', '.join(FLAVOURS)}")
    if not 0 <= a.threshold < 1:
        ap.error(f"--threshold must be a fraction in [0, 1), got {a.threshold}")
    try:
        base = git("rev-parse", "--verify", a.base + "^{commit}")
    except subprocess.CalledProcessError:
        ap.error(f"BASE {a.base!r} is not a commit of this repository")
    head = git("rev-parse", "HEAD")
    results = {}
    for name, rev in (("base", base), ("head", head)):
        where = ROOT / "build" / "ri" / name
        print(f"regress-instructions: {name} = {rev[:10]} in {where}", flush=True)
        prepare(rev, where, flavours)
        data = {"format": instructions.FORMAT, "counts": {}}
        for f in flavours:
            data["counts"][f] = instructions.count_flavour(f, a.filter, root=where)
        results[name] = data
    worse = instructions.compare(results["base"], results["head"], a.threshold)
    n = sum(len(c) for c in results["head"]["counts"].values())
    for line in worse:
        print("SLOWER:", line)
    print(
        f"regress-instructions: {n} points compared, {len(worse)} beyond "
        f"{100 * a.threshold:.2f} % ({base[:10]} -> {head[:10]})"
    )
    return 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
