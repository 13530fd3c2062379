//! Feature `jemalloc`: `tikv-jemallocator` (jemalloc, prefixed symbols, built without
//! initial-exec TLS because the extension is dlopen'ed).

pub const NAME: &str = "jemalloc";
pub const PRIMITIVE: &str = "malloc + free (jemalloc, prefixed)";

pub use tikv_jemallocator::Jemalloc as JemallocAllocator;

/// The backend's own primitive, for the raw baseline (the same for every size).
pub fn primitive(_size: usize) -> Option<crate::Primitive> {
    unsafe fn m(n: usize) -> *mut u8 {
        unsafe { tikv_jemalloc_sys::malloc(n) as *mut u8 }
    }
    unsafe fn f(p: *mut u8) {
        unsafe { tikv_jemalloc_sys::free(p as *mut core::ffi::c_void) }
    }
    Some((m, f))
}
