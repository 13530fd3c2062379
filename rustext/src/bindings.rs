//! The Python module `allocbench._rustext`. Parameters are validated by the catalogue in
//! `allocbench.catalogue` before they reach here; these functions only convert, run the
//! workload (with the GIL released where the workload is about threads), and map a
//! `WorkloadError` to `ValueError`.

use crate::build_facts;
use crate::workloads::{self, fragmentation as frag, realloc, throughput, WorkloadError};
use allocbench_alloc::{checks, pyapi};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use std::hint::black_box;

impl From<WorkloadError> for PyErr {
    fn from(e: WorkloadError) -> PyErr {
        PyValueError::new_err(e.0)
    }
}

/// The allocator backend this flavour was built with.
#[pyfunction]
fn backend_name() -> &'static str {
    allocbench_alloc::NAME
}

/// Build facts: backend, features, rustc, profile, target, the Python built for.
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
fn counters(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in allocbench_alloc::counters() {
        d.set_item(k, v)?;
    }
    Ok(d)
}

#[pyfunction]
fn _begin_shutdown() {
    pyapi::begin_shutdown();
}

// ---- timed workloads: (loops, params...) -> seconds -------------------------------------

#[pyfunction]
fn alloc_pair(loops: u64, size: usize) -> PyResult<f64> {
    Ok(throughput::alloc_pair(loops, size)?)
}

#[pyfunction]
fn alloc_pair_unguarded(loops: u64, size: usize) -> PyResult<f64> {
    Ok(throughput::alloc_pair_unguarded(loops, size)?)
}

#[pyfunction]
fn raw_pair(loops: u64, size: usize) -> PyResult<f64> {
    Ok(workloads::raw::raw_pair(loops, size)?)
}

/// The C-level pair (rustext/csrc/c_pairs.c): `primitive` is one of
/// `workloads::c_pair::NAMES` available in this flavour ("own": the flavour's own primitive
/// for `size`). Runs with the GIL held, which the PyMem_Malloc/Calloc pairs need.
#[pyfunction]
fn c_pair(py: Python<'_>, loops: u64, size: usize, primitive: &str) -> PyResult<f64> {
    Ok(workloads::c_pair::c_pair(py, loops, size, primitive)?)
}

/// The primitive `c_pair(..., primitive="own")` calls for `size` in this flavour.
#[pyfunction]
fn c_pair_own(size: usize) -> &'static str {
    workloads::c_pair::CPrimitive::own(size).name()
}

#[pyfunction]
fn churn_batch(loops: u64, size: usize, live: usize, order: &str) -> PyResult<f64> {
    let order = throughput::Order::parse(order)?;
    Ok(throughput::churn_batch(loops, size, live, order)?)
}

#[pyfunction]
fn mixed_sizes(loops: u64, live: usize, seed: u64) -> PyResult<f64> {
    Ok(throughput::mixed_sizes(loops, live, seed)?)
}

#[pyfunction]
fn collections(loops: u64, n: usize, kind: &str) -> PyResult<f64> {
    let kind = throughput::Collection::parse(kind)?;
    Ok(throughput::collections(loops, n, kind)?)
}

#[pyfunction]
fn json_roundtrip(loops: u64, kib: usize, seed: u64) -> PyResult<f64> {
    Ok(throughput::json_roundtrip(loops, kib, seed)?)
}

#[pyfunction]
fn realloc_growth(loops: u64, pattern: &str, target: usize) -> PyResult<f64> {
    let pattern = realloc::Growth::parse(pattern)?;
    Ok(realloc::realloc_growth(loops, pattern, target)?)
}

#[pyfunction]
fn zeroed_vec(loops: u64, size: usize, touch: bool) -> f64 {
    workloads::zeroed::zeroed_vec(loops, size, touch)
}

#[pyfunction]
fn memset_vec(loops: u64, size: usize, touch: bool) -> f64 {
    workloads::zeroed::memset_vec(loops, size, touch)
}

