"""Tests that `make mutants` showed were missing (tests/README.md): the report's statistics
(ratios over rounds with their Student-t interval, Welch's interval, the equivalence margin)
checked against table values and hand-computed ones, and the catalogue's parameter validation
checked at every edge of every range. Needs no extension."""

from __future__ import annotations

import importlib.util
import math
from types import SimpleNamespace

import pytest
from allocbench import catalogue, report
from allocbench.catalogue import GiB, MiB, Param, get

# ---- ratios over rounds and their Student-t interval -------------------------------------------

# Two-sided Student-t quantiles from the tables: t(0.975, df) and t(0.95, 2).
T975 = {1: 12.706204736174698, 2: 4.302652729749464, 3: 3.182446305284263}
T95_2 = 2.919985580355516


def test_round_ratio_value_and_interval_against_the_tables():
    # Ratios 2 and 8: logs ln 2 and ln 8, geometric mean 4, stdev of the logs ln 4 / sqrt 2.
    r = report.round_ratio([2.0, 8.0])
    half = T975[1] * (math.log(4) / math.sqrt(2)) / math.sqrt(2)
    assert r.value == pytest.approx(4.0, rel=1e-12) and r.rounds == 2
    assert r.low == pytest.approx(4 * math.exp(-half), rel=1e-9)
    assert r.high == pytest.approx(4 * math.exp(half), rel=1e-9)
    assert r.per_round == (2.0, 8.0)
    # Three rounds, 90 %: t(0.95, 2).
    per = [0.5, 1.0, 2.0]
    logs = [math.log(x) for x in per]
    sd = math.sqrt(sum(x * x for x in logs) / 2)  # their mean is 0
    r = report.round_ratio(per, confidence=0.90)
    assert r.value == pytest.approx(1.0)
    assert r.high == pytest.approx(math.exp(T95_2 * sd / math.sqrt(3)), rel=1e-9)
    assert r.low == pytest.approx(math.exp(-T95_2 * sd / math.sqrt(3)), rel=1e-9)
    assert report.round_ratio(per).high == pytest.approx(math.exp(T975[2] * sd / math.sqrt(3)))


def test_round_ratio_of_one_round_has_no_interval_and_bad_input_is_refused():
    r = report.round_ratio([0.5])
    assert r.value == 0.5 and r.rounds == 1 and math.isnan(r.low) and math.isnan(r.high)
    assert r.per_round == (0.5,)
    assert not r.has_interval and not r.significant and r.outcome() == "tie"
    assert math.isnan(r.within()) and not r.contains(0.5)
    assert r.text() == "0.500 (1 round: no interval)"
    with pytest.raises(ValueError, match=r"^a ratio needs at least one round$"):
        report.round_ratio([])
    for bad in ([1.0, 0.0], [-1.0, 2.0]):
        with pytest.raises(ValueError, match=r"per-round ratios must be > 0; got \["):
            report.round_ratio(bad)
    # Identical rounds: no spread, an exact interval.
    r = report.round_ratio([1.5, 1.5, 1.5])
    assert (r.low, r.value, r.high) == (pytest.approx(1.5),) * 3 and r.outcome() == "higher"


def test_family_ratio_takes_the_geometric_mean_per_round_over_common_rounds():
    # Benchmark 1: ratios 2 and 8 in rounds 2 and 3 (round 1 only on one side); benchmark 2:
    # ratios 8 and 2. Per round: sqrt(2 * 8) = 4 both times.
    pairs = [
        ({1: 5.0, 2: 2.0, 3: 8.0}, {2: 1.0, 3: 1.0}),
        ({2: 16.0, 3: 4.0, 4: 9.0}, {1: 3.0, 2: 2.0, 3: 2.0}),
    ]
    r = report.family_ratio(pairs)
    assert r.rounds == 2 and r.per_round == (pytest.approx(4.0), pytest.approx(4.0))
    assert (r.low, r.value, r.high) == (pytest.approx(4.0),) * 3
    # Rounds in their order, whatever the order of the dicts.
    r = report.family_ratio([({2: 1.0, 1: 3.0}, {2: 1.0, 1: 1.0})])
    assert r.per_round == (pytest.approx(3.0), pytest.approx(1.0))
    assert report.family_ratio([({1: 1.0}, {2: 1.0})]) is None
    with pytest.raises(ValueError, match=r"^a family ratio needs at least one benchmark$"):
        report.family_ratio([])


