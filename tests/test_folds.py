"""The built extension of every flavour makes the calls its workloads claim to measure.

The compiler may change what a workload measures: LLVM folded ``malloc`` + ``memset(0)``
into ``calloc`` in the system flavour's ``memset_vec``, so zeroed-family figures compared
calloc with calloc. ``allocbench.calls`` reads each workload's calls from the machine code
(objdump) and holds the rules; a compiler or code change that breaks one fails here.
"""

import pytest
from allocbench import calls
from helpers import FLAVOURS, ROOT, built


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_workloads_make_the_calls_they_measure(flavour):
    if not built(flavour):
        pytest.fail(f"flavour {flavour} is not built: make build FLAVOUR={flavour}")
    assert calls.violations(flavour, ROOT) == []


def test_the_fold_guard_sees_a_calloc_for_malloc_plus_memset(monkeypatch):
    """The rules on a disassembly where memset_vec calls calloc and no memset (what the
    system flavour's machine code did before the fix): the guard must name it."""
    real = calls.reached

    def folded(so, entry):
        got = real(so, entry)
        if entry.endswith("::memset_vec"):
            return (got - {"malloc", "memset"}) | {"calloc"}
        return got

    if not built("system"):
        pytest.fail("flavour system is not built: make build FLAVOUR=system")
    monkeypatch.setattr(calls, "reached", folded)
    found = calls.violations("system", ROOT)
    assert any("memset_vec must call memset" in v for v in found), found
    assert any("memset_vec must not allocate zeroed memory" in v for v in found), found
