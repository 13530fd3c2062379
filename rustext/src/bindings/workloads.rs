//! The workloads as Python functions. Parameters are validated by the catalogue
//! (`allocbench.catalogue`) before they reach here; these wrappers only convert, run the
//! workload (with the GIL released where the workload is about threads), and map a
//! `WorkloadError` to `ValueError` (`bindings/mod.rs`). Timed workloads take `loops` first
//! and return the seconds the loop took; memory and count workloads return a dict.

use crate::workloads::{self, fragmentation as frag, realloc, throughput};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

// ---- timed workloads: (loops, params...) -> seconds -------------------------------------

/// `loops` alloc+free pairs of `size` bytes through the global allocator (one neighbour
/// block kept live); seconds.
#[pyfunction]
fn alloc_pair(loops: u64, size: usize) -> PyResult<f64> {
    Ok(throughput::alloc_pair(loops, size)?)
}

/// `alloc_pair` with the pymem backend's thread-state guard compiled out (the same as
/// `alloc_pair` in other flavours); seconds.
#[pyfunction]
fn alloc_pair_unguarded(loops: u64, size: usize) -> PyResult<f64> {
    Ok(throughput::alloc_pair_unguarded(loops, size)?)
}

/// `loops` pairs of the backend's own primitive for `size` bytes, called directly (the
/// raw baseline); seconds.
#[pyfunction]
fn raw_pair(loops: u64, size: usize) -> PyResult<f64> {
    Ok(workloads::raw::raw_pair(loops, size)?)
}

/// The C-level pair (rustext/csrc/c_pairs.c): `primitive` is one of
/// `workloads::c_pair::NAMES` available in this flavour ("own": the flavour's own primitive
/// for `size`). Runs with the GIL held, which the PyMem_Malloc/Calloc pairs need; seconds.
#[pyfunction]
fn c_pair(py: Python<'_>, loops: u64, size: usize, primitive: &str) -> PyResult<f64> {
    Ok(workloads::c_pair::c_pair(py, loops, size, primitive)?)
}

/// The primitive `c_pair(..., primitive="own")` calls for `size` in this flavour.
#[pyfunction]
fn c_pair_own(size: usize) -> &'static str {
    workloads::c_pair::CPrimitive::own(size).name()
}

/// `live` blocks of `size` bytes allocated, then freed in `order` ("lifo" or "fifo"),
/// `loops` times; seconds.
#[pyfunction]
fn churn_batch(loops: u64, size: usize, live: usize, order: &str) -> PyResult<f64> {
    let order = throughput::Order::parse(order)?;
    Ok(throughput::churn_batch(loops, size, live, order)?)
}

/// `loops` rounds of `live` blocks of object-like sizes (from `seed`), freed in a seeded
/// random order; seconds.
#[pyfunction]
fn mixed_sizes(loops: u64, live: usize, seed: u64) -> PyResult<f64> {
    Ok(throughput::mixed_sizes(loops, live, seed)?)
}

/// A collection (`kind`: "string", "vec", "hashmap", "btreemap") of `n` elements built
/// and dropped, `loops` times; seconds.
#[pyfunction]
fn collections(loops: u64, n: usize, kind: &str) -> PyResult<f64> {
    let kind = throughput::Collection::parse(kind)?;
    Ok(throughput::collections(loops, n, kind)?)
}

/// A JSON document of about `kib` KiB (from `seed`) parsed into a `serde_json::Value` and
/// serialised back, `loops` times; seconds.
#[pyfunction]
fn json_roundtrip(loops: u64, kib: usize, seed: u64) -> PyResult<f64> {
    Ok(throughput::json_roundtrip(loops, kib, seed)?)
}

/// A buffer grown to `target` bytes by `pattern`, `loops` times; seconds.
#[pyfunction]
fn realloc_growth(loops: u64, pattern: &str, target: usize) -> PyResult<f64> {
    let pattern = realloc::Growth::parse(pattern)?;
    Ok(realloc::realloc_growth(loops, pattern, target)?)
}

/// `vec![0; size]` (zeroed allocation), optionally one byte written per page, `loops`
/// times; seconds.
#[pyfunction]
fn zeroed_vec(loops: u64, size: usize, touch: bool) -> f64 {
    workloads::zeroed::zeroed_vec(loops, size, touch)
}

/// A plain allocation of `size` bytes filled with memset(0), optionally touched, `loops`
/// times; seconds.
#[pyfunction]
fn memset_vec(loops: u64, size: usize, touch: bool) -> f64 {
    workloads::zeroed::memset_vec(loops, size, touch)
}

/// `threads` Rust threads churning batches of `batch` blocks of `size` bytes at once.
/// Runs with the GIL released: the threads are Rust threads without a thread state;
/// seconds.
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

/// Batches of `batch` blocks of `size` bytes allocated on one Rust thread and freed on
/// another, with the GIL released; seconds.
#[pyfunction]
fn cross_thread_free(py: Python<'_>, loops: u64, size: usize, batch: usize) -> PyResult<f64> {
    Ok(py.detach(|| workloads::threads::cross_thread_free(loops, size, batch))?)
}

// ---- memory and count workloads: params -> dict -----------------------------------------

/// How many of a growth's reallocations (`pattern` up to `target` bytes) kept the block in
/// place: `{"reallocs", "in_place", "moved"}`.
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

/// `blocks` blocks of `size_min..=size_max` bytes (from `seed`) through four phases (fill,
/// free by `pattern`, refill with other sizes, drop all): `{"baseline_rss", "phases":
/// [{"phase", "live_bytes", "rss_bytes", "rss_delta"}, ...]}`.
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

/// Python objects interleaved with Rust blocks, then each side dropped
/// (`workloads/interplay.rs`): `{"phases": [...]}`, `probe()`'s dict stored per phase.
#[pyfunction]
fn python_interplay<'py>(
    py: Python<'py>,
    rounds: usize,
    per_round: usize,
    rust_block_size: usize,
    py_object_size: usize,
    probe: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    workloads::interplay::python_interplay(
        py,
        rounds,
        per_round,
        rust_block_size,
        py_object_size,
        &probe,
    )
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    add!(
        m,
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
    );
    Ok(())
}
