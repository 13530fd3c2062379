//! The surface every backend offers, as a trait the compiler holds each backend file to.
//!
//! A backend is one file (`pymem.rs`, `system.rs`, …) compiled under its own cargo feature;
//! its allocator type implements `GlobalAlloc` and [`Backend`]. `lib.rs` re-exports the one
//! compiled in as `Allocator` and forwards the crate's functions (`NAME`, `primitive`,
//! `counters`, …) to it, so an extension and the tests never name a backend file.
//! Adding a backend: CONTRIBUTING.md ("Add a backend").

use core::alloc::{GlobalAlloc, Layout};

/// A backend's own allocation primitive: (malloc, free).
pub type Primitive = (unsafe fn(usize) -> *mut u8, unsafe fn(*mut u8));

/// An allocator backend: a `GlobalAlloc` type plus what allocbench reports and measures
/// about it. The defaults suit a backend that never calls CPython and keeps no state of
/// its own (system, mimalloc, jemalloc).
pub trait Backend: GlobalAlloc + Sync + 'static {
    /// The backend's name: its cargo feature here, and its flavour's name
    /// (`python/allocbench/registry.py`).
    const NAME: &'static str;
    /// What `primitive` calls, in words (the raw baseline's description).
    const PRIMITIVE: &'static str;
    /// Whether the allocator calls into CPython's allocator (tracemalloc sees its blocks).
    const ROUTES_THROUGH_PYMEM: bool = false;
    /// Virtual size of the backend's fallback region, 0 for a backend without one.
    const FALLBACK_REGION_BYTES: usize = 0;

    /// The backend's own (malloc, free) pair for a block of `size` bytes, for the raw
    /// baseline: what the allocator itself calls for that size. None where it cannot be
    /// called (a CPython primitive without an interpreter, or without the GIL).
    fn primitive(size: usize) -> Option<Primitive>;

    /// The backend's own counters (none by default: no counter is reported as a made-up
    /// zero).
    fn counters() -> Vec<(&'static str, usize)> {
        Vec::new()
    }

    /// Whether `p` lies in the backend's fallback region; None for a backend without one.
    fn in_fallback_region(p: *const u8) -> Option<bool> {
        let _ = p;
        None
    }

    /// The allocation path minus any thread-state guard (the pymem backend's probe); the
    /// guarded path itself for a backend without a guard.
    ///
    /// # Safety
    /// As `GlobalAlloc::alloc`; for a backend with a guard, the caller holds the GIL.
    #[inline]
    unsafe fn alloc_unguarded(&self, layout: Layout) -> *mut u8 {
        unsafe { self.alloc(layout) }
    }

    /// # Safety
    /// As `GlobalAlloc::dealloc`; for a backend with a guard, the caller holds the GIL.
    #[inline]
    unsafe fn dealloc_unguarded(&self, p: *mut u8, layout: Layout) {
        unsafe { self.dealloc(p, layout) }
    }
}
