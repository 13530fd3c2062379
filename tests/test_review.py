"""`make review`: the classification of points (improved, regressed, same) per figure and
flavour, the BASE / HEAD / change table, the wall time beside it, and bad revisions."""

import subprocess
import sys

import pytest
from allocbench import review
from helpers import ROOT


def run(counts, commit, warmed=True):
    """An instruction run holding ``counts``: flavour -> point -> (Ir/op, cycles/op)."""
    return {
        "git_commit": commit,
        "filter": "^x",
        "python": "3.15.2",
        "interpreter": {"summary": "CPython 3.15.2, test"},
        "counts": {
            f: {
                p: {"ir_per_op": ir, "warmed": warmed}
                | ({} if cyc is None else {"cycles_per_op": cyc})
                for p, (ir, cyc) in points.items()
            }
            for f, points in counts.items()
        },
    }


BASE = run(
    {
        "pymem": {"a": (100.0, 200.0), "b": (100.0, 200.0), "c": (100.0, 200.0)},
        "system": {"a": (100.0, 200.0), "gone": (5.0, 5.0)},
    },
    "b" * 40,
)
HEAD = run(
    {
        # a: both figures better; b: instructions the same (+0.9 %), est. cycles worse
        # (+1.5 %); c: the same within 1 % both ways
        "pymem": {"a": (90.0, 150.0), "b": (100.9, 203.0), "c": (99.1, 201.9)},
        "system": {"a": (100.0, 200.0), "new": (7.0, 7.0)},
    },
    "h" * 40,
)


def test_verdict_is_lower_is_better_beyond_the_threshold():
    assert review.verdict(100, 101.1, 0.01) == review.REGRESSED
    assert review.verdict(100, 101.0, 0.01) == review.SAME
    assert review.verdict(100, 98.9, 0.01) == review.IMPROVED
    assert review.verdict(100, 99.1, 0.01) == review.SAME
    assert review.verdict(100, 99.1, 0.0) == review.IMPROVED


def test_classification_per_flavour_and_figure():
    got = review.classify(BASE, HEAD, 0.01)
    assert set(got) == {"pymem", "system"}
    assert set(got["system"]) == {"a"}  # points counted on one side only are left out
    assert got["pymem"]["a"] == {
        "ir_per_op": (100.0, 90.0, "improved"),
        "cycles_per_op": (200.0, 150.0, "improved"),
    }
    assert got["pymem"]["b"]["ir_per_op"][2] == "same"
    assert got["pymem"]["b"]["cycles_per_op"][2] == "regressed"
    assert review.summary(got) == {
        "pymem": {
            "ir_per_op": {"improved": 1, "regressed": 0, "same": 2},
            "cycles_per_op": {"improved": 1, "regressed": 1, "same": 1},
        },
        "system": {
            "ir_per_op": {"improved": 0, "regressed": 0, "same": 1},
            "cycles_per_op": {"improved": 0, "regressed": 0, "same": 1},
        },
    }
    assert review.summary_lines(got)[0] == (
        "pymem: instructions/op 1 improved, 0 regressed, 2 same; "
        "est. cycles/op 1 improved, 1 regressed, 1 same"
    )
    # Runs stored before the cache simulation: instructions only.
    old = run({"pymem": {"a": (100.0, None)}}, "o" * 40)
    assert review.classify(old, HEAD, 0.01) == {
        "pymem": {"a": {"ir_per_op": (100.0, 90.0, "improved")}}
    }


