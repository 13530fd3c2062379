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

use crate::aligned::{self, Plan};
use crate::fallback;
use crate::pyapi::{self, Api};
use crate::{Backend, Primitive};
use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// pymalloc's SMALL_REQUEST_THRESHOLD: larger requests go to the raw domain.
const SMALL_MAX: usize = fallback::MAX_BLOCK;
/// Small requests are rounded to 16 B (pymalloc's own step, so free of cost) and at least
/// 16 B, so a deferred block can hold the list link without touching debug-hook guards.
const ROUND: usize = 16;

static DEFERRED: AtomicPtr<u8> = AtomicPtr::new(ptr::null_mut());
static DEFERRED_TOTAL: AtomicUsize = AtomicUsize::new(0);
static LEFT_AT_EXIT: AtomicUsize = AtomicUsize::new(0);

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
        LEFT_AT_EXIT.fetch_add(1, Ordering::Relaxed);
    } else {
        defer(p);
    }
}

fn defer(p: *mut u8) {
    DEFERRED_TOTAL.fetch_add(1, Ordering::Relaxed);
    let mut head = DEFERRED.load(Ordering::Relaxed);
    loop {
        // SAFETY: the block is >= 16 bytes and no longer used by its owner.
        unsafe { (p as *mut *mut u8).write(head) };
        match DEFERRED.compare_exchange_weak(head, p, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => return,
            Err(h) => head = h,
        }
    }
}

/// Frees the blocks deferred by detached threads. Needs an attached thread state.
#[inline(always)]
fn drain_deferred(api: &Api) {
    if !DEFERRED.load(Ordering::Relaxed).is_null() {
        drain_slow(api);
    }
}

#[cold]
#[inline(never)]
fn drain_slow(api: &Api) {
    // Whole-list swap: no pop, hence no ABA.
    let mut p = DEFERRED.swap(ptr::null_mut(), Ordering::Acquire);
    while !p.is_null() {
        // SAFETY: each node is a deferred pymalloc block whose first word links the next.
        unsafe {
            let next = (p as *mut *mut u8).read();
            (api.mem_free)(p as *mut c_void);
            p = next;
        }
    }
}

/// Large blocks (> 512 B) carry a 16-byte header naming their family: the raw domain when
/// the thread was attached at allocation, libc otherwise. A detached thread must not call
/// `PyMem_RawMalloc`/`RawCalloc`/`RawRealloc` (tracemalloc's hook on CPython <= 3.14 takes
/// the GIL there), but `PyMem_RawFree` takes no GIL in any version, so the free goes to
/// the block's own family from any thread.
/// 8 bytes, not 16: a 1024 B request stays within glibc's tcache (<= 1032 B), and the
/// block stays 8-aligned, all the natural path promises (`aligned.rs`).
const HEADER: usize = 8;
const FAMILY_RAW: usize = 0x5241_5721_7261_7721; // "RAW!raw!"
const FAMILY_LIBC: usize = 0x4C49_4243_6C69_6263; // "LIBClibc"

#[inline(always)]
unsafe fn large_alloc<const GUARD: bool>(req: usize, zeroed: bool) -> *mut u8 {
    let Some(n) = req.checked_add(HEADER) else {
        return ptr::null_mut();
    };
    // SAFETY: both families take any size and return NULL on failure; the header is inside.
    unsafe {
        let (base, family) = match pyapi::api() {
            Some(api) if !GUARD || api.attached() => (
                if zeroed {
                    (api.raw_calloc)(1, n)
                } else {
                    (api.raw_malloc)(n)
                } as *mut u8,
                FAMILY_RAW,
            ),
            _ => (
                if zeroed {
                    libc::calloc(1, n)
                } else {
                    libc::malloc(n)
                } as *mut u8,
                FAMILY_LIBC,
            ),
        };
        if base.is_null() {
            return base;
        }
        (base as *mut usize).write(family);
        base.add(HEADER)
    }
}

/// # Safety
/// `p` came from [`large_alloc`] or [`large_realloc`].
#[inline(always)]
unsafe fn large_free(p: *mut u8) {
    // SAFETY: the header precedes p; a raw-domain block implies the API exists.
    unsafe {
        let base = p.sub(HEADER);
        if (base as *const usize).read() == FAMILY_RAW {
            (pyapi::api().unwrap_unchecked().raw_free)(base as *mut c_void)
        } else {
            libc::free(base as *mut c_void)
        }
    }
}

/// # Safety
/// `p` came from [`large_alloc`] or [`large_realloc`] with `old_req` bytes; `new_req` > 512.
#[inline]
unsafe fn large_realloc(p: *mut u8, old_req: usize, new_req: usize) -> *mut u8 {
    let Some(n) = new_req.checked_add(HEADER) else {
        return ptr::null_mut();
    };
    // SAFETY: each family resizes its own blocks; the header moves with the block.
    unsafe {
        let base = p.sub(HEADER);
        let q = if (base as *const usize).read() == FAMILY_LIBC {
            libc::realloc(base as *mut c_void, n) as *mut u8
        } else {
            match pyapi::api() {
                Some(api) if api.attached() => (api.raw_realloc)(base as *mut c_void, n) as *mut u8,
                // Detached: a new libc block, the raw one freed (RawFree takes no GIL).
                _ => {
                    let q = large_alloc::<true>(new_req, false);
                    if !q.is_null() {
                        ptr::copy_nonoverlapping(p, q, old_req.min(new_req));
                        large_free(p);
                    }
                    return q;
                }
            }
        };
        if q.is_null() {
            q
        } else {
            q.add(HEADER)
        }
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
            if !GUARD || (api.attached_fast() && DEFERRED.load(Ordering::Relaxed).is_null()) {
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
        v.extend(deferred_counters());
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

/// Blocks deferred by detached frees, deferred blocks left at exit, and those pending.
fn deferred_counters() -> [(&'static str, usize); 3] {
    [
        ("deferred_frees", DEFERRED_TOTAL.load(Ordering::Relaxed)),
        ("left_at_exit", LEFT_AT_EXIT.load(Ordering::Relaxed)),
        ("deferred_pending", {
            let mut n = 0;
            let mut p = DEFERRED.load(Ordering::Acquire);
            // Reading the list races with a concurrent drain; only called with the GIL.
            while !p.is_null() && n < 1 << 20 {
                n += 1;
                p = unsafe { (p as *mut *mut u8).read() };
            }
            n
        }),
    ]
}
