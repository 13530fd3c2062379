"""The workload catalogue: complete, consistent, and strict about parameters. Needs no
extension."""

import pytest
from allocbench import FLAVOURS, catalogue
from allocbench.catalogue import CATALOGUE, WORKLOADS, get
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def test_every_workload_is_described_once_with_unit_and_family():
    assert len(CATALOGUE) == len(WORKLOADS)
    for w in WORKLOADS:
        assert w.kind in ("time", "memory")
        assert w.unit and w.measures and w.family in catalogue.FAMILIES
        assert w.points, w.name
        w.validate(w.smoke)
        labels = [w.label(p) for p in w.points]
        assert len(set(labels)) == len(labels), w.name
        for p in w.points:
            w.validate(p)
            if w.timed:
                assert w.ops_per_loop(p) >= 1


def test_every_family_of_the_design_is_present():
    assert set(catalogue.FAMILIES) == {
        "throughput",
        "raw",
        "realloc",
        "zeroed",
        "fragmentation",
        "threads",
        "interplay",
    }


def test_labels_name_every_parameter_in_order():
    w = get("churn_batch")
    assert w.label({"size": 64, "live": 1024, "order": "lifo"}) == (
        "churn_batch[size=64,live=1024,order=lifo]"
    )


@pytest.mark.parametrize(
    ("name", "params", "exc", "fragment"),
    [
        (
            "alloc_pair",
            {"size": 0},
            ValueError,
            "'size' of workload 'alloc_pair' must be an int in 1..16777216",
        ),
        ("alloc_pair", {"size": -1}, ValueError, "got -1"),
        ("alloc_pair", {"size": 1 << 40}, ValueError, "1..16777216"),
        ("alloc_pair", {"size": "64"}, TypeError, "got str '64'"),
        ("alloc_pair", {"size": 64.0}, TypeError, "must be an int"),
        ("alloc_pair", {"size": True}, TypeError, "got bool"),
        ("alloc_pair", {}, TypeError, "needs parameter 'size'"),
        ("alloc_pair", {"size": 8, "sise": 8}, TypeError, "no parameter 'sise'"),
        (
            "churn_batch",
            {"size": 64, "live": 10, "order": "random"},
            ValueError,
            "one of 'lifo', 'fifo'",
        ),
        (
            "churn_batch",
            {"size": 1 << 20, "live": 1 << 20, "order": "lifo"},
            ValueError,
            "size * live must be <= 1 GiB",
        ),
        ("zeroed_vec", {"size": 64, "touch": 1}, TypeError, "True or False"),
        ("realloc_growth", {"pattern": "reserve_exact", "target": 1 << 26}, ValueError, "<= 4 MiB"),
        (
            "fragmentation",
            {"blocks": 10, "size_min": 9, "size_max": 8, "pattern": "every_other", "seed": 0},
            ValueError,
            "size_min must be <= size_max",
        ),
        ("threads_churn", {"threads": 0, "size": 64, "batch": 1}, ValueError, "'threads'"),
        ("mixed_sizes", {"live": 10, "seed": -5}, ValueError, "'seed'"),
        (
            "c_pair",
            {"size": 4, "primitive": "own"},
            ValueError,
            "'size' of workload 'c_pair' must be an int in 8..1024",
        ),
        ("c_pair", {"size": 2048, "primitive": "malloc"}, ValueError, "8..1024; got 2048"),
        (
            "c_pair",
            {"size": 64, "primitive": "tcmalloc"},
            ValueError,
            "'primitive' of workload 'c_pair' must be one of 'own', 'pymem', 'pymem_calloc', "
            "'pymem_raw', 'malloc', 'mimalloc', 'jemalloc'; got 'tcmalloc'",
        ),
    ],
)
def test_bad_parameters_name_the_parameter_and_the_range(name, params, exc, fragment):
    with pytest.raises(exc) as info:
        get(name).validate(params)
    assert fragment in str(info.value)


def test_loops_are_checked_before_the_extension_is_needed():
    w = get("alloc_pair")
    for bad, exc in [
        (0, ValueError),
        (-3, ValueError),
        (None, TypeError),
        (1.5, TypeError),
        (10**12, ValueError),
    ]:
        with pytest.raises(exc, match="'loops'"):
            w.run(loops=bad, module=object(), size=64)


def test_unknown_workload_lists_the_catalogue():
    with pytest.raises(ValueError, match="no workload 'nope'; the catalogue has alloc_pair"):
        get("nope")
    with pytest.raises(TypeError):
        get(3)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from(["size", "live", "order", "x"]),
        st.one_of(
            st.integers(), st.text(max_size=5), st.booleans(), st.none(), st.floats(allow_nan=True)
        ),
    )
)
def test_validation_never_lets_a_bad_value_through(params):
    w = get("churn_batch")
    try:
        checked = w.validate(params)
    except (TypeError, ValueError):
        return
    assert 1 <= checked["size"] <= 1 << 20 and 1 <= checked["live"] <= 1 << 20
    assert checked["order"] in ("lifo", "fifo")
    assert checked["size"] * checked["live"] <= 1 << 30


BAD_VALUES = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.binary(max_size=4),
    st.lists(st.integers(), max_size=2),
    st.integers(max_value=-1),
    st.integers(min_value=1 << 64, max_value=1 << 200),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_parameter_of_every_workload_rejects_bad_values(data):
    """Fuzz: one parameter of one workload replaced by a wrong type, a negative or a huge
    value, the others kept valid: a TypeError or ValueError naming that parameter."""
    w = data.draw(st.sampled_from(WORKLOADS))
    p = data.draw(st.sampled_from(w.params))
    value = data.draw(BAD_VALUES)
    if p.kind is str and isinstance(value, str) and value in p.choices:
        return
    if p.kind is int and isinstance(value, int) and p.lo <= value <= p.hi:
        return
    params = dict(w.smoke)
    params[p.name] = value
    with pytest.raises((TypeError, ValueError)) as info:
        w.validate(params)
    assert repr(p.name) in str(info.value)


def test_the_c_pair_covers_every_small_pair_point_with_the_flavours_own_primitive():
    """c_pair's points: the flavour's own primitive at every alloc_pair size up to 1024 B
    (so every such alloc_pair point has its C-level limit), 8 and 1024 included."""
    w = get("c_pair")
    sizes = [p["size"] for p in w.points]
    assert {p["primitive"] for p in w.points} == {"own"}
    assert sizes == [s for s in catalogue.PAIR_SIZES if s <= 1024]
    assert {8, 16, 64, 256, 512, 1024} <= set(sizes)
    assert w.family == "raw" and w.timed
    assert w.measures.startswith(
        "the alloc+free pair called from C: the limit each flavour's GlobalAlloc path is "
        "measured against"
    )
    expected = {
        "pymem": "pymem",
        "pymem-raw": "pymem_raw",
        "system": "malloc",
        "mimalloc": "mimalloc",
        "jemalloc": "jemalloc",
    }
    assert {f: catalogue.c_pair_own(f, 64) for f in expected} == expected
    assert set(expected) <= set(FLAVOURS)
    assert catalogue.c_pair_own("pymem", 512) == "pymem"
    assert catalogue.c_pair_own("pymem", 513) == "pymem_raw"
    with pytest.raises(ValueError, match="no flavour 'tcmalloc'"):
        catalogue.c_pair_own("tcmalloc", 64)
