"""What the asv modules share: benchmark classes made from the workload catalogue.

The catalogue (``allocbench.catalogue``) is the only description of a workload; each asv
module asks for the classes of one family. One class per workload. The timed classes take
the catalogue's parameters as separate asv parameters (``param_names`` = the workload's
parameter names, each with the values its points use), so the dashboard's selectors narrow
a graph to e.g. size=64; asv runs the product of the values, and combinations that are not
catalogue points are skipped. Their figure is seconds per operation (shown as ns): the
class's ``timer`` divides asv's clock by the operations of one call (asv times one call per
sample: its classes have a ``setup``). The other classes keep one parameter, the catalogue
point.

asv imports these modules from the current tree, but runs them against the ``allocbench``
installed from the commit under test: ``setup`` re-reads that commit's catalogue and raises
``NotImplementedError`` (asv's "skip") where the commit lacks the workload or the point.
Every ``setup`` first checks that the extension's backend is the flavour the environment
asked for (``ALLOCBENCH_FLAVOUR``, set by asv's matrix).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

# Pinned: editing this file must not drop the stored history. Bump only when what a
# benchmark measures changes.
VERSION = "1"
# The timed classes: "2" since their figure is seconds per operation and their parameters
# the catalogue's (version 1: seconds per call of about call_ops operations, one parameter).
TIME_VERSION = "2"
# Few, short samples: the history runs every flavour for every commit on 2 cores.
TIMING = {"repeat": (1, 3, 1.0), "warmup_time": 0.05, "sample_time": 0.01, "timeout": 300}


def _catalogue():
    from allocbench import catalogue

    return catalogue


def _parse_point(label: str) -> dict:
    """``name[a=1,b=x]`` -> {"a": 1, "b": "x"} (ints and booleans restored)."""
    inner = label[label.index("[") + 1 : -1] if "[" in label else ""
    out = {}
    for item in filter(None, inner.split(",")):
        k, _, v = item.partition("=")
        if v in ("true", "false"):
            out[k] = v == "true"
        else:
            try:
                out[k] = int(v)
            except ValueError:
                out[k] = v
    return out


def points(name: str) -> list[str]:
    w = _catalogue().get(name)
    return [w.label(p) for p in w.points]


def setup_workload(name: str, label: str):
    """(workload, module, params) of the commit under test, flavour checked."""
    flavour = os.environ.get("ALLOCBENCH_FLAVOUR")
    if not flavour:
        raise RuntimeError("ALLOCBENCH_FLAVOUR is not set: run through asv's matrix")
    from allocbench.flavour import load

    module = load(flavour)  # FlavourMismatch if the env holds another backend
    catalogue = _catalogue()
    if name not in catalogue.CATALOGUE:
        raise NotImplementedError(f"this commit has no workload {name}")
    w = catalogue.CATALOGUE[name]
    params = _parse_point(label)
    try:
        params = w.validate(params)
    except (TypeError, ValueError) as e:
        raise NotImplementedError(f"this commit does not take {label}: {e}") from e
    return w, module, params


def run_in_subprocess(name: str, params: dict) -> dict:
    """One memory workload in a fresh interpreter of this environment: figures then do not
    include heap left behind by other benchmarks of the same process."""
    args = [sys.executable, "-m", "allocbench", "run", name]
    for k, v in params.items():
        args += ["--param", f"{k}={str(v).lower() if isinstance(v, bool) else v}"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout)["result"]


def timed_workload_classes(family: str) -> dict[str, type]:
    """One asv class with a ``time_<workload>`` method per timed workload of ``family``."""
    classes = {}
    for w in _catalogue().WORKLOADS:
        if w.family != family or not w.timed:
            continue
        classes[_class_name(w.name)] = _time_class(w.name)
    return classes


def _class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def param_grid(name: str) -> tuple[list[str], list[list]]:
    """(param_names, params) of a workload: its catalogue parameters, each with the values
    its points use, in the catalogue's order."""
    w = _catalogue().get(name)
    names = [p.name for p in w.params]
    values: list[list] = [[] for _ in names]
    for point in w.points:
        for i, n in enumerate(names):
            if point[n] not in values[i]:
                values[i].append(point[n])
    return names, values


# Operations of the call being timed, set by the timed class's setup (asv times one call
# per sample in the process that ran setup).
_OPS_PER_CALL = [1]


def per_op_timer() -> float:
    """asv's clock divided by the operations of one call: samples become seconds per op."""
    return time.perf_counter() / _OPS_PER_CALL[0]


def _time_class(name: str) -> type:
    names, values = param_grid(name)
    w0 = _catalogue().get(name)
    known = [tuple(p[n] for n in names) for p in w0.points]

    def setup(self, *values):
        if tuple(values) not in known:
            raise NotImplementedError(f"not a catalogue point of {name}: {values}")
        label = w0.label(dict(zip(names, values, strict=True)))
        w, self.module, self.params = setup_workload(name, label)
        ops = w.ops_per_loop(self.params)
        self.loops = max(1, getattr(w, "call_ops", 1024) // ops)
        self.fn = getattr(self.module, w.func or w.name)
        _OPS_PER_CALL[0] = self.loops * ops

    def run(self, *values):
        self.fn(self.loops, **self.params)

    doc = w0.measures
    run.__doc__ = (
        f"{doc}. Seconds per operation: one call runs about `call_ops` operations and the "
        "timer divides by their number."
    )
    attrs = {
        "params": values,
        "param_names": names,
        "version": TIME_VERSION,
        "setup": setup,
        "timer": staticmethod(per_op_timer),
        f"time_{name}": run,
        "__module__": "benchmarks.common",
        "__doc__": doc,
        **TIMING,
    }
    return type(_class_name(name), (), attrs)