/// Runs with the GIL released: the threads are Rust threads without a thread state.
#[pyfunction]
fn threads_churn(
    py: Python<'_>,
    loops: u64,
    threads: usize,
    size: usize,
    batch: usize,
) -> PyResult<f64> {
    Ok(py.detach(|| workloads::threads::threads_churn(loops, threads, size, batch))?)
}

#[pyfunction]
fn cross_thread_free(py: Python<'_>, loops: u64, size: usize, batch: usize) -> PyResult<f64> {
    Ok(py.detach(|| workloads::threads::cross_thread_free(loops, size, batch))?)
}

// ---- memory and count workloads: params -> dict -----------------------------------------

#[pyfunction]
fn realloc_moves<'py>(
    py: Python<'py>,
    pattern: &str,
    target: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let m = realloc::realloc_moves(realloc::Growth::parse(pattern)?, target);
    let d = PyDict::new(py);
    d.set_item("reallocs", m.reallocs)?;
    d.set_item("in_place", m.in_place)?;
    d.set_item("moved", m.moved)?;
    Ok(d)
}

#[pyfunction]
fn fragmentation<'py>(
    py: Python<'py>,
    blocks: usize,
    size_min: usize,
    size_max: usize,
    pattern: &str,
    seed: u64,
) -> PyResult<Bound<'py, PyDict>> {
    let pattern = frag::FreePattern::parse(pattern)?;
    let r = frag::fragmentation(blocks, size_min, size_max, pattern, seed)?;
    let d = PyDict::new(py);
    d.set_item("baseline_rss", r.baseline_rss)?;
    let phases = PyList::empty(py);
    for p in r.phases {
        let e = PyDict::new(py);
        e.set_item("phase", p.name)?;
        e.set_item("live_bytes", p.live_bytes)?;
        e.set_item("rss_bytes", p.rss_bytes)?;
        e.set_item("rss_delta", p.rss_delta)?;
        phases.append(e)?;
    }
    d.set_item("phases", phases)?;
    Ok(d)
}

/// Interleaves Python objects (kept alive by a Python list) with Rust blocks, then drops
/// the Rust side, then the Python side. `probe()` is called after every phase (never in
/// the loop) and its dict is stored with the phase: the Python side's own figures.
#[pyfunction]
fn python_interplay<'py>(
    py: Python<'py>,
    rounds: usize,
    per_round: usize,
    rust_block_size: usize,
    py_object_size: usize,
    probe: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let phases = PyList::empty(py);
    let note = |name: &str, live_rust: usize| -> PyResult<()> {
        let e = PyDict::new(py);
        e.set_item("phase", name)?;
        e.set_item("rss_bytes", workloads::rss_bytes())?;
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

// ---- correctness checks used by the tests ------------------------------------------------

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
    counters(py)
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

/// Subinterpreters are not supported: PyO3 refuses a second interpreter, and the PyMem
/// backend's fallback and deferred-free state is process-wide.
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
    let names = workloads::c_pair::CPrimitive::available_names();
    m.add("C_PAIR_PRIMITIVES", PyTuple::new(py, names)?)?;
    m.add_class::<RustBuffer>()?;
    macro_rules! add {
        ($($f:ident),* $(,)?) => { $( m.add_function(wrap_pyfunction!($f, m)?)?; )* };
    }
    add!(
        backend_name,
        build_info,
        counters,
        alloc_pair,
        alloc_pair_unguarded,
        raw_pair,
        c_pair,
        c_pair_own,
        churn_batch,
        mixed_sizes,
        collections,
        json_roundtrip,
        realloc_growth,
        zeroed_vec,
        memset_vec,
        threads_churn,
        cross_thread_free,
        realloc_moves,
        fragmentation,
        python_interplay,
        check_layout,
        check_ops,
        check_handoff,
        stress_threads,
        fill_thread_local,
        running_on_valgrind,
        callgrind_zero,
        callgrind_dump,
    );
    crate::hazards::register(m)?; // the hazard matrix's probes (hazards.rs)
    crate::soundness::register(m)?; // the soundness reproductions (soundness.rs)
    Ok(())
}
