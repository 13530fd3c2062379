"""Runs inside one flavour's process (ALLOCBENCH_FLAVOUR names it; test_flavours.py starts
this suite once per flavour)."""

import os
import threading

import pytest
from allocbench import catalogue
from allocbench.flavour import load
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FLAVOUR = os.environ["ALLOCBENCH_FLAVOUR"]
m = load(FLAVOUR)

ALIGNS = [1 << k for k in range(13)]  # 1 .. 4096
SIZES = [1, 2, 7, 8, 9, 15, 16, 17, 31, 100, 496, 511, 512, 513, 1000, 4096, 65_536, 300_000]


@pytest.mark.parametrize("align", ALIGNS)
def test_alignment_matrix(align):
    for size in SIZES:
        for grow, shrink in [(size * 3 + 1, max(1, size // 2)), (size + 1, 1), (520, 8)]:
            m.check_layout(size, align, grow, shrink)


OP = st.tuples(
    st.integers(0, 3),  # alloc, zeroed, realloc, free
    st.integers(0, 15),  # slot
    st.one_of(st.integers(1, 600), st.integers(600, 70_000), st.integers(70_000, 2 << 20)),
    st.sampled_from(ALIGNS),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(OP, max_size=200), detached=st.booleans())
def test_random_sequences_keep_their_contents(ops, detached):
    verified = m.check_ops(16, ops, detached)
    assert verified >= 0


def test_random_sequences_from_python_threads_at_once():
    ops = [(k % 4, k % 13, (k * 7919) % 4000 + 1, 1 << (k % 9)) for k in range(4000)]
    errors = []

    def work(detached):
        try:
            m.check_ops(13, ops, detached)
        except Exception as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i % 2 == 0,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


@pytest.mark.parametrize("direction", ["attached_to_detached", "detached_to_attached"])
def test_blocks_cross_between_attached_and_detached_threads(direction):
    c = m.check_handoff(5000, 40, direction)
    if FLAVOUR == "pymem":
        # Nothing deferred is left once a GIL-holding allocation has run.
        assert c["deferred_pending"] == 0
        if direction == "attached_to_detached":
            assert c["deferred_frees"] >= 5000
    else:
        assert c["fallback_total_blocks"] == 0


def test_detached_small_blocks_use_the_fallback_only_in_pymem():
    before = m.counters()["fallback_total_blocks"]
    m.threads_churn(2, 2, 64, 100)
    grew = m.counters()["fallback_total_blocks"] - before
    assert grew >= 400 if FLAVOUR == "pymem" else grew == 0


@pytest.mark.parametrize("w", catalogue.WORKLOADS, ids=lambda w: w.name)
def test_every_workload_at_smoke_size(w):
    out = w.run(loops=w.smoke_loops if w.timed else None, **w.smoke)
    if w.timed:
        assert 0 < out < 60
    else:
        assert isinstance(out, dict) and out


def test_fragmentation_figures_are_consistent():
    r = catalogue.run("fragmentation", **catalogue.get("fragmentation").smoke)
    assert [p["phase"] for p in r["phases"]] == ["fill", "free", "refill", "drop"]
    fill, free, refill, drop = r["phases"]
    assert fill["live_bytes"] > free["live_bytes"] < refill["live_bytes"]
    assert drop["live_bytes"] == 0
    assert all(p["rss_bytes"] >= r["baseline_rss"] - (1 << 20) for p in r["phases"])


def test_realloc_moves_add_up():
    r = catalogue.run("realloc_moves", pattern="reserve_exact", target=4096)
    assert r["reallocs"] == 4095 == r["in_place"] + r["moved"]


def test_interplay_reports_python_side_figures():
    r = catalogue.run("python_interplay", **catalogue.get("python_interplay").smoke)
    phases = [p["phase"] for p in r["phases"]]
    assert phases == ["start", "interleaved", "rust_dropped", "python_dropped"]
    assert all(p["python"]["allocated_blocks"] > 0 for p in r["phases"])


def test_raw_baseline_runs_with_the_gil():
    assert m.raw_pair(1000, 64) > 0


@pytest.mark.parametrize(
    ("call", "exc"),
    [
        (lambda: catalogue.run("alloc_pair", loops=10, size=0), ValueError),
        (lambda: catalogue.run("alloc_pair", loops=0, size=8), ValueError),
        (lambda: catalogue.run("churn_batch", loops=1, size=8, live=8, order="up"), ValueError),
        (lambda: catalogue.run("threads_churn", loops=1, threads=65, size=8, batch=1), ValueError),
        (lambda: catalogue.run("zeroed_vec", loops=1, size=1 << 40, touch=False), ValueError),
        (
            lambda: catalogue.run(
                "fragmentation",
                blocks=1 << 30,
                size_min=1,
                size_max=1,
                pattern="every_other",
                seed=0,
            ),
            ValueError,
        ),
        (lambda: catalogue.run("realloc_moves", loops=3, pattern="vec_push", target=64), TypeError),
        # Straight into the extension, past the catalogue: still an exception, never an abort.
        (lambda: m.churn_batch(1, 8, 8, "sideways"), ValueError),
        (lambda: m.alloc_pair(1, -1), OverflowError),
        (lambda: m.alloc_pair(1, 1 << 63), ValueError),
        (lambda: m.fragmentation(10, 9, 8, "every_other", 0), ValueError),
        (lambda: m.check_layout(0, 8, 8, 8), ValueError),
    ],
)
def test_bad_input_raises(call, exc):
    with pytest.raises(exc):
        call()
