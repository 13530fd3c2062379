//! Feature `pymem`: Rust's heap through CPython's MEM domain (`PyMem_Malloc` family), as
//! orjson does, but sound on every thread and at every point of the interpreter's life.
//!
//! # Invariants (tests/test_soundness.py reproduces each hazard they exclude)
//! 1. No MEM-domain call (malloc, calloc, realloc *or free*) without an attached thread state
//!    of the main interpreter that is the calling thread's own (its GILState state: what the
//!    debug hooks' `PyGILState_Check` demands), and none once shutdown has begun.
//! 2. No allocator call waits for the GIL or for any lock a GIL holder can hold. A detached
//!    thread calls only: the fallback region (its own mutexes, never held across a call
//!    out), libc, the lock-free deferred list, and `PyMem_RawFree` (no version's
//!    tracemalloc hook takes the GIL on free). It never calls `PyMem_RawMalloc`/`RawCalloc`/
//!    `RawRealloc`, whose tracemalloc hook on CPython <= 3.14 waits for the GIL while the
//!    thread holds whatever its caller holds (a `OnceLock`, PyO3's pending-decref mutex...).
//! 3. No allocator call can be unwound by the interpreter: nothing here reaches
//!    `PyGILState_Ensure`/`take_gil`, where a finalising interpreter calls
//!    `PyThread_exit_thread` (a forced unwind through Rust frames).
//! 4. Every block is freed by the family that made it; every `Layout` is honoured
//!    (`aligned.rs`); a forked child finds every mutex free (`fallback.rs`); the region
//!    works under strict overcommit (`fallback.rs`).
//!
//! # Dispatch
//! * **Small blocks** (<= 512 B, natural alignment) on an attached thread: the fast path,
//!   one probe and a tail call into `PyMem_Malloc`/`PyMem_Calloc`/`PyMem_Free`. Detached,
//!   during shutdown and without an interpreter they come from the fallback region; a
//!   pymalloc block freed detached is pushed onto a lock-free list (the block is its own
//!   node) that the next attached allocation drains (PyO3's pattern for deferred decrefs);
//!   after shutdown began such blocks are left to the process exit (counted).
//! * **Large blocks** carry an 8-byte header naming their family: the raw domain when made
//!   attached (tracemalloc sees them), libc when made detached. Frees go to the family from
//!   any thread; a detached realloc of a raw-domain block moves it to libc.
//!
//! # Why the probe answers for the calling thread (`pyapi.rs`)
//! * **3.12+**: `PyThreadState_GetUnchecked` (3.12: `_PyThreadState_UncheckedGet`) reads a
//!   thread-local: this thread's attached state or NULL. It is ours to use iff its
//!   `thread_id` is this thread (`pthread_self`, where `PyThreadState_New` and
//!   `_PyThreadState_Bind` record the thread the state was made for, the one whose GILState
//!   slot holds it) and its interpreter is the main one (subinterpreters are refused: their
//!   states count as detached, so their threads use the fallback). A state created on A and
//!   attached on B has A's id: B takes the fallback, as the debug hooks require. Only this
//!   thread can detach or delete its attached state, so the reads race with nothing.
//!   On a static interpreter the getter is one `%fs` load; the probe decodes it (checked
//!   against the getter at start-up) and makes the same load inline, for every thread alike.
//!   Residual: a thread that creates a second state of the main interpreter for itself and
//!   attaches it passes the probe though `PyGILState_Check` would fail (CPython's GILState
//!   API calls that unsupported); comparing with the TSS slot instead costs ~20
//!   instructions per call.
//! * **3.11**: no per-thread record of attachment exists (`_PyThreadState_UncheckedGet`
//!   returns the GIL holder, a global; the GILState slot names the *creating* thread, so
//!   both say "attached" to thread A above). The probe reads the holder `h` from
//!   `_PyRuntime` and accepts only if `h->cframe` (the running eval loop's frame record)
//!   lies on this thread's stack between the stack pointer and the stack's top: only the
//!   thread running `h`'s eval loop has it there. A thread attached but outside any eval
//!   loop (a Rust thread inside `Python::attach`, interpreter finalisation) gets "no" and
//!   uses the fallback: conservative, sound. `h` may be another thread's state being
//!   deleted while we read it: the reads are plain loads of memory that stays mapped
//!   (glibc never unmaps a freed chunk this small), and the holder is read again after
//!   them; a changed holder means "no".
//! * Shutdown: `begin_shutdown` clears the interpreter the probe compares with, so the same
//!   compare also answers "has shutdown begun?".
//!
//! The cost of the probe is measured by the `alloc_pair_unguarded` workload, which runs the
//! same fast path with the probe compiled out (sound only on a thread holding the GIL).
//!
//! Size: over 300 lines, 60 of them the invariants above, which the paths below keep and are
//! read beside; the large-block family (`pymem/large.rs`) and the deferred frees
//! (`pymem/deferred.rs`) are files of their own.

