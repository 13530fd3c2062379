"""The Markdown of an instruction run (``instructions.md``, and the tables the bench report
takes from it): instructions/op per point and flavour, estimated cycles/op, the ratios to
the C-level pair, every C pair counted, the prediction section; and the plot of
instructions per pair."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import catalogue
from .instructions_prediction import (
    metrics_of,
    prediction_family_rows,
    prediction_notes,
    prediction_rows,
    predictions,
)


def table_rows(data: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Per point and flavour: instructions/op, its ratio to system, and (pair workloads) its
    ratio to the flavour's own raw primitive of the same size. ``*``: marked not repeatable
    (runs stored before every point was)."""
    flavours = list(data["counts"])
    ref = "system" if "system" in flavours else flavours[0]
    headers = ["point"] + [f"{f} Ir/op (x{ref}, xraw)" for f in flavours]
    rows = []
    for label in data["counts"][flavours[0]]:
        cells = [label]
        for f in flavours:
            e = data["counts"][f][label]
            ir, base = e["ir_per_op"], data["counts"][ref][label]["ir_per_op"]
            raw = None
            if e["workload"] in ("alloc_pair", "alloc_pair_unguarded"):
                raw_label = f"raw_pair[size={e['params']['size']}]"
                raw = data["counts"][f].get(raw_label, {}).get("ir_per_op")
            cell = f"{ir:,.1f} (x{ir / base:.2f}" if base > 0 else f"{ir:,.1f} (x-"
            cell += f", x{ir / raw:.2f})" if raw else ")"
            cells.append(cell + ("" if e.get("repeatable", True) else " *"))
        rows.append(cells)
    return headers, rows


