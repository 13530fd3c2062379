//! Reproductions of the PyMem backend's soundness hazards (tests/test_soundness.py): each
//! sets up one situation in which an allocator call could wait for the GIL, be unwound by
//! the interpreter, answer for the wrong thread, hang after fork, or fail under strict
//! overcommit. Some of them deliberately wait without detaching, so the tests run them in a
//! child process with a timeout. They exist in every flavour (the comparison is the point).
#![cfg(feature = "python")]

use allocbench_alloc::pyapi;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MAX_SIZE: usize = 1 << 20;
const MAX_COUNT: usize = 1 << 20;
const MAX_SECONDS: f64 = 60.0;

fn check_size(size: usize) -> PyResult<()> {
    if !(1..=MAX_SIZE).contains(&size) {
        return Err(PyValueError::new_err(format!(
            "size must be in 1..={MAX_SIZE}, got {size}"
        )));
    }
    Ok(())
}

fn spawn<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> PyResult<std::thread::JoinHandle<T>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|e| PyRuntimeError::new_err(format!("cannot spawn a thread: {e}")))
}

fn wait_for(flag: &AtomicUsize, value: usize) {
    while flag.load(Ordering::Acquire) != value {
        std::thread::yield_now();
    }
}

static LOCK: Mutex<()> = Mutex::new(());

/// A detached Rust thread takes a lock, then allocates `size` bytes while holding it; the
/// calling thread (holding the GIL, not detaching) waits for the same lock. Any allocator
/// call on the detached thread that waits for the GIL deadlocks here (tracemalloc's raw
/// hook on CPython <= 3.14 does). Returns when both are done.
#[pyfunction]
fn sound_lock_then_alloc(size: usize) -> PyResult<()> {
    check_size(size)?;
    static STEP: AtomicUsize = AtomicUsize::new(0);
    STEP.store(0, Ordering::Release);
    let h = spawn("sound-lock", move || {
        let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        STEP.store(1, Ordering::Release);
        black_box(vec![1u8; size]);
        drop(guard);
    })?;
    wait_for(&STEP, 1);
    drop(LOCK.lock().unwrap_or_else(|e| e.into_inner()));
    h.join()
        .map_err(|_| PyRuntimeError::new_err("the allocating thread panicked"))
}

/// Starts a detached Rust thread that allocates and frees `size`-byte blocks (filled, not
/// zeroed) for `seconds`, then ends; returns at once. Used to keep allocations going while
/// the interpreter finalises, and beside fork().
#[pyfunction]
fn sound_start_churner(size: usize, seconds: f64) -> PyResult<()> {
    check_size(size)?;
    if !(seconds > 0.0 && seconds <= MAX_SECONDS) {
        return Err(PyValueError::new_err(format!(
            "seconds must be in (0, {MAX_SECONDS}], got {seconds}"
        )));
    }
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    spawn("sound-churner", move || {
        let mut i = 0u8;
        while Instant::now() < until {
            for _ in 0..64 {
                i = i.wrapping_add(2) | 1;
                black_box(vec![i; size]);
            }
        }
    })?;
    Ok(())
}

/// Allocates and frees `count` blocks of `size` bytes with the GIL released (a detached
/// thread, as `py.detach` bodies are); returns how many came from the PyMem backend's
/// fallback region (None in the other flavours).
#[pyfunction]
fn sound_detached_alloc(py: Python<'_>, size: usize, count: usize) -> PyResult<Option<usize>> {
    check_size(size)?;
    if !(1..=MAX_COUNT).contains(&count) {
        return Err(PyValueError::new_err(format!(
            "count must be in 1..={MAX_COUNT}, got {count}"
        )));
    }
    Ok(py.detach(|| {
        let mut in_region = 0;
        for i in 0..count {
            let v = black_box(vec![i as u8 | 1; size]);
            in_region +=
                usize::from(allocbench_alloc::in_fallback_region(v.as_ptr()).unwrap_or(false));
        }
        (allocbench_alloc::FALLBACK_REGION_BYTES > 0).then_some(in_region)
    }))
}