use crate::aligned::{self, Plan};
use crate::fallback;
use crate::pyapi;
use crate::{Backend, Primitive};

mod deferred;
mod large;

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_void;
use core::ptr;
use deferred::{defer, drain_deferred};
use large::{large_alloc, large_free, large_realloc};

/// pymalloc's SMALL_REQUEST_THRESHOLD: larger requests go to the raw domain.
const SMALL_MAX: usize = fallback::MAX_BLOCK;
/// Small requests are rounded to 16 B (pymalloc's own step, so free of cost) and at least
/// 16 B, so a deferred block can hold the list link without touching debug-hook guards.
const ROUND: usize = 16;

pub struct PyMemAllocator;

#[inline(always)]
fn plan(layout: Layout) -> Option<Plan> {
    aligned::plan(layout, ROUND)
}

#[inline(always)]
unsafe fn alloc_small<const GUARD: bool>(req: usize, zeroed: bool) -> *mut u8 {
    if let Some(api) = pyapi::api() {
        if !GUARD || api.attached() {
            if GUARD {
                drain_deferred(api);
            }
            // SAFETY: the thread is attached (checked above, or promised by the caller).
            return unsafe {
                if zeroed {
                    (api.mem_calloc)(1, req) as *mut u8
                } else {
                    (api.mem_malloc)(req) as *mut u8
                }
            };
        }
    }
    fallback::alloc(req, zeroed)
}

#[inline(always)]
unsafe fn free_small<const GUARD: bool>(p: *mut u8, req: usize) {
    if fallback::contains(p) {
        // SAFETY: p came from the region with this request size.
        unsafe { fallback::free(p, req) };
        return;
    }
    // Not in the region, so it is a pymalloc block and the API exists.
    let Some(api) = pyapi::api() else { return };
    if !GUARD || api.attached() {
        // SAFETY: attached; p came from PyMem_Malloc/Calloc/Realloc.
        unsafe { (api.mem_free)(p as *mut c_void) };
    } else if pyapi::finalizing() {
        deferred::leave_at_exit();
    } else {
        defer(p);
    }
}

#[inline(always)]
unsafe fn alloc_impl<const GUARD: bool>(layout: Layout, zeroed: bool) -> *mut u8 {
    let Some(Plan { req, over }) = plan(layout) else {
        return ptr::null_mut();
    };
    // SAFETY: forwarded GlobalAlloc contract.
    unsafe {
        let base = if req <= SMALL_MAX {
            alloc_small::<GUARD>(req, zeroed)
        } else {
            large_alloc::<GUARD>(req, zeroed)
        };
        if over {
            aligned::place(base, layout.align())
        } else {
            base
        }
    }
}

#[inline(always)]
unsafe fn dealloc_impl<const GUARD: bool>(p: *mut u8, layout: Layout) {
    let Some(Plan { req, over }) = plan(layout) else {
        return;
    };
    // SAFETY: forwarded GlobalAlloc contract; the plan is the one used at allocation.
    unsafe {
        let base = if over { aligned::base_of(p) } else { p };
        if req <= SMALL_MAX {
            free_small::<GUARD>(base, req)
        } else {
            large_free(base)
        }
    }
}

