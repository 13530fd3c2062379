"""What a catalogue entry is: a workload (``Workload``) and its parameters (``Param``), with
the validation that happens before any Rust runs, the benchmark labels, and running it in
the loaded flavour. The entries themselves are ``allocbench.catalogue``'s (and those of
``benchmarks/extensions/*.py`` for ``make bench-extension``).

Wrong types raise ``TypeError``, out-of-range values ``ValueError``, both naming the
workload, the parameter and the allowed range.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
MAX_LOOPS = 10**9
U64 = (1 << 64) - 1


@dataclass(frozen=True)
class Param:
    """One workload parameter: ``int`` with an inclusive range, ``bool``, or ``str`` with
    choices."""

    name: str
    kind: type
    doc: str
    lo: int | None = None
    hi: int | None = None
    choices: tuple[str, ...] = ()

    def allowed(self) -> str:
        if self.kind is bool:
            return "True or False"
        if self.kind is str:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        return f"an int in {self.lo}..{self.hi}"

    def check(self, workload: str, value: Any) -> Any:
        where = f"parameter {self.name!r} of workload {workload!r}"
        ok_type = (
            isinstance(value, bool)
            if self.kind is bool
            else isinstance(value, self.kind) and not isinstance(value, bool)
        )
        if not ok_type:
            raise TypeError(
                f"{where} must be {self.allowed()}; got {type(value).__name__} {value!r}"
            )
        if self.kind is int and not (self.lo <= value <= self.hi):
            raise ValueError(f"{where} must be {self.allowed()}; got {value}")
        if self.kind is str and value not in self.choices:
            raise ValueError(f"{where} must be {self.allowed()}; got {value!r}")
        return value


LOOPS = Param("loops", int, "repetitions of the timed operation", 1, MAX_LOOPS)


@dataclass(frozen=True, kw_only=True)
class Workload:
    """One catalogue entry, built with keywords only (``Workload(name=..., family=...,
    ...)``): a workload is read by its fields' names, never by their order."""

    name: str
    family: str
    kind: str  # "time" or "memory"
    unit: str
    measures: str
    params: tuple[Param, ...]
    # Benchmark points: the parameter sets the suites and the report run.
    points: tuple[Mapping[str, Any], ...]
    # Small parameters for tests and smoke runs.
    smoke: Mapping[str, Any]
    ops_per_loop: Callable[[Mapping[str, Any]], int] = lambda p: 1
    # Cross-parameter limits: (predicate, message) pairs; message names the limit.
    limits: tuple[tuple[Callable[[Mapping[str, Any]], bool], str], ...] = ()
    func: str = ""  # extension function; defaults to the workload name
    smoke_loops: int = 3
    # Operations one benchmark call performs where a suite needs a fixed amount of work per
    # call (asv times whole calls): enough to dwarf the Python call, little enough to be fast.
    call_ops: int = 1024
    extra: Callable[..., Any] | None = field(default=None, repr=False)

    @property
    def timed(self) -> bool:
        return self.kind == "time"

    def call_loops(self, params: Mapping[str, Any]) -> int:
        """``loops`` for one benchmark call of about ``call_ops`` operations."""
        return max(1, self.call_ops // self.ops_per_loop(params))

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def validate(self, params: Mapping[str, Any]) -> dict[str, Any]:
        names = [p.name for p in self.params]
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise TypeError(
                f"workload {self.name!r} has no parameter {unknown[0]!r}; "
                f"its parameters are {', '.join(names)}"
            )
        missing = [n for n in names if n not in params]
        if missing:
            raise TypeError(f"workload {self.name!r} needs parameter {missing[0]!r}")
        checked = {p.name: p.check(self.name, params[p.name]) for p in self.params}
        for ok, message in self.limits:
            if not ok(checked):
                raise ValueError(f"workload {self.name!r}: {message}; got {checked}")
        return checked

    def label(self, params: Mapping[str, Any]) -> str:
        """Benchmark name, e.g. ``churn_batch[size=64,live=1024,order=lifo]``."""
        inner = ",".join(f"{k}={_fmt(params[k])}" for k in (p.name for p in self.params))
        return f"{self.name}[{inner}]" if inner else self.name

    def run(self, *, loops: int | None = None, module=None, **params: Any):
        """Validates (parameters and ``loops``), then runs the workload in the loaded
        flavour."""
        checked = self.validate(params)
        if self.timed:
            loops = LOOPS.check(self.name, loops)
        elif loops is not None:
            raise TypeError(f"workload {self.name!r} is not timed; it takes no 'loops'")
        if module is None:
            from .flavour import load

            module = load()
        fn = getattr(module, self.func or self.name)
        if self.timed:
            return fn(loops, **checked)
        if self.extra is not None:
            return self.extra(fn, checked)
        return fn(**checked)


def _fmt(v: Any) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)
