"""``make bench-extension``'s patcher, builds and test judgement, on a tiny pyo3 crate kept in
``tests/ext_fixture`` (it ships its own counting global allocator, as orjson ships one).
No network: the fixture builds from crates the workspace already fetched."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import tomllib
from pathlib import Path

import pytest
from allocbench import FLAVOURS, extension, extension_build, extension_patch, interpreters, pydeps
from allocbench.extension_patch import MARKER, PatchRefused, patch
from helpers import ROOT, need_python

FIXTURE = ROOT / "tests" / "ext_fixture"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    dest = tmp_path / "fixture"
    shutil.copytree(FIXTURE, dest)
    return dest


def tree_digest(path: Path) -> dict[str, str]:
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("backend", FLAVOURS)
def test_patch_swaps_the_shipped_allocator_for_the_backend(project: Path, backend: str):
    crate = patch(project, backend)
    assert [(p.name, n) for p, n in crate.shipped_allocators] == [("alloc.rs", 20)]
    cargo = tomllib.loads((project / "Cargo.toml").read_text())
    dep = cargo["dependencies"]["allocbench-alloc"]
    assert dep["features"] == [backend]
    assert Path(dep["path"]) == extension_patch.ALLOC_CRATE_DIR
    assert cargo["dependencies"]["pyo3"]["version"] == "0.30.1"  # the rest untouched
    alloc_rs = (project / "src" / "alloc.rs").read_text()
    assert "#[global_allocator]" not in alloc_rs
    assert "#[allow(dead_code)] // allocbench: the shipped global allocator" in alloc_rs
    lib = (project / "src" / "lib.rs").read_text()
    assert lib.startswith((FIXTURE / "src" / "lib.rs").read_text())
    assert lib.count("#[global_allocator]") == 1 and MARKER in lib
    assert "allocbench_alloc::Allocator = allocbench_alloc::Allocator;" in lib
    # Patched once: a second patch is refused, and writes nothing.
    before = tree_digest(project)
    with pytest.raises(PatchRefused, match="already depends on allocbench-alloc"):
        patch(project, backend)
    assert tree_digest(project) == before


def test_patch_adds_a_dependencies_table_when_there_is_none(project: Path):
    cargo = project / "Cargo.toml"
    text = (
        cargo.read_text()
        .replace("[dependencies]\n", "[dependencies.pyo3]\n")
        .replace(
            'pyo3 = { version = "0.30.1", features = ["abi3-py311"] }',
            'version = "0.30.1"\nfeatures = ["abi3-py311"]',
        )
    )
    cargo.write_text(text)
    patch(project, "pymem")
    deps = tomllib.loads(cargo.read_text())["dependencies"]
    assert deps["allocbench-alloc"]["features"] == ["pymem"] and "pyo3" in deps


def _second_allocator(p: Path) -> None:
    (p / "src" / "other.rs").write_text(
        "#[global_allocator]\nstatic B: std::alloc::System = std::alloc::System;\n"
    )


def _no_lib(p: Path) -> None:
    (p / "src" / "lib.rs").rename(p / "src" / "main.rs")


def _workspace(p: Path) -> None:
    c = p / "Cargo.toml"
    c.write_text(c.read_text().replace("[workspace]", '[workspace]\nmembers = [".", "sub"]'))


def _cfg_allocator(p: Path) -> None:
    a = p / "src" / "alloc.rs"
    a.write_text(a.read_text().replace("#[global_allocator]", "#[cfg(unix)]\n#[global_allocator]"))


def _virtual(p: Path) -> None:
    (p / "Cargo.toml").write_text('[workspace]\nmembers = ["a", "b"]\n')


def _no_cargo(p: Path) -> None:
    (p / "Cargo.toml").unlink()


def _inline_attr(p: Path) -> None:
    a = p / "src" / "alloc.rs"
    a.write_text(a.read_text().replace("#[global_allocator]\n", "#[global_allocator] "))


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (
            _second_allocator,
            r"two or more #\[global_allocator\] items \(src/alloc.rs:20, src/other.rs:1\)",
        ),
        (_no_lib, r"no crate root at .*src/lib.rs"),
        (_workspace, r"a workspace with members \['\.', 'sub'\]"),
        (_cfg_allocator, r"src/alloc.rs:21 is behind #\[cfg\(unix\)\]"),
        (_virtual, r"has no \[package\]: a virtual workspace manifest"),
        (_no_cargo, r"no Cargo.toml at"),
        (_inline_attr, r"src/alloc.rs:20 names global_allocator in a form"),
    ],
)
def test_patch_refuses_what_it_does_not_handle_and_writes_nothing(project, breakage, message):
    breakage(project)
    before = tree_digest(project)
    with pytest.raises(PatchRefused, match=message):
        patch(project, "pymem")
    assert tree_digest(project) == before


def test_patch_rejects_an_unknown_backend(project: Path):
    with pytest.raises(ValueError, match="backend must be one of pymem, pymem-raw"):
        patch(project, "tcmalloc")


def test_flavour_and_package_arguments_are_checked():
    assert extension.parse_flavours("pymem, as-shipped") == ["as-shipped", "pymem"]
    with pytest.raises(ValueError, match="must include 'as-shipped'"):
        extension.parse_flavours("pymem,system")
    with pytest.raises(ValueError, match="among as-shipped, pymem"):
        extension.parse_flavours("as-shipped,tcmalloc")
    with pytest.raises(ValueError, match="names 'pymem' twice"):
        extension.parse_flavours("as-shipped,pymem,pymem")
    for bad in ("orjson", "orjson>=3", "orjson==", "==3.13.0", "orjson==3.13.0; rm"):
        with pytest.raises(ValueError, match="PKG must pin one version"):
            extension.parse_spec(bad)
    assert extension.parse_spec("rpds-py==2026.9.1") == ("rpds-py", "2026.9.1")
    with pytest.raises(ValueError, match="exactly one of PKG"):
        extension.source(None, None)
    with pytest.raises(extension.ExtensionError, match="no workloads for numpy"):
        extension.workloads_file("numpy")


def _run(flavour: str, fails: list[str], code: int | None = None, pm: str = "default"):
    code = (1 if fails else 0) if code is None else code
    return extension.TestRun(flavour, pm, 10, fails, 0, code, 1.0, {})


def test_judgement_holds_only_new_failures_and_crashes_against_a_flavour():
    runs = [
        _run("as-shipped", ["t::known"]),
        _run("pymem", ["t::known"]),  # fails what as-shipped fails too: not held against it
        _run("system", ["t::known", "t::new"]),
        _run("mimalloc", [], code=-11),  # a crash (signal) is never a clean result
        _run("jemalloc", []),
        _run("jemalloc", ["t::debug"], pm="debug"),  # as-shipped has no debug run to excuse it
    ]
    verdict = extension.judge_tests(runs)
    assert verdict["as-shipped"] == [] and verdict["pymem"] == []
    assert verdict["system"] == ["PYTHONMALLOC=default: 1 failed: t::new"]
    assert verdict["mimalloc"] == ["PYTHONMALLOC=default: pytest exit -11 (crash)"]
    assert verdict["jemalloc"] == ["PYTHONMALLOC=debug: 1 failed: t::debug"]


def test_requirements_come_from_the_file_or_the_dependency_group(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text(
        '[dependency-groups]\ntest = ["pytest>=9", "hypothesis", {include-group = "extra"}]\n'
        'extra = ["faker"]\n'
    )
    assert extension.test_requirements(tmp_path) == ["pytest>=9", "hypothesis", "faker"]
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "requirements.txt").write_text("# comment\npytz\n-e .\n")
    assert extension.test_requirements(tmp_path) == ["pytz", "pytest"]


# ---- builds (offline) ---------------------------------------------------------------------------

PROBE = """
import json, sys, tracemalloc
import allocbench_fixture as fx
tracemalloc.start()
before = tracemalloc.get_traced_memory()[0]
fx.hold(1000, 64)
held = tracemalloc.get_traced_memory()[0] - before
fx.release()
print(json.dumps({"shipped": fx.shipped_allocations(), "traced": held}))
"""


@pytest.fixture(scope="module")
def builds() -> dict[str, tuple[Path, interpreters.Interpreter]]:
    """The fixture built as shipped (for CPython 3.11, a host build) and with the pymem
    backend (for 3.15, through the sid root's PyO3 configuration). Under build/, as
    make bench-extension builds: a sid interpreter sees the project's top directory and
    /tmp, but from a working directory in /tmp not the project (its pytest)."""
    (ROOT / "build").mkdir(exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="test-extension-", dir=ROOT / "build"))
    old_root = extension_build.BUILD_ROOT  # read by the builds where they live
    extension_build.BUILD_ROOT = root
    os.environ["CARGO_NET_OFFLINE"] = "true"
    src_dir = root / "source"
    shutil.copytree(FIXTURE, src_dir)
    src = extension.Source("allocbench-fixture", "0.1.0", src_dir, "tests/ext_fixture")
    out = {}
    try:
        for flavour, py in (("as-shipped", "3.11"), ("pymem", "3.15")):
            need_python(py)
            interp = interpreters.resolve(py)
            out[flavour] = (extension.build_flavour(src, flavour, interp), interp)
    finally:
        extension_build.BUILD_ROOT = old_root
        os.environ.pop("CARGO_NET_OFFLINE", None)
    yield out
    shutil.rmtree(root, ignore_errors=True)


def _probe(where: Path, interp: interpreters.Interpreter) -> dict:
    env = dict(os.environ, PYTHONPATH=str(where / "site"))
    env.pop("PYTHONMALLOC", None)
    out = subprocess.run(
        [interp.command, "-c", PROBE], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_built_flavours_use_the_allocator_they_claim(builds):
    shipped = _probe(*builds["as-shipped"])
    assert shipped["shipped"] >= 1000  # its counting allocator served the held blocks
    assert shipped["traced"] < 8_000  # ...which tracemalloc cannot see
    pymem = _probe(*builds["pymem"])
    assert pymem["shipped"] == 0  # the shipped allocator is no longer the global one
    assert pymem["traced"] >= 1000 * 64  # every held block went through PyMem
    record = json.loads((builds["pymem"][0] / "build.json").read_text())
    assert record["flavour"] == "pymem" and record["interpreter"] == "3.15"
    assert record["shipped_allocator"].startswith("its own #[global_allocator] (src/alloc.rs:20)")


def test_the_sdist_tests_run_in_every_flavour_also_under_debug_hooks(builds, tmp_path: Path):
    runs = []
    for where, interp in builds.values():
        deps = pydeps.ensure_pydeps(interp)  # pytest, for that interpreter
        for pm in ("default", "debug"):
            source = where.parents[2] / "source"
            runs.append(extension.run_tests(source, where, deps, interp, pm, tmp_path))
    assert [(r.passed, r.failed, r.exit_code) for r in runs] == [(2, [], 0)] * 4
    assert extension.judge_tests(runs) == {"as-shipped": [], "pymem": []}


def test_a_failed_build_leaves_nothing_behind(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(extension_build, "BUILD_ROOT", tmp_path)
    monkeypatch.setenv("CARGO_NET_OFFLINE", "true")
    src_dir = tmp_path / "source"
    shutil.copytree(FIXTURE, src_dir)
    lib = src_dir / "src" / "lib.rs"
    lib.write_text(lib.read_text() + "\nfn broken( {\n")
    src = extension.Source("allocbench-fixture", "0.1.0", src_dir, "tests/ext_fixture")
    interp = interpreters.resolve(os.environ.get("ALLOCBENCH_EXT_PY", "3.11"))
    with pytest.raises(
        extension.ExtensionError, match=r"building allocbench-fixture 0.1.0 \(pymem\) failed"
    ):
        extension.build_flavour(src, "pymem", interp)
    where = extension.flavour_root(src, interp)
    assert sorted(p.name for p in where.iterdir()) == []


def test_a_vendoring_crate_gets_only_the_crates_it_lacks(project: Path, tmp_path: Path):
    (project / ".cargo").mkdir()
    (project / ".cargo" / "config.toml").write_text(
        '[source.crates-io]\nreplace-with = "vendored"\n\n'
        '[source.vendored]\ndirectory = "include/cargo"\n'
    )
    own = project / "include" / "cargo" / "libc-0.2.190"
    own.mkdir(parents=True)
    (own / "mine").write_text("the sdist's own copy")
    cache = tmp_path / "cache"
    for name in ("libc-0.2.190", "libmimalloc-sys-0.1.49"):
        (cache / name).mkdir(parents=True)
        (cache / name / "Cargo.toml").write_text(name)
    assert extension_patch.vendored_dir(project) == project / "include" / "cargo"
    added = extension_patch.supply_vendored(project, cache)
    assert added == ["libmimalloc-sys-0.1.49"]
    assert sorted(p.name for p in own.iterdir()) == ["mine"]  # its own copy untouched
    assert (project / "include/cargo/libmimalloc-sys-0.1.49/Cargo.toml").read_text()


def test_a_non_directory_replacement_is_refused(project: Path, tmp_path: Path):
    (project / ".cargo").mkdir()
    (project / ".cargo" / "config.toml").write_text(
        '[source.crates-io]\nreplace-with = "mirror"\n\n[source.mirror]\nregistry = "x"\n'
    )
    with pytest.raises(PatchRefused, match="not a directory source"):
        extension_patch.supply_vendored(project, tmp_path)
    (project / ".cargo" / "config.toml").unlink()
    assert extension_patch.supply_vendored(project, tmp_path) == []  # does not vendor


# ---- the report, redrawn from stored runs --------------------------------------------------------


def _stored(name: str) -> Path:
    runs = sorted((ROOT / "results" / "extensions").glob(f"{name}-*/*-quick"))
    assert runs, f"no stored quick run of {name} under results/extensions"
    return runs[0]


def test_the_report_redraws_from_a_stored_run_and_answers(tmp_path: Path):
    from allocbench import extension_report

    for name in ("orjson", "rpds_py"):
        run = tmp_path / name
        shutil.copytree(_stored(name), run)
        stored = (run / "report.md").read_text()
        (run / "report.md").unlink()
        text = extension_report.build(run, ROOT / "results").read_text()
        assert text == stored  # the stored report is what the stored JSON gives
        record = json.loads((run / "run.json").read_text())
        tests = json.loads((run / "tests.json").read_text())
        assert "## Answer" in text and f"| {record['flavours'][1]} |" in text
        for r in tests["runs"]:  # every flavour's pass counts are shown
            assert f"| {r['flavour']} | " in text
        if tests["left_out"]:
            assert "Correctness decides first" in text
            answer = text.split("## Answer")[1].split("##")[0]
            for f in tests["left_out"]:
                assert f in answer


def test_the_verdict_table_holds_its_confidence_over_all_its_comparisons(tmp_path: Path):
    """The hazard: rpds-py ships no allocator, so its ``system`` flavour is an A/A control.
    At 95 % per comparison, the stored rigorous run calls that control 1.37x slower in the
    threads family (one false difference among 20 comparisons of time). With the table's
    intervals held together (Bonferroni), it is a tie, and the memory differences, which are
    real, stay."""
    from allocbench import extension_report as x
    from allocbench.extension_workloads import load_workloads

    run = ROOT / "results" / "extensions" / "rpds_py-2026.9.1" / "20261125-104350-rigorous"
    data = x.load(run)
    record = json.loads((run / "run.json").read_text())
    families = {w.name: w.family for w in load_workloads(ROOT / record["workloads_file"]).WORKLOADS}
    threads = [n for n in data[x.SHIPPED] if x.family_of(n, families) == "threads"]
    assert threads and all("/" not in n for n in threads)
    assert x.family_ratios(data, threads, "system").outcome() == "higher"  # 95 % alone
    table = (run / "report.md").read_text()
    row = next(ln for ln in table.splitlines() if ln.startswith("| threads ("))
    system = row.split(" | ")[1 + record["flavours"][1:].index("system")]
    assert system.startswith("1.375 [") and system.endswith("tie (within ±124.9%)"), row
    assert "20 comparisons of time and 15 of memory" in table and "99.75% (time)" in table
    held = next(ln for ln in table.splitlines() if ln.startswith("| RSS held ("))
    assert "0.860 [0.857, 0.864] 1.16x smaller" in held
    shutil.copytree(run, tmp_path / "run")
    assert x.build(tmp_path / "run", ROOT / "results").read_text() == table


@pytest.mark.parametrize("path", sorted((ROOT / "benchmarks" / "extensions").glob("*.py")))
def test_every_extension_workload_file_is_valid_without_its_extension(path: Path):
    """Importing a workload file needs no extension (it imports it inside each workload),
    and every point passes the catalogue's validation."""
    module = extension.load_workloads(path)
    assert module.EXTENSION and module.SHIPPED_LIKE in FLAVOURS
    assert extension.normalise(module.EXTENSION) == path.stem
    names = [w.name for w in module.WORKLOADS]
    assert len(set(names)) == len(names)
    for w in module.WORKLOADS:
        for p in (*w.points, w.smoke):
            assert w.validate(p) == dict(p)
        with pytest.raises(ValueError, match=f"workload {w.name!r}"):
            w.validate(
                {**w.smoke, w.params[0].name: "not allowed" if w.params[0].kind is str else -1}
            )
