"""asv: deterministic lines. Instructions per op and estimated cycles per op of a few
catalogue points, counted by callgrind (the way ``allocbench.instructions`` counts them), so
the dashboard has lines that do not move unless the code does.

One class per workload; its asv parameters are the catalogue's parameter names, each with
the one value counted (``POINTS``). Both ``track_`` methods of every class read one count:
the module-level ``setup_cache`` (shared, so asv runs it once per environment and commit)
starts one ``valgrind --tool=callgrind --cache-sim=yes`` process of this environment's
interpreter that runs every point at loops 1 (warm-up), 1 and 1 + k, each between a zero and
a labelled dump of callgrind's counters (the extension's client requests):
figure/op = (figure(1 + k) - figure(1)) / (k * ops_per_loop).

Against an older commit the installed ``allocbench`` decides: without the client requests
(``callgrind_zero``, before f57715b) or without the workload or the point, ``setup`` raises
``NotImplementedError`` (asv's skip). Nothing is imported or run at import time.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

# Pinned: a change of what is counted (points, protocol, cache geometry) must bump it.
VERSION = "1"
# (workload, params): the points whose lines the dashboard's landing links open.
POINTS = (
    ("alloc_pair", {"size": 64}),
    ("raw_pair", {"size": 64}),
    ("churn_batch", {"size": 64, "live": 1024, "order": "lifo"}),
    ("json_roundtrip", {"kib": 64, "seed": 7}),
    ("realloc_growth", {"pattern": "vec_push", "target": 4096}),
)
# allocbench.instructions' constants, repeated so that commits without that module (or with
# another geometry) are counted the same way.
CACHE_GEOMETRY = {"I1": "32768,8,64", "D1": "32768,8,64", "LL": "33554432,16,64"}
EVENTS = ("Ir", "Dr", "Dw", "I1mr", "D1mr", "D1mw", "ILmr", "DLmr", "DLmw")
CYCLE_WEIGHTS = {"l1": 1, "ll": 5, "ram": 35}
CLOCK_FREE_ALLOCATOR_ENV = {
    "_RJEM_MALLOC_CONF": "dirty_decay_ms:-1,muzzy_decay_ms:-1,experimental_tcache_gc:false",
    "MIMALLOC_PURGE_DELAY": "-1",
}


# A fixed output path per environment (its interpreter's path hashed; a test counting beside
# a history run must not clear the run's dumps), of one length: the length of valgrind's
# command line shifts the client's memory layout and with it some counts.
def _out_root() -> str:
    import hashlib

    tag = hashlib.sha256(sys.executable.encode()).hexdigest()[:19]
    return os.path.join(tempfile.gettempdir(), f"abcg-{tag}")  # as long as the first name


# Runs under callgrind in this environment's interpreter; argv[1] is the JSON of POINTS.
# Prints, per point, its k, ops_per_loop or why the commit cannot run it.
WORKER = r"""
import json, sys
from allocbench import catalogue
from allocbench.flavour import load
m = load()
if not hasattr(m, "callgrind_zero"):
    print(json.dumps({"unsupported": "this commit's extension has no callgrind client requests"}))
    sys.exit(0)
