//! Feature `mimalloc`: the `mimalloc` crate (Microsoft's mimalloc, built for a dlopen'ed
//! library: `local_dynamic_tls`).

use crate::{Backend, Primitive};

pub use mimalloc::MiMalloc as MimallocAllocator;

impl Backend for MimallocAllocator {
    const NAME: &'static str = "mimalloc";
    const PRIMITIVE: &'static str = "mi_malloc + mi_free";

    /// The backend's own primitive, for the raw baseline (the same for every size).
    fn primitive(_size: usize) -> Option<Primitive> {
        unsafe fn m(n: usize) -> *mut u8 {
            unsafe { libmimalloc_sys::mi_malloc(n) as *mut u8 }
        }
        unsafe fn f(p: *mut u8) {
            unsafe { libmimalloc_sys::mi_free(p as *mut core::ffi::c_void) }
        }
        Some((m, f))
    }
}
