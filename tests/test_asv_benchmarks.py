"""The asv modules (benchmarks/): the timed classes' parameters are the catalogue's and their
figure is per operation; the deterministic lines skip what a commit lacks and count what
``allocbench.instructions`` counts."""

import json
import subprocess
import sys
import time

import pytest
from allocbench import catalogue
from allocbench.flavour import subprocess_env
from helpers import ROOT, built

sys.path.insert(0, str(ROOT))
from benchmarks import bench_deterministic, common


@pytest.mark.parametrize("name", ["alloc_pair", "churn_batch", "realloc_growth", "c_pair"])
def test_the_timed_grid_holds_exactly_the_catalogue_points(name, monkeypatch):
    """asv runs the product of the values; setup skips every combination that is not a
    catalogue point, so what runs is the catalogue's points, each once."""
    import itertools

    monkeypatch.delenv("ALLOCBENCH_FLAVOUR", raising=False)

    cls = common.timed_workload_classes(catalogue.get(name).family)[common._class_name(name)]
    w = catalogue.get(name)
    assert cls.param_names == [p.name for p in w.params]
    ran = []
    for values in itertools.product(*cls.params):
        obj = cls()
        try:
            obj.setup(*values)
        except NotImplementedError:
            continue
        except RuntimeError:  # ALLOCBENCH_FLAVOUR unset: past the catalogue check
            ran.append(values)
    assert sorted(ran, key=repr) == sorted(
        (tuple(p[n] for n in cls.param_names) for p in w.points), key=repr
    )


def test_the_timer_gives_seconds_per_operation(monkeypatch):
    monkeypatch.setattr(common, "_OPS_PER_CALL", [1000])
    a = common.per_op_timer()
    time.sleep(0.05)
    per_op = common.per_op_timer() - a
    assert 0.04e-3 < per_op < 0.5e-3  # 50 ms over 1000 operations


def _cls(name):
    return getattr(bench_deterministic, common._class_name(name))


def test_deterministic_setup_skips_what_a_commit_lacks(monkeypatch):
    monkeypatch.setenv("ALLOCBENCH_FLAVOUR", "system")
    monkeypatch.setitem(sys.modules, "allocbench.flavour", type(sys)("fake"))
    sys.modules["allocbench.flavour"].load = lambda name: None
    obj = _cls("alloc_pair")()
    with pytest.raises(NotImplementedError, match="no callgrind"):
        obj.setup({"unsupported": "this commit's extension has no callgrind client requests"}, 64)
    key = bench_deterministic._key("alloc_pair", {"size": 64})
    with pytest.raises(NotImplementedError, match="no workload"):
        obj.setup({key: {"skip": "this commit has no workload alloc_pair"}}, 64)
    obj.setup({key: {"instructions": 140.0, "cycles": 204.0}}, 64)
    assert obj.track_instructions(None, 64) == 140.0
    assert obj.track_est_cycles(None, 64) == 204.0
    assert obj.track_instructions.unit == "instructions/op"
    assert obj.track_est_cycles.unit == "est. cycles/op"


def test_every_deterministic_point_is_a_catalogue_point():
    for name, params in bench_deterministic.POINTS:
        w = catalogue.get(name)
        assert w.timed and dict(w.validate(params)) in [dict(p) for p in w.points], name
        cls = _cls(name)
        assert cls.param_names == list(params) and cls.params == [[v] for v in params.values()]


COUNT = """
import json, sys
sys.path.insert(0, {root!r})
from benchmarks import bench_deterministic as b
print(json.dumps(b.count_points()))
"""


def test_the_deterministic_lines_count_what_bench_instructions_counts():
    """One callgrind process of the system flavour, as asv's setup_cache runs it: the same
    in a second run (to the instruction), and the figures of allocbench.instructions within
    10 % (both counts): its worker imports more and has another command line and
    environment, so glibc's heap is laid out otherwise when the points start. Measured:
    churn_batch 64 B 208.0 against 204.2 instructions/op here; realloc_growth vec_push 4096
    38212 against 36972.5 in CI's clone (3.4 %: whether realloc grows in place depends on
    what lies after the block). A protocol error is far larger: without the warm-up call
    churn_batch read 288 (+41 %)."""
    if not built("system"):
        pytest.fail("the system flavour is not built (make build FLAVOUR=system)")
    env = subprocess_env("system", root=ROOT)
    env["PYTHONPATH"] += ":" + str(ROOT / "python")
    # As pip does on install in asv's environments: the counted imports read bytecode.
    import compileall

    compileall.compile_dir(str(ROOT / "build" / "flavours" / "system"), quiet=1)

    def count():
        out = subprocess.run(
            [sys.executable, "-c", COUNT.format(root=str(ROOT))],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        return json.loads(out.stdout)

    first, second = count(), count()
    assert first == second
    from allocbench import instructions

    labels = [catalogue.get(n).label(p) for n, p in bench_deterministic.POINTS]
    flt = "^(" + "|".join(map(instructions.re.escape, labels)) + ")$"
    ref = instructions.count_flavour("system", flt, root=ROOT)
    pairs = {
        label: (first[bench_deterministic._key(name, params)], ref[label])
        for (name, params), label in zip(bench_deterministic.POINTS, labels, strict=True)
    }
    for got, want in pairs.values():
        assert got["instructions"] == pytest.approx(want["ir_per_op"], rel=0.10), pairs
        assert got["cycles"] == pytest.approx(want["cycles_per_op"], rel=0.10), pairs


def test_combinations_that_are_not_points_are_skipped(monkeypatch):
    """The catalogue's grids are full products today; a workload whose points are not (an
    older or newer catalogue) runs only its points."""
    import dataclasses
    import types

    w = catalogue.get("churn_batch")
    pts = tuple(p for p in w.points if p["size"] in (16, 64))[:3]
    fake = dataclasses.replace(w, points=pts)
    monkeypatch.setattr(common, "_catalogue", lambda: types.SimpleNamespace(get=lambda n: fake))
    monkeypatch.delenv("ALLOCBENCH_FLAVOUR", raising=False)
    cls = common._time_class("churn_batch")
    ran = []
    for size in cls.params[0]:
        for live in cls.params[1]:
            for order in cls.params[2]:
                try:
                    cls().setup(size, live, order)
                except NotImplementedError:
                    continue
                except RuntimeError:  # ALLOCBENCH_FLAVOUR unset: past the point check
                    ran.append((size, live, order))
    assert len(cls.params[0]) * len(cls.params[2]) == 4
    assert sorted(ran) == sorted((p["size"], p["live"], p["order"]) for p in pts)


def test_the_deterministic_lines_repeat_the_counting_constants_exactly():
    """bench_deterministic repeats allocbench.instructions' constants and cycle formula (asv
    runs it against commits whose installed package lacks them); the two must not drift."""
    from allocbench import instructions

    b = bench_deterministic
    assert b.CACHE_GEOMETRY == instructions.CACHE_GEOMETRY
    assert b.CYCLE_WEIGHTS == instructions.CYCLE_WEIGHTS
    assert tuple(b.EVENTS) == tuple(instructions.EVENTS)
    assert b.CLOCK_FREE_ALLOCATOR_ENV == instructions.CLOCK_FREE_ALLOCATOR_ENV
    ev = dict(zip(instructions.EVENTS, [1000, 300, 200, 10, 20, 5, 2, 3, 1], strict=True))
    assert b._est_cycles(ev) == instructions.est_cycles(ev)
