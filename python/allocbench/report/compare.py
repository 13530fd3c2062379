"""Several runs side by side (``python -m allocbench.report <a> <b> …``, make
report-compare), e.g. one per interpreter or PYTHONMALLOC value: what the runs are and how
they differ (``run_dimensions``), each family's verdict per run, every flavour / the
reference per run, each flavour against itself across runs (``compare_blocks``). Two runs
first get ``replicate.replication_blocks``. Written by ``compare_runs``; ``compare_text``
is the table make bench prints.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable
from pathlib import Path

from .. import FLAVOURS, atomic, catalogue
from .document import Block, fmt_ratio, render_html, render_markdown
from .load import MACHINE_KEYS, ReportInputError, RunData, load_run
from .replicate import replication_blocks
from .stats import CONFIDENCE, EQUIVALENCE_MARGIN, welch_ratio
from .verdict import family_benchmarks, verdict_short, verdicts

# What a run is beyond its figures. A comparison names the runs by those that differ.
RUN_DIMENSIONS = ("interpreter", "build", "glibc", "PYTHONMALLOC", "mode", "filter", "flavours")
RUN_DIMENSIONS += ("commit",)
# The dimensions a comparison is made for (item: PY=a,b and PYTHONMALLOC=a,b): the runs'
# column labels. A difference in any other one is flagged.
COMPARED_DIMENSIONS = ("interpreter", "build", "glibc", "PYTHONMALLOC")


def run_dimensions(data: RunData) -> dict[str, str]:
    """The run's interpreter (id and build), glibc, PYTHONMALLOC, mode, filter, flavours and
    commit, from run.json, else from the pyperf metadata (runs stored before run.json
    recorded the interpreter)."""
    rec, md = data.record, data.metadata[data.flavours[0]]
    interp = rec.get("interpreter") or {}
    pm = rec.get("pythonmalloc") or md.get("bench_pythonmalloc") or md.get("pythonmalloc", "?")
    return {
        "interpreter": interp.get("id")
        or md.get("interpreter")
        or f"CPython {str(md.get('python_version', '?')).split()[0]}",
        "build": interp.get("summary")
        or md.get("python_build")
        or "build not recorded (the run predates the record)",
        "glibc": str(md.get("glibc", "?")),
        "PYTHONMALLOC": "default" if pm == "unset (pymalloc)" else str(pm),
        "mode": str(rec.get("mode", md.get("bench_mode", "?"))),
        "filter": repr(rec["filter"]) if rec.get("filter") else "none",
        "flavours": ",".join(data.flavours),
        "commit": str(md.get("git_commit", "?"))[:12],
    }


def _family_level(data: RunData, names: list[str], flavour: str) -> list[float]:
    """Per round (those every benchmark has): the geometric mean over ``names`` of the
    flavour's own mean, for comparing a flavour with itself in another run."""
    if not names:
        return []
    means = [data.round_means(flavour, n) for n in names]
    rounds = set.intersection(*(set(m) for m in means))
    return [math.exp(statistics.fmean(math.log(m[r]) for m in means)) for r in sorted(rounds)]


def _machine(data: RunData) -> tuple:
    md = data.metadata[data.flavours[0]]
    return tuple(md.get(k) for k in MACHINE_KEYS)


