"""Debian sid's CPython 3.14 and 3.15 (and 3.13, when sid has it) for this project:
``make pythons``, i.e. ``python -m allocbench.pythons``.

sid's interpreters are optimised distribution builds but need sid's glibc, newer than the
host's, so they live in a Debian sid root made with ``debootstrap --variant=minbase``,
cached outside the work tree (``~/.cache/allocbench/sid-root``, or ``$ALLOCBENCH_SID_ROOT``).
The first run builds it in ``<root>.new`` and renames it into place once complete (a stamp
file, written last, marks it complete); later runs refresh it (``apt-get update`` and
``full-upgrade`` inside). The mirror is the host's own, read from its apt sources.

Launchers go to ``~/.cache/allocbench/bin`` (the directory beside the root):
``python3.14``, ``python3.15`` and ``python3.13-debian`` (not ``python3.13``, which is the
host's pyenv interpreter). Each is a shell script that runs the interpreter in the root in a
private mount namespace (``unshare --mount``) where the host's ``/proc``, ``/sys``, ``/dev``,
``/tmp``, ``$HOME`` and the project's top directory are bound at their own paths; the working
directory, arguments, environment, exit status and signals pass through (every step execs,
so the interpreter keeps the launcher's process id). ``allocbench.interpreters.find_python``
finds them. Needs root (debootstrap, mount, chroot). Standard library only.
"""

# size: over 400 lines, one job (make pythons) whose steps, the host's mirror, debootstrap,
# apt, the launchers and the stamp, read top to bottom in the order it runs them.

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from . import atomic
from .interpreters import SID_ROOT_ENV, sid_bin, sid_root

STAMP = ".allocbench-complete"
"""Written last into a root that is complete; the launchers refuse a root without it."""
REQUIRED = ("3.14", "3.15")
OPTIONAL = ("3.13",)
# Tools installed beside them: valgrind, for `make bench-instructions PY=3.15` (callgrind runs
# inside the root, on sid's glibc, like the interpreter it counts).
TOOLS = ("valgrind",)
# Our launchers' names: python3.13 stays the host's (pyenv) interpreter.
LAUNCHER = {"3.13": "python3.13-debian"}
# Suites a Debian archive (one that also serves sid) carries; debian-security does not.
DEBIAN_SUITES = {
    "sid", "unstable", "testing", "stable", "oldstable", "oldoldstable", "experimental",
    "stretch", "buster", "bullseye", "bookworm", "trixie", "forky", "duke",
}  # fmt: skip
# Host directories that are never bound over the root's own (only a subdirectory is).
SYSTEM_DIRS = {"bin", "boot", "etc", "lib", "lib32", "lib64", "libx32", "sbin", "usr", "var"}
SYSTEM_DIRS |= {"run", "proc", "sys", "dev", "srv", "opt", "mnt", "media", "home", ""}
# Top directories whose subdirectories are the ones to bind (/home/me, /srv/x).
DEEPER_DIRS = {"srv", "opt", "mnt", "media", "home"}
APT_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "DEBIAN_FRONTEND": "noninteractive",
}
APT_GET = ["apt-get", "-q", "-y", "-o", "Dpkg::Options::=--force-confold"]
APT_GET += ["-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Use-Pty=0"]


class PythonsError(Exception):
    """``make pythons`` cannot go on; the message says why and what to do."""


def launcher_name(version: str) -> str:
    return LAUNCHER.get(version, f"python{version}")


# ---- the host's mirror ---------------------------------------------------------------------


def _one_line_entries(text: str) -> Iterable[dict[str, list[str]]]:
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        line = re.sub(r"\[[^\]]*\]", " ", line)  # [ options ]
        words = line.split()
        if len(words) < 3:
            continue
        yield {
            "types": words[:1],
            "uris": words[1:2],
            "suites": words[2:3],
            "components": words[3:],
        }


def _deb822_entries(text: str) -> Iterable[dict[str, list[str]]]:
    stanzas: list[dict[str, str]] = [{}]
    key = None
    for raw in text.splitlines():
        if raw.lstrip().startswith("#"):
            continue
        if not raw.strip():
            if stanzas[-1]:
                stanzas.append({})
            key = None
            continue
        if raw[0] in " \t" and key is not None:  # a continuation line
            stanzas[-1][key] += " " + raw.strip()
            continue
        name, sep, value = raw.partition(":")
        if sep:
            key = name.strip().lower()
            stanzas[-1][key] = value.strip()
    for s in stanzas:
        if s and s.get("enabled", "yes").lower() != "no":
            yield {k: s.get(k, "").split() for k in ("types", "uris", "suites", "components")}


