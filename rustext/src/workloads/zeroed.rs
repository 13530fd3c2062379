//! Zeroed memory: `vec![0; n]` (alloc_zeroed, calloc where the backend has it) against
//! allocate-then-memset, with the pages touched or left alone.

use super::timed;
use std::hint::black_box;

const PAGE: usize = 4096;

#[inline(always)]
fn touch_pages(v: &mut [u8]) {
    let mut i = 0;
    while i < v.len() {
        // SAFETY: i < len.
        unsafe { v.as_mut_ptr().add(i).write_volatile(1) };
        i += PAGE;
    }
}

/// `loops` times: `vec![0u8; size]`, optionally writing one byte per page, then drop.
/// One op = one buffer.
#[inline(never)] // its own symbol: tests/test_folds.py reads its calls
pub fn zeroed_vec(loops: u64, size: usize, touch: bool) -> f64 {
    timed(|| {
        for _ in 0..loops {
            let mut v = vec![0u8; size];
            if touch {
                touch_pages(&mut v);
            }
            black_box(&v);
        }
    })
}

/// `loops` times: allocate `size` bytes, `memset` them to zero, optionally touch, drop:
/// what `vec![0; n]` costs without calloc.
#[inline(never)] // its own symbol: tests/test_folds.py reads its calls
pub fn memset_vec(loops: u64, size: usize, touch: bool) -> f64 {
    timed(|| {
        for _ in 0..loops {
            let mut v: Vec<u8> = Vec::with_capacity(size);
            // The pointer passes through black_box: LLVM cannot see that the memset
            // writes the block it just allocated, so it cannot fold malloc + memset into
            // calloc (it did, in the system flavour). tests/test_folds.py checks the
            // built extension of every flavour for the memset call.
            let p = black_box(v.as_mut_ptr());
            // SAFETY: p is v's buffer, capacity >= size; every byte is written before set_len.
            unsafe {
                std::ptr::write_bytes(p, 0, size);
                v.set_len(size);
            }
            if touch {
                touch_pages(&mut v);
            }
            black_box(&v);
        }
    })
}
