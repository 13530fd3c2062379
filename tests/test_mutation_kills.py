"""Tests that `make mutants` showed were missing (tests/README.md): the report's statistics
(incomplete beta, Student's t, Welch's test, the geometric-mean ratio and its interval) checked
against closed forms and hand-computed values, and the catalogue's parameter validation
checked at every edge of every range. Needs no extension."""

from __future__ import annotations

import importlib.util
import math
from types import SimpleNamespace

import pytest
from allocbench import catalogue, report
from allocbench.catalogue import GiB, MiB, Param, get

# ---- the regularised incomplete beta function ------------------------------------------------

XS = [0.001, 0.01, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 0.99, 0.999]


@pytest.mark.parametrize("x", XS)
@pytest.mark.parametrize("a", [0.5, 1.0, 2.5, 7.0, 30.0])
def test_betainc_matches_its_closed_forms(a, x):
    # I_x(a, 1) = x^a and I_x(1, a) = 1 - (1 - x)^a, on both sides of the point where the
    # continued fraction is evaluated for I_x(b, a) instead.
    assert report.betainc(a, 1.0, x) == pytest.approx(x**a, rel=1e-10, abs=1e-300)
    assert report.betainc(1.0, a, x) == pytest.approx(1 - (1 - x) ** a, rel=1e-10)


@pytest.mark.parametrize("x", XS)
def test_betainc_of_one_half_is_the_arcsine_law(x):
    assert report.betainc(0.5, 0.5, x) == pytest.approx(
        2 / math.pi * math.asin(math.sqrt(x)), rel=1e-10
    )


@pytest.mark.parametrize("x", XS)
@pytest.mark.parametrize(("a", "b"), [(2, 3), (3, 2), (5, 9), (12, 4), (20, 20)])
def test_betainc_of_integers_is_a_binomial_tail(a, b, x):
    # I_x(a, b) = P(Binomial(a + b - 1, x) >= a) for integer a, b.
    n = a + b - 1
    tail = sum(math.comb(n, j) * x**j * (1 - x) ** (n - j) for j in range(a, n + 1))
    assert report.betainc(a, b, x) == pytest.approx(tail, rel=1e-9, abs=1e-300)
    # and the symmetry I_x(a, b) = 1 - I_(1-x)(b, a)
    assert report.betainc(a, b, x) == pytest.approx(1 - report.betainc(b, a, 1 - x), abs=1e-12)


def test_betainc_edges_and_domain():
    assert report.betainc(2.0, 3.0, 0.0) == 0.0
    assert report.betainc(2.0, 3.0, 1.0) == 1.0
    for x in (-1e-9, 1.0000001, 2.0):
        with pytest.raises(ValueError, match=r"x must be in 0\.\.1; got"):
            report.betainc(2.0, 3.0, x)


# ---- Student's t -------------------------------------------------------------------------------


@pytest.mark.parametrize("t", [0.1, 0.5, 1.0, 2.0, 4.303, 12.706, 100.0])
def test_t_two_tailed_p_matches_the_closed_forms_for_1_2_and_3_degrees(t):
    # df 1 is the Cauchy distribution; df 2 and 3 have closed forms too.
    cauchy = 1 - 2 / math.pi * math.atan(t)
    df2 = 1 - t / math.sqrt(2 + t * t)
    s = t / math.sqrt(3)
    df3 = 1 - 2 / math.pi * (math.atan(s) + s / (1 + s * s))
    for df, p in ((1, cauchy), (2, df2), (3, df3)):
        assert report.t_two_tailed_p(t, df) == pytest.approx(p, rel=1e-9), df
        assert report.t_two_tailed_p(-t, df) == report.t_two_tailed_p(t, df)


def test_t_two_tailed_p_needs_positive_degrees_of_freedom():
    assert 0 < report.t_two_tailed_p(1.0, 0.25) < 1
    for df in (0, -1, -0.5):
        with pytest.raises(ValueError, match="degrees of freedom must be > 0; got"):
            report.t_two_tailed_p(1.0, df)


# ---- Welch's test ------------------------------------------------------------------------------


