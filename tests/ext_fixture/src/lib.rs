//! allocbench's patcher fixture: blocks held on the Rust heap, and a count of what the
//! shipped allocator served.
use pyo3::prelude::*;
use std::sync::atomic::Ordering;
use std::sync::Mutex;

mod alloc;

static HELD: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// Allocations the shipped allocator has served (0 when another one is the global one).
#[pyfunction]
fn shipped_allocations() -> usize {
    alloc::ALLOCATIONS.load(Ordering::Relaxed)
}

/// Allocates `n` blocks of `size` bytes and holds them until `release`.
#[pyfunction]
fn hold(n: usize, size: usize) {
    let mut held = HELD.lock().unwrap();
    held.extend((0..n).map(|i| vec![(i % 251) as u8 + 1; size]));
}

/// Frees what `hold` holds; returns the checksum of its bytes.
#[pyfunction]
fn release() -> u64 {
    let mut held = HELD.lock().unwrap();
    let sum = held.iter().flatten().map(|&b| u64::from(b)).sum();
    held.clear();
    held.shrink_to_fit();
    sum
}

#[pymodule]
fn allocbench_fixture(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(shipped_allocations, m)?)?;
    m.add_function(wrap_pyfunction!(hold, m)?)?;
    m.add_function(wrap_pyfunction!(release, m)?)?;
    Ok(())
}
