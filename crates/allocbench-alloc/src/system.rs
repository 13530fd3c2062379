//! Feature `system`: Rust's default, `std::alloc::System` (glibc malloc here).

pub const NAME: &str = "system";
pub const PRIMITIVE: &str = "malloc + free (libc)";

pub use std::alloc::System as SystemAllocator;

/// The backend's own primitive, for the raw baseline (the same for every size).
pub fn primitive(_size: usize) -> Option<crate::Primitive> {
    unsafe fn m(n: usize) -> *mut u8 {
        unsafe { libc::malloc(n) as *mut u8 }
    }
    unsafe fn f(p: *mut u8) {
        unsafe { libc::free(p as *mut libc::c_void) }
    }
    Some((m, f))
}
