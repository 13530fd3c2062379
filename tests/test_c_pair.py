"""The C-level pair (``c_pair``, rustext/csrc/c_pairs.c), the limit each flavour's GlobalAlloc
path is measured against: it runs in every flavour, refuses bad parameters with a ValueError
naming them, its ``own`` primitive is the flavour's (the one raw_pair calls), and its C loops
really call their allocators (machine code, and what tracemalloc sees)."""

import json

import pytest
from allocbench import FLAVOURS, calls, catalogue
from helpers import ROOT, built, run_flavour

# Runs in the flavour's process: what the extension offers and resolves, a time from every
# pair, what tracemalloc sees of each, and the errors of bad calls.
CHILD = r"""
import json, tracemalloc
import allocbench.flavour as f
from allocbench import catalogue

m = f.load()
out = {"primitives": list(m.C_PAIR_PRIMITIVES), "own": {}, "seconds": {}, "traced": {}}
for size in catalogue.C_PAIR_SIZES:
    out["own"][size] = m.c_pair_own(size)
for p in m.C_PAIR_PRIMITIVES:
    for size in (8, 512, 513, 1024):
        out["seconds"][f"{p}/{size}"] = m.c_pair(1000, size, p)
w = catalogue.get("c_pair")
for params in w.points:
    out["seconds"][w.label(params)] = catalogue.run("c_pair", loops=10, **params)
tracemalloc.start()
for p in m.C_PAIR_PRIMITIVES:
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    m.c_pair(10, 1000, p)
    out["traced"][p] = tracemalloc.get_traced_memory()[1] - base
tracemalloc.stop()
errors = {}
for name, args in [
    ("loops=0", (0, 64, "own")),
    ("loops=1e9+1", (10**9 + 1, 64, "own")),
    ("loops=-1", (-1, 64, "own")),
    ("size=7", (10, 7, "own")),
    ("size=1025", (10, 1025, "own")),
    ("size=0", (10, 0, "pymem")),
    ("primitive=tcmalloc", (10, 64, "tcmalloc")),
    ("primitive=mimalloc", (10, 64, "mimalloc")),
    ("primitive=jemalloc", (10, 64, "jemalloc")),
]:
    try:
        m.c_pair(*args)
        errors[name] = None
    except Exception as e:
        errors[name] = [type(e).__name__, str(e)]
out["errors"] = errors
print(json.dumps(out))
"""


def need(flavour):
    if not built(flavour):
        pytest.fail(f"flavour {flavour} is not built: make build FLAVOUR={flavour}")


@pytest.fixture(scope="module")
def child():
    """The CHILD's report per flavour (one process each, run once)."""
    got = {}

    def run(flavour):
        if flavour not in got:
            need(flavour)
            out = run_flavour(flavour, ["-c", CHILD], timeout=300)
            assert out.returncode == 0, out.stderr
            got[flavour] = json.loads(out.stdout.strip().splitlines()[-1])
        return got[flavour]

    return run


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_the_c_pair_runs_in_every_flavour(child, flavour):
    r = child(flavour)
    own_lib = (flavour,) if flavour in ("mimalloc", "jemalloc") else ()
    assert r["primitives"] == ["own", "pymem", "pymem_calloc", "pymem_raw", "malloc", *own_lib]
    assert tuple(r["primitives"][1:]) == calls.c_primitives(flavour)
    assert all(0 < t < 10 for t in r["seconds"].values()), r["seconds"]
    labels = {catalogue.get("c_pair").label(p) for p in catalogue.get("c_pair").points}
    assert labels <= set(r["seconds"])


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_own_is_the_primitive_the_backend_calls(child, flavour):
    """'own' resolves in the extension as the catalogue (and the instruction ratios) say:
    pymem splits at 512 B, as allocbench_alloc::pymem::primitive does."""
    r = child(flavour)
    assert r["own"] == {str(s): catalogue.c_pair_own(flavour, s) for s in catalogue.C_PAIR_SIZES}
    if flavour == "pymem":
        assert r["own"]["512"] == "pymem" and r["own"]["1024"] == "pymem_raw"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_tracemalloc_sees_exactly_the_cpython_pairs(child, flavour):
    """tracemalloc traces CPython's allocator domains: the PyMem pairs' 1000-byte blocks
    show in its peak, malloc's, mimalloc's and jemalloc's do not. A C loop calling another
    allocator than it claims fails here."""
    r = child(flavour)
    for p, seen in r["traced"].items():
        cpython = p.startswith("pymem") or (
            p == "own" and catalogue.c_pair_own(flavour, 1000).startswith("pymem")
        )
        assert (seen >= 1000) == cpython, (p, seen)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_bad_parameters_raise_value_errors_naming_them(child, flavour):
    errors = child(flavour)["errors"]
    for case in ("loops=0", "loops=1e9+1"):
        assert errors[case] == [
            "ValueError",
            f"loops must be an int in 1..1000000000; got {case[6:].replace('1e9+1', '1000000001')}",
        ]
    assert errors["loops=-1"][0] == "OverflowError"  # PyO3's u64, as every workload
    for case in ("size=7", "size=1025", "size=0"):
        assert errors[case] == ["ValueError", f"size must be an int in 8..1024; got {case[5:]}"]
    kind, text = errors["primitive=tcmalloc"]
    assert kind == "ValueError" and text.startswith("primitive must be one of 'own', 'pymem'")
    assert "got 'tcmalloc'" in text
    for lib in ("mimalloc", "jemalloc"):
        if lib == flavour:
            assert errors[f"primitive={lib}"] is None
            continue
        kind, text = errors[f"primitive={lib}"]
        assert kind == "ValueError", text
        assert f"primitive '{lib}' is not available in the {flavour} flavour" in text
        assert "this flavour takes 'own', 'pymem', 'pymem_calloc', 'pymem_raw', 'malloc'" in text


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_the_c_loops_call_their_allocators(flavour):
    """The machine code: each C loop makes the calls of its pair (PyMem_Malloc and
    PyMem_Free in allocbench_c_pair_pymem, ...), and c_pair's Rust entry reaches them all."""
    need(flavour)
    so = calls.extension(flavour, ROOT)
    made = calls.calls_made(so)
    assert {"PyMem_Malloc", "PyMem_Free"} <= made["allocbench_c_pair_pymem"]
    for p in calls.c_primitives(flavour):
        assert calls.C_PAIRS[p] <= made[calls.c_pair_symbol(p)], p
    assert calls.c_pair_violations(flavour, ROOT) == []


def test_the_fold_guard_sees_a_c_loop_without_its_call(monkeypatch):
    """The rules on a disassembly where the PyMem loop lost its PyMem_Malloc call (deleted,
    swapped for malloc, or folded away with its free): the guard must name it."""
    need("system")
    real = calls.calls_made

    def broken(so):
        made = dict(real(so))
        sym = "allocbench_c_pair_pymem"
        made[sym] = (made[sym] - {"PyMem_Malloc", "PyMem_Free"}) | {"malloc"}
        return made

    monkeypatch.setattr(calls, "calls_made", broken)
    found = calls.violations("system", ROOT)
    assert any(
        "allocbench_c_pair_pymem must call PyMem_Free and PyMem_Malloc" in v for v in found
    ), found


def test_a_reference_is_not_a_call():
    """calls_made keeps only call/jmp targets: an address taken (lea) is not a call."""
    need("system")
    so = calls.extension("system", ROOT)
    refs, made = calls.disassembly(so), calls.calls_made(so)
    assert all(made[f] <= refs[f] for f in made)
    assert any(refs[f] - made[f] for f in made)
