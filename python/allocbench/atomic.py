"""Writing a file so that readers see the old content or the new, never a part.

Every result, record and launcher is written to a temporary file beside its target
(``.<name>.tmp<pid>``: the same filesystem, hidden, one per process), then renamed over it
(``os.replace``, atomic on POSIX). An interrupted run leaves the previous file intact and
at worst a stray temporary file.

Standard library only: asv environments and other interpreters' workers import it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def temporary(path: str | os.PathLike[str]) -> Path:
    """The temporary file a write of ``path`` goes through."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def write_with(
    path: str | os.PathLike[str],
    write: Callable[[Path], object],
    *,
    mode: int | None = None,
    sync: bool = False,
) -> None:
    """``write(tmp)`` fills the temporary file, which then replaces ``path``. ``mode``: its
    permission bits; ``sync``: flush every filesystem first (a stamp that must not name
    content still in the page cache)."""
    tmp = temporary(path)
    write(tmp)
    if mode is not None:
        tmp.chmod(mode)
    if sync:
        os.sync()
    os.replace(tmp, path)


def write_text(
    path: str | os.PathLike[str], text: str, *, mode: int | None = None, sync: bool = False
) -> None:
    """``text`` (UTF-8) into ``path``, atomically."""
    write_with(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), mode=mode, sync=sync)


def write_json(
    path: str | os.PathLike[str], data: Any, *, indent: int = 1, sort_keys: bool = True
) -> None:
    """``data`` as JSON (one trailing newline) into ``path``, atomically."""
    write_text(path, json.dumps(data, indent=indent, sort_keys=sort_keys) + "\n")
