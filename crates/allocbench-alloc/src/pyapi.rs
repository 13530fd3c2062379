//! The CPython allocator API, looked up at run time.
//!
//! Why dlsym instead of link-time symbols: the same code then runs in three settings —
//! inside CPython 3.11..3.13 (one abi3 wheel), in `cargo test` where no interpreter exists
//! (every lookup fails and the backends use libc and the fallback region), and across
//! versions whose thread-state getters differ in name and meaning. Python's extension
//! loader binds symbols globally (the interpreter exports them), so `RTLD_DEFAULT` finds them.
//!
//! The lookup happens on the first allocation, which inside an extension is made by its
//! module init (`PyInit_<name>`) with the interpreter initialised and the GIL held, before
//! any other Rust thread of the extension exists. The outcome is permanent: a process is
//! either "Python" or "no Python" for its whole life, so every block is freed by the family
//! that made it. A successful calibration also registers the end-of-finalisation hook
//! (`Py_AtExit`), so an extension needs nothing but the `#[global_allocator]` item.
//!
//! Two parts: `pyapi/symbols.rs` (the symbol table, its `dlsym` lookup) and `pyapi/probe.rs`
//! (the thread-state probe, calibrated at lookup). This file holds the once-only
//! resolution, the shutdown latch, and the functions the backends and extensions call.

mod probe;
mod symbols;

pub(crate) use symbols::Api;

#[cfg(feature = "pymem-raw")]
use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use probe::LIVE_INTERP;
use std::cell::UnsafeCell;
use std::mem::MaybeUninit;

const UNRESOLVED: u8 = 0;
const RESOLVING: u8 = 1;
const PYTHON: u8 = 2;
const NO_PYTHON: u8 = 3;

static STATE: AtomicU8 = AtomicU8::new(UNRESOLVED);

struct ApiCell(UnsafeCell<MaybeUninit<Api>>);
// SAFETY: written once by the thread that moved STATE to RESOLVING, read only after STATE
// is PYTHON (Release/Acquire pairs the write with every read).
unsafe impl Sync for ApiCell {}
static API: ApiCell = ApiCell(UnsafeCell::new(MaybeUninit::uninit()));

/// Set when interpreter shutdown begins ([`begin_shutdown`]: at the latest from `Py_AtExit`,
/// earlier if the extension calls it): from then on the PyMem backend makes no MEM-domain
/// call.
static FINALIZING: AtomicBool = AtomicBool::new(false);

/// The API if this process runs CPython, resolving it on first use.
#[inline(always)]
pub(crate) fn api() -> Option<&'static Api> {
    match STATE.load(Ordering::Acquire) {
        // SAFETY: PYTHON is stored only after API was fully written.
        PYTHON => Some(unsafe { (*API.0.get()).assume_init_ref() }),
        NO_PYTHON => None,
        _ => resolve_slow(),
    }
}

/// The API once resolved, without resolving: one load on the fast paths. (None before the
/// first allocation, which always takes the slow path and resolves.)
#[cfg_attr(not(feature = "pymem"), allow(dead_code))]
#[inline(always)]
pub(crate) fn api_ready() -> Option<&'static Api> {
    if STATE.load(Ordering::Acquire) == PYTHON {
        // SAFETY: PYTHON is stored only after API was fully written.
        Some(unsafe { (*API.0.get()).assume_init_ref() })
    } else {
        None
    }
}

#[cold]
#[inline(never)]
fn resolve_slow() -> Option<&'static Api> {
    loop {
        match STATE.compare_exchange(UNRESOLVED, RESOLVING, Ordering::Acquire, Ordering::Acquire) {
            Ok(_) => {
                let found = unsafe { symbols::lookup() };
                let next = match found {
                    Some(api) => {
                        // SAFETY: only this thread writes, before publishing PYTHON.
                        unsafe { (*API.0.get()).write(api) };
                        PYTHON
                    }
                    None => NO_PYTHON,
                };
                STATE.store(next, Ordering::Release);
            }
            Err(RESOLVING) => std::hint::spin_loop(),
            Err(_) => {}
        }
        match STATE.load(Ordering::Acquire) {
            PYTHON => return Some(unsafe { (*API.0.get()).assume_init_ref() }),
            NO_PYTHON => return None,
            _ => {}
        }
    }
}

