"""Loading a flavour of the extension, and checking it is the one that was asked for.

A process holds one flavour. Which one is decided by the import path (``make build``
installs each flavour into ``build/flavours/<name>``; asv installs one per environment);
``ALLOCBENCH_FLAVOUR`` names the flavour the caller expects, and loading fails loudly when
the extension found was built with another backend.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

from . import FLAVOURS

ENV_VAR = "ALLOCBENCH_FLAVOUR"
ROOT = Path(__file__).resolve().parents[2]


class FlavourMismatch(ImportError):
    """The extension on the path was built with another backend than the one asked for."""


def check_name(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"flavour must be a str, one of {', '.join(FLAVOURS)}; got {name!r}")
    if name not in FLAVOURS:
        raise ValueError(f"flavour must be one of {', '.join(FLAVOURS)}; got {name!r}")
    return name


def flavour_dir(name: str, root: Path | None = None) -> Path:
    """Where ``make build FLAVOUR=name`` installs the flavour (a PYTHONPATH entry)."""
    return (root or ROOT) / "build" / "flavours" / check_name(name)


def subprocess_env(name: str, base: dict[str, str] | None = None, root: Path | None = None):
    """Environment for a child process that must run flavour ``name``."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = str(flavour_dir(name, root))
    env[ENV_VAR] = name
    return env


def load(expected: str | None = None) -> ModuleType:
    """Imports the extension and checks its backend against ``expected`` (default: the
    ``ALLOCBENCH_FLAVOUR`` environment variable; no check when neither is given)."""
    expected = expected if expected is not None else os.environ.get(ENV_VAR) or None
    if expected is not None:
        check_name(expected)
    try:
        from . import _rustext
    except ImportError as e:
        hint = f"make build FLAVOUR={expected}" if expected else "make build FLAVOUR=<name>"
        raise ImportError(
            f"allocbench's extension is not importable ({e}); build a flavour first: {hint}"
        ) from e
    got = _rustext.backend_name()
    if expected is not None and got != expected:
        raise FlavourMismatch(
            f"asked for flavour {expected!r} but {_rustext.__file__} was built with backend {got!r}"
        )
    return _rustext
