"""What each workload of a built flavour calls, read from its machine code.

The compiler may rewrite what a workload measures: LLVM folds ``malloc`` + ``memset(0)``
into ``calloc`` (it did in the system flavour's ``memset_vec``), and may delete an
allocation whose result it can see through. Every workload entry point is its own symbol
(``#[inline(never)]``), so its disassembly (``objdump -d``) says which functions it reaches:
the symbols it references, and those of the Rust functions it calls, transitively. C
functions (the allocators, libc) and panic/formatting paths are leaves, not followed: an
allocator's own internals (jemalloc's calloc memsets) are not the workload's calls.

    python -m allocbench.calls [FLAVOUR ...]    # each workload's allocator calls; exit 1
                                                # on a violation of the rules below

``violations`` holds the rules (``tests/test_folds.py`` applies them to every flavour):
every workload allocates and frees through its flavour's allocator (nothing elided);
``memset_vec`` calls memset and allocates nothing zeroed; ``zeroed_vec`` allocates zeroed;
``fragmentation`` fills its blocks itself; ``raw_pair`` calls the C allocators' own pair;
``c_pair`` reaches the C loop of every primitive the flavour offers, and each C loop
(``allocbench_c_pair_<primitive>``, rustext/csrc/c_pairs.c) calls its allocator pair.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from . import FLAVOURS, registry
from .flavour import flavour_dir

_HEADER = re.compile(r"^[0-9a-f]+ <(.+)>:$")
_REF = re.compile(r"<([^<>]+?)(?:\+0x[0-9a-f]+)?>")
# Rust paths that are error reporting, never the work a workload measures.
_NOT_FOLLOWED = re.compile(
    r"panic|handle_alloc_error|handle_error|unwrap_failed|expect_failed|core::fmt|"
    r"alloc::fmt|::fmt$|capacity_overflow|rust_oom|begin_unwind|WorkloadError"
)


def _plain(sym: str) -> str:
    """``memset@GLIBC_2.2.5`` / ``memset@plt`` -> ``memset``."""
    return sym.split("@", 1)[0]


def _run(*cmd: str) -> str:
    if shutil.which(cmd[0]) is None:
        raise RuntimeError(f"{cmd[0]} is not installed (Debian package binutils)")
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


_COMMENT_ADDR = re.compile(r"#\s+([0-9a-f]+)\b")
_RELATIVE = re.compile(r"^([0-9a-f]+)\s+R_X86_64_RELATIVE\s+\*ABS\*\+0x([0-9a-f]+)$")
_NM = re.compile(r"^([0-9a-f]+) [tTwWiI] (.+)$")


@cache
def disassembly(so: Path) -> dict[str, frozenset[str]]:
    """Function name (demangled) -> the symbols its instructions reference. A call through
    a GOT slot that holds a local function (``mi_malloc`` is hidden in the mimalloc
    flavour) is named through the slot's relocation."""
    return _parse(so)[0]


@cache
def calls_made(so: Path) -> dict[str, frozenset[str]]:
    """Function name (demangled) -> the functions its ``call`` and ``jmp`` instructions
    reach (a reference is not enough: the C pairs must call their allocator)."""
    return _parse(so)[1]


_BRANCH = re.compile(r"^(call|jmp)\b")


@cache
def _parse(so: Path) -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    text = _run("objdump", "-d", "-C", "--no-show-raw-insn", str(so))
    # GOT slot -> the local function its RELATIVE relocation points at.
    code_at: dict[int, str] = {}
    for line in _run("nm", "-C", "--defined-only", str(so)).splitlines():
        m = _NM.match(line)
        if m:
            code_at.setdefault(int(m.group(1), 16), m.group(2))
    slot_holds: dict[int, str] = {}
    for line in _run("objdump", "-R", str(so)).splitlines():
        m = _RELATIVE.match(line.strip())
        if m and int(m.group(2), 16) in code_at:
            slot_holds[int(m.group(1), 16)] = code_at[int(m.group(2), 16)]
    funcs: dict[str, set[str]] = {}
    branches: dict[str, set[str]] = {}
    current: set[str] | None = None
    for line in text.splitlines():
        m = _HEADER.match(line)
        if m:
            current = funcs.setdefault(m.group(1), set())
            branch = branches.setdefault(m.group(1), set())
        elif current is not None and "\t" in line:
            insn = line.split("\t", 1)[1]
            refs = {_plain(s) for s in _REF.findall(insn)}
            c = _COMMENT_ADDR.search(insn)
            if c and int(c.group(1), 16) in slot_holds:
                refs.add(slot_holds[int(c.group(1), 16)])
            current.update(refs)
            if _BRANCH.match(insn):
                branch.update(refs)
    return (
        {k: frozenset(v - {k}) for k, v in funcs.items()},
        {k: frozenset(v - {k}) for k, v in branches.items()},
    )


