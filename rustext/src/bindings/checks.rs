//! Hooks for the tests (`tests/in_flavour/`, `tests/test_stress.py`, tests/test_flavours.py):
//! allocator checks run through the installed global allocator, blocks handed between
//! attached and detached threads, thread-local blocks, a Rust buffer of known size.

use allocbench_alloc::checks;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::hint::black_box;

/// Alloc / grow / shrink / zeroed of one layout through the global allocator.
#[pyfunction]
fn check_layout(size: usize, align: usize, grow_to: usize, shrink_to: usize) -> PyResult<()> {
    if size == 0 || grow_to == 0 || shrink_to == 0 || !align.is_power_of_two() {
        return Err(PyValueError::new_err(
            "sizes must be >= 1 and align a power of two",
        ));
    }
    checks::layout_roundtrip(&GlobalRef, size, align, grow_to, shrink_to)
        .map_err(PyRuntimeError::new_err)
}

/// Runs a sequence of (op, slot, size, align) steps: op 0 alloc, 1 zeroed, 2 realloc,
/// 3 free. Returns the bytes verified.
#[pyfunction]
fn check_ops(
    py: Python<'_>,
    slots: usize,
    ops: Vec<(u8, usize, usize, usize)>,
    detached: bool,
) -> PyResult<u64> {
    let mut steps = Vec::with_capacity(ops.len());
    for (k, (op, slot, size, align)) in ops.into_iter().enumerate() {
        if !align.is_power_of_two() || align > 1 << 16 || size > 1 << 26 {
            return Err(PyValueError::new_err(format!(
                "step {k}: align must be a power of two <= 65536 and size <= 64 MiB"
            )));
        }
        steps.push(match op {
            0 => checks::Op::Alloc { slot, size, align },
            1 => checks::Op::Zeroed { slot, size, align },
            2 => checks::Op::Realloc { slot, size },
            3 => checks::Op::Free { slot },
            _ => return Err(PyValueError::new_err(format!("step {k}: op must be 0..=3"))),
        });
    }
    let run = || checks::run_ops(&GlobalRef, slots, &steps);
    let r = if detached { py.detach(run) } else { run() };
    r.map_err(PyRuntimeError::new_err)
}

/// Moves blocks between threads: `n` blocks of `size` bytes made on one side and freed on
/// the other. `direction` "attached_to_detached" allocates here (GIL held) and frees on a
/// Rust thread; "detached_to_attached" the reverse. Returns the counters afterwards.
#[pyfunction]
fn check_handoff<'py>(
    py: Python<'py>,
    n: usize,
    size: usize,
    direction: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let make = move || -> Vec<Box<[u8]>> {
        (0..n)
            .map(|i| vec![i as u8; size].into_boxed_slice())
            .collect()
    };
    match direction {
        "attached_to_detached" => {
            let blocks = make();
            py.detach(move || std::thread::spawn(move || drop(blocks)).join())
                .map_err(|_| PyRuntimeError::new_err("freeing thread panicked"))?;
        }
        "detached_to_attached" => {
            let blocks = py
                .detach(move || std::thread::spawn(make).join())
                .map_err(|_| PyRuntimeError::new_err("allocating thread panicked"))?;
            for (i, b) in blocks.iter().enumerate() {
                if b.iter().any(|&x| x != i as u8) {
                    return Err(PyRuntimeError::new_err(format!(
                        "block {i} corrupted in transit"
                    )));
                }
            }
            drop(blocks);
        }
        _ => {
            return Err(PyValueError::new_err(
                "direction must be 'attached_to_detached' or 'detached_to_attached'",
            ))
        }
    }
    // An allocation with the GIL held drains what the detached side deferred.
    black_box(vec![0u8; 32]);
    super::build_info::counters(py)
}

/// `threads` Rust threads (no thread state; the GIL is released) each run `ops` random
/// alloc/zeroed/realloc/free steps (sizes up to `max_size`, alignments up to 4096) with
/// content checks, all at once. Returns the bytes verified; raises on any corruption.
#[pyfunction]
fn stress_threads(
    py: Python<'_>,
    threads: usize,
    ops: usize,
    seed: u64,
    max_size: usize,
) -> PyResult<u64> {
    if !(1..=64).contains(&threads) || ops > 1 << 24 || !(2..=1 << 26).contains(&max_size) {
        return Err(PyValueError::new_err(
            "threads must be in 1..=64, ops <= 16777216 and max_size in 2..=67108864",
        ));
    }
    py.detach(|| {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads as u64)
                .map(|t| {
                    s.spawn(move || {
                        let steps = checks::random_ops(seed.wrapping_add(t), ops, 32, max_size, 12);
                        checks::run_ops(&GlobalRef, 32, &steps)
                    })
                })
                .collect();
            let mut total = 0;
            for h in handles {
                total += h
                    .join()
                    .map_err(|_| "a stress thread panicked".to_string())??;
            }
            Ok(total)
        })
    })
    .map_err(|e: String| PyRuntimeError::new_err(e))
}

thread_local! {
    static HELD: std::cell::RefCell<Vec<Box<[u8]>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Fills this thread's `thread_local!` with `n` blocks of `size` bytes. They are freed by
/// the TLS destructor when the thread exits: for a Python thread, after its thread state
/// is gone, so the pymem flavour must free them without calling the MEM domain.
#[pyfunction]
fn fill_thread_local(n: usize, size: usize) -> PyResult<usize> {
    if n > 1 << 20 || !(1..=1 << 20).contains(&size) {
        return Err(PyValueError::new_err(
            "n must be <= 1048576 and size in 1..=1048576",
        ));
    }
    HELD.with(|h| {
        let mut h = h.borrow_mut();
        h.extend((0..n).map(|i| vec![i as u8; size].into_boxed_slice()));
        Ok(h.len())
    })
}

/// Holds `size` bytes of Rust heap until it is dropped (for tracemalloc visibility tests).
#[pyclass(frozen)]
struct RustBuffer {
    data: Vec<u8>,
}

#[pymethods]
impl RustBuffer {
    #[new]
    fn new(size: usize) -> PyResult<Self> {
        if size == 0 || size > 1 << 30 {
            return Err(PyValueError::new_err("size must be in 1..=1073741824"));
        }
        Ok(RustBuffer {
            data: vec![1u8; size],
        })
    }
    /// The buffer's size in bytes.
    fn __len__(&self) -> usize {
        self.data.len()
    }
}

/// The installed global allocator as a `GlobalAlloc` value, for the checks.
struct GlobalRef;
unsafe impl core::alloc::GlobalAlloc for GlobalRef {
    unsafe fn alloc(&self, l: core::alloc::Layout) -> *mut u8 {
        unsafe { std::alloc::alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: core::alloc::Layout) -> *mut u8 {
        unsafe { std::alloc::alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: core::alloc::Layout) {
        unsafe { std::alloc::dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: core::alloc::Layout, n: usize) -> *mut u8 {
        unsafe { std::alloc::realloc(p, l, n) }
    }
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<RustBuffer>()?;
    add!(
        m,
        check_layout,
        check_ops,
        check_handoff,
        stress_threads,
        fill_thread_local,
    );
    Ok(())
}
