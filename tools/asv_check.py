"""CI's asv step: `asv check` and a quick dry run of the whole asv suite against an existing
environment that holds one built flavour, with results and html in a scratch directory so
no stored result file (results/) is touched.

Usage: python tools/asv_check.py FLAVOUR WHEEL_DIR SCRATCH_DIR
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

from asv import util

ROOT = Path(__file__).resolve().parents[1]
MACHINE = "asv-check"


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    flavour, wheel_dir, scratch = argv[1], Path(argv[2]), Path(argv[3]).resolve()
    wheels = sorted(wheel_dir.glob("*.whl"))
    if len(wheels) != 1:
        print(f"{wheel_dir}: expected one wheel, found {len(wheels)}", file=sys.stderr)
        return 2
    env_dir = scratch / "existing-env"
    if not (env_dir / "bin" / "python").exists():
        venv.create(env_dir, with_pip=True)
    py = str(env_dir / "bin" / "python")
    subprocess.run(
        [py, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(wheels[0])],
        check=True,
    )
    subprocess.run([py, "-m", "pip", "install", "-q", "asv_runner"], check=True)

    conf = util.load_json(str(ROOT / "asv.conf.json"), js_comments=True)
    conf.update(
        repo=str(ROOT),
        benchmark_dir=str(ROOT / "benchmarks"),
        results_dir=str(scratch / "results"),
        html_dir=str(scratch / "html"),
        env_dir=str(scratch / "env"),
    )
    conf_path = scratch / "asv.conf.json"
    conf_path.write_text(json.dumps(conf, indent=2))

    env = dict(os.environ, ALLOCBENCH_FLAVOUR=flavour)
    asv = [sys.executable, "-m", "asv", "--config", str(conf_path)]
    steps = [
        ["machine", "--yes", "--machine", MACHINE],
        ["check", "-E", f"existing:{py}"],
        [
            "run",
            "--quick",
            "--dry-run",
            "--show-stderr",
            "--machine",
            MACHINE,
            "-E",
            f"existing:{py}",
        ],
    ]
    for step in steps:
        print("+ asv", " ".join(step), flush=True)
        out = subprocess.run(asv + step, env=env, text=True, capture_output=True)
        sys.stdout.write(out.stdout[-20000:])
        sys.stderr.write(out.stderr[-5000:])
        # asv exits 0 even when a benchmark fails; failures print as "failed".
        if out.returncode != 0 or "failed" in out.stdout.lower().replace("0 failed", ""):
            print(f"asv {step[0]} failed", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