def resolve(so: Path, entry: str) -> str:
    """``entry``, or the workload function its Python wrapper calls instead: LLVM merges
    functions with identical bodies (``alloc_pair_unguarded`` is ``alloc_pair`` in every
    flavour but pymem), leaving one symbol."""
    funcs = disassembly(so)
    if entry in funcs:
        return entry
    wrapper = "_rustext::bindings::workloads::__pyfunction_" + entry.rsplit("::", 1)[1]
    twins = {s for s in funcs.get(wrapper, ()) if s.startswith("_rustext::workloads::")}
    if len(twins) != 1:
        raise KeyError(
            f"{so} has no function {entry!r} (is it #[inline(never)]?) and its wrapper "
            f"{wrapper!r} calls {len(twins)} workload functions: {sorted(twins)}"
        )
    return twins.pop()


def reached(so: Path, entry: str) -> frozenset[str]:
    """Every symbol ``entry`` reaches: referenced directly, or by the Rust functions it
    calls (transitively, error paths left out)."""
    funcs = disassembly(so)
    entry = resolve(so, entry)
    seen: set[str] = set()
    todo = [entry]
    while todo:
        f = todo.pop()
        for s in funcs.get(f, ()):
            if s in seen:
                continue
            seen.add(s)
            rust = "::" in s or s.startswith("__rust")
            if s in funcs and rust and not _NOT_FOLLOWED.search(s):
                todo.append(s)
    return frozenset(seen)


@dataclass(frozen=True)
class Primitives:
    """The allocator entry points of one flavour, as symbols in its extension."""

    alloc: frozenset[str]
    zeroed: frozenset[str]
    free: frozenset[str]


def _names(*names: str) -> frozenset[str]:
    return frozenset(names)


# The symbols each backend's allocation paths reach, and what raw_pair must call: the flavour
# registry's (allocbench.registry, which says why pymem's are what they are).
PRIMITIVES = {
    f.name: Primitives(_names(*f.alloc_symbols), _names(*f.zeroed_symbols), _names(*f.free_symbols))
    for f in registry.REGISTRY
}
RAW_PAIR = {f.name: _names(*f.raw_pair_symbols) for f in registry.REGISTRY if f.raw_pair_symbols}
# c_pair's C loops (rustext/csrc/c_pairs.c): the allocator pair each must call. Every
# flavour has the first four; mimalloc's and jemalloc's only their own flavour.
C_PAIRS = {
    "pymem": _names("PyMem_Malloc", "PyMem_Free"),
    "pymem_calloc": _names("PyMem_Calloc", "PyMem_Free"),
    "pymem_raw": _names("PyMem_RawMalloc", "PyMem_RawFree"),
    "malloc": _names("malloc", "free"),
    "mimalloc": _names("mi_malloc", "mi_free"),
    "jemalloc": _names("_rjem_malloc", "_rjem_free"),
}


def c_primitives(flavour: str) -> tuple[str, ...]:
    """The C pairs compiled into ``flavour``'s extension."""
    return tuple(p for p in C_PAIRS if p not in ("mimalloc", "jemalloc") or p == flavour)


def c_pair_symbol(primitive: str) -> str:
    return f"allocbench_c_pair_{primitive}"


def c_pair_violations(flavour: str, root: Path | None = None) -> list[str]:
    """c_pair's rules: its Rust entry reaches the C loop of every primitive the flavour
    offers, and every C loop calls its allocator pair (a deleted or swapped call, or a pair
    the compiler folded away, fails)."""
    so = extension(flavour, root)
    out = []
    got = reached(so, entry("c_pair", "raw"))
    want = {c_pair_symbol(p) for p in c_primitives(flavour)}
    if not want <= got:
        out.append(f"{flavour}: c_pair must reach {' and '.join(sorted(want - got))}")
    made = calls_made(so)
    for p in c_primitives(flavour):
        sym = c_pair_symbol(p)
        if sym not in made:
            out.append(f"{flavour}: {sym} is not in the extension (rustext/csrc/c_pairs.c)")
            continue
        missing = C_PAIRS[p] - made[sym]
        if missing:
            calls = " ".join(sorted(s for s in made[sym] if "::" not in s)) or "none"
            out.append(
                f"{flavour}: {sym} must call {' and '.join(sorted(C_PAIRS[p]))}; it does not "
                f"call {' or '.join(sorted(missing))} (its calls: {calls})"
            )
    return out


