//! Workloads: Rust code that exercises the global allocator. Timed ones take `loops` and
//! return the seconds spent (pyperf's `bench_time_func` shape); memory ones return figures.
//! Parameters are validated by the Python catalogue first; the checks here only keep a
//! bad call from panicking (they return `WorkloadError`).
//!
//! One file per family (`c_pair` apart from the rest of `raw`). Nothing here touches Python,
//! except `interplay` (Python objects beside Rust blocks) and `c_pair` (the C loops call
//! CPython's allocator): both are built with the `python` feature only. The Python bindings
//! of every workload: `bindings/workloads.rs`.

#[cfg(feature = "python")]
pub mod c_pair;
pub mod fragmentation;
#[cfg(feature = "python")]
pub mod interplay;
pub mod raw;
pub mod realloc;
pub mod threads;
pub mod throughput;
pub mod zeroed;

use std::fmt;
use std::time::Instant;

#[derive(Debug, PartialEq, Eq)]
pub struct WorkloadError(pub String);

impl fmt::Display for WorkloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub type Result<T> = std::result::Result<T, WorkloadError>;

pub(crate) fn bad(msg: impl Into<String>) -> WorkloadError {
    WorkloadError(msg.into())
}

/// Seconds spent in `f`.
#[inline]
pub(crate) fn timed(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

/// SplitMix64, the generator of allocbench-alloc's random checks too.
pub use allocbench_alloc::checks::Rng;

/// Resident set size of this process in bytes (`/proc/self/statm`).
pub fn rss_bytes() -> usize {
    let Ok(s) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: usize = s
        .split_whitespace()
        .nth(1)
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
    pages * page
}

/// Allocation sizes shaped like an extension's objects: mostly small nodes and strings,
/// some buffers, rare large arrays. Weights and ranges are fixed so runs compare.
pub fn object_like_size(rng: &mut Rng) -> usize {
    match rng.next_u64() % 100 {
        0..=59 => rng.range(16, 64),
        60..=84 => rng.range(65, 256),
        85..=94 => rng.range(257, 4096),
        95..=98 => rng.range(4097, 65536),
        _ => rng.range(65537, 1 << 20),
    }
}

#[cfg(test)]
mod tests;
