"""The report as a document: ``Block`` s (heading, paragraph, table, image, preformatted
text) rendered as Markdown and as HTML and written atomically, and the formatting of
figures the sections share (``fmt_time``, ``fmt_bytes``, ``fmt_ratio``, ``ratio_words``).
"""

from __future__ import annotations

import html
import math

from .stats import CONFIDENCE, RoundRatio


def fmt_time(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def fmt_bytes(n: float | None) -> str:
    if n is None or math.isnan(n):
        return "-"
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B"


def fmt_ratio(r: RoundRatio) -> str:
    return r.text()


def _interval_words(r: RoundRatio) -> str:
    if not r.has_interval:
        return f"{r.rounds} round{'s' * (r.rounds != 1)}: no interval"
    return f"{CONFIDENCE:.0%} interval {r.low:.2f}-{r.high:.2f} over {r.rounds} rounds"


def ratio_words(r: float, memory: bool = False) -> str:
    """A ratio (flavour / reference) of times, or of memory sizes, in words."""
    less, more = ("smaller", "larger") if memory else ("faster", "slower")
    if r == 1:
        return "the same"
    if abs(1 - r) < 0.05:  # "1.00x" would hide a small difference
        return f"{abs(1 - r):.1%} {less if r < 1 else more}"
    return f"{1 / r:.2f}x {less}" if r < 1 else f"{r:.2f}x {more}"


# ("h2", text) | ("p", text) | ("table", headers, rows) | ("img", Plot) | ("pre", text)
Block = tuple


def render_markdown(title: str, blocks: list[Block]) -> str:
    lines = [f"# {title}", ""]
    for b in blocks:
        kind = b[0]
        if kind == "h2":
            lines += [f"## {b[1]}", ""]
        elif kind == "p":
            lines += [b[1], ""]
        elif kind == "table":
            cell = lambda s: str(s).replace("|", "\\|")  # noqa: E731
            lines.append("| " + " | ".join(cell(h) for h in b[1]) + " |")
            lines.append("|" + "---|" * len(b[1]))
            lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in b[2]]
            lines.append("")
        elif kind == "img":
            lines += [f"![{b[1].title}]({b[1].file})", "", f"*{b[1].caption}*", ""]
        elif kind == "pre":
            lines += ["```", b[1], "```", ""]
    return "\n".join(lines)


def render_html(title: str, blocks: list[Block]) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{e(title)}</title><style>",
        "body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}",
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;",
        "padding:3px 8px;font-size:90%;text-align:left}img{max-width:100%}",
        "pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:80%}",
        "</style></head><body>",
        f"<h1>{e(title)}</h1>",
    ]
    for b in blocks:
        kind = b[0]
        if kind == "h2":
            parts.append(f"<h2>{e(b[1])}</h2>")
        elif kind == "p":
            parts.append(f"<p>{e(b[1])}</p>")
        elif kind == "table":
            parts.append("<table><tr>" + "".join(f"<th>{e(str(h))}</th>" for h in b[1]) + "</tr>")
            for row in b[2]:
                parts.append("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>")
            parts.append("</table>")
        elif kind == "img":
            parts.append(
                f"<figure><img src='{e(b[1].file)}' alt='{e(b[1].title)}'>"
                f"<figcaption>{e(b[1].caption)}</figcaption></figure>"
            )
        elif kind == "pre":
            parts.append(f"<pre>{e(b[1])}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
