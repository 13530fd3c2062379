//! The Python module `allocbench._rustext`, one file per concern: what the module says about
//! itself (`build_info`), the workloads (`workloads`), the tests' hooks (`checks`), valgrind's
//! client requests (`callgrind`); the hazard and soundness probes live beside the crate root
//! (`hazards.rs`, `soundness.rs`). This file holds the module init. The stub
//! `python/allocbench/_rustext.pyi` describes every function for type checkers
//! (`make lint` checks it against a built flavour with `mypy.stubtest`).

use crate::workloads::WorkloadError;
use allocbench_alloc::pyapi;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// `add!(m, f, g, ...)`: adds each `#[pyfunction]` to the module `m`.
macro_rules! add {
    ($m:expr, $($f:ident),* $(,)?) => { $( $m.add_function(wrap_pyfunction!($f, $m)?)?; )* };
}

mod build_info;
mod callgrind;
mod checks;
mod workloads;

impl From<WorkloadError> for PyErr {
    fn from(e: WorkloadError) -> PyErr {
        PyValueError::new_err(e.0)
    }
}

/// Begins the allocator's shutdown now (registered with Python's `atexit`: MEM-domain calls
/// stop when finalisation starts, before `Py_AtExit` would stop them).
#[pyfunction]
fn _begin_shutdown() {
    pyapi::begin_shutdown();
}

/// allocbench's extension, built once per allocator backend (its flavour): the workloads,
/// the tests' hooks, and the hazard and soundness probes. Subinterpreters are not supported:
/// PyO3 refuses a second interpreter, and the PyMem backend's fallback and deferred-free
/// state is process-wide.
#[pymodule(gil_used = true)]
fn _rustext(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    // Calibrate the probe here, on the importing thread holding the GIL, in every flavour:
    // the PyMem ones did in their first allocation (which also registered Py_AtExit); the
    // others never call CPython themselves, but soundness.rs asks the probe.
    pyapi::resolve();
    // Stops MEM-domain calls when Python's atexit handlers run, before Py_AtExit would.
    let hook = wrap_pyfunction!(_begin_shutdown, m)?;
    py.import("atexit")?
        .call_method1("register", (hook.clone(),))?;
    m.add_function(hook)?;
    m.add("SUBINTERPRETERS_SUPPORTED", false)?;
    m.add(
        "FALLBACK_REGION_BYTES",
        allocbench_alloc::FALLBACK_REGION_BYTES,
    )?;
    // The primitives `c_pair` takes in this flavour ("own" first).
    let names = crate::workloads::c_pair::CPrimitive::available_names();
    m.add("C_PAIR_PRIMITIVES", PyTuple::new(py, names)?)?;
    build_info::register(m)?;
    workloads::register(m)?;
    checks::register(m)?;
    callgrind::register(m)?;
    crate::hazards::register(m)?; // the hazard matrix's probes (hazards.rs)
    crate::soundness::register(m)?; // the soundness reproductions (soundness.rs)
    Ok(())
}
