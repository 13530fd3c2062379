"""Sections drawn from other results stored beside the run (``<root>`` of
``<root>/pyperf/<run id>``): the newest hazard matrix (``make hazards``) and the newest
instruction-count run (``make bench-instructions``), with how well its counts predict wall
time.
"""

from __future__ import annotations

import json
from pathlib import Path

from .document import Block
from .load import ReportInputError, RunData
from .plots import Plot


def hazard_section(data: RunData) -> list[Block]:
    """The newest hazard matrix stored beside this run's results (``make hazards``),
    summarised per interpreter and flavour: the cells that did not complete, and which Rust
    blocks tracemalloc saw."""
    blocks: list[Block] = [("h2", "Hazard matrix (make hazards)")]
    runs = sorted((data.run_dir.parent.parent / "hazards").glob("*/hazards.json"))
    if not runs:
        return [*blocks, ("p", "No hazard run is stored: make hazards.")]
    try:
        h = json.loads(runs[-1].read_text(encoding="utf-8"))
        results, flavours = h["results"], h["flavours"]
        interpreters = list(h["interpreters"])
    except (ValueError, KeyError, TypeError) as e:
        return [*blocks, ("p", f"The stored hazard run {runs[-1]} cannot be read: {e}")]
    blocks.append(
        (
            "p",
            f"Run {h.get('run_id', runs[-1].parent.name)} ({runs[-1].parent}), every PYTHONMALLOC "
            f"value of it ({', '.join(h.get('pythonmalloc', []))}) pooled; timeout "
            f"{h.get('timeout_s')} s per cell. Cells: "
            + "; ".join(f"{k}: {v}" for k, v in h.get("cells", {}).items())
            + ". A cell is listed when it did not complete under some PYTHONMALLOC value.",
        )
    )
    rows = []
    for interp in interpreters:
        row = [f"{interp} ({h['interpreters'][interp].get('version', '?')})"]
        for fl in flavours:
            mine = [r for r in results if r["interpreter"] == interp and r["flavour"] == fl]
            bad = sorted(
                {r["cell"] for r in mine if r["cell"] != "c" and r["outcome"] != "completes"}
            )
            seen = sorted({r.get("label", r["outcome"]) for r in mine if r["cell"] == "c"})
            text = ("hangs/fails: " + ", ".join(bad)) if bad else "all complete"
            row.append(f"{text}; tracemalloc sees: {' / '.join(seen) or '-'}")
        rows.append(row)
    blocks.append(("table", ["interpreter", *flavours], rows))
    return blocks


def instruction_section(data: RunData, out: Path) -> list[Block]:
    """The newest instruction-count run stored beside this run's results (``make
    bench-instructions``): its table, its plot, and how well counts predicted wall time."""
    import shutil

    from .. import instructions

    blocks: list[Block] = [("h2", "Instruction counts (callgrind)")]
    path = instructions.latest_run(data.run_dir.parent.parent)
    if path is None:
        return [*blocks, ("p", "No instruction-count run is stored: make bench-instructions.")]
    try:
        counts = instructions.load(path)
    except ValueError as e:
        return [*blocks, ("p", f"The stored instruction counts cannot be read: {e}")]
    blocks.append(
        (
            "p",
            f"Run {counts['run_id']} ({path.parent}): instructions per operation, "
            "(Ir(1 + k loops) - Ir(1 loop)) / ops; ratio "
            "to system and, for the pair workloads, to the flavour's own raw "
            "primitive. " + instructions.counting_note(counts),
        )
    )
    headers, rows = instructions.table_rows(counts)
    blocks.append(("table", headers, rows))
    for title, text, (headers, rows) in (
        (
            "Estimated cycles per operation (callgrind's cache simulation)",
            instructions.CYCLES_TEXT + " " + instructions.cycles_note(counts) + ".",
            instructions.cycles_rows(counts),
        ),
        (
            "Against the C-level pair (the physical limit)",
            instructions.C_BASELINE_TEXT,
            instructions.c_baseline_rows(counts),
        ),
        ("Every C-level pair", instructions.C_PAIRS_TEXT, instructions.c_pairs_rows(counts)),
    ):
        if rows:
            blocks += [("h2", title), ("p", text), ("table", headers, rows)]
    png = path.parent / "instructions_per_pair.png"
    if png.exists():
        shutil.copyfile(png, out / "instructions_per_pair.png")
        blocks.append(
            (
                "img",
                Plot(
                    "instructions_per_pair.png",
                    "Instructions per pair",
                    "Instructions per alloc+free pair against block size; "
                    "dashed: each backend's raw primitive.",
                    1,
                ),
            )
        )
    preds = instructions.predictions(counts)
    this_run = data.record.get("run_id", data.run_dir.name)
    stored = {p.get("pyperf_run") for _, p in preds}
    if this_run not in stored and instructions.same_interpreter(counts, data.record) is None:
        try:  # this report's own run, when it timed the interpreter the counts ran under
            p = instructions.pyperf_prediction(counts, data.run_dir)
            preds.append((f"pyperf {this_run} (this report's run)", p))
        except (ValueError, ReportInputError):
            pass
    if preds:
        blocks += [
            ("h2", "Do instructions or estimated cycles predict wall time here?"),
            ("p", instructions.prediction_notes(counts, preds)),
            ("table", *instructions.prediction_rows(preds)),
        ]
        headers, rows = instructions.prediction_family_rows(preds)
        if rows:
            blocks.append(("table", headers, rows))
    if counts.get("prediction"):
        if instructions.plot_prediction(counts, out / "instructions_vs_time.png"):
            blocks.append(
                (
                    "img",
                    Plot(
                        "instructions_vs_time.png",
                        "Instructions against wall time",
                        "Native ns per op against callgrind instructions per op (and "
                        "estimated cycles per op), measured in the same run: dots on one "
                        "rising line mean the figure ranks the flavours as the clock does.",
                        1,
                    ),
                )
            )
    return blocks
