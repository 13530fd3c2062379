"""``make pythons`` (allocbench.pythons): the mirror read from apt sources, the launchers of
Debian sid's CPython 3.14 and 3.15 (arguments, working directory, environment, exit status
and signals pass through), and a flavour built on the host running on them unchanged.

The tests that run sid's interpreters need the root ``make pythons`` makes, and fail (asking
for it) where it is missing."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
from allocbench import pythons
from allocbench.flavour import flavour_dir
from allocbench.interpreters import find_python, sid_bin, sid_root
from helpers import ROOT, built, run_flavour

SID_VERSIONS = ["3.14", "3.15"]


# ---- the mirror ----------------------------------------------------------------------------

ONE_LINE = """\
# deb cdrom:[Debian GNU/Linux 12.5.0 _Bookworm_]/ bookworm main
deb http://security.debian.org/debian-security bookworm-security main contrib
deb [arch=amd64 signed-by=/usr/share/keyrings/cloud.google.gpg] https://packages.cloud.google.com/apt cloud-sdk main
deb-src http://ftp.de.debian.org/debian bookworm main
deb http://ftp.de.debian.org/debian bookworm-updates main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://ftp.de.debian.org/debian/ bookworm main contrib
deb http://ftp.fr.debian.org/debian bookworm main
"""  # noqa: E501

DEB822 = """\
Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://old.example.org/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb-src deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBGPL0BUBEADmW5NdOOHwPIJlgPu6JDcKw/NZJPR8lsD9K7UgrF6nP+9KmHfO
 -----END PGP PUBLIC KEY BLOCK-----
