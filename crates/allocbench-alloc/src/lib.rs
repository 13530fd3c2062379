//! Rust global allocators for CPython extensions: exactly one backend is compiled in,
//! chosen by a cargo feature of the same name (the list below).
//!
//! Every backend file offers the same surface, the [`Backend`] trait (`backend.rs`): `NAME`,
//! `PRIMITIVE` (what the raw baseline calls), `primitive(size)` (the primitive it calls for
//! that size), its counters, its unguarded path; its type is a `GlobalAlloc`. The crate
//! re-exports the compiled-in one as `Allocator` and forwards to it. An extension installs
//! `Allocator` as its `#[global_allocator]` (README.md); this crate's own `cargo test` does
//! not, so it never runs a PyMem path.

#[cfg(any(feature = "pymem", feature = "pymem-raw"))]
mod aligned;
#[cfg(feature = "pymem")]
pub mod fallback;
// Flavours that do not allocate through CPython still use the shutdown hook and probes.
#[cfg_attr(not(any(feature = "pymem", feature = "pymem-raw")), allow(dead_code))]
pub mod pyapi;

mod backend;
pub use backend::{Backend, Primitive};

// Exactly one backend feature, named in a friendly error otherwise.
macro_rules! exactly_one {
    ($first:literal $(, $rest:literal)*) => {
        #[cfg(not(any(feature = $first $(, feature = $rest)*)))]
        compile_error!(concat!("allocbench-alloc: enable exactly one backend feature (",
                               $first $(, ", ", $rest)*, "): none is enabled"));
        exactly_one!(@pairs $first $(, $rest)*);
    };
    (@pairs $first:literal $(, $rest:literal)*) => {
        $(
            #[cfg(all(feature = $first, feature = $rest))]
            compile_error!(concat!("allocbench-alloc: enable exactly one backend feature (both ",
                                   $first, " and ", $rest, " are enabled)"));
        )*
        exactly_one!(@pairs $($rest),*);
    };
    (@pairs) => {};
}

// The backends, one file each: the flavours of python/allocbench/registry.py, in its order,
// written by it (make registry; tests/test_registry.py fails when this block differs). Each
// file's allocator implements `GlobalAlloc` and `Backend`; the one compiled in is `Allocator`.
// generated from python/allocbench/registry.py (make registry)
exactly_one!("pymem", "pymem-raw", "system", "mimalloc", "jemalloc");

#[cfg(feature = "pymem")]
pub mod pymem;
#[cfg(feature = "pymem")]
pub use pymem::PyMemAllocator as Allocator;

#[cfg(feature = "pymem-raw")]
pub mod pymem_raw;
#[cfg(feature = "pymem-raw")]
pub use pymem_raw::PyMemRawAllocator as Allocator;

#[cfg(feature = "system")]
pub mod system;
#[cfg(feature = "system")]
pub use system::SystemAllocator as Allocator;

#[cfg(feature = "mimalloc")]
pub mod mimalloc;
#[cfg(feature = "mimalloc")]
pub use mimalloc::MimallocAllocator as Allocator;

#[cfg(feature = "jemalloc")]
pub mod jemalloc;
#[cfg(feature = "jemalloc")]
pub use jemalloc::JemallocAllocator as Allocator;
// end generated

/// pymalloc's SMALL_REQUEST_THRESHOLD: the pymem backend sends larger blocks to the raw
/// domain, as pymalloc itself would (its fallback region serves up to this size too).
pub const PYMALLOC_SMALL_MAX: usize = 512;

/// The backend's allocator as a value, for calls outside `#[global_allocator]` (the
/// unguarded path, the tests).
pub static ALLOCATOR: Allocator = Allocator;

use core::alloc::Layout;

/// The backend's name ([`Backend::NAME`]).
pub const NAME: &str = <Allocator as Backend>::NAME;
/// What the raw baseline calls ([`Backend::PRIMITIVE`]).
pub const PRIMITIVE: &str = <Allocator as Backend>::PRIMITIVE;
/// Whether the global allocator calls into CPython (tracemalloc can see its blocks).
pub const ROUTES_THROUGH_PYMEM: bool = <Allocator as Backend>::ROUTES_THROUGH_PYMEM;
/// Virtual size of the PyMem backend's fallback region (0 in other flavours).
pub const FALLBACK_REGION_BYTES: usize = <Allocator as Backend>::FALLBACK_REGION_BYTES;

/// The backend's own (malloc, free) pair for `size` ([`Backend::primitive`]).
#[inline]
pub fn primitive(size: usize) -> Option<Primitive> {
    <Allocator as Backend>::primitive(size)
}

/// The GlobalAlloc path minus the PyMem backend's thread-state guard; the same as the
/// guarded path for every other backend (they have no guard).
///
/// # Safety
/// As `GlobalAlloc::alloc`; in the pymem flavour the caller holds the GIL.
#[inline]
pub unsafe fn alloc_unguarded(layout: Layout) -> *mut u8 {
    unsafe { ALLOCATOR.alloc_unguarded(layout) }
}

/// # Safety
/// As `GlobalAlloc::dealloc`; in the pymem flavour the caller holds the GIL.
#[inline]
pub unsafe fn dealloc_unguarded(p: *mut u8, layout: Layout) {
    unsafe { ALLOCATOR.dealloc_unguarded(p, layout) }
}

/// The backend's own counters: the PyMem backend's fallback region and deferred frees.
/// Empty for backends that have neither (no counter is reported as a made-up zero).
pub fn counters() -> Vec<(&'static str, usize)> {
    <Allocator as Backend>::counters()
}

/// Whether `p` lies in the PyMem backend's fallback region; None in other flavours.
pub fn in_fallback_region(p: *const u8) -> Option<bool> {
    <Allocator as Backend>::in_fallback_region(p)
}

pub mod checks;

#[cfg(test)]
mod tests;
