"""`make history`: benchmark, with asv, the project's code commits that have no stored
result yet, for the chosen flavours on the default CPython.

A commit counts when it changes something besides results/ (commits that only add results
are never benchmarked) and can build (it has rustext/Cargo.toml; asv runs the current
tree's benchmarks against it). A commit is done for a flavour when
results/<machine>/<hash[:8]>-<env name>.json exists.

``--bench REGEX`` (make history BENCH=…) runs only the benchmarks whose names match (asv's
``--bench``); a commit is then done for a flavour when its result file holds every matching
benchmark (e.g. ``BENCH=track_`` for the deterministic lines of bench_deterministic.py).
``--revs RANGE`` takes the commits of git rev-list arguments instead of HEAD's history (e.g.
``--first-parent f57715b^..main``: the commits whose extension has callgrind's client
requests, on the first-parent line asv's graphs draw), and
``--spread`` makes ``--limit N`` pick N commits evenly spread over them (oldest and newest
included) instead of the newest N.

Usage: python tools/asv_history.py [--flavours a,b] [--python 3.11] [--limit N] [--spread]
                                   [--bench REGEX] [--revs RANGE] [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
from allocbench import FLAVOURS  # noqa: E402
from allocbench.interpreters import IDS, find_python  # noqa: E402

MACHINE = "rust-pyo3"
# The interpreter ids (PY=…, allocbench.interpreters) asv runs on: the host's own CPythons.
ASV_IDS = ("3.11", "3.12", "3.13")


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def code_commits(repo: Path = ROOT, revs: str = "HEAD") -> list[str]:
    """Buildable commits of ``revs`` (a git range; default ``repo``'s HEAD) that change more
    than results/, oldest first."""
    out = []
    for sha in git("rev-list", "--reverse", *revs.split(), cwd=repo).split():
        show = git("show", "--pretty=format:", "--name-only", sha, cwd=repo)
        changed = [p for p in show.splitlines() if p]
        if changed and all(p.startswith("results/") for p in changed):
            continue
        tree = set(git("ls-tree", "-r", "--name-only", sha, cwd=repo).splitlines())
        # The benchmarks come from the current tree; the commit only has to build.
        if "rustext/Cargo.toml" in tree:
            out.append(sha)
    return out


def asv_env_for(version: str) -> dict[str, str]:
    """The environment for an asv run on CPython ``version``: asv looks the interpreter up
    as python<version> on PATH, so the one found goes first. ValueError when asv.conf.json
    does not list the version or the machine does not have it."""
    from asv import util

    if version in IDS and version not in ASV_IDS:
        raise ValueError(
            f"asv cannot run on {version} ({IDS[version].what}): asv makes one virtualenv "
            "per environment and names its environments and result files by the Python "
            "version alone, so 3.11-debian would share 3.11's, and a virtualenv made by one "
            "of the Debian sid root's interpreters points at /usr/bin/python3.x, which "
            f"exists only inside the root. make history/regress run on {', '.join(ASV_IDS)}; "
            "compare interpreters with make bench PY=3.11,3.15"
        )
    pythons = util.load_json(str(ROOT / "asv.conf.json"), js_comments=True)["pythons"]
    if version not in pythons:
        raise ValueError(f"{version!r} is not one of asv.conf.json's {', '.join(pythons)}")
    interpreter = find_python(version)
    if interpreter is None:
        raise ValueError(f"CPython {version} is not on this machine (PATH, ~/.pyenv)")
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([os.path.dirname(interpreter), env.get("PATH", "")])
    return env


def machine_args() -> list[str]:
    """`asv machine` arguments describing this machine (asv --yes alone records nothing)."""
    import platform

    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        ram = next(line.split()[1] for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    except OSError:
        ram = "unknown"
    return [
        "--machine",
        MACHINE,
        "--os",
        f"{platform.system()} {platform.release()}",
        "--arch",
        platform.machine(),
        "--cpu",
        cpu,
        "--num_cpu",
        str(os.cpu_count()),
        "--ram",
        f"{ram} kB",
        "--yes",
    ]


def env_name(flavour: str, python: str) -> str:
    return f"virtualenv-py{python}-ALLOCBENCH_FLAVOUR{flavour}"


def benchmark_names(bench: str, benchmarks_json: Path | None = None) -> list[str]:
    """The benchmarks of results/benchmarks.json whose names match ``bench`` (re.search, as
    asv's --bench)."""
    import re

    path = benchmarks_json or ROOT / "results" / "benchmarks.json"
    known = [k for k in json.loads(path.read_text()) if k != "version"]
    return [k for k in known if re.search(bench, k)]


def is_done(path: Path, names: list[str] | None) -> bool:
    """Whether result file ``path`` exists and (with ``names``) holds a result of each of
    them: asv stores a failed benchmark as null, a skipped one as a list of NaN."""
    if not path.exists():
        return False
    if not names:
        return True
    try:
        results = json.loads(path.read_text()).get("results", {})
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return all(isinstance((results.get(n) or [None])[0], list) for n in names)


def missing(
    commits: list[str], flavours: list[str], python: str, names: list[str] | None = None
) -> list[str]:
    done = ROOT / "results" / MACHINE
    return [
        c
        for c in commits
        if any(not is_done(done / f"{c[:8]}-{env_name(f, python)}.json", names) for f in flavours)
    ]


def spread(commits: list[str], n: int) -> list[str]:
    """``n`` commits evenly spread over ``commits`` (first and last included), in order."""
    if n <= 0 or n >= len(commits):
        return list(commits)
    if n == 1:
        return [commits[-1]]
    idx = sorted({round(i * (len(commits) - 1) / (n - 1)) for i in range(n)})
    return [commits[i] for i in idx]


class ResultFileError(Exception):
    """A file in the results directory that is not an asv result file."""


def check_results(directory: Path) -> int:
    """Every JSON file in an asv machine directory must be asv's, and every result must
    carry the machine facts of machine.json (asv draws a result with other facts as a
    separate line, so one flavour would split in two on the dashboard): raises
    ResultFileError naming the first that does not. Returns how many files were checked."""
    n = 0
    facts: dict[str, str] = {}
    machine = directory / "machine.json"
    if machine.exists():
        try:
            facts = {k: v for k, v in json.loads(machine.read_text()).items() if k != "version"}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as e:
            raise ResultFileError(f"{machine}: not readable as asv's machine file ({e})") from None
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ResultFileError(f"{path}: not readable as JSON ({e})") from None
        if not isinstance(data, dict) or "version" not in data:
            raise ResultFileError(f"{path}: not an asv file (no 'version' key)")
        if path.name != "machine.json" and not {"commit_hash", "env_name", "results"} <= set(data):
            raise ResultFileError(
                f"{path}: not an asv result file (needs commit_hash, env_name, results)"
            )
        if path.name != "machine.json":
            params = data.get("params") or {}
            differ = {k: params.get(k) for k, v in facts.items() if params.get(k) != v}
            if differ:
                raise ResultFileError(
                    f"{path}: recorded with machine facts {differ}, machine.json has "
                    f"{ {k: facts[k] for k in differ} } (the dashboard would draw it as a "
                    "separate line; make history benchmarks the commit again)"
                )
        n += 1
    return n


def run_guarded(
    cmd: list[str], directory: Path, partial_dir: Path, env: dict[str, str] | None = None
) -> int:
    """Runs ``cmd`` (asv) so that an interruption loses nothing: SIGINT/SIGTERM go to asv,
    and afterwards every result file asv left unreadable (asv writes them in place) is put
    back as it was before the run, or, if it is new, moved to ``partial_dir`` and named as
    partial. Returns asv's exit status (130/143 when interrupted)."""
    directory.mkdir(parents=True, exist_ok=True)
    before = {p: p.read_bytes() for p in directory.glob("*.json")}
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, env=env)
    got: list[int] = []

    def forward(signum, _frame):
        got.append(signum)
        proc.send_signal(signum)

    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        rc = proc.wait()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    for path in sorted(directory.glob("*.json")):
        try:
            json.loads(path.read_text())
            continue
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            pass
        if path in before:
            path.write_bytes(before[path])
            print(f"history: restored {path} (left unreadable by the interrupted run)")
        else:
            partial_dir.mkdir(parents=True, exist_ok=True)
            dest = partial_dir / (path.name + ".partial")
            shutil.move(path, dest)
            print(f"history: moved the unfinished {path.name} to {dest}")
    if got:
        print(
            f"history: interrupted by {signal.Signals(got[0]).name}; completed result files "
            "are kept, the next `make history` continues"
        )
        return 128 + got[0]
    return rc


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="make history")
    ap.add_argument("--flavours", default=",".join(FLAVOURS))
    ap.add_argument("--python", default="3.11")
    ap.add_argument("--limit", type=int, default=0, help="at most N commits (newest first)")
    ap.add_argument("--spread", action="store_true", help="--limit N: N commits spread evenly")
    ap.add_argument("--bench", default="", help="regular expression on benchmark names")
    ap.add_argument("--revs", default="HEAD", help="git range of the commits (default HEAD)")
    ap.add_argument("--dry-run", action="store_true", help="list the commits, run nothing")
    a = ap.parse_args(argv)
    flavours = [f for f in a.flavours.split(",") if f]
    bad = [f for f in flavours if f not in FLAVOURS]
    if bad:
        ap.error(f"--flavours: {bad[0]!r} is not one of {', '.join(FLAVOURS)}")
    try:
        env = asv_env_for(a.python)
    except ValueError as e:
        ap.error(f"--python: {e}")
    try:
        check_results(ROOT / "results" / MACHINE)
    except ResultFileError as e:
        print(f"history: {e}; move it out of results/ (nothing was run)", file=sys.stderr)
        return 2
    names = None
    if a.bench:
        # asv rewrites results/benchmarks.json from the current tree; before the first run
        # of new benchmarks it does not name them yet: then every file counts as missing.
        names = benchmark_names(a.bench) or [f"<{a.bench}>"]
    try:
        commits = code_commits(revs=a.revs)
    except subprocess.CalledProcessError as e:
        ap.error(f"--revs: git rev-list {a.revs!r} failed: {e.stderr.strip()}")
    if a.limit > 0 and a.spread:
        commits = spread(commits, a.limit)
    todo = missing(commits, flavours, a.python, names)
    if a.limit > 0:
        todo = todo[-a.limit :]
    print(
        f"history: {len(todo)} commit(s) to benchmark for {', '.join(flavours)} "
        f"on CPython {a.python}",
        flush=True,
    )
    for c in todo:
        print("  " + git("log", "-1", "--format=%h %s", c).strip())
    if a.dry_run or not todo:
        return 0
    asv = [sys.executable, "-m", "asv"]
    subprocess.run([*asv, "machine", *machine_args()], cwd=ROOT, check=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(todo) + "\n")
    # -E picks the Python; the flavours are the matrix (restricted in a scratch config when
    # only some are asked for: asv has no flag for one matrix value).
    config = [] if set(flavours) == set(FLAVOURS) else ["--config", str(config_for(flavours))]
    cmd = [
        *asv,
        *config,
        "run",
        "--machine",
        MACHINE,
        "--skip-existing-successful",
        "--show-stderr",
        "-E",
        f"virtualenv:{a.python}",
        f"HASHFILE:{f.name}",
    ]
    if a.bench:
        cmd[-1:-1] = ["--bench", a.bench]
    print("+", " ".join(cmd), flush=True)
    return run_guarded(cmd, ROOT / "results" / MACHINE, ROOT / "build" / "asv-partial", env)


def config_for(flavours: list[str], name: str = "history", results_dir: Path | None = None):
    """A scratch copy of asv.conf.json with the flavour matrix restricted (same env dir, so
    builds stay cached); results go to ``results_dir`` when given."""
    import json

    from asv import util

    conf = util.load_json(str(ROOT / "asv.conf.json"), js_comments=True)
    conf["matrix"]["env"]["ALLOCBENCH_FLAVOUR"] = flavours
    for key in ("repo", "benchmark_dir", "results_dir", "html_dir", "env_dir"):
        conf[key] = str((ROOT / conf[key]).resolve())
    # {conf_dir} is the scratch config's directory: point the build step at this tree.
    conf["build_command"] = [c.replace("{conf_dir}", str(ROOT)) for c in conf["build_command"]]
    if results_dir is not None:
        conf["results_dir"] = str(results_dir)
    path = ROOT / "build" / f"asv-{name}.conf.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(conf, indent=2))
    return path


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
