"""Do two runs of the same plan agree (the halves of ``make bench REPLICATE=1``, or one plan
on two days)? Per family: the same answer (a winner, or a tie in both), and each run's ratios
inside the other's interval (``agreement``, ``replication``); the report's section
(``replication_blocks``) and the text make bench prints (``replication_text``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .. import catalogue
from .document import Block, render_markdown
from .load import RunData, load_run
from .stats import CONFIDENCE, EQUIVALENCE_MARGIN, RoundRatio
from .verdict import Verdict, verdict_short, verdicts


@dataclass
class Agreement:
    """One family in two runs: the same verdict? each run's ratios inside the other's
    interval? ``inside_ab``: flavour -> run a's ratio (to the reference) inside run b's
    interval (None: b has no interval); ``inside_ba`` the other way round."""

    family: str
    a: Verdict
    b: Verdict
    inside_ab: dict[str, bool | None]
    inside_ba: dict[str, bool | None]

    @property
    def same(self) -> bool:
        """The same winner, or both a tie."""
        return self.a.answer == self.b.answer


def agreement(a: Verdict, b: Verdict) -> Agreement:
    """Compares one family's verdicts of two runs (the reference's own ratio, 1 in both,
    is left out)."""
    if a.family != b.family:
        raise ValueError(f"agreement compares one family; got {a.family!r} and {b.family!r}")
    flavours = [f for f in a.ratios if f in b.ratios and f not in (a.reference, b.reference)]

    def inside(x: RoundRatio, y: RoundRatio) -> bool | None:
        return y.contains(x.value) if y.has_interval else None

    return Agreement(
        a.family,
        a,
        b,
        {f: inside(a.ratios[f], b.ratios[f]) for f in flavours},
        {f: inside(b.ratios[f], a.ratios[f]) for f in flavours},
    )


def replication(a: RunData, b: RunData) -> list[Agreement]:
    """Every family both runs have a verdict for, in the catalogue's order."""
    va, vb = {v.family: v for v in verdicts(a)}, {v.family: v for v in verdicts(b)}
    return [agreement(va[f], vb[f]) for f in catalogue.FAMILIES if f in va and f in vb]


def _inside_cell(inside: dict[str, bool | None], x: Verdict, y: Verdict) -> str:
    known = {f: v for f, v in inside.items() if v is not None}
    if not known:
        return "no interval" if inside else "-"
    outside = [
        f"{f} {x.ratios[f].value:.2f} outside {y.ratios[f].text().split(' ', 1)[1]}"
        for f, v in known.items()
        if not v
    ]
    return f"{len(known) - len(outside)} of {len(known)}" + (
        f" ({'; '.join(outside)})" if outside else ""
    )


def replication_blocks(a: RunData, b: RunData) -> list[Block]:
    """The replication section: per family both runs' verdicts, whether they agree, and
    whether each run's ratios lie inside the other's intervals; "N of M families agree"."""
    names = [d.record.get("run_id", d.run_dir.name) for d in (a, b)]
    rows, agree = [], replication(a, b)
    for g in agree:
        rows.append(
            [
                g.family,
                verdict_short(g.a),
                verdict_short(g.b),
                "yes" if g.same else "no",
                _inside_cell(g.inside_ab, g.a, g.b),
                _inside_cell(g.inside_ba, g.b, g.a),
            ]
        )
    pairs = [
        (v, w)
        for g in agree
        for v, w in zip(g.inside_ab.values(), g.inside_ba.values(), strict=True)
    ]
    ab = [v for v, _ in pairs if v is not None]
    ba = [w for _, w in pairs if w is not None]
    same = sum(g.same for g in agree)
    summary = f"{same} of {len(agree)} families agree (the same winner, or both a tie)."
    if ab or ba:
        summary += (
            f" Ratios to the reference inside the other run's {CONFIDENCE:.0%} interval: "
            f"{sum(ab)} of {len(ab)} ({names[0]} in {names[1]}'s), {sum(ba)} of {len(ba)} "
            f"({names[1]} in {names[0]}'s)."
        )
    return [
        ("h2", f"Replication: do {names[0]} and {names[1]} agree?"),
        ("p", summary),
        (
            "p",
            "Each family's verdict in both runs (winner and its ratio to the reference, or the "
            f"flavours that tie: within the ±{EQUIVALENCE_MARGIN:.0%} margin or the interval "
            "over rounds). Agree: the same winner, or a tie in both. When both runs measure "
            "the same thing, one run's ratio lies inside the other's interval most of the "
            "time (about 83 % for a 95 % interval, more with few rounds); many misses mean "
            "the intervals are narrower than the drift between the runs.",
        ),
        (
            "table",
            [
                "family",
                names[0],
                names[1],
                "agree?",
                f"{names[0]}'s ratios inside {names[1]}'s interval",
                f"{names[1]}'s ratios inside {names[0]}'s interval",
            ],
            rows,
        ),
    ]


def replication_text(run_dirs: Iterable[Path | str]) -> str:
    """The replication section of two runs as Markdown (printed by make bench REPLICATE=1)."""
    a, b = [load_run(d) for d in run_dirs]
    return render_markdown("Replication", replication_blocks(a, b)).split("\n", 2)[2].rstrip()