"""

NODESOURCE = """\
Types: deb
URIs: https://deb.nodesource.com/node_20.x
Suites: nodistro
Components: main
"""


def test_mirror_from_one_line_sources():
    files = [("/etc/apt/sources.list", ONE_LINE)]
    assert pythons.mirror_from_sources(files) == "http://ftp.de.debian.org/debian"


def test_mirror_from_deb822_sources():
    files = [("/etc/apt/sources.list.d/nodesource.sources", NODESOURCE)]
    files.append(("/etc/apt/sources.list.d/debian.sources", DEB822))
    assert pythons.mirror_from_sources(files) == "http://deb.debian.org/debian"


def test_mirror_of_the_host_codename():
    files = [("/etc/apt/sources.list", "deb http://mirror.example/debian excalibur main\n")]
    with pytest.raises(pythons.PythonsError):
        pythons.mirror_from_sources(files)
    assert pythons.mirror_from_sources(files, "excalibur") == "http://mirror.example/debian"


def test_host_mirror_reads_the_files_apt_reads(tmp_path):
    d = tmp_path / "sources.list.d"
    d.mkdir()
    # apt ignores these names; so must we.
    (d / "debian.list.disabled-by-farm").write_text("deb http://wrong.example/debian sid main\n")
    (d / "debian.sources.save").write_text(DEB822.replace("deb.debian.org", "wrong.example"))
    (d / "nodesource.sources").write_text(NODESOURCE)
    (d / "debian.sources").write_text(DEB822)
    assert pythons.host_mirror(tmp_path) == "http://deb.debian.org/debian"
    (tmp_path / "sources.list").write_text(ONE_LINE)
    assert pythons.host_mirror(tmp_path) == "http://ftp.de.debian.org/debian"


def test_no_mirror_is_a_clear_error(tmp_path):
    with pytest.raises(pythons.PythonsError, match=r"no Debian mirror found.*--mirror"):
        pythons.host_mirror(tmp_path)
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "nodesource.sources").write_text(NODESOURCE)
    with pytest.raises(pythons.PythonsError, match=r"no Debian mirror found.*nodesource"):
        pythons.host_mirror(tmp_path)


# ---- refusing what cannot work -------------------------------------------------------------


def test_prerequisites_are_named(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(pythons.PythonsError, match="needs root"):
        pythons.prerequisites()
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    real = pythons.shutil.which
    monkeypatch.setattr(pythons.shutil, "which", lambda t: None if t == "debootstrap" else real(t))
    with pytest.raises(pythons.PythonsError, match="apt-get install -y debootstrap"):
        pythons.prerequisites()


def test_a_launcher_refuses_an_incomplete_root(tmp_path):
    """A root without its completion stamp (being made, or an interrupted refresh) is never
    run: the launcher says so and exits 127."""
    root = tmp_path / "sid-root"
    (made,) = pythons.write_launchers(root, tmp_path / "bin", {"3.15": "0"}, ["/tmp"])
    assert made.name == "python3.15" and os.access(made, os.X_OK)
    out = subprocess.run([made, "-c", "pass"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 127
    assert "missing or incomplete: run make pythons" in out.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="debootstrap needs root")
def test_an_unreachable_mirror_leaves_no_root(tmp_path, monkeypatch, capsys):
    """Connection refused: a clear error, exit status 1, and nothing that looks like a root."""
    if not pythons.shutil.which("debootstrap"):
        pytest.skip("debootstrap is not installed")
    monkeypatch.setenv("ALLOCBENCH_SID_ROOT", str(tmp_path / "sid-root"))
    assert pythons.main(["--mirror", "http://127.0.0.1:9/debian"]) == 1
    err = capsys.readouterr().err
    assert "error: debootstrap failed" in err and "reachable" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sid-root.lock"]


# ---- sid's interpreters (need `make pythons`) ----------------------------------------------


def launcher(version: str) -> str:
    exe = sid_bin() / pythons.launcher_name(version)
    if not (sid_root() / pythons.STAMP).exists() or not exe.exists():
        pytest.fail(f"Debian sid's CPython {version} is not set up ({exe}): run make pythons")
    return str(exe)


PROBE = """
import os, sys, sysconfig
print(sys.version_info[:2], sys.executable, os.getcwd(), sys.argv[1:], os.environ["PROBE"])
print(os.confstr("CS_GNU_LIBC_VERSION"), sys.stdin.read())
print(sysconfig.get_config_var("Py_ENABLE_SHARED"), bool(sysconfig.get_config_var("CONFIG_ARGS")))
sys.exit(7)
"""


@pytest.mark.parametrize("version", SID_VERSIONS)
def test_launcher_passes_everything_through(version, tmp_path):
    exe = launcher(version)
    args = ["a b", "", "$HOME", "*", "--x=1"]
    env = {**os.environ, "PROBE": "p q"}
    out = subprocess.run(
        [exe, "-c", PROBE, *args],
        cwd=tmp_path,
        env=env,
        input="from stdin",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 7, out.stderr
    major, minor = map(int, version.split("."))
    lines = out.stdout.splitlines()
    assert lines[0] == f"{(major, minor)} /usr/bin/python{version} {tmp_path} {args} p q"
    host_libc = os.confstr("CS_GNU_LIBC_VERSION")
    assert lines[1].startswith("glibc ") and lines[1] != f"{host_libc} from stdin"
    assert lines[1].endswith(" from stdin")
    assert lines[2] in ("0 True", "1 True")


def test_launchers_made_from_another_checkout_serve_this_one(tmp_path):
    """`make pythons` run from a clone in /tmp (as CI does) writes launchers that bind /tmp,
    not /work: they still run in this checkout, because each launch binds the top directory
    of its own working directory."""
    launcher("3.15")  # the root is set up
    (made,) = pythons.write_launchers(
        sid_root(), tmp_path / "bin", {"3.15": "0"}, ["/tmp", "/proc", "/sys", "/dev"]
    )
    out = subprocess.run(
        [made, "-c", "import os; print(os.getcwd(), os.path.isfile('README.md'))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(ROOT), "True"]


def test_launcher_keeps_the_process_and_its_signals():
    """Every step execs: the interpreter has the launcher's process id, so a signal sent to
    the launched process reaches the interpreter and ends it as that signal."""
    code = "import os, time; print(os.getpid(), flush=True); time.sleep(120)"
    p = subprocess.Popen([launcher("3.15"), "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None
        assert int(p.stdout.readline()) == p.pid
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=60) == -signal.SIGTERM
    finally:
        p.kill()
        p.wait()


def test_find_python_finds_the_sid_launchers():
    for version in SID_VERSIONS:
        exe = launcher(version)
        found = find_python(version)
        assert found is not None, f"find_python({version!r}) found nothing; {exe} exists"
        out = subprocess.run([found, "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
        assert out.stdout.strip() == str(tuple(map(int, version.split("."))))
    # sid's 3.13 is python3.13-debian: never what the suite's 3.13 runs are given.
    assert find_python("3.13") != str(sid_bin() / pythons.launcher_name("3.13"))


@pytest.mark.parametrize("version", SID_VERSIONS)
def test_pymem_flavour_runs_on_sid(version):
    """The abi3 wheel built on the host (bookworm's glibc) loads and runs unchanged."""
    exe = launcher(version)
    if not built("pymem"):
        pytest.fail("flavour pymem is not built: make build FLAVOUR=pymem")
    code = "import sys, allocbench.flavour as f; print(sys.executable, f.load().__file__)"
    out = run_flavour("pymem", ["-c", code], python=exe)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    python, extension = out.stdout.split()
    assert python == f"/usr/bin/python{version}"
    assert extension.startswith(f"{flavour_dir('pymem', ROOT)}/allocbench/_rustext")
    out = run_flavour("pymem", ["-m", "allocbench", "info"], python=exe)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    assert '"backend": "pymem"' in out.stdout
    out = run_flavour("pymem", ["-m", "allocbench", "smoke"], python=exe)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    assert "smoke: 0 failed" in out.stdout
