"""The hazard matrix's stored record (``hazards.json``) and its Markdown (``hazards.md``):
one table per cell, the interpreters and flavours it ran on, the surprises (cells whose
outcome differs from the prediction) and where the hung cells wait.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import atomic


def table(data: dict[str, Any], cell: str) -> str:
    flavours = list(data["flavours"])
    by = {
        (r["interpreter"], r["pythonmalloc"], r["flavour"]): r
        for r in data["results"]
        if r["cell"] == cell
    }
    lines = [
        "| interpreter | PYTHONMALLOC | " + " | ".join(flavours) + " |",
        "|---|---|" + "---|" * len(flavours),
    ]
    for ident in data["interpreters"]:
        for pm in data["pythonmalloc"]:
            row = [by.get((ident, pm, f)) for f in flavours]
            if not any(row):
                continue
            texts = []
            for r in row:
                if r is None:
                    texts.append("n/a")
                else:
                    texts.append(r["label"] + ("" if r["as_predicted"] else " (!)"))
            lines.append(f"| {ident} | {pm} | " + " | ".join(texts) + " |")
    return "\n".join(lines)


def markdown(data: dict[str, Any]) -> str:
    out = [
        f"# Hazard matrix, run {data.get('run_id', '?')}",
        "",
        f"Started {data['started']}, wall time {data['wall_s']} s, commit "
        f"{data['git_commit'][:12]}, machine {data['machine']}; timeout {data['timeout_s']:g} s "
        f"per cell, {data['parallel']} children at once. Blocks: {data['parameters']['small']} B "
        f"and {data['parameters']['large']} B, {data['parameters']['count']} of each per join.",
        "",
        "## Interpreters",
        "",
        "| id | version | command | libc | raw hook takes the GIL (expected, <= 3.14) |",
        "|---|---|---|---|---|",
    ]
    for ident, i in data["interpreters"].items():
        out.append(
            f"| {ident} | {i['sys_version']} | `{i['command']}` | {i['libc']} | "
            f"{'yes' if i['tracemalloc_raw_hook_takes_gil_expected'] else 'no'} |"
        )
    for what, key in (("Missing", "missing"), ("Refused", "refused")):
        for ident, why in data.get(key, {}).items():
            out.append(f"\n{what}: {ident}: {why}")
    out += ["", "## Flavours", ""]
    for f, facts in data["flavours"].items():
        out.append(f"- {f}: `_rustext` sha256 {facts['extension_sha256'][:16]}…")
    for cell, what in data["cells"].items():
        out += ["", f"## ({cell}) {what}", "", table(data, cell)]
    out += [
        "",
        "(!) marks a cell whose outcome differs from the prediction (raw hook takes the GIL on "
        "<= 3.14; pymem-raw sends every block to the raw domain, pymem only blocks > 512 B).",
    ]
    surprises = [r for r in data["results"] if not r["as_predicted"]]
    out += ["", f"## Surprises: {len(surprises)}", ""]
    for r in surprises:
        out.append(
            f"- {r['interpreter']} {r['pythonmalloc']} {r['flavour']} ({r['cell']}): measured "
            f"{r['label']}, predicted {r['predicted']}"
        )
    stacks: dict[tuple[str, str], list[str]] = {}
    for r in data["results"]:
        threads = r.get("stack") or []
        alloc = [t for t in threads if t["name"] == "hazard-alloc" and t["frames"]]
        main = [t for t in threads if t["main"] and t["frames"]]
        if alloc or main:
            sig = tuple(" < ".join(t[0]["frames"][:7]) if t else "?" for t in (alloc, main))
            stacks.setdefault(sig, []).append(  # type: ignore[arg-type]
                f"{r['interpreter']}/{r['pythonmalloc']}/{r['flavour']}/{r['cell']}"
            )
    if stacks:
        out += [
            "",
            "## Where the hung cells wait (gdb `--stacks`, innermost frame first)",
            "",
            "Full backtraces: `stacks/`.",
        ]
        for (alloc_sig, main_sig), where in stacks.items():
            out += [
                "",
                f"{len(where)} cells, e.g. {', '.join(where[:4])}:",
                f"- allocating thread: `{alloc_sig}`",
                f"- main thread (holds the GIL): `{main_sig}`",
            ]
    return "\n".join(out) + "\n"


def write(data: dict[str, Any], json_path: Path) -> Path:
    json_path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_json(json_path, data, sort_keys=False)
    md = json_path.with_suffix(".md")
    md.write_text(markdown(data))
    return md
