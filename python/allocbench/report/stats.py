"""The statistics behind every verdict: ratios over rounds, with their intervals.

``round_ratio`` (the geometric mean of per-round ratios, a Student-t interval over the
rounds), ``family_ratio`` (per round the geometric mean over a family's benchmarks, then
``round_ratio``), ``welch_ratio`` (for samples that no round pairs), ``RoundRatio`` (a ratio,
its interval, tie or not) and ``rsd``. A module of their own: ``make mutants`` mutates them,
and ``extension_report`` uses them without the rest of the report.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

# The verdicts' confidence, and the equivalence margin: a difference smaller than this is a
# tie even when its interval excludes 1 (allocators within 2 % of each other are not worth
# a choice, and a stored run's 2 % moves from day to day on this shared host).
CONFIDENCE = 0.95
EQUIVALENCE_MARGIN = 0.02


# The unit of replication is the round. In a round every flavour runs one worker process of a
# workload, within seconds of the others (bench.schedule), so a slow stretch of this shared
# host hits a round's numerator and denominator alike; values inside one process, and the
# processes of one round, share that moment and are not independent. Per benchmark and round
# the figure is flavour mean / reference mean; per family and round the geometric mean of
# those over the family's benchmarks; the family's ratio is the geometric mean over rounds,
# with a Student-t interval over the rounds' log ratios (n - 1 degrees of freedom).
#
# Why Student's t and not a bootstrap over rounds: a run has 2 to 6 rounds. Resampling 3
# rounds gives 10 distinct means, and the percentile interval of so few is far too narrow
# (it ignores that the spread itself is estimated from 3 points); Student's t widens the
# interval for exactly that (t(0.975, 2) = 4.30 against 1.96), and the log of a ratio of
# means over several values is close to normal. A bootstrap would need 20+ rounds.


def round_ratio(per_round: Sequence[float], confidence: float = CONFIDENCE) -> RoundRatio:
    """The geometric mean of per-round ratios with a Student-t interval over the rounds
    (in logs). One round: the ratio without an interval (low and high are NaN)."""
    if not per_round:
        raise ValueError("a ratio needs at least one round")
    if any(not r > 0 for r in per_round):
        raise ValueError(f"per-round ratios must be > 0; got {list(per_round)}")
    from scipy import stats

    logs = [math.log(r) for r in per_round]
    mean = statistics.fmean(logs)
    n = len(logs)
    if n < 2:
        return RoundRatio(math.exp(mean), math.nan, math.nan, n, tuple(per_round))
    half = stats.t.ppf((1 + confidence) / 2, n - 1) * statistics.stdev(logs) / math.sqrt(n)
    return RoundRatio(
        math.exp(mean), math.exp(mean - half), math.exp(mean + half), n, tuple(per_round)
    )


def family_ratio(
    pairs: Sequence[tuple[dict[int, float], dict[int, float]]], confidence: float = CONFIDENCE
) -> RoundRatio | None:
    """``pairs``: per benchmark, (round -> mean of a flavour, round -> mean of the other).
    Per round: the geometric mean over the benchmarks of a / b; then ``round_ratio`` over
    the rounds every benchmark has on both sides (None when there is none)."""
    if not pairs:
        raise ValueError("a family ratio needs at least one benchmark")
    rounds = set.intersection(*(set(a) & set(b) for a, b in pairs))
    per_round = [
        math.exp(statistics.fmean(math.log(a[r] / b[r]) for a, b in pairs)) for r in sorted(rounds)
    ]
    return round_ratio(per_round, confidence) if per_round else None


def welch_ratio(
    a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE
) -> RoundRatio:
    """exp(mean log a - mean log b) with Welch's interval (scipy.stats.ttest_ind,
    unequal variances): for samples that no round pairs, such as one flavour in two runs,
    or two workloads whose rounds ran at different moments. ``rounds`` is the smaller
    sample; fewer than two values on a side: no interval."""
    if not a or not b:
        raise ValueError(f"a ratio needs values on both sides; got {len(a)} and {len(b)}")
    la, lb = [math.log(x) for x in a], [math.log(x) for x in b]
    diff = statistics.fmean(la) - statistics.fmean(lb)
    n = min(len(la), len(lb))
    if n < 2:
        return RoundRatio(math.exp(diff), math.nan, math.nan, n)
    from scipy import stats

    with warnings.catch_warnings():  # a side without spread: "precision loss", harmless
        warnings.simplefilter("ignore", RuntimeWarning)
        ci = stats.ttest_ind(la, lb, equal_var=False).confidence_interval(confidence)
    low, high = float(ci.low), float(ci.high)
    return RoundRatio(math.exp(diff), math.exp(low), math.exp(high), n)


@dataclass(frozen=True)
class RoundRatio:
    """A ratio (geometric mean over rounds) with its interval; ``rounds`` is how many
    rounds it rests on, ``per_round`` their ratios (empty for a Welch ratio)."""

    value: float
    low: float
    high: float
    rounds: int
    per_round: tuple[float, ...] = ()

    @property
    def has_interval(self) -> bool:
        return not (math.isnan(self.low) or math.isnan(self.high))

    @property
    def significant(self) -> bool:
        """The interval excludes 1."""
        return self.has_interval and (self.high < 1 or self.low > 1)

    def outcome(self, margin: float = EQUIVALENCE_MARGIN) -> str:
        """ "lower" or "higher" when the interval excludes 1 and the ratio is more than
        ``margin`` away from 1 (in logs, so r and 1/r agree); else "tie"."""
        if not self.significant or abs(math.log(self.value)) < math.log1p(margin):
            return "tie"
        return "lower" if self.value < 1 else "higher"

    def within(self, margin: float = EQUIVALENCE_MARGIN) -> float:
        """How far from 1 the run cannot tell apart, as x in "between 1 / (1 + x) and
        1 + x" (in logs, as the margin): the margin, or the interval's farther end when
        that is farther (NaN without an interval)."""
        if not self.has_interval:
            return math.nan
        return max(margin, 1 / self.low - 1, self.high - 1)

    def contains(self, value: float) -> bool:
        return self.has_interval and self.low <= value <= self.high

    def text(self) -> str:
        if not self.has_interval:
            return f"{self.value:.3f} ({self.rounds} round{'s' * (self.rounds != 1)}: no interval)"
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


def bonferroni(comparisons: int, confidence: float = CONFIDENCE) -> float:
    """The confidence of each of ``comparisons`` intervals that together hold ``confidence``
    (family-wise): 1 - (1 - confidence) / comparisons."""
    if comparisons < 1:
        raise ValueError(f"comparisons must be >= 1; got {comparisons}")
    return 1 - (1 - confidence) / comparisons


def rsd(values: list[float]) -> float:
    """Relative standard deviation (stdev / mean)."""
    return statistics.stdev(values) / statistics.fmean(values) if len(values) > 1 else math.nan
