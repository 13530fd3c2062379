"""The flavour registry (``allocbench.registry``) against every list that cannot read it,
and against the built flavours: a flavour added, renamed or removed in one place but not in
another fails here, naming the place."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from allocbench import FLAVOURS, registry, report
from helpers import ROOT, built, run_flavour

ALLOC = ROOT / "crates" / "allocbench-alloc"
NAMES = list(registry.NAMES)


def test_the_package_flavours_are_the_registry():
    assert list(FLAVOURS) == NAMES
    assert len(set(NAMES)) == len(NAMES), NAMES
    assert all(re.fullmatch(r"[a-z][a-z0-9-]*", n) for n in NAMES), NAMES


def test_makefile_reads_the_registry():
    show = "_flavours: ; @echo $(FLAVOURS_ALL)"
    out = subprocess.run(
        ["make", "-s", "--no-print-directory", "--eval", show, "_flavours"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == NAMES, "Makefile FLAVOURS_ALL"


def test_asv_matrix_is_the_registry():
    from asv import util

    conf = util.load_json(str(ROOT / "asv.conf.json"), js_comments=True)
    assert conf["matrix"]["env"]["ALLOCBENCH_FLAVOUR"] == NAMES, (
        "asv.conf.json: matrix.env.ALLOCBENCH_FLAVOUR must list the registry's flavours"
    )


def _build_tool():
    path = ROOT / "tools" / "asv_build_wheel.py"
    spec = importlib.util.spec_from_file_location("asv_build_wheel", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_asv_build_step_builds_every_flavour_with_its_feature(monkeypatch, capsys):
    tool = _build_tool()
    for f in registry.REGISTRY:
        cmd = tool.wheel_command(f.name, Path("maturin"), "python", Path("wheels"))
        assert cmd[cmd.index("--features") + 1] == f"alloc-{f.name}", cmd
    monkeypatch.setenv("ALLOCBENCH_FLAVOUR", "tcmalloc")
    assert tool.main(["asv_build_wheel.py", "b", "w", "e"]) == 2
    assert f"must be one of {', '.join(NAMES)}; got 'tcmalloc'" in capsys.readouterr().err


def test_cargo_features_are_the_registry():
    alloc = tomllib.loads((ALLOC / "Cargo.toml").read_text())["features"]
    assert list(alloc) == NAMES, "crates/allocbench-alloc/Cargo.toml [features]"
    ext = tomllib.loads((ROOT / "rustext" / "Cargo.toml").read_text())["features"]
    got = {k: v for k, v in ext.items() if k.startswith("alloc-")}
    want = {f.feature: [f"allocbench-alloc/{f.name}"] for f in registry.REGISTRY}
    assert got == want and list(got) == list(want), "rustext/Cargo.toml [features] alloc-*"


def _is_backend(module: str) -> bool:
    path = ALLOC / "src" / f"{module}.rs"
    return path.exists() and "impl Backend for" in path.read_text()


def test_allocbench_alloc_compiles_every_backend_under_its_feature():
    lib = (ALLOC / "src" / "lib.rs").read_text()
    listed = re.search(r"^exactly_one!\(([^)]*)\);", lib, re.M)
    assert listed, "lib.rs: no exactly_one!(...) list"
    assert re.findall(r'"([^"]+)"', listed.group(1)) == NAMES, "lib.rs: exactly_one! list"
    cfg = r'#\[cfg\(feature = "([^"]+)"\)\]\n'
    mods = [(feat, m) for feat, m in re.findall(cfg + r"pub mod (\w+);", lib) if _is_backend(m)]
    uses = re.findall(cfg + r"pub use (\w+)::\w+ as Allocator;", lib)
    want = [(f.name, f.module) for f in registry.REGISTRY]
    assert mods == want, "lib.rs: one `#[cfg(feature)] pub mod <backend>;` per flavour"
    assert uses == want, "lib.rs: one `pub use <backend>::… as Allocator;` per flavour"


def _rust_const(src: str, name: str) -> str | None:
    m = re.search(rf"const {name}: [^=]+=\s*([^;]+);", src)
    return m.group(1).strip() if m else None


def test_every_backend_file_implements_backend_as_registered():
    files = {p.stem for p in (ALLOC / "src").glob("*.rs") if _is_backend(p.stem)}
    assert files == {f.module for f in registry.REGISTRY}, "backend files (impl Backend for …)"
    for f in registry.REGISTRY:
        src = (ALLOC / "src" / f"{f.module}.rs").read_text()
        where = f"crates/allocbench-alloc/src/{f.module}.rs"
        assert _rust_const(src, "NAME") == json.dumps(f.name), f"{where}: NAME"
        assert _rust_const(src, "PRIMITIVE") == json.dumps(f.primitive), f"{where}: PRIMITIVE"
        routes = _rust_const(src, "ROUTES_THROUGH_PYMEM") or "false"
        assert routes == str(f.routes_through_pymem).lower(), f"{where}: ROUTES_THROUGH_PYMEM"


def test_report_colours_are_the_registry_and_tell_flavours_apart():
    from matplotlib import colors

    assert report.COLOURS == {f.name: f.colour for f in registry.REGISTRY}, "report.COLOURS"
    bad = [f.name for f in registry.REGISTRY if not colors.is_color_like(f.colour)]
    assert not bad, f"not matplotlib colours: {bad}"
    rgb = [colors.to_rgb(f.colour) for f in registry.REGISTRY]
    assert len(set(rgb)) == len(rgb), "two flavours share a colour"


def test_unknown_flavours_are_refused_naming_the_flavours():
    with pytest.raises(ValueError, match=f"one of {', '.join(NAMES)}; got 'tcmalloc'"):
        registry.get("tcmalloc")


@pytest.mark.parametrize("flavour", NAMES)
def test_each_built_flavour_is_what_the_registry_says(flavour):
    if not built(flavour):
        pytest.fail(f"flavour {flavour} is not built: run make build FLAVOUR={flavour}")
    code = "import allocbench.flavour as f, json; print(json.dumps(f.load().build_info()))"
    out = run_flavour(flavour, ["-c", code])
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    f = registry.get(flavour)
    assert info["backend"] == f.name
    assert info["primitive"] == f.primitive
    assert info["routes_through_pymem"] == f.routes_through_pymem
    assert f.feature in info["features"].split(",")


# ---- the generated lists (make registry) -------------------------------------------------------
GENERATED = (
    "crates/allocbench-alloc/Cargo.toml",
    "rustext/Cargo.toml",
    "crates/allocbench-alloc/src/lib.rs",
    "asv.conf.json",
)


def _copy_generated(tmp_path: Path) -> Path:
    for rel in GENERATED:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text((ROOT / rel).read_text())
    return tmp_path


def test_the_generated_lists_are_up_to_date():
    assert registry.stale() == [], "run make registry"


@pytest.mark.parametrize(
    "rel, old, new",
    [
        ("crates/allocbench-alloc/Cargo.toml", "system = []\n", "system = []\ntcmalloc = []\n"),
        ("rustext/Cargo.toml", 'alloc-system = ["allocbench-alloc/system"]\n', ""),
        ("crates/allocbench-alloc/src/lib.rs", "system::SystemAllocator as", "system::System as"),
        ("asv.conf.json", '"pymem-raw", ', ""),
    ],
)
def test_a_list_edited_by_hand_is_found_and_rewritten(tmp_path, rel, old, new):
    root = _copy_generated(tmp_path)
    text = (root / rel).read_text()
    assert old in text
    (root / rel).write_text(text.replace(old, new, 1))
    assert registry.stale(root) == [root / rel]
    assert registry.write(root) == [root / rel]
    assert (root / rel).read_text() == text
    assert registry.stale(root) == []


def test_a_new_entry_reaches_every_generated_list(tmp_path, monkeypatch):
    root = _copy_generated(tmp_path)
    extra = registry.Flavour(
        name="tcmalloc",
        primitive="tc_malloc + tc_free",
        colour="tab:green",
        c_pair="malloc",
        allocator="TcmallocAllocator",
        cargo_deps=("dep:tcmalloc",),
        alloc_symbols=("tc_malloc",),
        zeroed_symbols=("tc_calloc",),
        free_symbols=("tc_free",),
    )
    monkeypatch.setattr(registry, "REGISTRY", (*registry.REGISTRY, extra))
    monkeypatch.setattr(registry, "NAMES", (*registry.NAMES, "tcmalloc"))
    assert sorted(registry.write(root)) == sorted(root / rel for rel in GENERATED)
    alloc = tomllib.loads((root / GENERATED[0]).read_text())["features"]
    assert alloc["tcmalloc"] == ["dep:tcmalloc"] and list(alloc)[-1] == "tcmalloc"
    ext = tomllib.loads((root / GENERATED[1]).read_text())["features"]
    assert ext["alloc-tcmalloc"] == ["allocbench-alloc/tcmalloc"]
    lib = (root / GENERATED[2]).read_text()
    assert '    "jemalloc",\n    "tcmalloc"\n);' in lib  # past 60 columns: one per line
    formatted = subprocess.run(
        ["rustfmt", "--edition", "2021", "--emit", "stdout"],
        input=lib,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert formatted == lib, "the generated lib.rs is not as cargo fmt would leave it"
    assert '#[cfg(feature = "tcmalloc")]\npub use tcmalloc::TcmallocAllocator as Allocator;' in lib
    from asv import util

    conf = util.load_json(str(root / GENERATED[3]), js_comments=True)
    assert conf["matrix"]["env"]["ALLOCBENCH_FLAVOUR"][-1] == "tcmalloc"


def test_a_file_without_its_markers_is_refused(tmp_path):
    root = _copy_generated(tmp_path)
    lib = root / GENERATED[2]
    lib.write_text(lib.read_text().replace(f"// {registry.END}\n", ""))
    with pytest.raises(ValueError, match=re.escape("lib.rs: needs one '// generated from")):
        registry.stale(root)
