"""asv's build step: one wheel of the flavour named by ALLOCBENCH_FLAVOUR (asv's matrix
env), built from the commit asv checked out.

Usage (from asv.conf.json): python tools/asv_build_wheel.py BUILD_DIR WHEEL_DIR ENV_DIR

Why a script: asv runs commands without a shell (no $VAR), and the commit being built may
predate any build logic of its own. maturin comes from the project venv (.venv, made by
`make venv`); the cargo target dir lives in the asv environment, outside the checkout that
asv cleans, so consecutive commits build incrementally.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CONF_DIR = Path(__file__).resolve().parents[1]
# The flavours of this tree's registry (an asv environment may hold another commit's
# allocbench: this tree's comes first).
sys.path.insert(0, str(CONF_DIR / "python"))
from allocbench.registry import BY_NAME, NAMES  # noqa: E402


def wheel_command(flavour: str, maturin: Path, python: str, wheel_dir: Path) -> list[str]:
    """maturin's command line for ``flavour``'s wheel: its cargo feature (``alloc-<name>``)."""
    cmd = [str(maturin), "build", "--quiet", "--release"]
    return [*cmd, "--features", BY_NAME[flavour].feature, "-i", python, "-o", str(wheel_dir)]


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    build_dir, wheel_dir, env_dir = (Path(a) for a in argv[1:])
    flavour = os.environ.get("ALLOCBENCH_FLAVOUR", "")
    if flavour not in NAMES:
        print(
            f"ALLOCBENCH_FLAVOUR must be one of {', '.join(NAMES)}; got {flavour!r}",
            file=sys.stderr,
        )
        return 2
    if not (build_dir / "rustext" / "Cargo.toml").exists():
        print(f"{build_dir}: this commit has no rustext crate; nothing to build", file=sys.stderr)
        return 1
    maturin = CONF_DIR / ".venv" / "bin" / "maturin"
    if not maturin.exists():
        print(f"{maturin} not found: run `make venv` first", file=sys.stderr)
        return 2
    env = dict(os.environ)
    env["CARGO_TARGET_DIR"] = str(env_dir / "cargo-target")
    env["MATURIN_NO_INSTALL_RUST"] = "1"
    cmd = wheel_command(flavour, maturin, sys.executable, wheel_dir)
    print(" ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=build_dir, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv))
