//! What the module says about itself: the backend it was built with, the build facts, the
//! backend's own counters.

use crate::build_facts;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The allocator backend this flavour was built with (its flavour's name).
#[pyfunction]
fn backend_name() -> &'static str {
    allocbench_alloc::NAME
}

/// Build facts: backend, primitive, features, rustc, profile, target, the Python built for,
/// the ABI, the crate's version, and whether the global allocator calls CPython's.
#[pyfunction]
fn build_info(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("backend", allocbench_alloc::NAME)?;
    d.set_item("primitive", allocbench_alloc::PRIMITIVE)?;
    d.set_item("features", build_facts::FEATURES)?;
    d.set_item("rustc", build_facts::RUSTC)?;
    d.set_item("profile", build_facts::PROFILE)?;
    d.set_item("target", build_facts::TARGET)?;
    d.set_item("built_for_python", build_facts::BUILT_FOR_PYTHON)?;
    d.set_item("abi", "abi3 (CPython >= 3.11)")?;
    d.set_item("crate_version", build_facts::VERSION)?;
    d.set_item(
        "routes_through_pymem",
        allocbench_alloc::ROUTES_THROUGH_PYMEM,
    )?;
    Ok(d)
}

/// The backend's own counters (pymem: fallback region use, deferred frees; empty in the
/// other flavours, which have none).
#[pyfunction]
pub(super) fn counters(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in allocbench_alloc::counters() {
        d.set_item(k, v)?;
    }
    Ok(d)
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    add!(m, backend_name, build_info, counters);
    Ok(())
}
