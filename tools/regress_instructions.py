"""`make regress-instructions BASE=<rev>`: instruction counts of a chosen subset, BASE
against HEAD, for the chosen flavours; fails when any repeatable point needs more than
THRESHOLD (a fraction, default 0.01 = 1 %) more instructions per op.

Counts are deterministic (same binary, same input, same paths: see allocbench.instructions),
so the threshold can be tight; 1 % leaves room only for changes that are meant.

Both revisions are checked out as git worktrees at paths of the same length
(build/ri/base, build/ri/head: the client's memory layout depends on path lengths) and
built with the shared cargo target dir and the project venv. Each revision is counted by
its own worker (the allocbench package of its build), with callgrind's cache simulation.

The building and counting here are shared with `make review` (tools/review.py).

Usage: python tools/regress_instructions.py BASE [--flavours a,b] [--filter RE]
                                                 [--threshold F] [--python ID]
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
from allocbench import FLAVOURS, instructions, interpreters  # noqa: E402

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
    env["MATURIN_NO_INSTALL_RUST"] = "1"
    for f in flavours:
        subprocess.run(["make", "-C", str(where), "build", f"FLAVOUR={f}"], env=env, check=True)


def add_arguments(ap: argparse.ArgumentParser, flavours: str, filter_re: str) -> None:
    """The knobs `make regress-instructions` and `make review` share."""
    ap.add_argument("base", help="BASE: a git revision")
    ap.add_argument("--head", default="HEAD", help="HEAD: a git revision (default HEAD)")
    ap.add_argument("--flavours", default=flavours)
    ap.add_argument("--filter", default=filter_re)
    ap.add_argument("--threshold", type=float, default=0.01)
    ap.add_argument(
        "--python", help=f"interpreter id ({interpreters.allowed()}); default: the venv's"
    )


def resolve(ap: argparse.ArgumentParser, rev: str, knob: str) -> str:
    """The full hash of ``rev``; exit status 2 with a message naming it when it is not a
    commit of this repository."""
    try:
        return git("rev-parse", "--verify", "--end-of-options", rev + "^{commit}")
    except subprocess.CalledProcessError:
        ap.error(f"{knob} {rev!r} is not a commit of this repository")


def parse(ap: argparse.ArgumentParser, a: argparse.Namespace):
    """(flavours, base hash, head hash, interpreter or None) from the shared knobs; exit
    status 2 naming the knob for any bad one."""
    flavours = [f for f in a.flavours.split(",") if f]
    if not flavours or any(f not in FLAVOURS for f in flavours):
        ap.error(f"--flavours: names from {', '.join(FLAVOURS)}")
    if not 0 <= a.threshold < 1:
        ap.error(f"--threshold must be a fraction in [0, 1), got {a.threshold}")
    base, head = resolve(ap, a.base, "BASE"), resolve(ap, a.head, "HEAD")
    python = None
    if a.python:
        try:
            ids = interpreters.parse_ids(a.python)
            if len(ids) != 1:
                raise interpreters.InterpreterError(f"one interpreter; got {a.python!r}")
            python = interpreters.resolve(ids[0])
        except interpreters.InterpreterError as e:
            ap.error(f"--python: {e}")
    return flavours, base, head, python


def count_revisions(
    base: str,
    head: str,
    flavours: list[str],
    filter_re: str,
    python: interpreters.Interpreter | None = None,
    what: str = "regress-instructions",
) -> dict[str, dict]:
    """{"base": run, "head": run}: each revision built in its worktree and counted by its
    own worker (instruction-run dicts: counts, git_commit, filter, interpreter)."""
    interp = python or instructions._here()
    results = {}
    for name, rev in (("base", base), ("head", head)):
        where = ROOT / "build" / "ri" / name
        print(f"{what}: {name} = {rev[:10]} in {where}", flush=True)
        prepare(rev, where, flavours)
        data = {
            "format": instructions.FORMAT,
            "counts": {},
            "git_commit": rev,
            "filter": filter_re,
            "python": interp.facts["version"],
            "interpreter": interp.record(),
        }
        for f in flavours:
            data["counts"][f] = instructions.count_flavour(f, filter_re, root=where, python=python)
        results[name] = data
    return results


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="make regress-instructions")
    add_arguments(ap, "pymem,system", DEFAULT_FILTER)
    a = ap.parse_args(argv)
    flavours, base, head, python = parse(ap, a)
    results = count_revisions(base, head, flavours, a.filter, python)
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