/// A thread state created on one thread and attached on another. Thread A (a Rust thread
/// without a thread state) creates state T with `PyThreadState_New`; thread B attaches T
/// (`PyEval_RestoreThread`). While B holds the GIL, both ask the backend's probe whether
/// they may call the MEM domain and allocate a `size`-byte block. Returns
/// `(a_attached, a_in_region, b_attached, b_in_region)`; the region answers are None
/// outside the pymem flavour.
#[pyfunction]
fn sound_foreign_thread_state(
    py: Python<'_>,
    size: usize,
) -> PyResult<(bool, Option<bool>, bool, Option<bool>)> {
    check_size(size)?;
    // SAFETY: the GIL is held.
    let interp = unsafe { ffi::PyInterpreterState_Get() } as usize;
    static T: AtomicUsize = AtomicUsize::new(0);
    static STEP: AtomicUsize = AtomicUsize::new(0);
    T.store(0, Ordering::Release);
    STEP.store(0, Ordering::Release);
    py.detach(|| -> PyResult<_> {
        let a = spawn("sound-creator", move || {
            // SAFETY: PyThreadState_New needs no GIL; interp is the running interpreter.
            let t = unsafe { ffi::PyThreadState_New(interp as *mut ffi::PyInterpreterState) };
            T.store(t as usize, Ordering::Release);
            STEP.store(1, Ordering::Release);
            wait_for(&STEP, 2); // B holds the GIL with T now
            let attached = pyapi::thread_attached();
            let v = black_box(vec![3u8; size]);
            let region = allocbench_alloc::in_fallback_region(v.as_ptr());
            drop(v);
            STEP.store(3, Ordering::Release);
            wait_for(&STEP, 4); // B has released T
                                // SAFETY: T is detached and cleared; deleting it on its creating thread also
                                // clears this thread's GILState slot.
            unsafe { ffi::PyThreadState_Delete(t) };
            (attached, region)
        })?;
        let b = spawn("sound-attacher", move || {
            wait_for(&STEP, 1);
            let t = T.load(Ordering::Acquire) as *mut ffi::PyThreadState;
            // SAFETY: T is a fresh state of the running interpreter, attached nowhere.
            unsafe { ffi::PyEval_RestoreThread(t) };
            STEP.store(2, Ordering::Release);
            wait_for(&STEP, 3);
            let attached = pyapi::thread_attached();
            let v = black_box(vec![5u8; size]);
            let region = allocbench_alloc::in_fallback_region(v.as_ptr());
            drop(v);
            // SAFETY: T is attached to this thread; cleared, then detached.
            unsafe {
                ffi::PyThreadState_Clear(t);
                ffi::PyEval_SaveThread();
            }
            STEP.store(4, Ordering::Release);
            (attached, region)
        })?;
        let (a_attached, a_region) = a
            .join()
            .map_err(|_| PyRuntimeError::new_err("thread A panicked"))?;
        let (b_attached, b_region) = b
            .join()
            .map_err(|_| PyRuntimeError::new_err("thread B panicked"))?;
        Ok((a_attached, a_region, b_attached, b_region))
    })
}

/// Where the PyMem probe reads on this interpreter, found at import: `(byte offset of
/// PyThreadState.thread_id, whether the probe reads the GIL holder (3.11), the `%fs` offset
/// it loads the state from, 0 when it calls the getter)`, and whether it
/// says this (attached) thread may call the MEM domain. None outside an interpreter or when
/// the layout could not be established.
#[pyfunction]
fn sound_probe() -> (Option<(usize, bool, isize)>, bool) {
    (pyapi::probe_layout(), pyapi::thread_attached())
}

/// Adds the reproductions to the module (one call from `bindings/mod.rs`).
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sound_lock_then_alloc, m)?)?;
    m.add_function(wrap_pyfunction!(sound_start_churner, m)?)?;
    m.add_function(wrap_pyfunction!(sound_detached_alloc, m)?)?;
    m.add_function(wrap_pyfunction!(sound_foreign_thread_state, m)?)?;
    m.add_function(wrap_pyfunction!(sound_probe, m)?)?;
    Ok(())
}
