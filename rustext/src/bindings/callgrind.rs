//! Valgrind's client requests, for counting each workload's instructions in one process
//! (`make bench-instructions`; the requests themselves: `crate::callgrind`).

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Valgrind layers this process runs under (0 natively).
#[pyfunction]
fn running_on_valgrind() -> usize {
    crate::callgrind::running_on_valgrind()
}

/// Resets callgrind's counters (no-op outside callgrind).
#[pyfunction]
fn callgrind_zero() {
    crate::callgrind::zero_stats();
}

/// Dumps callgrind's counters since the last zero into a profile part named `label`.
#[pyfunction]
fn callgrind_dump(label: &str) -> PyResult<()> {
    let c = std::ffi::CString::new(label)
        .map_err(|_| PyValueError::new_err("label must not contain NUL"))?;
    crate::callgrind::dump_stats_at(&c);
    Ok(())
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    add!(m, running_on_valgrind, callgrind_zero, callgrind_dump);
    Ok(())
}