def test_the_table_lists_changed_points_only():
    headers, rows = review.changed_rows(review.classify(BASE, HEAD, 0.01))
    assert headers == [
        "flavour",
        "point",
        "instructions/op BASE",
        "HEAD",
        "change",
        "est. cycles/op BASE",
        "HEAD",
        "change",
    ]
    assert rows == [
        [
            "pymem",
            "a",
            "100.0",
            "90.0",
            "-10.0 % (improved)",
            "200.0",
            "150.0",
            "-25.0 % (improved)",
        ],
        ["pymem", "b", "100.0", "100.9", "+0.9 % (same)", "200.0", "203.0", "+1.5 % (regressed)"],
    ]
    text = review.markdown(BASE, HEAD, 0.01)
    assert text.startswith("## allocbench review: bbbbbbbbbb (BASE) .. hhhhhhhhhh (HEAD)")
    assert "| pymem | est. cycles/op | 1 | 1 | 1 |" in text
    assert (
        "Wall time: none (no stored `make bench` run of this interpreter for BASE and HEAD)" in text
    )
    assert (
        "| pymem | b | 100.0 | 100.9 | +0.9 % (same) | 200.0 | 203.0 | +1.5 % (regressed) |" in text
    )
    assert "warm-up" not in text
    # Nothing changed: said so, no table.
    same = review.markdown(BASE, BASE, 0.01)
    assert "No point changed beyond the threshold." in same and "### Changed points" not in same
    # A BASE counted by an older worker (no warm-up call) is flagged.
    old = run({"pymem": {"a": (100.0, 200.0)}}, "o" * 40, warmed=False)
    assert "warm-up" in review.markdown(old, HEAD, 0.01)


def test_wall_time_beside_the_changed_points():
    """Mean ns/op with its 95 % t interval over processes, and HEAD / BASE with its
    interval; '-' where a run did not time the point."""
    base = {"pymem": {"a": [10e-9, 11e-9, 12e-9]}}
    head = {"pymem": {"a": [5e-9, 5e-9, 5e-9], "b": [1e-9]}}
    headers, rows = review.changed_rows(review.classify(BASE, HEAD, 0.01), (base, head))
    assert headers[-3:] == ["wall ns/op BASE [95 %]", "HEAD [95 %]", "HEAD / BASE [95 %]"]
    # t(0.975, 2) = 4.303; stdev 1 ns over sqrt(3): half width 2.48 ns
    assert rows[0][-3] == "11.0 [8.5, 13.5]"
    assert rows[0][-2] == "5.0 [5.0, 5.0]"
    # geometric means 5.0 / 10.97; Welch on the logs: HEAD has no spread, so df = 2 and the
    # half width is t(0.975, 2) x 0.0527 = 0.2265 in logs
    assert rows[0][-1] == "x0.456 [0.363, 0.572]"
    assert rows[1][-3:] == ["-", "1.0", "-"]


def test_a_stored_pyperf_run_is_found_by_commit_and_interpreter():
    rec = ROOT / "results" / "pyperf" / "20261125-082840-quick" / "run.json"
    if not rec.exists():
        pytest.skip("the stored run of b298908 is gone")
    import json

    record = json.loads(rec.read_text())
    commit = record["git_commit"]
    interp = {"python": "3.15.2", "interpreter": record["interpreter"]}
    found = review.find_pyperf_run(ROOT / "results", commit, interp)
    # two runs of that commit on 3.15: the clean one wins over the -dirty one
    assert found is not None and found.name == "20261125-082840-quick"
    other = {"python": "3.11.7", "interpreter": {"summary": "CPython 3.11.7, elsewhere"}}
    assert review.find_pyperf_run(ROOT / "results", commit, other) is None
    assert review.find_pyperf_run(ROOT / "results", "0" * 40, interp) is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no-such-revision"], "BASE 'no-such-revision' is not a commit of this repository"),
        (
            ["HEAD", "--head", "HEAD~100000"],
            "HEAD 'HEAD~100000' is not a commit of this repository",
        ),
        (["--", "-n"], "BASE '-n' is not a commit of this repository"),
    ],
)
def test_a_bad_revision_is_refused_by_name(args, message):
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "review.py"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert not (ROOT / "build" / "review").exists() or not any(
        "no-such" in p.name for p in (ROOT / "build" / "review").iterdir()
    )


def test_make_review_needs_base():
    out = subprocess.run(["make", "-s", "review"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2 and "make review needs BASE=<git revision>" in out.stdout