/// The layouts the fast paths serve: pymalloc's sizes at the natural alignment.
#[inline(always)]
fn fast_layout(layout: Layout) -> bool {
    layout.align() <= aligned::NATURAL_ALIGN && layout.size() <= SMALL_MAX
}

/// The fast path of `alloc`/`alloc_zeroed`: a pymalloc-sized block on an attached thread is
/// one probe and a tail call into PyMem_Malloc/PyMem_Calloc. Everything else is out of line.
#[inline(always)]
unsafe fn alloc_fast<const GUARD: bool, const ZEROED: bool>(layout: Layout) -> *mut u8 {
    let zeroed = ZEROED;
    if fast_layout(layout) {
        if let Some(api) = pyapi::api_ready() {
            // Deferred frees waiting: the cold path drains them first.
            if !GUARD || (api.attached_fast() && !deferred::pending()) {
                // At least 8 bytes, so a block deferred later can hold its list link.
                let n = layout.size().max(8);
                // SAFETY: attached (checked above, or promised by the caller).
                return unsafe {
                    if zeroed {
                        (api.mem_calloc)(1, n) as *mut u8
                    } else {
                        (api.mem_malloc)(n) as *mut u8
                    }
                };
            }
        }
    }
    unsafe {
        if ZEROED {
            alloc_zeroed_cold::<GUARD>(layout)
        } else {
            alloc_cold::<GUARD>(layout)
        }
    }
}

#[cold]
#[inline(never)]
// Two functions, not one with a flag: `alloc`'s paths never reach calloc (tests/test_folds.py
// reads the call graph by symbol name, so monomorphised twins would be merged there).
unsafe fn alloc_cold<const GUARD: bool>(layout: Layout) -> *mut u8 {
    unsafe { alloc_impl::<GUARD>(layout, false) }
}

#[cold]
#[inline(never)]
unsafe fn alloc_zeroed_cold<const GUARD: bool>(layout: Layout) -> *mut u8 {
    unsafe { alloc_impl::<GUARD>(layout, true) }
}

/// The fast path of `dealloc`: a pymalloc block (small, natural alignment, not in the
/// fallback region) freed on an attached thread is one probe and a tail call to PyMem_Free.
#[inline(always)]
unsafe fn dealloc_fast<const GUARD: bool>(p: *mut u8, layout: Layout) {
    if fast_layout(layout) && !fallback::contains(p) {
        if let Some(api) = pyapi::api_ready() {
            if !GUARD || api.attached_fast() {
                // SAFETY: attached; p came from PyMem_Malloc/Calloc/Realloc.
                return unsafe { (api.mem_free)(p as *mut c_void) };
            }
        }
    }
    unsafe { dealloc_cold::<GUARD>(p, layout) }
}

#[cold]
#[inline(never)]
unsafe fn dealloc_cold<const GUARD: bool>(p: *mut u8, layout: Layout) {
    unsafe { dealloc_impl::<GUARD>(p, layout) }
}

unsafe impl GlobalAlloc for PyMemAllocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { alloc_fast::<true, false>(layout) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe { alloc_fast::<true, true>(layout) }
    }

    #[inline]
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { dealloc_fast::<true>(p, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let (Some(old), Ok(new_layout)) = (
            plan(layout),
            Layout::from_size_align(new_size, layout.align()),
        ) else {
            return ptr::null_mut();
        };
        let Some(new) = plan(new_layout) else {
            return ptr::null_mut();
        };
        if !old.over {
            let (old_small, new_small) = (old.req <= SMALL_MAX, new.req <= SMALL_MAX);
            if !old_small && !new_small {
                // SAFETY: a large block, resized in its own family.
                return unsafe { large_realloc(p, old.req, new.req) };
            }
            if old_small && new_small {
                if fallback::contains(p) {
                    if fallback::block_size(old.req) == fallback::block_size(new.req) {
                        return p; // same size class: already big enough
                    }
                } else if let Some(api) = pyapi::api() {
                    if api.attached() {
                        drain_deferred(api);
                        // SAFETY: attached; a pymalloc block resized in the MEM domain.
                        return unsafe { (api.mem_realloc)(p as *mut c_void, new.req) as *mut u8 };
                    }
                }
            }
        }
        // Over-aligned, crossing the small/large line, or the family cannot be used here.
        unsafe { aligned::realloc_by_copy(self, p, layout, new_size) }
    }
}

