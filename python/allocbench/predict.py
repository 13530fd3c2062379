"""Do instructions or estimated cycles predict wall time? For a stored instruction run and
stored pyperf runs of the same interpreter:

    python -m allocbench.predict results/instructions/<id> results/pyperf/<run> [...]

prints, per pyperf run (and for the wall times the instruction run measured itself, when it
did), the Pearson correlation of log(figure) with log(seconds/op) over every point and
flavour both runs have, and the share of flavour pairs per point (wall times more than 5 %
apart) whose figures say which is faster as the clock does, for instructions/op and, when
the run simulated the caches, est. cycles/op (``allocbench.instructions.predict``). Runs
stored before the cache simulation give instructions only. Nothing is written.

Exit status 2, with the reason, when a file cannot be read or the interpreters differ.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import instructions
from .report import ReportInputError


def markdown(data: dict, pyperf_runs: list[Path]) -> str:
    """The prediction of ``data`` (an instructions.json) against its own native times and
    each pyperf run, as Markdown."""
    data = {**data, "prediction": instructions.prediction(data)}  # with its breakdown
    data["prediction_pyperf"] = [instructions.pyperf_prediction(data, p) for p in pyperf_runs]
    parts = [f"# Instruction run {data.get('run_id', '?')} against wall time", ""]
    body = instructions.prediction_markdown(data)
    body = [line for line in body if not line.startswith("![")]  # no plot here
    return "\n".join(parts + (body[2:] if body else ["No wall time to compare with."]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m allocbench.predict", description=__doc__)
    ap.add_argument("instructions", help="results/instructions/<id> (or its instructions.json)")
    ap.add_argument("pyperf", nargs="*", help="results/pyperf/<run id> of the same interpreter")
    a = ap.parse_args(argv)
    path = Path(a.instructions)
    if path.is_dir():
        path = path / "instructions.json"
    try:
        print(markdown(instructions.load(path), [Path(p) for p in a.pyperf]))
    except (ValueError, ReportInputError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
