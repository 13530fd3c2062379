"""Every workload of every flavour under the debug hooks (PYTHONMALLOC=debug), on every
interpreter of the suite (helpers.PYTHONS: 3.11-3.15, or make test PY=…), plus the
thread-state checks: a MEM-domain call without the GIL, a write past a block or a block
freed by the wrong family aborts the process there."""

import pytest
from helpers import FLAVOURS, PYTHONS, built, need_python, run_flavour

CHECKS = """
import allocbench.flavour as f
m = f.load()
for align in (1, 8, 16, 64, 4096):
    for size in (1, 24, 512, 513, 100_000):
        m.check_layout(size, align, size * 2 + 7, max(1, size // 3))
m.check_handoff(2000, 48, "attached_to_detached")
m.check_handoff(2000, 48, "detached_to_attached")
ops = [(k % 4, k % 17, (k * 37) % 900 + 1, 1 << (k % 7)) for k in range(3000)]
m.check_ops(17, ops, True)
m.check_ops(17, ops, False)
print("checks ok")
"""


@pytest.mark.parametrize("version", PYTHONS)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_workloads_under_debug_hooks(flavour, version):
    python = need_python(version)
    if not built(flavour):
        pytest.fail(f"flavour {flavour} is not built")
    env = {"PYTHONMALLOC": "debug", "PYTHONFAULTHANDLER": "1"}
    out = run_flavour(flavour, ["-m", "allocbench", "smoke"], python=python, env=env)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    assert "smoke: 0 failed" in out.stdout
    out = run_flavour(flavour, ["-c", CHECKS], python=python, env=env)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    assert "checks ok" in out.stdout


@pytest.mark.parametrize("version", PYTHONS)
def test_debug_hooks_catch_a_detached_pymem_call(version):
    """Negative control: in these interpreters, under PYTHONMALLOC=debug, one PyMem_Malloc
    without the GIL aborts the process, so the runs above would fail if ours made one."""
    python = need_python(version)
    code = (
        "import ctypes\n"
        "f = ctypes.CDLL(None).PyMem_Malloc  # CDLL: called with the GIL released\n"
        "f.restype = ctypes.c_void_p\n"
        "f(64)\n"
        "print('not caught')\n"
    )
    out = run_flavour("system", ["-c", code], python=python, env={"PYTHONMALLOC": "debug"})
    assert out.returncode != 0 and "not caught" not in out.stdout
    assert "without holding the GIL" in out.stderr
