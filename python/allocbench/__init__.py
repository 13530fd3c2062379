"""allocbench: which allocator should a Rust extension for Python use?

The package is importable without a built extension (the catalogue and the report tools
need none). `allocbench.flavour.load()` imports the extension and checks its backend.
"""

import re
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version

from . import registry

try:
    __version__ = version("allocbench")
except PackageNotFoundError:  # running from the source tree
    __version__ = "0+source"

FLAVOURS = registry.NAMES
"""Every allocator backend, by flavour name (cargo feature ``alloc-<name>``), in the order of
the flavour registry (``allocbench.registry``)."""


def split_names(text: str, check: Callable[[str], object], twice: Callable[[str], Exception]):
    """``a,b`` (commas or spaces) -> the names in order, each passed to ``check`` (which
    raises for a bad one); a name given twice raises ``twice(name)``. Shared by the
    ``FLAVOURS=`` and ``PY=`` knobs."""
    seen: list[str] = []
    for n in re.split(r"[,\s]+", text.strip()):
        if not n:
            continue
        check(n)
        if n in seen:
            raise twice(n)
        seen.append(n)
    return seen
