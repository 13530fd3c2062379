//! Feature `pymem-raw`: Rust's heap through CPython's RAW domain (`PyMem_RawMalloc` family).
//!
//! The RAW domain is thread-safe without a thread state, so no check is needed: it is
//! libc malloc unless `PYTHONMALLOC` installs the debug hooks, and tracemalloc sees it.
//! Caveat (CPython <= 3.14): with tracemalloc active, the raw hook takes the GIL on a
//! detached thread, which costs latency and deadlocks if the GIL holder waits on that
//! thread while holding the GIL; the suite always detaches before joining its threads.
//! Alignment follows `aligned.rs`; outside an interpreter the same paths use libc.

use crate::aligned::{self, Plan};
use crate::pyapi;
use crate::{Backend, Primitive};
use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_void;
use core::ptr;

pub struct PyMemRawAllocator;

#[inline(always)]
unsafe fn alloc_impl(layout: Layout, zeroed: bool) -> *mut u8 {
    let Some(Plan { req, over }) = aligned::plan(layout, 1) else {
        return ptr::null_mut();
    };
    unsafe {
        let base = pyapi::raw_alloc(req, zeroed);
        if over {
            aligned::place(base, layout.align())
        } else {
            base
        }
    }
}

unsafe impl GlobalAlloc for PyMemRawAllocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { alloc_impl(layout, false) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe { alloc_impl(layout, true) }
    }

    #[inline]
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        if layout.align() > aligned::NATURAL_ALIGN {
            unsafe { pyapi::raw_free(aligned::base_of(p)) }
        } else {
            unsafe { pyapi::raw_free(p) }
        }
    }

    #[inline]
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() > aligned::NATURAL_ALIGN {
            return unsafe { aligned::realloc_by_copy(self, p, layout, new_size) };
        }
        unsafe { pyapi::raw_realloc(p, new_size.max(1)) }
    }
}

impl Backend for PyMemRawAllocator {
    const NAME: &'static str = "pymem-raw";
    const PRIMITIVE: &'static str = "PyMem_RawMalloc + PyMem_RawFree";
    const ROUTES_THROUGH_PYMEM: bool = true;

    /// The backend's own primitive, for the raw baseline (the same for every size).
    fn primitive(_size: usize) -> Option<Primitive> {
        pyapi::api()?;
        unsafe fn m(n: usize) -> *mut u8 {
            unsafe { (pyapi::api().unwrap_unchecked().raw_malloc)(n) as *mut u8 }
        }
        unsafe fn f(p: *mut u8) {
            unsafe { (pyapi::api().unwrap_unchecked().raw_free)(p as *mut c_void) }
        }
        Some((m, f))
    }
}
