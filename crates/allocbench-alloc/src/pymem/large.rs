//! The pymem backend's large blocks (> 512 B): each carries an 8-byte header naming its
//! family, so that it is freed and resized by the family that made it from any thread.

use crate::pyapi;
use core::ffi::c_void;
use core::ptr;

/// Large blocks (> 512 B) carry a 16-byte header naming their family: the raw domain when
/// the thread was attached at allocation, libc otherwise. A detached thread must not call
/// `PyMem_RawMalloc`/`RawCalloc`/`RawRealloc` (tracemalloc's hook on CPython <= 3.14 takes
/// the GIL there), but `PyMem_RawFree` takes no GIL in any version, so the free goes to
/// the block's own family from any thread.
/// 8 bytes, not 16: a 1024 B request stays within glibc's tcache (<= 1032 B), and the
/// block stays 8-aligned, all the natural path promises (`aligned.rs`).
const HEADER: usize = 8;
const FAMILY_RAW: usize = 0x5241_5721_7261_7721; // "RAW!raw!"
const FAMILY_LIBC: usize = 0x4C49_4243_6C69_6263; // "LIBClibc"

#[inline(always)]
pub(super) unsafe fn large_alloc<const GUARD: bool>(req: usize, zeroed: bool) -> *mut u8 {
    let Some(n) = req.checked_add(HEADER) else {
        return ptr::null_mut();
    };
    // SAFETY: both families take any size and return NULL on failure; the header is inside.
    unsafe {
        let (base, family) = match pyapi::api() {
            Some(api) if !GUARD || api.attached() => (
                if zeroed {
                    (api.raw_calloc)(1, n)
                } else {
                    (api.raw_malloc)(n)
                } as *mut u8,
                FAMILY_RAW,
            ),
            _ => (
                if zeroed {
                    libc::calloc(1, n)
                } else {
                    libc::malloc(n)
                } as *mut u8,
                FAMILY_LIBC,
            ),
        };
        if base.is_null() {
            return base;
        }
        (base as *mut usize).write(family);
        base.add(HEADER)
    }
}

/// # Safety
/// `p` came from [`large_alloc`] or [`large_realloc`].
#[inline(always)]
pub(super) unsafe fn large_free(p: *mut u8) {
    // SAFETY: the header precedes p; a raw-domain block implies the API exists.
    unsafe {
        let base = p.sub(HEADER);
        if (base as *const usize).read() == FAMILY_RAW {
            (pyapi::api().unwrap_unchecked().raw_free)(base as *mut c_void)
        } else {
            libc::free(base as *mut c_void)
        }
    }
}

/// # Safety
/// `p` came from [`large_alloc`] or [`large_realloc`] with `old_req` bytes; `new_req` > 512.
#[inline]
pub(super) unsafe fn large_realloc(p: *mut u8, old_req: usize, new_req: usize) -> *mut u8 {
    let Some(n) = new_req.checked_add(HEADER) else {
        return ptr::null_mut();
    };
    // SAFETY: each family resizes its own blocks; the header moves with the block.
    unsafe {
        let base = p.sub(HEADER);
        let q = if (base as *const usize).read() == FAMILY_LIBC {
            libc::realloc(base as *mut c_void, n) as *mut u8
        } else {
            match pyapi::api() {
                Some(api) if api.attached() => (api.raw_realloc)(base as *mut c_void, n) as *mut u8,
                // Detached: a new libc block, the raw one freed (RawFree takes no GIL).
                _ => {
                    let q = large_alloc::<true>(new_req, false);
                    if !q.is_null() {
                        ptr::copy_nonoverlapping(p, q, old_req.min(new_req));
                        large_free(p);
                    }
                    return q;
                }
            }
        };
        if q.is_null() {
            q
        } else {
            q.add(HEADER)
        }
    }
}
