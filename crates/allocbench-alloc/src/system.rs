//! Feature `system`: Rust's default, `std::alloc::System` (glibc malloc here).

use crate::{Backend, Primitive};

pub use std::alloc::System as SystemAllocator;

impl Backend for SystemAllocator {
    const NAME: &'static str = "system";
    const PRIMITIVE: &'static str = "malloc + free (libc)";

    /// The backend's own primitive, for the raw baseline (the same for every size).
    fn primitive(_size: usize) -> Option<Primitive> {
        unsafe fn m(n: usize) -> *mut u8 {
            unsafe { libc::malloc(n) as *mut u8 }
        }
        unsafe fn f(p: *mut u8) {
            unsafe { libc::free(p as *mut libc::c_void) }
        }
        Some((m, f))
    }
}
