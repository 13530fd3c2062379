"""The tests in ``in_flavour/`` run inside one flavour's process: test_flavours.py starts a
child pytest with that flavour on the path and ALLOCBENCH_FLAVOUR set. From the top-level
run they are not collected, and the source package (no extension) is put on the path."""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
IN_FLAVOUR = bool(os.environ.get("ALLOCBENCH_FLAVOUR"))

# ext_fixture: an extension project whose own tests run inside its built flavours only.
collect_ignore = ["ext_fixture"] + ([] if IN_FLAVOUR else ["in_flavour"])
if not IN_FLAVOUR:
    sys.path.insert(0, str(HERE.parent / "python"))
    sys.path.insert(0, str(HERE))
