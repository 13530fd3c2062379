"""Every flavour, each in its own process, on every interpreter of the suite (helpers.PYTHONS:
3.11-3.15, or those of make test PY=…): identity, tracemalloc visibility, the in-flavour
suite (alignment, random sequences, thread handoffs, workloads, bad input)."""

import sys

import pytest
from helpers import FLAVOURS, PYTHONS, ROOT, built, run_flavour_on

pytestmark = [
    pytest.mark.parametrize("flavour", FLAVOURS),
    pytest.mark.parametrize("python", PYTHONS),
]


def need(flavour):
    if not built(flavour):
        pytest.fail(f"flavour {flavour} is not built: run make build FLAVOUR={flavour}")


def test_backend_identity_and_build_facts(flavour, python):
    need(flavour)
    code = (
        "import allocbench.flavour as f, json; m = f.load(); "
        "print(json.dumps([m.backend_name(), m.build_info()]))"
    )
    out = run_flavour_on(python, flavour, ["-c", code])
    assert out.returncode == 0, out.stderr
    import json

    name, info = json.loads(out.stdout)
    assert name == flavour == info["backend"]
    assert f"alloc-{flavour}" in info["features"].split(",")
    assert info["rustc"].startswith("rustc ") and info["profile"].startswith("release")
    assert info["routes_through_pymem"] == flavour.startswith("pymem")


def test_loading_another_flavour_than_asked_fails_loudly(flavour, python):
    need(flavour)
    other = next(f for f in FLAVOURS if f != flavour)
    code = "import allocbench.flavour as f; f.load()"
    out = run_flavour_on(python, flavour, ["-c", code], env={"ALLOCBENCH_FLAVOUR": other})
    assert out.returncode != 0
    assert f"asked for flavour {other!r}" in out.stderr
    assert f"built with backend {flavour!r}" in out.stderr


def test_tracemalloc_sees_rust_memory_only_through_pymem(flavour, python):
    need(flavour)
    code = """
import tracemalloc, allocbench.flavour as f
m = f.load()
tracemalloc.start()
before = tracemalloc.get_traced_memory()[0]
big = m.RustBuffer(1_000_000)
small = [m.RustBuffer(200) for _ in range(1000)]
print(tracemalloc.get_traced_memory()[0] - before)
"""
    out = run_flavour_on(python, flavour, ["-c", code])
    assert out.returncode == 0, out.stderr
    delta = int(out.stdout)
    # 1 MB + 1000 x 200 B of Rust heap; the Python wrappers themselves are ~60 KB.
    if flavour in ("pymem", "pymem-raw"):
        assert delta >= 1_000_000 + 200_000, delta
    else:
        assert delta < 150_000, delta


def test_in_flavour_suite(flavour, python):
    need(flavour)
    out = run_flavour_on(
        python,
        flavour,
        ["-m", "pytest", "-q", "-p", "no:cacheprovider", str(ROOT / "tests" / "in_flavour")],
        timeout=1200,
    )
    sys.stdout.write(out.stdout[-3000:])
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-3000:]