def mirror_from_sources(files: Iterable[tuple[str, str]], codename: str = "") -> str:
    """The Debian mirror named in apt sources: ``files`` are (file name, text) pairs, in
    deb822 format when the name ends in ``.sources``, one-line format otherwise. The first
    ``deb`` entry of a Debian suite (or the host's ``codename``) with component ``main`` wins,
    security, updates and backports suites excepted. Raises PythonsError when there is none."""
    suites = DEBIAN_SUITES | ({codename} if codename else set())
    names = []
    for name, text in files:
        names.append(name)
        parse = _deb822_entries if name.endswith(".sources") else _one_line_entries
        for e in parse(text):
            if "deb" not in e["types"] or "main" not in e["components"]:
                continue
            if not any(s in suites for s in e["suites"]):
                continue  # a suite of another archive, or -security, -updates, ...
            for uri in e["uris"]:
                if re.match(r"(https?|ftp|file)://", uri) and "security" not in uri:
                    return uri.rstrip("/")
    looked = ", ".join(names) or "no apt sources files"
    raise PythonsError(
        f"no Debian mirror found in the host's apt sources ({looked}): looked for a 'deb' "
        "entry of a Debian suite with component 'main'; pass --mirror URL"
    )


def host_sources(etc_apt: Path = Path("/etc/apt")) -> list[tuple[str, str]]:
    """The files apt reads: sources.list, and sources.list.d/*.list and *.sources."""
    paths = [etc_apt / "sources.list"]
    d = etc_apt / "sources.list.d"
    if d.is_dir():
        paths += sorted(p for p in d.iterdir() if p.suffix in (".list", ".sources"))
    out = []
    for p in paths:
        with contextlib.suppress(OSError):
            out.append((str(p), p.read_text(errors="replace")))
    return out


def host_codename() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("VERSION_CODENAME="):
                return line.partition("=")[2].strip().strip("\"'")
    return ""


def host_mirror(etc_apt: Path = Path("/etc/apt")) -> str:
    return mirror_from_sources(host_sources(etc_apt), host_codename())


# ---- running the steps ---------------------------------------------------------------------


def step(title: str):
    """Prints the step and, when it ends, its wall time."""

    @contextlib.contextmanager
    def timed():
        print(f"==> {title}", flush=True)
        t0 = time.monotonic()
        yield
        print(f"    ({time.monotonic() - t0:.1f} s)", flush=True)

    return timed()


def run(argv: list[str], what: str, env: dict[str, str] | None = None, show: bool = True) -> str:
    """Runs ``argv``, showing its output indented as it comes (unless not ``show``); returns
    the output. Raises PythonsError (with the output's tail) when it fails."""
    try:
        p = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            env=env,
        )
    except OSError as e:
        raise PythonsError(f"{what}: cannot run {argv[0]}: {e}") from e
    lines = []
    assert p.stdout is not None
    for line in p.stdout:
        lines.append(line)
        if show:
            print("    " + line, end="", flush=True)
    rc = p.wait()
    out = "".join(lines)
    if rc != 0:
        raise PythonsError(f"{what} failed (exit status {rc}):\n{''.join(lines[-15:])}".rstrip())
    return out


IN_ROOT = """r=$1; shift
for d in /proc /sys /dev; do mount --rbind "$d" "$r$d" || exit 1; done
exec chroot "$r" "$@"
"""


def in_root(root: Path, argv: list[str], what: str, show: bool = True) -> str:
    """Runs ``argv`` inside the root, with the host's /proc, /sys and /dev bound in a private
    mount namespace (the mounts end with the process: none is ever left behind)."""
    cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c", IN_ROOT, "sh", str(root)]
    return run([*cmd, *argv], what, env=APT_ENV, show=show)


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path`` in this mount namespace."""
    p = str(path.resolve())
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            target = line.split()[4].replace("\\040", " ")
            if target == p or target.startswith(p + "/"):
                out.append(target)
    return out


def remove_tree(path: Path) -> None:
    if not path.exists() and not path.is_symlink():
        return
    busy = mounts_under(path)
    if busy:
        raise PythonsError(f"will not delete {path}: something is mounted in it ({busy[0]})")
    with step(f"removing {path}"):
        shutil.rmtree(path)


def copy_resolv_conf(root: Path) -> None:
    """apt inside the root resolves names with the host's resolver configuration."""
    target = root / "etc" / "resolv.conf"
    with contextlib.suppress(FileNotFoundError):
        if target.is_symlink() or target.exists():
            target.unlink()  # never write through a symlink (it would point into the host)
    with contextlib.suppress(OSError):
        shutil.copyfile("/etc/resolv.conf", target)