def test_welch_ratio_against_welch_satterthwaite_by_hand():
    from scipy import stats

    la, lb = [1.0, 2.0, 3.0, 4.0], [0.0, 0.5, 1.0]
    a, b = [math.exp(x) for x in la], [math.exp(x) for x in lb]
    # Means 2.5 and 0.5; variances of the means (5/3)/4 and 0.25/3.
    va, vb = (5 / 3) / 4, 0.25 / 3
    df = (va + vb) ** 2 / (va**2 / 3 + vb**2 / 2)
    half = stats.t.ppf(0.975, df) * math.sqrt(va + vb)
    r = report.welch_ratio(a, b)
    assert r.value == pytest.approx(math.exp(2.0), rel=1e-12) and r.rounds == 3
    assert r.low == pytest.approx(math.exp(2.0 - half), rel=1e-9)
    assert r.high == pytest.approx(math.exp(2.0 + half), rel=1e-9)
    # Not the pooled test's df (n1 + n2 - 2 = 5).
    pooled = stats.t.ppf(0.975, 5) * math.sqrt(va + vb)
    assert r.high != pytest.approx(math.exp(2.0 + pooled), rel=1e-3)
    r90 = report.welch_ratio(a, b, confidence=0.90)
    assert r90.high == pytest.approx(math.exp(2.0 + stats.t.ppf(0.95, df) * math.sqrt(va + vb)))


def test_welch_ratio_without_spread_or_values():
    r = report.welch_ratio([2.0, 2.0], [1.0, 1.0, 1.0])
    assert (r.low, r.value, r.high) == (pytest.approx(2.0),) * 3 and r.rounds == 2
    r = report.welch_ratio([2.0], [1.0, 3.0])
    assert r.value == pytest.approx(2 / math.sqrt(3)) and not r.has_interval and r.rounds == 1
    assert math.isnan(r.low) and math.isnan(r.high)
    # Equal samples without spread: exactly 1.
    r = report.welch_ratio([2.0, 2.0], [2.0, 2.0, 2.0])
    assert (r.low, r.value, r.high) == (1.0, 1.0, 1.0)
    # One side without spread: the other's carries the interval, whichever side it is.
    for a, b in (([2.0, 2.0, 2.0], [1.0, 1.5, 2.0]), ([1.0, 1.5, 2.0], [2.0, 2.0, 2.0])):
        r = report.welch_ratio(a, b)
        assert r.low < r.value < r.high
    for a, b in (([], [1.0]), ([1.0], [])):
        with pytest.raises(ValueError, match=f"got {len(a)} and {len(b)}"):
            report.welch_ratio(a, b)


def test_outcome_margin_and_interval_edges():
    rr = report.RoundRatio
    m = report.EQUIVALENCE_MARGIN
    assert m == 0.02
    assert rr(0.9, 0.85, 0.95, 3).outcome() == "lower"
    assert rr(1.1, 1.05, 1.15, 3).outcome() == "higher"
    assert rr(0.9, 0.8, 1.0, 3).outcome() == "tie"  # the interval reaches 1
    assert rr(1.1, 1.0, 1.2, 3).outcome() == "tie"
    assert rr(0.9, 0.8, 1.01, 3).outcome() == "tie"
    # Within the margin, in logs: 1.0199 and 1 / 1.0199 tie; 1.021 and 1 / 1.021 do not.
    assert rr(1.0199, 1.01, 1.03, 3).outcome() == "tie"
    assert rr(1 / 1.0199, 0.97, 0.99, 3).outcome() == "tie"
    assert rr(1.021, 1.01, 1.03, 3).outcome() == "higher"
    assert rr(1 / 1.021, 0.97, 0.99, 3).outcome() == "lower"
    assert rr(1.03, 1.01, 1.05, 3).outcome(margin=0.05) == "tie"
    assert rr(1.03, 1.01, 1.05, 3).outcome(margin=0.0) == "higher"
    assert rr(0.5, math.nan, math.nan, 1).outcome() == "tie"
    # A difference equal to the margin is not a tie (here both 0; 1 itself is "higher").
    assert rr(1.0, 1.01, 1.02, 3).outcome(margin=0.0) == "higher"


