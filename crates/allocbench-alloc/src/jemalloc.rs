//! Feature `jemalloc`: `tikv-jemallocator` (jemalloc, prefixed symbols, built without
//! initial-exec TLS because the extension is dlopen'ed).

use crate::{Backend, Primitive};

pub use tikv_jemallocator::Jemalloc as JemallocAllocator;

impl Backend for JemallocAllocator {
    const NAME: &'static str = "jemalloc";
    const PRIMITIVE: &'static str = "malloc + free (jemalloc, prefixed)";

    /// The backend's own primitive, for the raw baseline (the same for every size).
    fn primitive(_size: usize) -> Option<Primitive> {
        unsafe fn m(n: usize) -> *mut u8 {
            unsafe { tikv_jemalloc_sys::malloc(n) as *mut u8 }
        }
        unsafe fn f(p: *mut u8) {
            unsafe { tikv_jemalloc_sys::free(p as *mut core::ffi::c_void) }
        }
        Some((m, f))
    }
}