def apt_update(root: Path) -> None:
    try:
        in_root(root, [*APT_GET, "update"], "apt-get update in the sid root")
    except PythonsError as e:
        if "expired" not in str(e):
            raise
        # A mirror that serves a frozen snapshot of sid (as this machine's did in 2026-11)
        # has a Release file past its Valid-Until date.
        print("    warning: the mirror's sid Release file is expired; retrying with "
              "Acquire::Check-Valid-Until=false", flush=True)  # fmt: skip
        in_root(
            root,
            [*APT_GET, "-o", "Acquire::Check-Valid-Until=false", "update"],
            "apt-get update in the sid root (Check-Valid-Until=false)",
        )


def candidates(root: Path, packages: list[str]) -> dict[str, str]:
    """Package -> candidate version in the root's apt lists (packages sid lacks are absent)."""
    out = in_root(root, ["apt-cache", "policy", *packages], "apt-cache policy", show=False)
    found, current = {}, None
    for line in out.splitlines():
        if re.match(r"^\S+:$", line):
            current = line[:-1]
        elif current and line.strip().startswith("Candidate:"):
            v = line.split(":", 1)[1].strip()
            if v != "(none)":
                found[current] = v
    return found


def installed(root: Path, packages: list[str]) -> dict[str, str]:
    fmt = "${Package} ${db:Status-Abbrev} ${Version}\\n"
    argv = ["dpkg-query", "-W", "-f", fmt, *packages]
    cmd = ["chroot", str(root), *argv]
    p = subprocess.run(cmd, capture_output=True, text=True, env=APT_ENV)
    out = {}
    for line in p.stdout.splitlines():
        words = line.split()
        if len(words) == 3 and words[1] == "ii":
            out[words[0]] = words[2]
    return out


def install_pythons(root: Path) -> dict[str, str]:
    """Installs python3.14, python3.15 and python3.13 if sid has it; returns version -> the
    package's version."""
    wanted = [f"python{v}" for v in (*OPTIONAL, *REQUIRED)]
    extra = [f"{p}-dbg" for p in wanted]
    with step("checking which interpreters sid offers"):
        have = candidates(root, [*wanted, *extra, *TOOLS, "libc6"])
        for p in [*wanted, *extra, *TOOLS, "libc6"]:
            print(f"    {p}: {have.get(p, 'not in sid')}", flush=True)
    missing = [p for p in (f"python{v}" for v in REQUIRED) if p not in have]
    if missing:
        raise PythonsError(f"Debian sid has no {', '.join(missing)} (any more?): see above")
    pkgs = [p for p in wanted if p in have]
    with step(f"apt-get install {' '.join(pkgs)}"):
        in_root(root, [*APT_GET, "install", *pkgs], "apt-get install")
    tools = [t for t in TOOLS if t in have]
    if tools:
        with step(f"apt-get install --no-install-recommends {' '.join(tools)}"):
            argv = [*APT_GET, "install", "--no-install-recommends", *tools]
            in_root(root, argv, "apt-get install")
    got = installed(root, pkgs)
    return {p.removeprefix("python"): got[p] for p in pkgs if p in got}


# ---- the launchers -------------------------------------------------------------------------

