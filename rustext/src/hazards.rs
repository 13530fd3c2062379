//! Hazard probes for the hazard matrix (`python -m allocbench.hazards`): the evidence PyO3's
//! PR 6279 (a `PyMem_Raw` global allocator) asks for.
//!
//! The hazard: a thread holding the GIL waits for a Rust thread that allocates, *without*
//! detaching. With tracemalloc tracing, CPython <= 3.14's raw-domain hook calls
//! `PyGILState_Ensure` on alloc/realloc (gh-155725, fixed in 3.15), so a flavour that
//! sends the waited-on thread's blocks to the raw domain deadlocks. The rest of the
//! extension always detaches before it joins; these functions deliberately do not, so run
//! them only in a child process that can be killed.
#![cfg(feature = "python")]

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use std::cell::Cell;
use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};
use std::thread::JoinHandle;

const MAX_SIZE: usize = 1 << 26;
const MAX_COUNT: usize = 1 << 20;

fn check(small: usize, large: usize, count: usize) -> PyResult<()> {
    if small > MAX_SIZE
        || large > MAX_SIZE
        || small + large == 0
        || !(1..=MAX_COUNT).contains(&count)
    {
        return Err(PyValueError::new_err(format!(
            "small and large must be <= {MAX_SIZE} (0 skips that size, not both) and count in \
             1..={MAX_COUNT}"
        )));
    }
    Ok(())
}

/// Allocates and frees `count` blocks of `small` and of `large` bytes (0 skips a size), each
/// filled with a non-zero byte (plain `alloc`, not `alloc_zeroed`; nothing elided).
/// Returns the number of blocks.
fn churn(small: usize, large: usize, count: usize) -> usize {
    let mut blocks = 0;
    for i in 0..count {
        for size in [small, large] {
            if size > 0 {
                black_box(vec![i as u8 | 1; size]);
                blocks += 1;
            }
        }
    }
    blocks
}

/// A Rust thread (no Python thread state) that churns; named for gdb backtraces.
fn spawn_churn(small: usize, large: usize, count: usize) -> PyResult<JoinHandle<usize>> {
    std::thread::Builder::new()
        .name("hazard-alloc".into())
        .spawn(move || churn(small, large, count))
        .map_err(|e| PyRuntimeError::new_err(format!("cannot spawn a thread: {e}")))
}

fn joined(h: JoinHandle<usize>) -> PyResult<usize> {
    h.join()
        .map_err(|_| PyRuntimeError::new_err("the allocating thread panicked"))
}

/// (a) Spawns a thread that allocates and frees `count` blocks of each size and joins it
/// holding the GIL (no `py.detach`). Returns the blocks the thread allocated.
#[pyfunction]
fn hazard_join_allocating_thread(small: usize, large: usize, count: usize) -> PyResult<usize> {
    check(small, large, count)?;
    joined(spawn_churn(small, large, count)?)
}

/// Joins its thread when dropped, recording the thread's block count.
struct JoinOnDrop<'a> {
    handle: Option<JoinHandle<usize>>,
    result: &'a Cell<Option<PyResult<usize>>>,
}

impl Drop for JoinOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            self.result.set(Some(joined(h)));
        }
    }
}

/// (b) The same wait inside a `Drop` during panic unwinding: a guard owning the allocating
/// thread is live when the closure panics, and its `drop` joins the thread (GIL held)
/// before `catch_unwind` returns. Returns the blocks the thread allocated.
#[pyfunction]
fn hazard_join_in_unwinding_drop(small: usize, large: usize, count: usize) -> PyResult<usize> {
    check(small, large, count)?;
    let result = Cell::new(None);
    let unwound = panic::catch_unwind(AssertUnwindSafe(|| -> PyResult<()> {
        let _guard = JoinOnDrop {
            handle: Some(spawn_churn(small, large, count)?),
            result: &result,
        };
        panic!("allocbench hazard: deliberate panic; a guard joins the allocating thread");
    }));
    match unwound {
        Ok(Err(e)) => Err(e), // the spawn failed
        Ok(Ok(())) => unreachable!("the closure always panics"),
        Err(_) => result
            .take()
            .unwrap_or_else(|| Err(PyRuntimeError::new_err("the guard was not dropped"))),
    }
}

/// (c) Makes `count` blocks of `size` bytes on this (attached) thread and calls `probe()`
/// before and while they are live, e.g. tracemalloc's traced bytes: what tracemalloc sees
/// of the flavour's Rust heap at that size. Returns `(before, during)`.
#[pyfunction]
fn hazard_traced_growth<'py>(
    size: usize,
    count: usize,
    probe: Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    check(size, 0, count)?;
    // The holder is allocated before the first probe, so only the blocks lie in between.
    let mut held: Vec<Vec<u8>> = Vec::with_capacity(count);
    let before = probe.call0()?;
    held.extend((0..count).map(|i| vec![i as u8 | 1; size]));
    let during = probe.call0()?;
    black_box(&held);
    Ok((before, during))
}

/// Adds the hazard functions to the module (one call from `bindings/mod.rs`).
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(hazard_join_allocating_thread, m)?)?;
    m.add_function(wrap_pyfunction!(hazard_join_in_unwinding_drop, m)?)?;
    m.add_function(wrap_pyfunction!(hazard_traced_growth, m)?)?;
    Ok(())
}