def test_within_contains_and_text():
    rr = report.RoundRatio
    # In logs, like the margin: 0.9 is as far from 1 as 1 / 0.9.
    assert rr(1.0, 0.9, 1.05, 3).within() == pytest.approx(1 / 0.9 - 1)
    assert rr(1.0, 0.95, 1.08, 3).within() == pytest.approx(0.08)
    assert rr(1.0, 0.99, 1.01, 3).within() == pytest.approx(0.02)
    assert rr(1.0, 0.99, 1.01, 3).within(margin=0.05) == pytest.approx(0.05)
    r = rr(1.0, 0.9, 1.1, 3)
    assert r.contains(0.9) and r.contains(1.1) and r.contains(1.0)
    assert not r.contains(0.8999) and not r.contains(1.1001)
    assert r.text() == "1.000 [0.900, 1.100]"
    assert rr(2.0, math.nan, math.nan, 0).text() == "2.000 (0 rounds: no interval)"
    assert rr(0.5, 0.4, 0.9, 3).significant and rr(2.0, 1.1, 3.0, 3).significant
    assert not rr(0.9, 0.8, 1.0, 3).significant and not rr(1.1, 1.0, 1.2, 3).significant


def test_rsd():
    assert report.rsd([1.0, 2.0, 3.0]) == pytest.approx(0.5)
    assert report.rsd([4.0, 4.0]) == 0.0
    assert math.isnan(report.rsd([3.0]))
    assert math.isnan(report.rsd([]))


# ---- catalogue: every edge of every range ------------------------------------------------------

INT_PARAMS = [
    (w.name, p) for w in catalogue.WORKLOADS for p in (*w.params, catalogue.LOOPS) if p.kind is int
]


@pytest.mark.parametrize(
    ("workload", "param"), INT_PARAMS, ids=[f"{w}.{p.name}" for w, p in INT_PARAMS]
)
def test_int_ranges_are_inclusive_at_both_edges(workload, param):
    for ok in (param.lo, param.hi):
        assert param.check(workload, ok) == ok
    for bad in (param.lo - 1, param.hi + 1):
        with pytest.raises(ValueError) as info:
            param.check(workload, bad)
        message = str(info.value)
        assert message == (
            f"parameter {param.name!r} of workload {workload!r} must be an int in "
            f"{param.lo}..{param.hi}; got {bad}"
        )


def test_allowed_values_are_described():
    assert catalogue.TOUCH.allowed() == "True or False"
    assert catalogue.ORDER.allowed() == "one of 'lifo', 'fifo'"
    assert catalogue.LOOPS.allowed() == "an int in 1..1000000000"


def test_check_returns_the_value_and_rejects_wrong_types():
    assert catalogue.TOUCH.check("w", True) is True
    assert catalogue.TOUCH.check("w", False) is False
    assert catalogue.ORDER.check("w", "fifo") == "fifo"
    for bad in (1, 0, "true", None):
        with pytest.raises(TypeError, match=r"'touch' of workload 'w' must be True or False"):
            catalogue.TOUCH.check("w", bad)
    for bad in (True, 3.0, "3"):
        with pytest.raises(TypeError, match=r"must be an int in 1\.\.1000000000; got "):
            catalogue.LOOPS.check("w", bad)
    with pytest.raises(TypeError, match=r"got bytes b'lifo'"):
        catalogue.ORDER.check("w", b"lifo")
    with pytest.raises(ValueError, match=r"must be one of 'lifo', 'fifo'; got 'LIFO'"):
        catalogue.ORDER.check("w", "LIFO")
    free = Param("n", int, "unbounded below", -5, 5)
    assert free.check("w", -5) == -5


