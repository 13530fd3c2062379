//! Layout handling shared by the PyMem backends.
//!
//! CPython promises no alignment for `PyMem_*`: pymalloc and glibc give 16 bytes on 64-bit,
//! but `PYTHONMALLOC=mimalloc` gives 8 for some sizes and the debug hooks shift the block
//! by 16 bytes from whatever the allocator returned. Every allocator CPython can use gives
//! at least 8, so only `align <= 8` takes the natural path; anything larger is
//! over-allocated by `align` bytes, the block is placed at the next multiple of `align`,
//! and the base pointer is kept in the word just below it (there are always >= 8 bytes
//! there because the base is 8-aligned and the gap is at least 8).

use core::alloc::Layout;
use core::ptr;

/// Largest alignment every CPython allocator guarantees.
pub(crate) const NATURAL_ALIGN: usize = 8;

/// How a `Layout` is served: `req` bytes from the family, and whether the block is an
/// over-aligned one placed inside them. `None` when the size overflows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Plan {
    pub req: usize,
    pub over: bool,
}

#[inline(always)]
pub(crate) fn plan(layout: Layout, round_to: usize) -> Option<Plan> {
    let size = layout.size().max(1);
    if layout.align() <= NATURAL_ALIGN {
        // round_to is a power of two (1 or 16).
        let req = size.checked_add(round_to - 1)? & !(round_to - 1);
        Some(Plan { req, over: false })
    } else {
        Some(Plan {
            req: size.checked_add(layout.align())?,
            over: true,
        })
    }
}

/// Places an over-aligned block inside `base` (which has `size + align` bytes).
///
/// # Safety
/// `base` is NULL or points to at least `layout.size() + layout.align()` bytes, 8-aligned.
#[inline]
pub(crate) unsafe fn place(base: *mut u8, align: usize) -> *mut u8 {
    if base.is_null() {
        return base;
    }
    let aligned = ((base as usize + align) & !(align - 1)) as *mut u8;
    // SAFETY: aligned - base is in [8, align], so the word below `aligned` is inside the block.
    unsafe { (aligned as *mut *mut u8).sub(1).write(base) };
    aligned
}

/// The base pointer of an over-aligned block made by [`place`].
///
/// # Safety
/// `p` was returned by [`place`].
#[inline]
pub(crate) unsafe fn base_of(p: *mut u8) -> *mut u8 {
    // SAFETY: place() stored the base in the word below p.
    unsafe { (p as *mut *mut u8).sub(1).read() }
}

/// Realloc by allocate, copy, free: used when the block moves between families or is
/// over-aligned (a family realloc would keep the base but lose the offset).
///
/// # Safety
/// As `GlobalAlloc::realloc`.
#[inline]
pub(crate) unsafe fn realloc_by_copy<A: core::alloc::GlobalAlloc + ?Sized>(
    a: &A,
    p: *mut u8,
    layout: Layout,
    new_size: usize,
) -> *mut u8 {
    let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
        return ptr::null_mut();
    };
    // SAFETY: forwarded contract.
    unsafe {
        let q = a.alloc(new_layout);
        if !q.is_null() {
            ptr::copy_nonoverlapping(p, q, layout.size().min(new_size));
            a.dealloc(p, layout);
        }
        q
    }
}