impl Backend for PyMemAllocator {
    const NAME: &'static str = "pymem";
    const PRIMITIVE: &'static str =
        "PyMem_Malloc + PyMem_Free (<= 512 B), PyMem_RawMalloc + PyMem_RawFree (> 512 B)";
    const ROUTES_THROUGH_PYMEM: bool = true;
    const FALLBACK_REGION_BYTES: usize = fallback::REGION_BYTES;

    fn primitive(size: usize) -> Option<Primitive> {
        primitive(size)
    }

    /// The fallback region's blocks and slabs, then blocks deferred by detached frees and
    /// deferred blocks left at exit.
    fn counters() -> Vec<(&'static str, usize)> {
        let (live, total, carved) = fallback::stats();
        let mut v = vec![
            ("fallback_live_blocks", live),
            ("fallback_total_blocks", total),
            ("fallback_slab_bytes", carved),
        ];
        v.extend(deferred::deferred_counters());
        v
    }

    fn in_fallback_region(p: *const u8) -> Option<bool> {
        Some(fallback::contains(p as *mut u8))
    }

    /// The allocator path without the thread-state guard (orjson's design), for measuring
    /// what the guard costs. Only sound on a thread holding the GIL.
    ///
    /// # Safety
    /// As `GlobalAlloc::alloc`, and the calling thread must hold the GIL.
    #[inline]
    unsafe fn alloc_unguarded(&self, layout: Layout) -> *mut u8 {
        unsafe { alloc_fast::<false, false>(layout) }
    }

    /// # Safety
    /// As `GlobalAlloc::dealloc`, and the calling thread must hold the GIL.
    #[inline]
    unsafe fn dealloc_unguarded(&self, p: *mut u8, layout: Layout) {
        unsafe { dealloc_fast::<false>(p, layout) }
    }
}

/// The primitive this backend calls for a block of `size` bytes, for the raw baseline:
/// pymalloc up to 512 B, the raw domain above (as `alloc` does), so `raw_pair` and
/// `alloc_pair` of one size compare the same allocator. None when it cannot be called
/// here. A free function rather than the trait method's body: `allocbench.calls` finds
/// its nested pairs by name (`allocbench_alloc::pymem::primitive::m`), and a trait
/// method's path (`<PyMemAllocator as Backend>::…`) has angle brackets it does not read.
pub fn primitive(size: usize) -> Option<Primitive> {
    let api = pyapi::api()?;
    if size > SMALL_MAX {
        unsafe fn rm(n: usize) -> *mut u8 {
            // SAFETY: api() returned Some above; the raw domain needs no thread state.
            unsafe { (pyapi::api().unwrap_unchecked().raw_malloc)(n) as *mut u8 }
        }
        unsafe fn rf(p: *mut u8) {
            unsafe { (pyapi::api().unwrap_unchecked().raw_free)(p as *mut c_void) }
        }
        return Some((rm, rf));
    }
    if !api.attached() || pyapi::finalizing() {
        return None;
    }
    unsafe fn m(n: usize) -> *mut u8 {
        // SAFETY: primitive() handed this out only to a thread holding the GIL.
        unsafe { (pyapi::api().unwrap_unchecked().mem_malloc)(n) as *mut u8 }
    }
    unsafe fn f(p: *mut u8) {
        unsafe { (pyapi::api().unwrap_unchecked().mem_free)(p as *mut c_void) }
    }
    Some((m, f))
}