/// Where the probe reads: (offset of thread_id, reads the GIL holder, `%fs` offset of the
/// interpreter's state pointer or 0 when the getter is called) — for tests.
pub fn probe_layout() -> Option<(usize, bool, isize)> {
    api().map(|a| a.probe.layout())
}

#[inline(always)]
pub(crate) fn finalizing() -> bool {
    FINALIZING.load(Ordering::Relaxed)
}

/// Interpreter shutdown has begun: from here on the probe answers no on every thread (the
/// live interpreter it compares with is gone). Called from `Py_AtExit` (registered by the
/// probe's calibration); an extension may call it earlier, e.g. from a Python `atexit` hook,
/// so that MEM-domain calls stop when finalisation starts. Idempotent.
pub fn begin_shutdown() {
    FINALIZING.store(true, Ordering::Relaxed);
    LIVE_INTERP.store(0, Ordering::Relaxed);
}

/// Looks the CPython API up and calibrates the probe now, if that has not happened yet;
/// true when this process runs a CPython the PyMem backends can use. The PyMem backends do
/// this in their first allocation; an extension using another backend calls it from its
/// module init (GIL held) to have [`thread_attached`] answer, and [`begin_shutdown`]
/// registered with `Py_AtExit`, as in the PyMem flavours.
pub fn resolve() -> bool {
    api().is_some()
}

/// `(major, minor)` of the running CPython, None outside Python.
pub fn python_version() -> Option<(u32, u32)> {
    api().map(|a| (a.version >> 24, (a.version >> 16) & 0xff))
}

/// Whether the calling thread may call the MEM domain now: it holds the GIL with its own
/// state of the main interpreter, and shutdown has not begun (false outside Python). The
/// pymem flavour decides with this probe.
pub fn thread_attached() -> bool {
    api().is_some_and(|a| a.attached())
}

pub fn shutting_down() -> bool {
    finalizing()
}

/// A block from the RAW domain (`PyMem_RawMalloc`/`RawCalloc`; thread-safe, no thread
/// state needed), or from libc in a process without an interpreter. Used by the pymem-raw
/// backends; free it with [`raw_free`], resize it with [`raw_realloc`].
///
/// # Safety
/// `req` > 0.
#[cfg(feature = "pymem-raw")]
#[inline(always)]
pub(crate) unsafe fn raw_alloc(req: usize, zeroed: bool) -> *mut u8 {
    // SAFETY: both families take any size and return NULL on failure.
    unsafe {
        match api() {
            Some(api) if zeroed => (api.raw_calloc)(1, req) as *mut u8,
            Some(api) => (api.raw_malloc)(req) as *mut u8,
            None if zeroed => libc::calloc(1, req) as *mut u8,
            None => libc::malloc(req) as *mut u8,
        }
    }
}

/// # Safety
/// `p` came from [`raw_alloc`] or [`raw_realloc`] in this process.
#[cfg(feature = "pymem-raw")]
#[inline(always)]
pub(crate) unsafe fn raw_free(p: *mut u8) {
    // SAFETY: the process mode never changes, so this is the family that made p.
    unsafe {
        match api() {
            Some(api) => (api.raw_free)(p as *mut c_void),
            None => libc::free(p as *mut c_void),
        }
    }
}

/// # Safety
/// `p` came from [`raw_alloc`] or [`raw_realloc`] in this process; `req` > 0.
#[cfg(feature = "pymem-raw")]
#[inline(always)]
pub(crate) unsafe fn raw_realloc(p: *mut u8, req: usize) -> *mut u8 {
    // SAFETY: as raw_free.
    unsafe {
        match api() {
            Some(api) => (api.raw_realloc)(p as *mut c_void, req) as *mut u8,
            None => libc::realloc(p as *mut c_void, req) as *mut u8,
        }
    }
}
