//! Raw baseline: each backend's own primitive called directly, so the GlobalAlloc path's
//! overhead shows as a ratio to the limit of the allocator underneath. The primitive is
//! the one the backend itself calls for that size (pymem: the raw domain above 512 B).

use super::{bad, timed, Result};
use std::hint::black_box;

/// `loops` primitive alloc+free pairs of `size` bytes (one byte written each time).
#[inline(never)] // its own symbol: tests/test_folds.py reads its calls
pub fn raw_pair(loops: u64, size: usize) -> Result<f64> {
    let Some((m, f)) = allocbench_alloc::primitive(size) else {
        return Err(bad(format!(
            "the {} primitive ({}) cannot be called here: it needs a running interpreter \
             and a thread holding the GIL",
            allocbench_alloc::NAME,
            allocbench_alloc::PRIMITIVE
        )));
    };
    // The neighbour, as alloc_pair keeps one (throughput.rs, with_neighbour).
    let (first, neighbour) = unsafe { (m(size), m(size)) };
    if first.is_null() || neighbour.is_null() {
        return Err(bad(format!(
            "{} returned NULL for {size} bytes",
            allocbench_alloc::PRIMITIVE
        )));
    }
    unsafe { f(first) };
    let mut failed = false;
    let t = timed(|| {
        for _ in 0..loops {
            unsafe {
                let p = m(size);
                if p.is_null() {
                    failed = true;
                    break;
                }
                p.write_volatile(1);
                black_box(p);
                f(p);
            }
        }
    });
    unsafe { f(neighbour) };
    if failed {
        return Err(bad(format!(
            "{} returned NULL for {size} bytes",
            allocbench_alloc::PRIMITIVE
        )));
    }
    Ok(t)
}