LAUNCHER_SH = """#!/bin/sh
# CPython {version} from Debian sid ({package} {pkg_version}), run inside the sid root
# made by `make pythons` (python -m allocbench.pythons), which rewrites this file.
# A private mount namespace binds these host directories at the same paths:
#   {binds}
# and the top directory of the working directory at launch (/work for /work/main; not a
# system directory), so the launchers serve any checkout, not only the one that made them.
# The working directory (outside them: the root's own directory of that name), arguments,
# environment, exit status and signals pass through (each step execs: the interpreter keeps
# this script's process id).
root={root}
if [ ! -f "$root/{stamp}" ]; then
  echo "{name}: the Debian sid root $root is missing or incomplete: run make pythons" >&2
  exit 127
fi
if [ "$(id -u)" != 0 ]; then
  echo "{name}: needs root (a mount namespace and chroot into $root)" >&2
  exit 126
fi
exec unshare --mount --propagation private /bin/sh -c '
r=$1; shift
top=$(pwd -P | cut -d/ -f1-2)
case " {deeper} " in *" $top "*) top=$(pwd -P | cut -d/ -f1-3);; esac
case " {system} " in *" $top "*) top=;; esac
for d in {binds} $top; do
  [ -d "$d" ] || continue  # a directory bound when the launcher was made may be gone since
  [ -d "$r$d" ] || mkdir -p "$r$d" || exit 127
  mount --rbind "$d" "$r$d" || exit 127
done
exec unshare --root="$r" --wd="$(pwd -P)" "$@"
' {name} "$root" {exe} "$@"
"""


def default_binds(extra: Iterable[str] = ()) -> list[str]:
    """Host directories the launchers bind: $HOME, the top directory of the working directory
    (the project's: /work for /work/main) and of each ``extra`` (a subdirectory when the top is
    a system directory: /srv/x, /home/me), /tmp, then /proc, /sys and /dev."""
    out: list[str] = []

    def add(path: str) -> None:
        p = Path(path).resolve()
        if len(p.parts) < 2:
            return
        top = p.parts[:2] if p.parts[1] not in SYSTEM_DIRS else p.parts[:3]
        d = str(Path(*top))
        if not any(d == o or d.startswith(o.rstrip("/") + "/") for o in out):
            out[:] = [o for o in out if not o.startswith(d + "/")] + [d]

    for p in [os.path.expanduser("~"), os.getcwd(), *extra, "/tmp"]:
        add(p)
    return [*out, "/proc", "/sys", "/dev"]


def write_launchers(root: Path, bin_dir: Path, versions: dict[str, str], binds: list[str]):
    bin_dir.mkdir(parents=True, exist_ok=True)
    for d in binds:
        (root / d.lstrip("/")).mkdir(parents=True, exist_ok=True)  # the mount points
    made = []
    for v, pkg_version in versions.items():
        name = launcher_name(v)
        text = LAUNCHER_SH.format(
            version=v,
            package=f"python{v}",
            pkg_version=pkg_version,
            binds=" ".join(shlex.quote(b) for b in binds),
            deeper=" ".join(f"/{d}" for d in sorted(DEEPER_DIRS)),
            system=" ".join(f"/{d}" for d in sorted(SYSTEM_DIRS - DEEPER_DIRS) if d),
            root=shlex.quote(str(root)),
            stamp=STAMP,
            name=name,
            exe=f"/usr/bin/python{v}",
        )
        atomic.write_text(bin_dir / name, text, mode=0o755)
        made.append(bin_dir / name)
    # A launcher of an interpreter sid no longer has would fail: remove it.
    for v in (*OPTIONAL, *REQUIRED):
        if v not in versions:
            with contextlib.suppress(FileNotFoundError):
                (bin_dir / launcher_name(v)).unlink()
    return made


def check_launchers(launchers: list[Path]) -> None:
    code = "import sys, os; print(sys.version.split()[0], os.confstr('CS_GNU_LIBC_VERSION'))"
    for exe in launchers:
        t0 = time.monotonic()
        p = subprocess.run([str(exe), "-c", code], capture_output=True, text=True, timeout=120)
        dt = time.monotonic() - t0
        if p.returncode != 0:
            raise PythonsError(f"{exe} does not run (exit status {p.returncode}): {p.stderr}")
        print(f"    {exe}: CPython {p.stdout.strip()} ({dt * 1000:.0f} ms)", flush=True)


# ---- the whole job -------------------------------------------------------------------------


def prerequisites() -> None:
    if sys.platform != "linux":
        raise PythonsError("make pythons needs Linux (debootstrap, mount namespaces, chroot)")
    if os.geteuid() != 0:
        raise PythonsError(
            "make pythons needs root: debootstrap, mount --bind and chroot do "
            f"(running as uid {os.geteuid()})"
        )
    for tool, pkg in [("debootstrap", "debootstrap"), ("unshare", "util-linux"),
                      ("mount", "mount"), ("chroot", "coreutils")]:  # fmt: skip
        if shutil.which(tool) is None:
            raise PythonsError(f"{tool} is not installed: apt-get install -y {pkg}")


