//! Rust global allocators for CPython extensions: exactly one backend is compiled in,
//! chosen by a cargo feature (`pymem`, `pymem-raw`, `system`, `mimalloc`, `jemalloc`).
//!
//! Every backend file offers the same surface: `NAME`, `PRIMITIVE` (what the raw baseline
//! calls), an allocator type, and `primitive(size)` (the primitive it calls for that size).
//! An extension installs the type as its `#[global_allocator]` (README.md); this crate's
//! own `cargo test` does not, so it never runs a PyMem path.

#[cfg(any(feature = "pymem", feature = "pymem-raw"))]
mod aligned;
#[cfg(feature = "pymem")]
pub mod fallback;
// Flavours that do not allocate through CPython still use the shutdown hook and probes.
#[cfg_attr(not(any(feature = "pymem", feature = "pymem-raw")), allow(dead_code))]
pub mod pyapi;

macro_rules! exactly_one {
    ($($f:literal),+) => {
        #[cfg(not(any($(feature = $f),+)))]
        compile_error!("allocbench-alloc: enable exactly one backend feature: pymem, \
                        pymem-raw, system, mimalloc or jemalloc (none is enabled)");
        exactly_one!(@pairs $($f),+);
    };
    (@pairs $first:literal $(, $rest:literal)*) => {
        $(
            #[cfg(all(feature = $first, feature = $rest))]
            compile_error!(concat!("allocbench-alloc: enable exactly one backend feature: \
                pymem, pymem-raw, system, mimalloc or jemalloc (both ",
                $first, " and ", $rest, " are enabled)"));
        )*
        exactly_one!(@pairs $($rest),*);
    };
    (@pairs) => {};
}
exactly_one!("pymem", "pymem-raw", "system", "mimalloc", "jemalloc");

#[cfg(feature = "pymem")]
pub mod pymem;
#[cfg(feature = "pymem")]
pub use pymem::{primitive, PyMemAllocator as Allocator, NAME, PRIMITIVE};

#[cfg(feature = "pymem-raw")]
pub mod pymem_raw;
#[cfg(feature = "pymem-raw")]
pub use pymem_raw::{primitive, PyMemRawAllocator as Allocator, NAME, PRIMITIVE};

#[cfg(feature = "system")]
pub mod system;
#[cfg(feature = "system")]
pub use system::{primitive, SystemAllocator as Allocator, NAME, PRIMITIVE};

#[cfg(feature = "mimalloc")]
pub mod mimalloc;
#[cfg(feature = "mimalloc")]
pub use mimalloc::{primitive, MimallocAllocator as Allocator, NAME, PRIMITIVE};

#[cfg(feature = "jemalloc")]
pub mod jemalloc;
#[cfg(feature = "jemalloc")]
pub use jemalloc::{primitive, JemallocAllocator as Allocator, NAME, PRIMITIVE};

/// pymalloc's SMALL_REQUEST_THRESHOLD: the pymem backend sends larger blocks to the raw
/// domain, as pymalloc itself would (its fallback region serves up to this size too).
pub const PYMALLOC_SMALL_MAX: usize = 512;

/// A backend's own allocation primitive: (malloc, free).
pub type Primitive = (unsafe fn(usize) -> *mut u8, unsafe fn(*mut u8));

/// The backend's allocator as a value, for calls outside `#[global_allocator]` (the
/// unguarded path of the non-PyMem backends, the tests).
pub static ALLOCATOR: Allocator = Allocator;

#[cfg(not(feature = "pymem"))]
use core::alloc::GlobalAlloc;
use core::alloc::Layout;

/// The GlobalAlloc path minus the PyMem backend's thread-state guard; the same as the
/// guarded path for every other backend (they have no guard).
///
/// # Safety
/// As `GlobalAlloc::alloc`; in the pymem flavour the caller holds the GIL.
#[inline]
pub unsafe fn alloc_unguarded(layout: Layout) -> *mut u8 {
    #[cfg(feature = "pymem")]
    return unsafe { pymem::alloc_unguarded(layout) };
    #[cfg(not(feature = "pymem"))]
    return unsafe { ALLOCATOR.alloc(layout) };
}

/// # Safety
/// As `GlobalAlloc::dealloc`; in the pymem flavour the caller holds the GIL.
#[inline]
pub unsafe fn dealloc_unguarded(p: *mut u8, layout: Layout) {
    #[cfg(feature = "pymem")]
    return unsafe { pymem::dealloc_unguarded(p, layout) };
    #[cfg(not(feature = "pymem"))]
    return unsafe { ALLOCATOR.dealloc(p, layout) };
}

/// The backend's own counters: the PyMem backend's fallback region and deferred frees.
/// Empty for backends that have neither (no counter is reported as a made-up zero).
pub fn counters() -> Vec<(&'static str, usize)> {
    #[cfg(feature = "pymem")]
    {
        let (live, total, carved) = fallback::stats();
        let mut v = vec![
            ("fallback_live_blocks", live),
            ("fallback_total_blocks", total),
            ("fallback_slab_bytes", carved),
        ];
        v.extend(pymem::counters());
        v
    }
    #[cfg(not(feature = "pymem"))]
    Vec::new()
}

/// Whether `p` lies in the PyMem backend's fallback region; None in other flavours.
pub fn in_fallback_region(p: *const u8) -> Option<bool> {
    #[cfg(feature = "pymem")]
    return Some(fallback::contains(p as *mut u8));
    #[cfg(not(feature = "pymem"))]
    {
        let _ = p;
        None
    }
}

/// Virtual size of the PyMem backend's fallback region (0 in other flavours).
#[cfg(feature = "pymem")]
pub const FALLBACK_REGION_BYTES: usize = fallback::REGION_BYTES;
#[cfg(not(feature = "pymem"))]
pub const FALLBACK_REGION_BYTES: usize = 0;

/// Whether the global allocator calls into CPython (tracemalloc can see its blocks).
pub const ROUTES_THROUGH_PYMEM: bool = cfg!(any(feature = "pymem", feature = "pymem-raw"));

pub mod checks;

#[cfg(test)]
mod tests;
