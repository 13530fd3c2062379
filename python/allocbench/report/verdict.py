"""Each family's verdict: the benchmarks it compares (``family_benchmarks``; a memory family
compares RSS figures), ``verdicts`` (every flavour / the reference, and the best flavour /
each other one, paired round by round; a winner or a tie), and the verdict in words
(``verdict_short``, ``within_words``, ``advice``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .. import catalogue
from .load import RunData
from .stats import RoundRatio, family_ratio

# The verdict leaves out alloc_pair_unguarded: a diagnostic of the PyMem guard's cost (the
# unsound design one would not ship), equal to alloc_pair in every other flavour.
VERDICT_EXCLUDED = {"alloc_pair_unguarded"}
# Memory families have no time: their verdict compares one RSS figure (lower wins).
# Each family's figures (a benchmark per point and figure; the family's ratio is their
# geometric mean) and the words for them.
VERDICT_MEMORY_FIGURE = {
    # What a user of a fragmenting heap sees: the process's RSS once half the blocks are freed
    # (does the allocator give the holes back?) and once everything is dropped (what the
    # process keeps for good). The refill (the peak) is in the detail table.
    "fragmentation": ("free/rss_bytes", "drop/rss_bytes"),
    # RSS once the Rust and then the Python side are dropped: what the process keeps.
    "interplay": ("python_dropped/rss_bytes",),
}
VERDICT_MEMORY_WORDS = {
    "fragmentation": "process RSS after freeing half, and after dropping all (lower wins)",
    "interplay": "process RSS after dropping the Rust, then the Python side (lower wins)",
}


@dataclass
class Verdict:
    """A family's verdict. ``ratios``: each flavour / the reference; ``against_best``: the
    best flavour (lowest ratio) / each other flavour, paired round by round. The family has
    a winner only when the best flavour beats every other one (``RoundRatio.outcome``:
    the interval excludes 1 and the difference exceeds the margin); otherwise the flavours
    it does not beat tie with it."""

    family: str
    metric: str
    n: int  # benchmarks
    reference: str
    ratios: dict[str, RoundRatio]
    best: str
    against_best: dict[str, RoundRatio]
    memory: bool = False

    @property
    def ranked(self) -> list[str]:
        return sorted(self.ratios, key=lambda f: self.ratios[f].value)

    @property
    def runner_up(self) -> str | None:
        return self.ranked[1] if len(self.ratios) > 1 else None

    @property
    def margin(self) -> RoundRatio | None:
        """The best flavour / the runner-up."""
        return self.against_best.get(self.runner_up) if self.runner_up else None

    @property
    def rounds(self) -> int:
        return min((r.rounds for r in self.against_best.values()), default=0)

    @property
    def winner(self) -> str | None:
        beaten = [r.outcome() == "lower" for r in self.against_best.values()]
        complete = len(beaten) == len(self.ratios) - 1
        return self.best if beaten and complete and all(beaten) else None

    @property
    def tied(self) -> list[str]:
        """The flavours the run cannot tell from the best (the best first)."""
        if self.winner:
            return []
        return [
            f
            for f in self.ranked
            if f == self.best or (r := self.against_best.get(f)) is None or r.outcome() != "lower"
        ]

    @property
    def tie_within(self) -> float:
        """How close the tied flavours are, as far as the run can tell (NaN: no interval)."""
        spans = [
            r.within() if (r := self.against_best.get(f)) else math.nan
            for f in self.tied
            if f != self.best
        ]
        return max(spans) if spans and not any(math.isnan(x) for x in spans) else math.nan

    @property
    def answer(self) -> str:
        """The winner's name, or "tie"."""
        return self.winner or "tie"


