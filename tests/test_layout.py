"""The layout rules of CONTRIBUTING.md: small files, each with one concern (a longer one says
why at its top), and README's layout table naming every folder and module."""

from __future__ import annotations

import re
import subprocess
from pathlib import PurePosixPath

from allocbench import registry
from helpers import ROOT

PY_LINES, RUST_LINES = 400, 300
PY_REASON = re.compile(r"^# size: \S", re.M)
RUST_REASON = re.compile(r"^//! Size: \S", re.M)
# Long files that say why here instead of at their top (e.g. while another branch rewrites
# them); none today.
EXEMPT: dict[str, str] = {}
# Subtrees the README names as one row: stored data, the fixture project.
ONE_ROW = ("results/", "tests/ext_fixture/")
# Folders whose files the README need not name one by one (tests/README.md does).
NOT_PER_FILE = ("results/", "tests/")
MODULE = (".py", ".pyi", ".rs", ".c")
# The backend files: README names them as "one file per backend", the registry lists them.
BACKENDS = {f"crates/allocbench-alloc/src/{f.module}.rs" for f in registry.REGISTRY}


def tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return [p for p in out.stdout.splitlines() if (ROOT / p).exists()]


def test_long_files_say_why_at_their_top():
    unexplained = []
    for path in tracked():
        if path.endswith(".py"):
            limit, reason = PY_LINES, PY_REASON
        elif path.endswith(".rs"):
            limit, reason = RUST_LINES, RUST_REASON
        else:
            continue
        text = (ROOT / path).read_text()
        n = text.count("\n")
        top = "\n".join(text.splitlines()[:80])
        if n > limit and path not in EXEMPT and not reason.search(top):
            unexplained.append(f"{path} ({n} lines)")
    assert not unexplained, (
        f"over {PY_LINES} (Python) or {RUST_LINES} (Rust) lines without a reason at the top "
        f"('# size: …' / '//! Size: …'); split them or say why: {unexplained}"
    )


def layout_rows() -> dict[str, str]:
    """README's layout table: the first cell's path -> the row."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"^\| `([^`]+)` \|", line)
        if m:
            rows[m.group(1)] = line
    return rows


def test_readme_layout_names_every_folder_and_module():
    rows = layout_rows()
    missing = []
    for path in tracked():
        p = PurePosixPath(path)
        if p.parent == PurePosixPath(".") or p.parts[0].startswith("."):
            continue
        folder = f"{p.parent}/"
        row = next((r for r in ONE_ROW if folder.startswith(r)), folder)
        if row not in rows:
            missing.append(f"folder {row}")
        elif (
            p.suffix in MODULE
            and not folder.startswith(NOT_PER_FILE)
            and not (path in BACKENDS and "one file per backend" in rows[row])
            and f"`{p.name}`" not in rows[row]
        ):
            missing.append(f"module {path}")
    assert not missing, f"README.md's layout table does not name: {sorted(set(missing))}"
