"""``make bench-extension``: a real extension built in every flavour, tested, then measured.

    python -m allocbench.extension (--pkg NAME==VERSION | --src DIR)
        [--flavours as-shipped,pymem,…] [--mode smoke|quick|rigorous] [--python 3.15]
        [--results RESULTS] [--run-id ID] [--filter REGEX] [--no-bench]

1. Source: ``--pkg`` downloads the sdist from PyPI (``pip download --no-binary :all:``,
   cached in ``build/extensions/sdists``); ``--src`` takes a project on disk.
2. Flavours, all for one interpreter and the crate's own release profile: ``as-shipped``
   (untouched) and each backend of ``crates/allocbench-alloc`` swapped in
   (``allocbench.extension_patch``). Each is built in a scratch directory and moved into
   ``build/extensions/<name>-<version>/cp<ver>/<flavour>`` only when complete; a crate the
   patcher refuses, or a build that fails, leaves nothing behind.
3. Correctness first: the sdist's own tests (``test/`` or ``tests/``) run in every flavour,
   with CPython's default allocator and again under ``PYTHONMALLOC=debug``. A flavour that
   fails a test the as-shipped build passes is reported with those tests and left out of
   the timing (a test that fails in as-shipped too is the sdist's, not the allocator's).
4. The workloads of ``benchmarks/extensions/<name>.py`` through the interleaved pyperf
   engine of ``make bench`` (``allocbench.interleave.measure``); results in
   ``<results>/extensions/<name>-<version>/<run id>/<flavour>.json`` beside ``run.json``,
   ``tests.json`` and the report (``allocbench.extension_report``).

This module is the run and its command line; ``extension_build`` holds the source and the
build cache (steps 1 and 2), ``extension_tests`` the extension's own tests and the judgement
of each flavour (step 3); every name of those is importable from here, as before the split.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from . import FLAVOURS, interpreters, split_names
from .atomic import write_json as write_json_atomically
from .bench import git_commit
from .extension_build import (
    BUILD_ROOT,
    SHIPPED,
    WORKLOADS_DIR,
    ExtensionError,
    Source,
    build_flavour,
    build_key,
    fetch_sdist,
    flavour_root,
    normalise,
    parse_spec,
    project_identity,
    pyo3_config,
    rustc_version,
    source,
    unpack,
    workloads_file,
)
from .extension_patch import PatchRefused, find_crate
from .extension_tests import (
    TEST_TIMEOUT_S,
    TestRun,
    ensure_testdeps,
    judge_tests,
    parse_junit,
    run_tests,
    test_requirements,
    tests_dir,
)
from .extension_workloads import load_workloads
from .flavour import ENV_VAR, ROOT
from .interleave import MODES, BenchError, check_mode, measure, schedule, select
from .report import RUN_RECORD

__all__ = [
    "BUILD_ROOT",
    "EXT_FLAVOURS",
    "SHIPPED",
    "TESTS_RECORD",
    "TEST_TIMEOUT_S",
    "WORKLOADS_DIR",
    "ExtensionError",
    "Source",
    "TestRun",
    "bench_env",
    "build_flavour",
    "build_key",
    "ensure_testdeps",
    "fetch_sdist",
    "flavour_root",
    "judge_tests",
    "load_workloads",
    "main",
    "normalise",
    "parse_flavours",
    "parse_junit",
    "parse_spec",
    "project_identity",
    "pyo3_config",
    "run",
    "run_tests",
    "rustc_version",
    "source",
    "test_requirements",
    "tests_dir",
    "unpack",
    "workloads_file",
]

EXT_FLAVOURS = (SHIPPED, *FLAVOURS)
TESTS_RECORD = "tests.json"


def parse_flavours(text: str) -> list[str]:
    def check(n: str) -> None:
        if n not in EXT_FLAVOURS:
            raise ValueError(f"flavours must be among {', '.join(EXT_FLAVOURS)}; got {n!r}")

    names = split_names(text, check, lambda n: ValueError(f"flavours names {n!r} twice"))
    if SHIPPED not in names:
        raise ValueError(
            f"flavours must include {SHIPPED!r}: it is the reference every backend is "
            f"compared with (tests and timing); got {text!r}"
        )
    return [SHIPPED] + [n for n in names if n != SHIPPED]


# ---- 4. the benchmark ----------------------------------------------------------------------------


def bench_env(flavour_dir: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join([str(flavour_dir / "site"), str(ROOT / "python")])
    env[ENV_VAR] = flavour_dir.name
    env["ALLOCBENCH_EXTENSION_BUILD"] = str(flavour_dir / "build.json")
    return env


def run(
    pkg: str | None = None,
    src: str | None = None,
    flavours: str = ",".join(EXT_FLAVOURS),
    mode_name: str = "quick",
    python: str | None = None,
    results: Path | str = ROOT / "results",
    run_id: str | None = None,
    pattern: str | None = None,
    bench: bool = True,
) -> Path:
    """The whole job; returns the run directory. Everything cheap is checked first."""
    started = time.time()
    mode = check_mode(mode_name)
    names = parse_flavours(flavours)
    if python:
        interp, chosen = interpreters.resolve(python), f"PY={python}"
    else:
        interp, why = interpreters.default()
        chosen = f"default: {why}"
    run_id = run_id or dt.datetime.now().strftime("%Y%m%d-%H%M%S") + f"-{mode_name}"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", run_id):
        raise ValueError(f"run id must be letters, digits, '.', '_' or '-'; got {run_id!r}")
    src_ = source(pkg, src)
    wfile = workloads_file(src_.name)
    spec = load_workloads(wfile)
    timed, memory = select(pattern, spec.WORKLOADS)
    run_dir = Path(results) / "extensions" / f"{normalise(src_.name)}-{src_.version}" / run_id
    if run_dir.exists():
        raise BenchError(f"{run_dir} exists: a run is never overwritten; pick another --run-id")
    find_crate(src_.path)  # refuses an unhandled layout before anything is built

    print(f"{src_.name} {src_.version} from {src_.origin}", flush=True)
    print(f"interpreter {interp.summary()} ({chosen})", flush=True)
    built: dict[str, Path] = {}
    build_failures: dict[str, str] = {}
    for f in names:
        print(f"== build {f}", flush=True)
        try:
            built[f] = build_flavour(src_, f, interp)
        except (ExtensionError, PatchRefused) as e:
            if f == SHIPPED or isinstance(e, PatchRefused):
                raise
            lines = str(e).splitlines()
            errors = [x for x in lines if x.lstrip().startswith(("error", "Error"))]
            build_failures[f] = (errors[0] if errors else lines[-1]).strip()
            print(f"   {f}: {e}", flush=True)
        else:
            print(f"   {json.loads((built[f] / 'build.json').read_text())['build_seconds']} s")

    where = flavour_root(src_, interp)
    testdeps = ensure_testdeps(src_.path, interp, where)
    log_dir = where / "tests"
    shutil.rmtree(log_dir, ignore_errors=True)
    log_dir.mkdir()
    test_runs = []
    for pm in ("default", "debug"):
        for f in built:
            r = run_tests(src_.path, built[f], testdeps, interp, pm, log_dir)
            test_runs.append(r)
            print(
                f"   tests {f:10} PYTHONMALLOC={pm:7} passed {r.passed}, failed "
                f"{len(r.failed)}, skipped {r.skipped} (exit {r.exit_code}, {r.seconds} s)",
                flush=True,
            )
    verdict = judge_tests(test_runs)
    for f, why in build_failures.items():
        verdict[f] = [f"build failed: {why}"]
    if verdict.get(SHIPPED):
        raise ExtensionError(f"the as-shipped build fails its own tests: {verdict[SHIPPED]}")
    passing = [f for f in names if not verdict.get(f)]

    run_dir.mkdir(parents=True)
    tests_record = {
        "runs": [r.__dict__ for r in test_runs],
        "left_out": {f: why for f, why in verdict.items() if why},
        "tests_dir": str(tests_dir(src_.path).relative_to(src_.path)),
    }
    write_json_atomically(run_dir / TESTS_RECORD, tests_record)
    record: dict[str, Any] = {
        "run_id": run_id,
        "kind": "extension",
        "extension": src_.name,
        "extension_version": src_.version,
        "source": src_.origin,
        "workloads_file": str(wfile.relative_to(ROOT)),
        "shipped_like": getattr(spec, "SHIPPED_LIKE", None),
        "notes": getattr(spec, "NOTES", None),
        "mode": mode_name,
        "mode_settings": MODES[mode_name].__dict__,
        "flavours": passing,
        "left_out": tests_record["left_out"],
        "reference": SHIPPED,
        "filter": pattern,
        "git_commit": git_commit(),
        "python": interp.command,
        "interpreter": {**interp.record(), "chosen": chosen},
        "builds": {f: json.loads((built[f] / "build.json").read_text()) for f in built},
        "started": dt.datetime.fromtimestamp(started).isoformat(timespec="seconds"),
        "status": "tested" if not bench else "running",
    }
    write_json_atomically(run_dir / RUN_RECORD, record)
    if bench:
        if len(passing) < 2:
            raise ExtensionError(f"only {passing} passed the tests: nothing to compare")
        steps = schedule(timed, memory, passing, mode, reference=SHIPPED)
        print(
            f"== bench {src_.name}: {len(steps)} worker processes, flavours {', '.join(passing)}",
            flush=True,
        )
        metadata = [f"git_commit={record['git_commit']}", f"bench_run={run_id}"]
        metadata += [f"bench_mode={mode_name}", f"interpreter={interp.id}"]
        measure(
            steps,
            mode,
            run_dir,
            record,
            metadata,
            interp,
            "default",
            None,
            started,
            env_for=lambda f: bench_env(built[f]),
            suite_args=("--workloads", str(wfile)),
        )
    from . import extension_report

    pred = extension_report.micro_prediction(record, passing, Path(results))
    record["prediction_run"] = pred.get("run")
    write_json_atomically(run_dir / RUN_RECORD, record)
    report = extension_report.build(run_dir)
    record["total_wall_s"] = round(time.time() - started, 1)
    record["status"] = "done" if bench else "tested"
    write_json_atomically(run_dir / RUN_RECORD, record)
    print(report.read_text(encoding="utf-8"), flush=True)
    print(f"report: {report}\nwall time: {record['total_wall_s']:.0f} s", flush=True)
    return run_dir


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m allocbench.extension", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--pkg", help="NAME==VERSION of a PyPI project (its sdist)")
    ap.add_argument("--src", help="a maturin project on disk instead")
    ap.add_argument("--flavours", default=",".join(EXT_FLAVOURS), help="comma-separated")
    ap.add_argument("--mode", default="quick", help=f"one of {', '.join(MODES)}")
    ap.add_argument("--python", default="", help=f"interpreter id ({interpreters.allowed()})")
    ap.add_argument("--results", default=str(ROOT / "results"), help="results root")
    ap.add_argument("--run-id", help="default: date-time-mode")
    ap.add_argument("--filter", default="", help="regular expression on benchmark names")
    ap.add_argument("--no-bench", action="store_true", help="build and test only")
    args = ap.parse_args(argv)
    try:
        run(
            args.pkg or None,
            args.src or None,
            args.flavours,
            args.mode,
            args.python or None,
            args.results,
            args.run_id,
            args.filter or None,
            not args.no_bench,
        )
    except (ValueError, ExtensionError, BenchError, interpreters.InterpreterError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