def family_benchmarks(data: RunData, family: str) -> tuple[str, list[str]]:
    """(metric, benchmark names) a family's verdict compares."""
    if family in VERDICT_MEMORY_FIGURE:
        suffixes = tuple("/" + fig for fig in VERDICT_MEMORY_FIGURE[family])
        names = [
            n
            for n in data.names("byte")
            if n.endswith(suffixes)
            and (w := catalogue.CATALOGUE.get(n.split("[", 1)[0])) is not None
            and w.family == family
        ]
        return VERDICT_MEMORY_WORDS[family], names
    names = [
        n
        for n in data.names("second")
        if (w := catalogue.CATALOGUE.get(n.split("[", 1)[0])) is not None
        and w.family == family
        and w.name not in VERDICT_EXCLUDED
    ]
    return "time per op (lower wins)", names


def _pairs(data: RunData, names: list[str], a: str, b: str):
    return [(data.round_means(a, n), data.round_means(b, n)) for n in names]


def verdicts(data: RunData) -> list[Verdict]:
    out = []
    for family in catalogue.FAMILIES:
        metric, names = family_benchmarks(data, family)
        # Only benchmarks every flavour ran, with a positive figure: a geometric mean over
        # different sets misleads.
        names = [
            n
            for n in names
            if all((m := data.round_means(f, n)) and min(m.values()) > 0 for f in data.flavours)
        ]
        if not names:
            continue
        ratios = {f: family_ratio(_pairs(data, names, f, data.reference)) for f in data.flavours}
        if any(r is None for r in ratios.values()):
            continue  # no round that every flavour ran (an interrupted run)
        best = min(data.flavours, key=lambda f: ratios[f].value)
        against = {
            f: r
            for f in data.flavours
            if f != best and (r := family_ratio(_pairs(data, names, best, f))) is not None
        }
        out.append(
            Verdict(
                family,
                metric,
                len(names),
                data.reference,
                ratios,
                best,
                against,
                family in VERDICT_MEMORY_FIGURE,
            )
        )
    return out


# What each family measures, in a user's words (the advice of the answer table).
FAMILY_WHAT = {
    "throughput": "allocation-heavy code (small-block churn, mixed sizes, collections, JSON)",
    "raw": "the backends' primitives called directly (a diagnostic: not the GlobalAlloc path)",
    "realloc": "growing and shrinking buffers (Vec push, String append, reserve_exact)",
    "zeroed": "large zeroed or memset buffers (4 KiB to 1 MiB)",
    "fragmentation": "a heap that fills, frees half, refills and drops everything",
    "threads": "allocation on several Rust threads at once, and frees on another thread",
    "interplay": "Rust blocks interleaved with Python objects, then both dropped",
}
# A tie wider than this says more about the machine than about the allocators.
NOISY_TIE = 0.10


def _rounds_words(n: int) -> str:
    return f"{n} round{'s' * (n != 1)}"


def within_words(v: Verdict) -> str:
    """How closely tied flavours are: "±3.1%", or for wide ties "a factor of 2.8"."""
    x = v.tie_within
    if math.isnan(x):
        return f"no interval ({_rounds_words(v.rounds)})"
    return f"±{x:.1%}" if x <= 0.5 else f"a factor of {1 + x:.2g}"


def verdict_short(v: Verdict) -> str:
    """A family's answer in a few words: the winner and its ratio to the reference, or the
    flavours that tie and how closely."""
    if v.winner == v.reference:
        return f"{v.winner} (the reference)"
    if v.winner:
        return f"{v.winner} {v.ratios[v.winner].value:.2f}"
    return f"tie: {', '.join(v.tied)} ({within_words(v)})"


def advice(v: Verdict) -> str:
    """One sentence a user can act on."""
    what = FAMILY_WHAT.get(v.family, v.family)
    if v.winner:
        return f"If {what} dominates your extension, use {v.winner}."
    if v.rounds < 2:
        return (
            "One round cannot separate the flavours: run make bench with more rounds "
            "(MODE=quick or rigorous)."
        )
    if v.tie_within > NOISY_TIE:
        return (
            f"Too noisy to choose (the flavours could differ by {within_words(v)}): "
            "rerun with MODE=rigorous, on a quiet machine."
        )
    return (
        f"For {what}, choose between {', '.join(v.tied)} on other grounds: this run cannot "
        f"tell them apart by more than {v.tie_within:.1%}."
    )