# Workloads whose blocks must not come zeroed: memset_vec measures the memset, and
# fragmentation writes every byte so that every allocator's pages are resident.
NOT_ZEROED = ("memset_vec", "fragmentation")


def violations(flavour: str, root: Path | None = None) -> list[str]:
    """Every way the built flavour's workloads differ from what they claim to measure."""
    from . import catalogue

    so = extension(flavour, root)
    prim = PRIMITIVES[flavour]
    out = []
    for w in catalogue.WORKLOADS:
        if w.family not in WORKLOAD_FILES:
            continue
        fn = w.func or w.name
        if fn == "c_pair":
            out += c_pair_violations(flavour, root)
            continue
        got = reached(so, entry(fn, w.family))
        claims: list[tuple[bool, str]] = []
        if fn == "raw_pair":
            if flavour in RAW_PAIR:
                pair = RAW_PAIR[flavour]
                claims.append((pair <= got, f"must call {' and '.join(sorted(pair))}"))
        else:
            claims.append((bool(got & (prim.alloc | prim.zeroed)), "allocates nothing: elided?"))
            claims.append((bool(got & prim.free), "frees nothing: elided?"))
        if fn in NOT_ZEROED:
            claims.append((not got & prim.zeroed, "must not allocate zeroed memory"))
        if fn == "memset_vec":
            claims.append(("memset" in got, "must call memset (folded into calloc?)"))
        if fn == "zeroed_vec":
            claims.append((bool(got & prim.zeroed), "must allocate zeroed memory"))
        for holds, what in claims:
            if not holds:
                calls = " ".join(allocator_calls(flavour, fn, w.family, root)) or "none"
                out.append(f"{flavour}: {fn} {what} (its allocator calls: {calls})")
    return out


# The families whose calls are read: those of rustext/src/workloads/ that touch no Python
# (interplay's file calls Python between its allocations).
WORKLOAD_FILES = ("throughput", "realloc", "zeroed", "fragmentation", "threads", "raw")


# Workload functions in a file of their own rather than their family's.
WORKLOAD_FILE_OF = {"c_pair": "c_pair"}


def entry(workload_fn: str, family: str) -> str:
    """The symbol of a workload function (``rustext/src/workloads/<family>.rs``, or the
    file of ``WORKLOAD_FILE_OF``)."""
    return f"_rustext::workloads::{WORKLOAD_FILE_OF.get(workload_fn, family)}::{workload_fn}"


def extension(flavour: str, root: Path | None = None) -> Path:
    found = sorted((flavour_dir(flavour, root) / "allocbench").glob("_rustext*.so"))
    if not found:
        raise FileNotFoundError(f"flavour {flavour} is not built: make build FLAVOUR={flavour}")
    return found[0]


def allocator_calls(flavour: str, fn: str, family: str, root: Path | None = None) -> list[str]:
    """The allocator-related symbols a workload reaches (for the table and messages)."""
    so = extension(flavour, root)
    got = reached(so, entry(fn, family))
    if fn == "c_pair":  # and what its C loops call
        for p in c_primitives(flavour):
            got |= calls_made(so).get(c_pair_symbol(p), frozenset())
    interesting = re.compile(r"alloc|free|calloc|memset|memcpy|mi_|_rjem_|PyMem|realloc")
    return sorted(s for s in got if "::" not in s and interesting.search(s))


def main(argv: list[str] | None = None) -> int:
    from . import catalogue

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("flavours", nargs="*", default=list(FLAVOURS))
    args = ap.parse_args(argv)
    bad = []
    for flavour in args.flavours:
        print(f"== {flavour} ({extension(flavour)})")
        for w in catalogue.WORKLOADS:
            fn = w.func or w.name
            if w.family not in WORKLOAD_FILES:
                calls = ["(calls Python: not read)"]
            else:
                calls = allocator_calls(flavour, fn, w.family)
            print(f"  {w.name:24} {' '.join(calls)}")
        bad += violations(flavour)
    for v in bad:
        print(f"VIOLATION {v}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