def build(root: Path, mirror: str) -> dict[str, str]:
    """A new root in <root>.new, renamed to ``root`` once complete."""
    new = root.with_name(root.name + ".new")
    remove_tree(new)
    try:
        with step(f"debootstrap --variant=minbase sid {new} {mirror}"):
            argv = ["debootstrap", "--variant=minbase", "sid", str(new), mirror]
            try:
                run(["unshare", "--mount", "--propagation", "private", *argv], "debootstrap")
            except PythonsError as e:
                raise PythonsError(f"{e}\n(is the mirror {mirror} reachable from here?)") from e
        copy_resolv_conf(new)
        with step("apt-get update in the sid root"):
            apt_update(new)
        versions = install_pythons(new)
        write_stamp(new, mirror, versions)
    except PythonsError:
        remove_tree(new)  # never left behind: it would only take space
        raise
    new.rename(root)
    return versions


def refresh(root: Path, mirror: str) -> dict[str, str]:
    copy_resolv_conf(root)
    with step(f"refreshing {root}: apt-get update"):
        apt_update(root)
    made = json.loads((root / STAMP).read_text()).get("made", "")
    (root / STAMP).unlink()  # dpkg changes the root from here on: incomplete until the end
    with step("apt-get full-upgrade (sid moves: packages may be replaced, hence full-)"):
        in_root(root, [*APT_GET, "full-upgrade"], "apt-get full-upgrade")
    versions = install_pythons(root)
    with step("apt-get autoremove, clean"):
        in_root(root, [*APT_GET, "autoremove"], "apt-get autoremove")
    write_stamp(root, mirror, versions, made)
    return versions


def write_stamp(root: Path, mirror: str, versions: dict[str, str], made: str = "") -> None:
    in_root(root, ["apt-get", "clean"], "apt-get clean")
    libc = installed(root, ["libc6"]).get("libc6", "?")
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    info = {"mirror": mirror, "made": made or now, "refreshed": now}
    info |= {"pythons": versions, "libc6": libc}
    atomic.write_text(root / STAMP, json.dumps(info, indent=2) + "\n", sync=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m allocbench.pythons",
        description="Create or refresh the Debian sid root with CPython 3.14 and 3.15 (and "
        f"3.13 when sid has it) and write their launchers. The root: ${SID_ROOT_ENV}, by "
        "default ~/.cache/allocbench/sid-root; the launchers go to bin/ beside it.",
    )
    ap.add_argument(
        "--mirror", help="Debian mirror URL (default: the host's, from its apt sources)"
    )
    ap.add_argument("--bind", action="append", default=[], metavar="DIR",
                    help="also bind DIR's top directory in the launchers (repeatable)")  # fmt: skip
    ap.add_argument("--rebuild", action="store_true", help="make the root anew")
    args = ap.parse_args(argv)
    root, bin_dir = sid_root().absolute(), sid_bin().absolute()
    t0 = time.monotonic()
    try:
        prerequisites()
        mirror = args.mirror or host_mirror()
        print(f"make pythons: Debian sid root {root}, mirror {mirror}", flush=True)
        root.parent.mkdir(parents=True, exist_ok=True)
        with open(root.with_name(root.name + ".lock"), "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print(f"waiting for another make pythons on {root} ...", flush=True)
                fcntl.flock(lock, fcntl.LOCK_EX)
            complete = (root / STAMP).exists()
            if root.exists() and (args.rebuild or not complete):
                if not complete:
                    print(f"{root} is not marked complete (an interrupted refresh?): "
                          "making it anew", flush=True)  # fmt: skip
                old = root.with_name(root.name + ".old")
                remove_tree(old)
                root.rename(old)
                remove_tree(old)
                complete = False
            versions = refresh(root, mirror) if complete else build(root, mirror)
            binds = default_binds(args.bind)
            with step(f"launchers in {bin_dir} (binding {' '.join(binds)})"):
                made = write_launchers(root, bin_dir, versions, binds)
                check_launchers(made)
    except PythonsError as e:
        print(f"make pythons: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("make pythons: interrupted (an unfinished root is never used)", file=sys.stderr)
        return 130
    info = json.loads((root / STAMP).read_text())
    pys = ", ".join(f"python{v} {pv}" for v, pv in versions.items())
    print(f"make pythons: done in {time.monotonic() - t0:.0f} s: {pys}; libc6 {info['libc6']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
