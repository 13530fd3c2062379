//! Feature `mimalloc`: the `mimalloc` crate (Microsoft's mimalloc, built for a dlopen'ed
//! library: `local_dynamic_tls`).

pub const NAME: &str = "mimalloc";
pub const PRIMITIVE: &str = "mi_malloc + mi_free";

pub use mimalloc::MiMalloc as MimallocAllocator;

/// The backend's own primitive, for the raw baseline (the same for every size).
pub fn primitive(_size: usize) -> Option<crate::Primitive> {
    unsafe fn m(n: usize) -> *mut u8 {
        unsafe { libmimalloc_sys::mi_malloc(n) as *mut u8 }
    }
    unsafe fn f(p: *mut u8) {
        unsafe { libmimalloc_sys::mi_free(p as *mut core::ffi::c_void) }
    }
    Some((m, f))
}