out = {}
for name, params in json.loads(sys.argv[1]):
    key = name + json.dumps(params, sort_keys=True)
    if name not in catalogue.CATALOGUE:
        out[key] = {"skip": "this commit has no workload " + name}
        continue
    w = catalogue.CATALOGUE[name]
    try:
        params = w.validate(params)
    except (TypeError, ValueError) as e:
        out[key] = {"skip": "this commit does not take %r: %s" % (params, e)}
        continue
    ops = w.ops_per_loop(params)
    if hasattr(w, "call_loops"):
        k = w.call_loops(params)
    else:
        k = max(1, getattr(w, "call_ops", 1024) // ops)
    fn = getattr(m, w.func or w.name)
    for loops, tag in ((1, "warm"), (1, "1"), (1 + k, "big")):
        m.callgrind_zero()
        fn(loops, **params)
        m.callgrind_dump(key + "|" + tag)
    out[key] = {"k": k, "ops_per_loop": ops}
print(json.dumps(out))
"""


def _key(name: str, params: dict) -> str:
    return name + json.dumps(params, sort_keys=True)


def _est_cycles(ev: dict[str, int]) -> int:
    accesses = ev["Ir"] + ev["Dr"] + ev["Dw"]
    l1_misses = ev["I1mr"] + ev["D1mr"] + ev["D1mw"]
    ll_misses = ev["ILmr"] + ev["DLmr"] + ev["DLmw"]
    hits = {"l1": accesses - l1_misses, "ll": l1_misses - ll_misses, "ram": ll_misses}
    return sum(CYCLE_WEIGHTS[k] * n for k, n in hits.items())


def _parse_dump(text: str):
    d = re.search(r"^desc: Trigger: Client Request: (.*)$", text, re.M)
    e = re.search(r"^events: (.*)$", text, re.M)
    s = re.search(r"^summary: ([\d ]+)$", text, re.M)
    if not (d and e and s):
        return None
    names, values = e.group(1).split(), [int(v) for v in s.group(1).split()]
    values += [0] * (len(names) - len(values))  # trailing zero events are left out
    return d.group(1).strip(), dict(zip(names, values, strict=True))


def count_points(points=POINTS, flavour: str | None = None) -> dict:
    """{key: {"instructions": x, "cycles": y} | {"skip": why}} of every point, or
    {"unsupported": why}: one callgrind process of this interpreter."""
    flavour = flavour or os.environ.get("ALLOCBENCH_FLAVOUR")
    if not flavour:
        raise RuntimeError("ALLOCBENCH_FLAVOUR is not set: run through asv's matrix")
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise RuntimeError("valgrind is not installed (Debian package valgrind)")
    out_dir = os.path.join(_out_root(), flavour)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    # Never write bytecode: a run that compiles and writes .pyc leaves another heap than
    # one that reads them (pip compiles on install, so asv's environments read them).
    env = dict(
        os.environ, PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1", **CLOCK_FREE_ALLOCATOR_ENV
    )
    env.pop("PYTHONMALLOC", None)  # pymalloc stays on, as in allocbench.instructions
    cmd = [
        valgrind,
        "--tool=callgrind",
        f"--callgrind-out-file={out_dir}/cg.out",
        "--dump-instr=no",
        "--dump-line=no",
        "--cache-sim=yes",
        *(f"--{k}={v}" for k, v in CACHE_GEOMETRY.items()),
        sys.executable,
        "-c",
        WORKER,
        json.dumps([list(p) for p in points]),
    ]
    if shutil.which("setarch"):
        cmd = ["setarch", os.uname().machine, "-R", *cmd]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"callgrind run failed: {proc.stderr.strip()[-2000:]}")
    meta = json.loads(proc.stdout.strip().splitlines()[-1])
    if "unsupported" in meta:
        return meta
    dumps = {}
    for f in sorted(os.listdir(out_dir)):
        with open(os.path.join(out_dir, f), errors="replace") as fh:
            got = _parse_dump(fh.read())
        if got:
            dumps[got[0]] = got[1]
    result = {}
    for name, params in points:
        key = _key(name, params)
        m = meta[key]
        if "skip" in m:
            result[key] = m
            continue
        small, big = dumps[f"{key}|1"], dumps[f"{key}|big"]
        ops = m["k"] * m["ops_per_loop"]
        result[key] = {
            "instructions": (big["Ir"] - small["Ir"]) / ops,
            "cycles": (_est_cycles(big) - _est_cycles(small)) / ops,
        }
    return result


def setup_cache(self):
    return count_points()


setup_cache.timeout = 1800


def _class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _count_class(name: str, params: dict) -> type:
    keys = list(params)

    def setup(self, cache, *values):
        from allocbench.flavour import load

        load(os.environ["ALLOCBENCH_FLAVOUR"])  # FlavourMismatch if the env holds another
        if "unsupported" in cache:
            raise NotImplementedError(cache["unsupported"])
        got = cache[_key(name, dict(zip(keys, values, strict=True)))]
        if "skip" in got:
            raise NotImplementedError(got["skip"])
        self.got = got

    def track_instructions(self, cache, *values):
        return self.got["instructions"]

    def track_est_cycles(self, cache, *values):
        return self.got["cycles"]

    track_instructions.unit = "instructions/op"
    track_est_cycles.unit = "est. cycles/op"
    label = name + "[" + ",".join(f"{k}={v}" for k, v in params.items()) + "]"
    track_instructions.__doc__ = f"Instructions per op of {label} (callgrind)."
    track_est_cycles.__doc__ = (
        f"Estimated cycles per op of {label}: L1 hits + 5 x LL hits + 35 x RAM hits "
        "(callgrind's cache simulation, geometry pinned)."
    )
    attrs = {
        "params": [[v] for v in params.values()],
        "param_names": keys,
        "version": VERSION,
        "setup_cache": setup_cache,
        "setup": setup,
        "track_instructions": track_instructions,
        "track_est_cycles": track_est_cycles,
        "timeout": 1800,
        "__module__": __name__,
        "__doc__": f"Deterministic figures of {label}.",
    }
    return type(_class_name(name), (), attrs)


globals().update({_class_name(n): _count_class(n, p) for n, p in POINTS})
