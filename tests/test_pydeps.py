"""pydeps.install_wheels, the one installer of packages for another interpreter (the
workers' packages, an extension's test requirements): its stamp, its refusal, and that a
failed install keeps the previous one. pip is replaced by a fake that writes what it was
asked for, so no network is needed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from allocbench import pydeps


class FakePip:
    def __init__(self, fail: bool = False):
        self.calls: list[list[str]] = []
        self.fail = fail

    def __call__(self, cmd, **kwargs):
        self.calls.append(cmd)
        if self.fail:
            return subprocess.CompletedProcess(cmd, 1, "", "no matching distribution")
        site = Path(cmd[cmd.index("--target") + 1])
        site.mkdir(parents=True, exist_ok=True)
        (site / "installed.txt").write_text(" ".join(cmd[cmd.index("--no-compile") + 1 :]))
        return subprocess.CompletedProcess(cmd, 0, "", "")


def install(target: Path, reqs: list[str], **kw) -> None:
    pydeps.install_wheels(target, reqs, "3.15", stamp_name=".stamp", **kw)


def test_installs_once_per_request_and_again_when_it_changes(tmp_path, monkeypatch):
    pip = FakePip()
    monkeypatch.setattr(pydeps.subprocess, "run", pip)
    target = tmp_path / "deps"
    install(target, ["pytest==9.0.1"])
    install(target, ["pytest==9.0.1"])  # the stamp holds it: no second pip
    assert len(pip.calls) == 1
    cmd = pip.calls[0]
    assert cmd[cmd.index("--python-version") + 1] == "3.15" and "--only-binary=:all:" in cmd
    assert (target / "installed.txt").read_text().endswith("pytest==9.0.1")
    install(target, ["pytest==9.0.1"], constraints=["packaging==25.0"])
    assert len(pip.calls) == 2 and "-c" in pip.calls[1]
    assert not [p for p in tmp_path.iterdir() if p.name != "deps" and p.name != ".lock"]


def test_nothing_to_install_gives_an_empty_directory_without_pip(tmp_path, monkeypatch):
    pip = FakePip()
    monkeypatch.setattr(pydeps.subprocess, "run", pip)
    install(tmp_path / "deps", [])
    assert pip.calls == [] and [p.name for p in (tmp_path / "deps").iterdir()] == [".stamp"]


def test_a_failed_install_raises_the_callers_error_and_keeps_the_previous(tmp_path, monkeypatch):
    target = tmp_path / "deps"
    monkeypatch.setattr(pydeps.subprocess, "run", FakePip())
    install(target, ["pytest==9.0.1"])
    before = (target / "installed.txt").read_text()
    monkeypatch.setattr(pydeps.subprocess, "run", FakePip(fail=True))

    class CallerError(RuntimeError):
        pass

    with pytest.raises(CallerError, match=r"installing nosuch for CPython 3\.15 failed"):
        install(target, ["nosuch"], error=CallerError)
    assert (target / "installed.txt").read_text() == before
    assert not [p for p in tmp_path.iterdir() if p.name not in ("deps", ".lock")]
