"""The statistics behind the verdict (``allocbench.report.stats``): ratios paired round by
round, Student's t over the rounds, the equivalence margin. Hand-computed and table values
for every edge: test_mutation_kills.py; whole verdicts on hand-made runs: test_verdict.py.
"""

from __future__ import annotations

import pytest
from allocbench import report


def test_round_ratio_pairs_rounds_and_takes_students_t():
    # Per round the flavour is 10 % faster than the reference, while the machine's speed
    # moves 2x from round to round: the paired ratio stays 0.9 with no spread.
    ref = {1: 1.0, 2: 2.0, 3: 1.5}
    fast = {r: 0.9 * v for r, v in ref.items()}
    r = report.family_ratio([(fast, ref)])
    assert r.value == pytest.approx(0.9) and r.low == pytest.approx(0.9) and r.rounds == 3
    assert r.outcome() == "lower"
    # One slow round (0.9, 0.9, 1.5): the interval widens to include 1: a tie.
    r = report.round_ratio([0.9, 0.9, 1.5])
    assert r.low < 1 < r.high and r.outcome() == "tie"
    # 1 % faster in every round: significant, but within the 2 % margin: a tie.
    r = report.round_ratio([0.99, 0.991, 0.989])
    assert r.significant and r.outcome() == "tie" and r.within() == pytest.approx(0.02)


def test_bonferroni_splits_the_error_over_the_comparisons():
    from allocbench.report.stats import bonferroni

    assert bonferroni(1) == pytest.approx(0.95)
    assert bonferroni(20) == pytest.approx(0.9975)
    assert bonferroni(4, confidence=0.9) == pytest.approx(0.975)
    with pytest.raises(ValueError, match="comparisons must be >= 1; got 0"):
        bonferroni(0)
    # A wider interval from the same rounds: 1.10 in all three of them but one 1.02.
    plain = report.round_ratio([1.10, 1.12, 1.02])
    wide = report.round_ratio([1.10, 1.12, 1.02], bonferroni(20))
    assert wide.value == plain.value and wide.low < plain.low and wide.high > plain.high