def cycles_rows(data: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Per point and flavour: estimated cycles/op and its ratio to system, and the cycles
    per instruction (1.0: every access an L1 hit of a one-access instruction; misses raise
    it). No rows for a run stored before the cache simulation."""
    if "cycles_per_op" not in metrics_of(data["counts"]):
        return [], []
    flavours = list(data["counts"])
    ref = "system" if "system" in flavours else flavours[0]
    headers = ["point"] + [f"{f} est. cycles/op (x{ref}, per Ir)" for f in flavours]
    rows = []
    for label in data["counts"][flavours[0]]:
        cells = [label]
        for f in flavours:
            e = data["counts"][f].get(label)
            if e is None:
                cells.append("-")
                continue
            cyc, base = e["cycles_per_op"], data["counts"][ref][label]["cycles_per_op"]
            cell = f"{cyc:,.1f} (x{cyc / base:.2f}" if base > 0 else f"{cyc:,.1f} (x-"
            cells.append(cell + (f", {cyc / e['ir_per_op']:.2f})" if e["ir_per_op"] > 0 else ")"))
        rows.append(cells)
    return headers, rows


C_BASELINE_WORKLOADS = ("alloc_pair", "alloc_pair_unguarded", "raw_pair")


def c_baseline(data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Per flavour and c_pair size: the C-level pair of the flavour's own primitive
    (instructions/op, and seconds/op where the run timed it), and ``alloc_pair``,
    ``alloc_pair_unguarded`` and ``raw_pair`` of the same size as ratios to it
    (``ir_ratio``; ``time_ratio`` from the native timings). The own primitive is the one the
    backend calls for that size: pymem: PyMem_Malloc up to 512 B, PyMem_RawMalloc above;
    pymem-raw: PyMem_RawMalloc; system: malloc; mimalloc: mi_malloc; jemalloc: _rjem_malloc."""
    wall = data.get("wall_s_per_op") or {}
    out: dict[str, list[dict[str, Any]]] = {}
    for f, counts in data["counts"].items():
        rows = []
        for label, e in counts.items():
            if e["workload"] != "c_pair" or e["params"].get("primitive") != "own":
                continue
            size = e["params"]["size"]
            c_ir, c_t = e["ir_per_op"], wall.get(f, {}).get(label)
            own = catalogue.c_pair_own(f, size)
            row: dict[str, Any] = {
                "size": size,
                "c_primitive": own,
                "c_calls": catalogue.C_PAIR_CALLS[own],
                "c_pair_ir_per_op": c_ir,
                "c_pair_s_per_op": c_t,
                "ir_ratio": {},
                "time_ratio": {},
            }
            for name in C_BASELINE_WORKLOADS:
                other = catalogue.get(name).label({"size": size})
                o = counts.get(other)
                if o is not None and c_ir > 0:
                    row["ir_ratio"][name] = o["ir_per_op"] / c_ir
                t = wall.get(f, {}).get(other)
                if t and c_t:
                    row["time_ratio"][name] = t / c_t
            rows.append(row)
        if rows:
            out[f] = sorted(rows, key=lambda r: r["size"])
    return out


def c_baseline_rows(data: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """``c_baseline`` as a table: one row per flavour and size; each ratio cell is
    instructions (and wall time in brackets)."""
    base = data.get("c_baseline") or c_baseline(data)
    headers = [
        "flavour",
        "size",
        "C pair (the flavour's own primitive)",
        "C pair Ir/op",
        "C pair ns/op",
        *(f"{n} / C pair: Ir (time)" for n in C_BASELINE_WORKLOADS),
    ]
    rows = []
    for f, entries in base.items():
        for r in entries:
            cells = [
                f,
                str(r["size"]),
                r["c_calls"],
                f"{r['c_pair_ir_per_op']:,.1f}",
                f"{r['c_pair_s_per_op'] * 1e9:.1f}" if r.get("c_pair_s_per_op") else "-",
            ]
            for n in C_BASELINE_WORKLOADS:
                ir, t = r["ir_ratio"].get(n), r["time_ratio"].get(n)
                cell = f"x{ir:.2f}" if ir is not None else "-"
                cells.append(cell + (f" (x{t:.2f})" if t is not None else ""))
            rows.append(cells)
    return headers, rows


def c_pairs_rows(data: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Every C pair counted, per primitive and size: instructions/op (ns/op where timed)
    in each flavour; '-' where the flavour does not offer the primitive."""
    pairs = data.get("c_pairs") or {}
    flavours = list(pairs)
    headers = ["C pair", "size", *(f"{f} Ir/op (ns/op)" for f in flavours)]
    rows = []
    for prim in catalogue.C_PAIR_PRIMITIVES:
        for size in catalogue.C_PAIR_SIZES:
            label = catalogue.get("c_pair").label({"size": size, "primitive": prim})
            cells = []
            for f in flavours:
                e = pairs[f].get(label)
                if e is None:
                    cells.append("-")
                    continue
                t = e.get("wall_s_per_op")
                cells.append(f"{e['ir_per_op']:,.1f}" + (f" ({t * 1e9:.1f})" if t else ""))
            if any(c != "-" for c in cells):
                rows.append([catalogue.C_PAIR_CALLS.get(prim, prim), str(size), *cells])
    return headers, rows


def counting_note(data: dict[str, Any]) -> str:
    """What the counting runs changed in the allocators' settings (stored with the run)."""
    env = data.get("counting_env")
    if env is None:
        return (
            "This run predates the record of the counting settings; * marks counts it found "
            "not repeatable (never gated on)."
        )
    settings = ", ".join(f"{k}={v}" for k, v in sorted(env.items()))
    return (
        f"Counted with the allocators' clock-driven work off ({settings}), so every count "
        "repeats to the instruction; timed runs keep the defaults."
    )


def table(data: Any, rows_of=None) -> str:
    """The table of ``table_rows`` (or of ``rows_of``) as Markdown."""
    headers, rows = (rows_of or table_rows)(data)
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


C_BASELINE_TEXT = (
    "Each flavour's GlobalAlloc pair (`alloc_pair`), its path without the thread-state "
    "guard (`alloc_pair_unguarded`) and its raw baseline (`raw_pair`, the primitive called "
    "from Rust) as ratios to the same pair looped in C (`c_pair`, rustext/csrc/c_pairs.c: "
    "direct calls as a C extension makes them, one byte written per block), for the "
    "primitive the flavour's backend calls at that size (pymem: PyMem_Malloc up to 512 B, "
    "PyMem_RawMalloc above). Ratios of instructions/op; in brackets, of native wall time "
    "(median of 5, noisier). x1.00 is the physical limit."
)
C_PAIRS_TEXT = (
    "Every C pair each flavour's extension offers (the CPython and libc pairs in all, "
    "mi_malloc and _rjem_malloc in their own flavours): instructions/op, ns/op in brackets."
)


def plot(data: dict[str, Any], path: Path) -> Path:
    """Instructions per alloc+free pair against block size, every flavour (log axes), with
    the raw baselines dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for i, (f, counts) in enumerate(data["counts"].items()):
        for name, style in (("alloc_pair", "-o"), ("raw_pair", "--x"), ("c_pair", ":s")):
            pts = sorted(
                (e["params"]["size"], e["ir_per_op"])
                for e in counts.values()
                if e["workload"] == name and e["ir_per_op"] > 0
            )
            if pts:  # one colour per flavour, one style per workload
                ax.plot(*zip(*pts, strict=True), style, color=f"C{i}", label=f"{f} {name}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("block size (bytes)")
    ax.set_ylabel("instructions per alloc+free pair")
    ax.set_title(
        "Instructions per pair (callgrind); dashed: each backend's raw primitive, "
        "dotted: the same from C",
        fontsize=9,
    )
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


CYCLES_TEXT = (
    "Estimated cycles/op: the same difference of (L1 hits + 5 x LL hits + 35 x RAM hits) "
    "from callgrind's cache simulation (iai-callgrind's and CodSpeed's weights; L1 hits = "
    "Ir + Dr + Dw - I1mr - D1mr - D1mw, LL hits = I1mr + D1mr + D1mw - ILmr - DLmr - DLmw, "
    "RAM hits = ILmr + DLmr + DLmw). Ratio to `system`, and cycles per instruction."
)


def cycles_note(data: dict[str, Any]) -> str:
    """The simulated cache geometry the run used."""
    sim = data.get("cache_sim") or {}
    geometry = sim.get("geometry") or {}
    return "Simulated caches (size, ways, line): " + (
        ", ".join(f"{k} {v}" for k, v in geometry.items()) or "not recorded"
    )


def prediction_markdown(data: dict[str, Any]) -> list[str]:
    """The section on how well each figure predicts wall time: against the run's native
    times and against each stored pyperf run of the same interpreter."""
    preds = predictions(data)
    if not preds:
        return []
    parts = [
        "## Do instructions or estimated cycles predict wall time here?",
        "",
        prediction_notes(data, preds),
        "",
        table(preds, prediction_rows),
        "",
    ]
    if prediction_family_rows(preds)[1]:
        parts += ["Per workload family:", "", table(preds, prediction_family_rows), ""]
    if data.get("prediction"):
        parts += ["![instructions vs wall time](instructions_vs_time.png)", ""]
    return parts


def report_markdown(data: dict[str, Any]) -> str:
    interp = data.get("interpreter")
    parts = [
        f"# Instructions per operation (callgrind), run {data['run_id']}",
        "",
        f"Interpreter {interp['id']}: {interp['summary']}."
        if interp
        else f"CPython {data.get('python', '?')} (the interpreter's build was not recorded).",
        "",
        "Deterministic counts: instructions/op = (Ir(1 + k loops) - Ir(1 loop)) / ops. "
        "Ratios: to `system`, and (pair workloads) to the flavour's own raw primitive.",
        "",
        table(data),
        "",
        counting_note(data),
        "",
        "![instructions per pair](instructions_per_pair.png)",
        "",
    ]
    if cycles_rows(data)[1]:
        parts += [
            "## Estimated cycles per operation (callgrind's cache simulation)",
            "",
            CYCLES_TEXT + " " + cycles_note(data) + ".",
            "",
            table(data, cycles_rows),
            "",
        ]
    if c_baseline_rows(data)[1]:
        parts += [
            "## Against the C-level pair (the physical limit)",
            "",
            C_BASELINE_TEXT,
            "",
            table(data, c_baseline_rows),
            "",
        ]
    if c_pairs_rows(data)[1]:
        parts += ["## Every C-level pair", "", C_PAIRS_TEXT, "", table(data, c_pairs_rows), ""]
    parts += prediction_markdown(data)
    return "\n".join(parts)
