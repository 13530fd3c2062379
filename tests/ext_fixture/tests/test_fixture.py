"""The fixture extension's own test suite (run by allocbench's extension tests in every
flavour, as a real sdist's tests are)."""

import allocbench_fixture as fx


def test_hold_and_release_round_trip():
    fx.hold(100, 64)
    assert fx.release() == sum(((i % 251) + 1) * 64 for i in range(100))


def test_release_when_empty():
    assert fx.release() == 0
