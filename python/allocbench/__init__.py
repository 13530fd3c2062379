"""allocbench: which allocator should a Rust extension for Python use?

The package is importable without a built extension (the catalogue and the report tools
need none). `allocbench.flavour.load()` imports the extension and checks its backend.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("allocbench")
except PackageNotFoundError:  # running from the source tree
    __version__ = "0+source"

FLAVOURS = ("pymem", "pymem-raw", "system", "mimalloc", "jemalloc")
"""Every allocator backend, by flavour name (cargo feature ``alloc-<name>``)."""
