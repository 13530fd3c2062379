"""Command line: ``python -m allocbench {info,list,run,smoke}``.

``info`` and ``smoke`` load the flavour on the path (checked against ALLOCBENCH_FLAVOUR);
``list`` needs no extension.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from . import catalogue


def _value(workload: catalogue.Workload, item: str):
    name, sep, raw = item.partition("=")
    if not sep:
        raise SystemExit(f"--param takes name=value, got {item!r}")
    try:
        kind = workload.param(name).kind
    except KeyError:
        return raw  # validate() reports the unknown name
    if kind is bool:
        if raw.lower() not in ("true", "false", "1", "0"):
            raise SystemExit(f"parameter {name!r} takes true or false, got {raw!r}")
        return raw.lower() in ("true", "1")
    if kind is int:
        try:
            return int(raw, 0)
        except ValueError:
            raise SystemExit(f"parameter {name!r} takes an integer, got {raw!r}") from None
    return raw


def cmd_info(_args) -> int:
    from .flavour import load

    m = load()
    print(json.dumps({**m.build_info(), "counters": m.counters()}, indent=2))
    return 0


def cmd_list(args) -> int:
    for w in catalogue.WORKLOADS:
        if args.family and w.family != args.family:
            continue
        params = ", ".join(f"{p.name}: {p.allowed()}" for p in w.params)
        print(f"{w.name} [{w.family}, {w.kind}, {w.unit}]\n    {w.measures}\n    params: {params}")
    return 0


def cmd_run(args) -> int:
    w = catalogue.get(args.workload)
    params = dict(w.smoke)
    params.update(dict((item.partition("=")[0], _value(w, item)) for item in args.param))
    if w.timed:
        loops = args.loops or w.smoke_loops
        seconds = w.run(loops=loops, **params)
        per_op = seconds / (loops * w.ops_per_loop(params))
        print(json.dumps({"workload": w.label(params), "seconds": seconds, "per_op_s": per_op}))
    else:
        print(json.dumps({"workload": w.label(params), "result": w.run(**params)}))
    return 0


def cmd_smoke(args) -> int:
    """Every workload once at its smoke parameters; exit 1 on the first failure."""
    from .flavour import load

    m = load()
    failures = 0
    for w in catalogue.WORKLOADS:
        if args.family and w.family != args.family:
            continue
        t0 = time.perf_counter()
        try:
            out = w.run(loops=w.smoke_loops if w.timed else None, module=m, **w.smoke)
            ok = (out > 0) if w.timed else isinstance(out, dict) and bool(out)
        except Exception as e:  # reported, then counted
            out, ok = f"{type(e).__name__}: {e}", False
        failures += not ok
        status = "ok" if ok else "FAIL"
        print(
            f"{status:4} {m.backend_name():9} {w.label(w.smoke)} ({time.perf_counter() - t0:.2f}s)"
        )
        if not ok:
            print(f"     {out}")
    print(f"smoke: {failures} failed", flush=True)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m allocbench")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("info", help="backend and build facts of the loaded flavour")
    p = sub.add_parser("list", help="the workload catalogue")
    p.add_argument("--family", choices=catalogue.FAMILIES)
    p = sub.add_parser("run", help="run one workload (smoke parameters unless overridden)")
    p.add_argument("workload", choices=list(catalogue.CATALOGUE))
    p.add_argument("--loops", type=int)
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    p = sub.add_parser("smoke", help="every workload once at a small size")
    p.add_argument("--family", choices=catalogue.FAMILIES)
    args = ap.parse_args(argv)
    try:
        return {"info": cmd_info, "list": cmd_list, "run": cmd_run, "smoke": cmd_smoke}[args.cmd](
            args
        )
    except (TypeError, ValueError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
