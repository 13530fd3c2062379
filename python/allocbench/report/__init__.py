"""The report of a ``make bench`` run, from its stored pyperf JSON alone.

    python -m allocbench.report results/pyperf/<run id> [--out results/report/<run id>]
    python -m allocbench.report results/pyperf/<a> results/pyperf/<b> … [--out DIR]

(the second: the comparison of several runs, e.g. one per interpreter or PYTHONMALLOC value:
each family's verdict per run side by side, ``compare_runs``)

reads ``<flavour>.json`` (pyperf's format, written by ``allocbench.bench``) and ``run.json``
(the orchestrator's record: mode, plan, wall time), and writes ``index.html`` and
``index.md`` (the same content). The answer comes first: per family the winner or a tie, by
how much, how sure, one sentence of advice (``answer_section``), and every flavour's ratio to
the reference; then PNG plots drawn by matplotlib as small multiples (the verdict per family,
each flavour / the reference against block size, each flavour against its raw baseline,
realloc growth and the in-place fraction, the fragmentation timeline, thread scaling, the
Python interplay), the tables behind them, ``pyperf compare_to``, how the run was made, the
stored instruction counts and hazard matrix, and the targets of the project last. Two runs
given together also get ``replication_blocks``: do their verdicts agree?

Statistics (module ``stats``; the comment above ``round_ratio`` says why). The unit
is the round: ``make bench`` runs every flavour once per round, within seconds, order
rotated. Per benchmark and round: flavour mean / reference mean; per family and round: the
geometric mean over the family's benchmarks; the verdict's ratio: the geometric mean over
rounds with a 95 % Student-t interval over the rounds (in logs). Two flavours tie when that
interval contains 1 or the ratio is within ``EQUIVALENCE_MARGIN`` (2 %) of 1; a family has a
winner only when its best flavour beats every other one so. A run of one round has no
interval: every family ties. Runs stored before rounds were recorded (no ``bench_round``
metadata) pair each flavour's k-th process as round k. A ratio (< 1: the flavour is faster,
or uses less memory) is flavour / reference. ``make bench REPLICATE=1`` measures two
interleaved halves; ``replication_blocks`` says whether their verdicts agree.

Input is refused, with a message naming the file, when a JSON is not pyperf's, was not made
by the allocbench suite, names no flavour, or when the files mix machines.

The modules, each importing only those before it: ``stats`` (the ratios over rounds),
``load`` (a stored run, checked), ``document`` (Markdown and HTML, number formatting),
``verdict`` (each family's verdict and its words), ``plots`` and ``workload_plots``
(matplotlib), ``goals`` (the project's targets), ``replicate`` (do two runs agree?),
``compare`` (several runs side by side), ``stored`` (the hazard matrix and instruction counts
stored beside the run), ``run_report`` (one run's report: ``build``), ``__main__`` (the
command line). The names other code uses are re-exported here: ``report.load_run``.
"""

from __future__ import annotations

from .compare import compare_blocks, compare_runs, compare_text, run_dimensions
from .document import Block, fmt_bytes, fmt_ratio, fmt_time, render_html, render_markdown
from .goals import Target, targets
from .load import REFERENCE, RUN_RECORD, ReportInputError, RunData, compare_to, load_run
from .plots import COLOURS, Plot
from .replicate import Agreement, agreement, replication, replication_blocks, replication_text
from .run_report import PLOTS, answer_section, build, ratio_section
from .stats import (
    CONFIDENCE,
    EQUIVALENCE_MARGIN,
    RoundRatio,
    family_ratio,
    round_ratio,
    rsd,
    welch_ratio,
)
from .stored import hazard_section, instruction_section
from .verdict import (
    NOISY_TIE,
    Verdict,
    advice,
    family_benchmarks,
    verdict_short,
    verdicts,
    within_words,
)

__all__ = [
    "COLOURS",
    "CONFIDENCE",
    "EQUIVALENCE_MARGIN",
    "NOISY_TIE",
    "PLOTS",
    "REFERENCE",
    "RUN_RECORD",
    "Agreement",
    "Block",
    "Plot",
    "ReportInputError",
    "RoundRatio",
    "RunData",
    "Target",
    "Verdict",
    "advice",
    "agreement",
    "answer_section",
    "build",
    "compare_blocks",
    "compare_runs",
    "compare_text",
    "compare_to",
    "family_benchmarks",
    "family_ratio",
    "fmt_bytes",
    "fmt_ratio",
    "fmt_time",
    "hazard_section",
    "instruction_section",
    "load_run",
    "ratio_section",
    "render_html",
    "render_markdown",
    "replication",
    "replication_blocks",
    "replication_text",
    "round_ratio",
    "rsd",
    "run_dimensions",
    "targets",
    "verdict_short",
    "verdicts",
    "welch_ratio",
    "within_words",
]