def test_welch_with_unequal_sizes_and_variances():
    a, b = [10.0, 12.0, 14.0, 16.0], [1.0, 2.0, 3.0]
    # Means 13 and 2; variances of the means (20/3)/4 = 5/3 and 1/3: t = 11 / sqrt(2).
    # Welch-Satterthwaite: df = 2^2 / ((5/3)^2 / 3 + (1/3)^2 / 2) = 4 / (25/27 + 1/18).
    t_expected = 11 / math.sqrt(2)
    df_expected = 4 / (25 / 27 + 1 / 18)
    t, p = report.welch(a, b)
    assert t == pytest.approx(t_expected, rel=1e-12)
    assert p == pytest.approx(report.t_two_tailed_p(t_expected, df_expected), rel=1e-9)
    # The df is Welch's, not the pooled test's n1 + n2 - 2 = 5.
    assert p != pytest.approx(report.t_two_tailed_p(t_expected, 5), rel=1e-3)
    t2, p2 = report.welch(b, a)
    assert (t2, p2) == (pytest.approx(-t), pytest.approx(p))


def test_welch_without_spread():
    assert report.welch([3, 3, 3], [3, 3]) == (0.0, 1.0)
    assert report.welch([2, 2], [1, 1]) == (math.inf, 0.0)
    assert report.welch([1, 1], [2, 2]) == (-math.inf, 0.0)
    # One sample without spread: the other's variance carries the test.
    t, p = report.welch([5, 5, 5], [1, 2, 3])
    assert t == pytest.approx(3 / math.sqrt(1 / 3)) and 0 < p < 0.05


@pytest.mark.parametrize(("a", "b"), [([1], [1, 2]), ([1, 2], [1]), ([], [])])
def test_welch_needs_two_values_per_sample(a, b):
    with pytest.raises(ValueError, match=f"got {len(a)} and {len(b)}"):
        report.welch(a, b)


# ---- ratios and their intervals ----------------------------------------------------------------


def test_log_ratio_and_its_delta_method_variance():
    assert report.log_ratio([2, 2, 2], [1, 1, 1]) == (pytest.approx(math.log(2)), 0.0)
    # var(mean a) / mean a^2 = (2 / 2) / 2^2; a sample of one value adds nothing.
    assert report.log_ratio([1, 3], [4]) == (pytest.approx(math.log(0.5)), pytest.approx(0.25))
    # plus (2 / 2) / 4^2 for b = [3, 5]
    lr, var = report.log_ratio([1, 3], [3, 5])
    assert lr == pytest.approx(math.log(0.5)) and var == pytest.approx(0.25 + 1 / 16)


def test_geomean_ratio_value_interval_and_significant_benchmarks():
    # log ratios log(1/2) and log(2): geometric mean 1; variance 0.25 from the first pair
    # only; half-width Z95 * sqrt(0.25) / 2.
    r = report.geomean_ratio([([1, 3], [4]), ([2, 2], [1, 1])])
    half = report.Z95 * 0.5 / 2
    assert r.value == pytest.approx(1.0)
    assert r.low == pytest.approx(math.exp(-half)) and r.high == pytest.approx(math.exp(half))
    assert r.n == 2
    # Welch runs only where both samples have two values: the second pair (p = 0).
    assert r.significant_benchmarks == 1
    assert not r.significant
    # Ratios 2 and 8: geometric mean 4.
    r = report.geomean_ratio([([2, 2], [1, 1]), ([8, 8], [1, 1])])
    assert (r.value, r.low, r.high) == (pytest.approx(4.0),) * 3
    assert r.significant and r.significant_benchmarks == 2
    with pytest.raises(ValueError, match=r"^a ratio needs at least one benchmark$"):
        report.geomean_ratio([])


def test_geomean_ratio_counts_only_welch_significant_pairs():
    noisy = [1.0, 1.3, 0.7, 1.0]
    r = report.geomean_ratio([(noisy, [x * 1.01 for x in noisy])])
    assert r.significant_benchmarks == 0 and not r.significant
    # A sample of one value on either side: a ratio, but no Welch test.
    for pair in (([4.0], [1.0, 3.0]), ([1.0, 3.0], [4.0])):
        r = report.geomean_ratio([pair, ([2, 2], [1, 1])])
        assert r.significant_benchmarks == 1 and r.n == 2


def test_ratio_is_significant_when_its_interval_excludes_one():
    assert report.Ratio(0.5, 0.4, 0.9, 3).significant
    assert report.Ratio(2.0, 1.1, 3.0, 3).significant
    assert not report.Ratio(1.0, 0.9, 1.1, 3).significant
    assert not report.Ratio(0.9, 0.8, 1.0, 3).significant
    assert not report.Ratio(1.1, 1.0, 1.2, 3).significant


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
