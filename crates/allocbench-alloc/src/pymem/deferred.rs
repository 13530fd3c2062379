//! The pymem backend's deferred frees: a pymalloc block freed on a thread that may not call
//! the MEM domain is pushed onto a lock-free list (the block is its own node), which the
//! next attached allocation drains (PyO3's pattern for deferred decrefs). After shutdown
//! began such blocks are left to the process exit, counted.

use crate::pyapi::Api;
use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

static DEFERRED: AtomicPtr<u8> = AtomicPtr::new(ptr::null_mut());
static DEFERRED_TOTAL: AtomicUsize = AtomicUsize::new(0);
static LEFT_AT_EXIT: AtomicUsize = AtomicUsize::new(0);

/// Whether deferred blocks wait to be freed (one load: the fast paths ask).
#[inline(always)]
pub(super) fn pending() -> bool {
    !DEFERRED.load(Ordering::Relaxed).is_null()
}

/// A pymalloc block freed after shutdown began: left to the process exit, counted.
pub(super) fn leave_at_exit() {
    LEFT_AT_EXIT.fetch_add(1, Ordering::Relaxed);
}

pub(super) fn defer(p: *mut u8) {
    DEFERRED_TOTAL.fetch_add(1, Ordering::Relaxed);
    let mut head = DEFERRED.load(Ordering::Relaxed);
    loop {
        // SAFETY: the block is >= 16 bytes and no longer used by its owner.
        unsafe { (p as *mut *mut u8).write(head) };
        match DEFERRED.compare_exchange_weak(head, p, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => return,
            Err(h) => head = h,
        }
    }
}

/// Frees the blocks deferred by detached threads. Needs an attached thread state.
#[inline(always)]
pub(super) fn drain_deferred(api: &Api) {
    if pending() {
        drain_slow(api);
    }
}

#[cold]
#[inline(never)]
fn drain_slow(api: &Api) {
    // Whole-list swap: no pop, hence no ABA.
    let mut p = DEFERRED.swap(ptr::null_mut(), Ordering::Acquire);
    while !p.is_null() {
        // SAFETY: each node is a deferred pymalloc block whose first word links the next.
        unsafe {
            let next = (p as *mut *mut u8).read();
            (api.mem_free)(p as *mut c_void);
            p = next;
        }
    }
}

/// Blocks deferred by detached frees, deferred blocks left at exit, and those pending.
pub(super) fn deferred_counters() -> [(&'static str, usize); 3] {
    [
        ("deferred_frees", DEFERRED_TOTAL.load(Ordering::Relaxed)),
        ("left_at_exit", LEFT_AT_EXIT.load(Ordering::Relaxed)),
        ("deferred_pending", {
            let mut n = 0;
            let mut p = DEFERRED.load(Ordering::Acquire);
            // Reading the list races with a concurrent drain; only called with the GIL.
            while !p.is_null() && n < 1 << 20 {
                n += 1;
                p = unsafe { (p as *mut *mut u8).read() };
            }
            n
        }),
    ]
}
