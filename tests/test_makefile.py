"""The Makefile's developer interface: ``make help`` is generated from the ``##`` comments on
the targets' rule lines, so every .PHONY target must carry one."""

from __future__ import annotations

import re
import subprocess

from helpers import ROOT


def phony() -> list[str]:
    text = (ROOT / "Makefile").read_text()
    names = []
    for line in re.findall(r"^\.PHONY:(.*)$", text, re.M):
        names += line.split()
    assert names, "Makefile: no .PHONY line"
    return names


def test_every_phony_target_has_a_help_comment():
    text = (ROOT / "Makefile").read_text()
    documented = set(re.findall(r"^([A-Za-z0-9_-]+):[^=\n]*## \S", text, re.M))
    missing = sorted(set(phony()) - documented)
    assert not missing, f"Makefile: .PHONY targets without `## …` on their rule line: {missing}"


def test_make_help_lists_every_phony_target():
    out = subprocess.run(
        ["make", "-s", "--no-print-directory", "help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    listed = re.findall(r"^make (\S+) ", out.stdout, re.M)
    assert sorted(listed) == sorted(phony()), out.stdout
