"""`make review BASE=<rev>`: a Markdown comment for a pull request (allocbench.review).

Builds and counts BASE and HEAD as `make regress-instructions` does (its worktrees and
counting, tools/regress_instructions.py), classifies every point per flavour (improved,
regressed, same: instructions/op and est. cycles/op, THRESHOLD), and puts the wall time of
stored `make bench` runs of both commits beside the changed points when there are such
runs. Writes build/review/<base>..<head>.md and prints it.

Usage: python tools/review.py BASE [--head REV] [--flavours a,b] [--filter RE]
                                   [--threshold F] [--python ID]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import regress_instructions as ri
from allocbench import FLAVOURS, review


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="make review")
    ri.add_arguments(ap, ",".join(FLAVOURS), ri.DEFAULT_FILTER)
    ap.add_argument("--results", default=str(ri.ROOT / "results"), help="stored runs' root")
    ap.add_argument("--out", default=str(ri.ROOT / "build" / "review"))
    a = ap.parse_args(argv)
    flavours, base, head, python = ri.parse(ap, a)
    runs = ri.count_revisions(base, head, flavours, a.filter, python, what="review")
    wall = tuple(review.find_pyperf_run(Path(a.results), rev, runs["head"]) for rev in (base, head))
    text = review.markdown(runs["base"], runs["head"], a.threshold, wall)
    short = [ri.git("rev-parse", "--short", rev) for rev in (base, head)]
    out = Path(a.out) / f"{short[0]}..{short[1]}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    print(text)
    print(f"review: written {out}")
    for line in review.summary_lines(review.classify(runs["base"], runs["head"], a.threshold)):
        print("review:", line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