def compare_blocks(datas: list[RunData]) -> tuple[list[Block], Block]:
    """The comparison of several runs: what they are, each family's verdict per run side by
    side (``verdicts``, per run: winner and winner / reference, measured within the run),
    every flavour / reference per run, and each flavour against itself across runs. Returns
    (blocks, the verdict table). Refuses runs of different machines."""
    if len(datas) < 2:
        raise ReportInputError("a comparison needs at least two runs")
    machines = {_machine(d) for d in datas}
    if len(machines) > 1:
        raise ReportInputError(
            "the runs were measured on different machines ("
            + "; ".join(f"{d.run_dir.name}: {_machine(d)}" for d in datas)
            + "): their verdicts would compare machines"
        )
    dims = [run_dimensions(d) for d in datas]
    differ = [k for k in RUN_DIMENSIONS if len({x[k] for x in dims}) > 1]
    same = [k for k in RUN_DIMENSIONS if k not in differ]
    label_keys = [k for k in ("interpreter", "PYTHONMALLOC") if k in differ]
    labels = [
        " ".join(x[k] if k == "interpreter" else f"{k}={x[k]}" for k in label_keys) for x in dims
    ]
    if len(set(labels)) < len(labels):
        labels = [d.record.get("run_id", d.run_dir.name) for d in datas]
    blocks: list[Block] = [
        (
            "table",
            ["run", "label", "interpreter", "build", "PYTHONMALLOC", "mode", "wall time"],
            [
                [
                    d.record.get("run_id", d.run_dir.name),
                    label,
                    x["interpreter"],
                    x["build"],
                    x["PYTHONMALLOC"],
                    x["mode"],
                    f"{d.record['total_wall_s']:.0f} s" if d.record.get("total_wall_s") else "-",
                ]
                for d, x, label in zip(datas, dims, labels, strict=True)
            ],
        ),
        (
            "p",
            "The runs differ in: "
            + (", ".join(differ) or "nothing recorded")
            + "; they are the same in: "
            + (", ".join(f"{k} ({dims[0][k]})" for k in same) or "nothing")
            + ".",
        ),
    ]
    extra = [k for k in differ if k not in COMPARED_DIMENSIONS]
    if extra:
        blocks.append(
            (
                "p",
                f"Note: the runs also differ in {', '.join(extra)}, so a change of verdict "
                "below may come from that too.",
            )
        )
    if "glibc" in differ and "interpreter" in differ:
        blocks.append(
            (
                "p",
                "The interpreters run on different C libraries (glibc above): the system "
                "flavour's malloc changes with them, so a change between these columns mixes "
                "an interpreter change with a C-library change. Two builds on the same glibc "
                "(3.11 and 3.11-debian) separate the interpreter's build alone.",
            )
        )
    per_run = [{v.family: v for v in verdicts(d)} for d in datas]
    families = [f for f in catalogue.FAMILIES if any(f in v for v in per_run)]

    rows = []
    for fam in families:
        vs = [p.get(fam) for p in per_run]
        answers = [v.answer if v is not None else "-" for v in vs]
        metric = next(v.metric for v in vs if v is not None)
        rows.append(
            [fam, metric]
            + [verdict_short(v) if v is not None else "-" for v in vs]
            + ["no" if len(set(answers)) == 1 else "yes: " + " / ".join(answers)]
        )
    refs = sorted({d.reference for d in datas})
    verdict_table: Block = ("table", ["family", "metric", *labels, "answer changes?"], rows)
    blocks += [
        ("h2", "Verdict per run"),
        (
            "p",
            f"Each cell: the family's winner and its ratio to {'/'.join(refs)} measured within "
            "that run (< 1: faster or smaller), or the flavours that tie (within the margin "
            f"of {EQUIVALENCE_MARGIN:.0%} or the {CONFIDENCE:.0%} interval over rounds), the "
            "same verdict as each run's own report. Answer changes: whether the winners "
            "differ (a tie is an answer too).",
        ),
        verdict_table,
    ]
    flavours = [f for f in FLAVOURS if any(f in d.flavours for d in datas)]
    ratio_rows = []
    for fam in families:
        for f in flavours:
            if refs == [f]:
                continue  # the reference against itself: 1 in every run
            cells = []
            for p in per_run:
                v = p.get(fam)
                cells.append(fmt_ratio(v.ratios[f]) if v is not None and f in v.ratios else "-")
            ratio_rows.append([fam, f, *cells])
    blocks += [
        ("h2", f"Every flavour / {'/'.join(refs)}, per run"),
        (
            "p",
            "Geometric mean over the family's benchmarks and the run's rounds of flavour mean "
            f"/ reference mean in each run, with its {CONFIDENCE:.0%} interval over rounds.",
        ),
        ("table", ["family", "flavour", *labels], ratio_rows),
    ]
    # Each flavour against itself: run k / the first run, over the benchmarks both ran.
    base = datas[0]
    cross_rows = []
    for fam in families:
        for f in flavours:
            cells = []
            for d in datas[1:]:
                if f not in d.flavours or f not in base.flavours:
                    cells.append("-")
                    continue
                _, names = family_benchmarks(d, fam)
                names = [
                    n
                    for n in names
                    if n in set(family_benchmarks(base, fam)[1])
                    and d.round_means(f, n)
                    and base.round_means(f, n)
                ]
                mine, theirs = _family_level(d, names, f), _family_level(base, names, f)
                cells.append(fmt_ratio(welch_ratio(mine, theirs)) if mine and theirs else "-")
            cross_rows.append([fam, f, *cells])
    blocks += [
        ("h2", f"Each flavour against itself: run / {labels[0]}"),
        (
            "p",
            "Geometric mean over the family's benchmarks of the flavour's mean in the run / its "
            f"mean in {labels[0]} (< 1: faster or smaller there), with Welch's "
            f"{CONFIDENCE:.0%} interval over the two runs' rounds (no round pairs them). The "
            "runs ran one after the other, so machine drift between them enters these ratios "
            "(the verdicts above are measured within each run and do not have that problem).",
        ),
        ("table", ["family", "flavour", *labels[1:]], cross_rows),
    ]
    return blocks, verdict_table


def compare_runs(run_dirs: Iterable[Path | str], out_dir: Path | str) -> Path:
    """Writes the comparison of ``run_dirs`` (``compare_blocks``) into ``out_dir``
    (index.html, index.md, compare.json); returns the path of index.html."""
    datas = [load_run(d) for d in run_dirs]
    blocks, _ = compare_blocks(datas)
    if len(datas) == 2:  # two runs: first, do their verdicts agree?
        blocks = [*replication_blocks(*datas), ("h2", "The runs"), *blocks]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = [d.record.get("run_id", d.run_dir.name) for d in datas]
    halves = [(d.record.get("replicate") or {}).get("runs") for d in datas]
    kind = "replication" if len(datas) == 2 and halves[0] == halves[1] == names else "comparison"
    title = f"allocbench {kind}: " + ", ".join(names)
    intro: list[Block] = [
        (
            "p",
            "Each run is a complete make bench run (its own report: results/report/<run id>/); "
            "this page puts their verdicts side by side.",
        )
    ]
    atomic.write_text(out / "index.md", render_markdown(title, intro + blocks))
    atomic.write_text(out / "index.html", render_html(title, intro + blocks))
    record = {"runs": [str(Path(d).resolve()) for d in run_dirs], "run_ids": names}
    atomic.write_text(out / "compare.json", json.dumps(record, indent=1) + "\n")
    return out / "index.html"


def compare_text(run_dirs: Iterable[Path | str]) -> str:
    """The verdict-per-run table of ``compare_blocks`` as Markdown (printed by make bench)."""
    _, table = compare_blocks([load_run(d) for d in run_dirs])
    return render_markdown("Verdict per run", [table]).split("\n", 2)[2].rstrip()
