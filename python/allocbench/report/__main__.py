"""``python -m allocbench.report <run dir> [--out DIR]``: the report of one run (``build``);
several run directories: their comparison (``compare_runs``). Bad input: exit 2 and the
reason on stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import ReportInputError, build, compare_runs
from . import __doc__ as REPORT_DOC


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m allocbench.report", description=REPORT_DOC.split("\n")[0]
    )
    ap.add_argument(
        "run_dir",
        nargs="+",
        help="results/pyperf/<run id>; several: their comparison (each family's verdict per "
        "run side by side)",
    )
    ap.add_argument(
        "--out",
        help="report directory (default: results/report/<run id>, or for several runs "
        "results/report/<first>_vs_<second>…)",
    )
    args = ap.parse_args(argv)
    run_dirs = [Path(d) for d in args.run_dir]
    if args.out:
        out = Path(args.out)
    elif all(d.resolve().parent.name == "pyperf" for d in run_dirs):
        name = "_vs_".join(d.resolve().name for d in run_dirs)
        out = run_dirs[0].resolve().parent.parent / "report" / name
    else:
        print(
            "error: --out is needed when the run directory is not <root>/pyperf/<run id>",
            file=sys.stderr,
        )
        return 2
    try:
        index = build(run_dirs[0], out) if len(run_dirs) == 1 else compare_runs(run_dirs, out)
    except ReportInputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(index)
    return 0


if __name__ == "__main__":
    sys.exit(main())