def test_validate_returns_every_parameter_in_catalogue_order():
    w = get("churn_batch")
    checked = w.validate({"order": "fifo", "live": 3, "size": 8})
    assert list(checked) == ["size", "live", "order"]
    assert checked == {"size": 8, "live": 3, "order": "fifo"}


def test_validate_names_the_first_unknown_and_the_first_missing_parameter():
    w = get("churn_batch")
    with pytest.raises(TypeError) as info:
        w.validate({"size": 8, "live": 3, "order": "lifo", "zz": 1, "aa": 2})
    assert str(info.value) == (
        "workload 'churn_batch' has no parameter 'aa'; its parameters are size, live, order"
    )
    with pytest.raises(TypeError) as info:
        w.validate({"order": "lifo"})
    assert str(info.value) == "workload 'churn_batch' needs parameter 'size'"


def test_cross_parameter_limits_are_inclusive():
    w = get("churn_batch")
    w.validate({"size": MiB, "live": GiB // MiB, "order": "lifo"})  # exactly 1 GiB
    with pytest.raises(ValueError) as info:
        w.validate({"size": MiB, "live": GiB // MiB + 1, "order": "lifo"})
    assert str(info.value).startswith(
        "workload 'churn_batch': size * live must be <= 1 GiB; got {'size': 1048576, "
    )


class _Module(SimpleNamespace):
    """A stand-in for the extension: records the calls it gets."""

    def __getattr__(self, name):
        def fn(*args, **kwargs):
            self.calls.append((name, args, kwargs))
            return f"{name} result"

        return fn


def test_run_calls_the_extension_with_validated_parameters():
    m = _Module(calls=[])
    assert get("alloc_pair").run(loops=5, module=m, size=64) == "alloc_pair result"
    assert catalogue.run("churn_batch", loops=2, module=m, size=8, live=3, order="fifo") == (
        "churn_batch result"
    )
    assert get("realloc_moves").run(module=m, pattern="vec_push", target=64) == (
        "realloc_moves result"
    )
    assert m.calls == [
        ("alloc_pair", (5,), {"size": 64}),
        ("churn_batch", (2,), {"size": 8, "live": 3, "order": "fifo"}),
        ("realloc_moves", (), {"pattern": "vec_push", "target": 64}),
    ]
    # The interplay workload gets the Python-side probe as well.
    m.calls.clear()
    get("python_interplay").run(module=m, **get("python_interplay").smoke)
    ((name, args, kwargs),) = m.calls
    assert name == "python_interplay" and args == ()
    assert kwargs.pop("probe") is catalogue._python_probe
    assert kwargs == dict(get("python_interplay").smoke)


def test_run_checks_loops_against_the_kind_of_workload():
    m = _Module(calls=[])
    with pytest.raises(TypeError, match="'realloc_moves' is not timed; it takes no 'loops'"):
        get("realloc_moves").run(loops=1, module=m, pattern="vec_push", target=64)
    with pytest.raises(TypeError, match="'loops' of workload 'alloc_pair'"):
        get("alloc_pair").run(module=m, size=64)
    with pytest.raises(ValueError, match="'size' of workload 'alloc_pair'"):
        get("alloc_pair").run(loops=1, module=m, size=0)
    assert m.calls == []


def test_run_without_a_module_loads_the_flavour(monkeypatch):
    if importlib.util.find_spec("allocbench._rustext") is not None:
        pytest.skip("an extension is importable here: this checks the source package alone")
    monkeypatch.delenv("ALLOCBENCH_FLAVOUR", raising=False)
    with pytest.raises(ImportError, match=r"extension is not importable.*make build FLAVOUR"):
        get("alloc_pair").run(loops=1, size=64)


def test_get_and_param_name_what_is_missing():
    assert get("alloc_pair").name == "alloc_pair"
    assert get("churn_batch").param("live").hi == MiB
    with pytest.raises(KeyError, match="nope"):
        get("churn_batch").param("nope")
    with pytest.raises(TypeError, match="workload name must be a str; got 3"):
        get(3)
    with pytest.raises(ValueError) as info:
        get("nope")
    assert (
        str(info.value) == f"no workload 'nope'; the catalogue has {', '.join(catalogue.CATALOGUE)}"
    )
