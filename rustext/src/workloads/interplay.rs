//! The Python interplay: Rust blocks interleaved with Python objects, then each side
//! dropped, with the process's RSS and the Python side's own figures after every phase. The
//! one workload that calls Python throughout, so it is built with the `python` feature only
//! (as `c_pair`); the catalogue's `python_interplay` adds the probe (`_python_probe`).

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use std::hint::black_box;

/// Interleaves Python objects (kept alive by a Python list) with Rust blocks, then drops
/// the Rust side, then the Python side. `probe()` is called after every phase (never in
/// the loop) and its dict is stored with the phase: the Python side's own figures.
pub fn python_interplay<'py>(
    py: Python<'py>,
    rounds: usize,
    per_round: usize,
    rust_block_size: usize,
    py_object_size: usize,
    probe: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let phases = PyList::empty(py);
    let note = |name: &str, live_rust: usize| -> PyResult<()> {
        let e = PyDict::new(py);
        e.set_item("phase", name)?;
        e.set_item("rss_bytes", super::rss_bytes())?;
        e.set_item("rust_live_bytes", live_rust)?;
        e.set_item("python", probe.call0()?)?;
        phases.append(e)
    };
    note("start", 0)?;
    let objects = PyList::empty(py);
    let mut rust: Vec<Box<[u8]>> = Vec::with_capacity(rounds * per_round);
    let payload = vec![0x5au8; py_object_size];
    for r in 0..rounds {
        for _ in 0..per_round {
            objects.append(PyBytes::new(py, &payload))?;
            // Never a zero fill: vec![0; n] would be alloc_zeroed, another path.
            rust.push(black_box(
                vec![r as u8 | 1; rust_block_size].into_boxed_slice(),
            ));
        }
    }
    note("interleaved", rust.len() * rust_block_size)?;
    drop(rust);
    note("rust_dropped", 0)?;
    drop(objects);
    note("python_dropped", 0)?;
    let d = PyDict::new(py);
    d.set_item("phases", phases)?;
    Ok(d)
}
