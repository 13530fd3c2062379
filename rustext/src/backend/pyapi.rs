//! The CPython allocator API, looked up at run time.
//!
//! Why dlsym instead of link-time symbols: the same code then runs in three settings —
//! inside CPython 3.11..3.13 (one abi3 wheel), in `cargo test` where no interpreter exists
//! (every lookup fails and the backends use libc and the fallback region), and across
//! versions whose thread-state getters differ in name and meaning. Python's extension
//! loader binds symbols globally (the interpreter exports them), so `RTLD_DEFAULT` finds them.
//!
//! The lookup happens on the first allocation, which inside the extension is made by
//! `PyInit__rustext` with the interpreter initialised and the GIL held, before any other
//! Rust thread of ours exists. The outcome is permanent: a process is either "Python"
//! or "no Python" for its whole life, so every block is freed by the family that made it.

use core::ffi::{c_char, c_ulong, c_void};
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::cell::UnsafeCell;
use std::mem::MaybeUninit;

type MallocFn = unsafe extern "C" fn(usize) -> *mut c_void;
type CallocFn = unsafe extern "C" fn(usize, usize) -> *mut c_void;
type ReallocFn = unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void);
type TstateFn = unsafe extern "C" fn() -> *mut c_void;

/// How to ask "does this thread have an attached thread state?" on this CPython.
#[derive(Clone, Copy)]
enum AttachedProbe {
    /// 3.12+: `_PyThreadState_UncheckedGet` (3.12) / `PyThreadState_GetUnchecked` (3.13+)
    /// read a per-thread variable that is NULL while the thread is detached.
    PerThread(TstateFn),
    /// 3.11: `_PyThreadState_UncheckedGet` returns the GIL holder's state (a global), so it
    /// is compared with this thread's own state from the GILState TSS slot. Not
    /// `PyGILState_Check`, which answers 1 whenever its check is disabled (subinterpreters)
    /// or its TSS key is gone (late finalisation).
    GilHolder {
        holder: TstateFn,
        this_thread: TstateFn,
    },
}

// pymem-raw reads only the raw domain's functions.
#[cfg_attr(not(feature = "alloc-pymem"), allow(dead_code))]
pub(crate) struct Api {
    pub mem_malloc: MallocFn,
    pub mem_calloc: CallocFn,
    pub mem_realloc: ReallocFn,
    pub mem_free: FreeFn,
    pub raw_malloc: MallocFn,
    pub raw_calloc: CallocFn,
    pub raw_realloc: ReallocFn,
    pub raw_free: FreeFn,
    probe: AttachedProbe,
    /// `Py_Version`, e.g. 0x030C01F0 for 3.12.1.
    pub version: u32,
}

impl Api {
    /// True when the calling thread may call MEM-domain functions (it holds the GIL).
    #[inline(always)]
    pub fn attached(&self) -> bool {
        // SAFETY: the probes take no arguments and only read thread-state variables.
        unsafe {
            match self.probe {
                AttachedProbe::PerThread(get) => !get().is_null(),
                AttachedProbe::GilHolder {
                    holder,
                    this_thread,
                } => {
                    let h = holder();
                    !h.is_null() && h == this_thread()
                }
            }
        }
    }
}

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

/// Set when interpreter shutdown begins (Python `atexit`, backed by `Py_AtExit`): from then
/// on the PyMem backend makes no MEM-domain call.
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

#[cold]
#[inline(never)]
fn resolve_slow() -> Option<&'static Api> {
    loop {
        match STATE.compare_exchange(UNRESOLVED, RESOLVING, Ordering::Acquire, Ordering::Acquire) {
            Ok(_) => {
                let found = unsafe { lookup() };
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

unsafe fn sym(name: &[u8]) -> *mut c_void {
    debug_assert!(name.ends_with(b"\0"));
    // SAFETY: name is NUL-terminated; dlsym allocates only through libc, never through us.
    unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr() as *const c_char) }
}

macro_rules! need {
    ($name:literal, $ty:ty) => {{
        let p = unsafe { sym(concat!($name, "\0").as_bytes()) };
        if p.is_null() {
            return None;
        }
        // SAFETY: the CPython symbol has this C signature in every supported version.
        unsafe { core::mem::transmute::<*mut c_void, $ty>(p) }
    }};
}

unsafe fn lookup() -> Option<Api> {
    let is_initialized = need!("Py_IsInitialized", unsafe extern "C" fn() -> i32);
    // SAFETY: Py_IsInitialized may be called at any time.
    if unsafe { is_initialized() } == 0 {
        return None;
    }
    let version_ptr = unsafe { sym(b"Py_Version\0") } as *const c_ulong;
    if version_ptr.is_null() {
        return None; // older than 3.11: not supported
    }
    // SAFETY: Py_Version is a `const unsigned long` exported since 3.11.
    let version = unsafe { *version_ptr } as u32;
    let minor = (version >> 16) & 0xff;
    let probe = if minor >= 13 {
        AttachedProbe::PerThread(need!("PyThreadState_GetUnchecked", TstateFn))
    } else if minor == 12 {
        AttachedProbe::PerThread(need!("_PyThreadState_UncheckedGet", TstateFn))
    } else {
        AttachedProbe::GilHolder {
            holder: need!("_PyThreadState_UncheckedGet", TstateFn),
            this_thread: need!("PyGILState_GetThisThreadState", TstateFn),
        }
    };
    Some(Api {
        mem_malloc: need!("PyMem_Malloc", MallocFn),
        mem_calloc: need!("PyMem_Calloc", CallocFn),
        mem_realloc: need!("PyMem_Realloc", ReallocFn),
        mem_free: need!("PyMem_Free", FreeFn),
        raw_malloc: need!("PyMem_RawMalloc", MallocFn),
        raw_calloc: need!("PyMem_RawCalloc", CallocFn),
        raw_realloc: need!("PyMem_RawRealloc", ReallocFn),
        raw_free: need!("PyMem_RawFree", FreeFn),
        probe,
        version,
    })
}

#[inline(always)]
pub(crate) fn finalizing() -> bool {
    FINALIZING.load(Ordering::Relaxed)
}

/// Called from the module's Python `atexit` hook and from `Py_AtExit`.
pub fn begin_shutdown() {
    FINALIZING.store(true, Ordering::Relaxed);
}

extern "C" fn at_exit_callback() {
    begin_shutdown();
}

static AT_EXIT_REGISTERED: AtomicUsize = AtomicUsize::new(0);

/// Registers `Py_AtExit` (runs at the very end of `Py_FinalizeEx`, also in embedders that
/// never run Python's `atexit`). Call with the GIL held, from module initialisation.
pub fn register_shutdown_hook() {
    if api().is_none() || AT_EXIT_REGISTERED.swap(1, Ordering::Relaxed) != 0 {
        return;
    }
    let p = unsafe { sym(b"Py_AtExit\0") };
    if !p.is_null() {
        // SAFETY: int Py_AtExit(void (*func)(void)).
        let f: unsafe extern "C" fn(extern "C" fn()) -> i32 = unsafe { core::mem::transmute(p) };
        unsafe { f(at_exit_callback) };
    }
}

/// `(major, minor)` of the running CPython, None outside Python.
pub fn python_version() -> Option<(u32, u32)> {
    api().map(|a| (a.version >> 24, (a.version >> 16) & 0xff))
}

/// Whether the calling thread holds the GIL (false outside Python).
pub fn thread_attached() -> bool {
    api().is_some_and(|a| a.attached())
}

pub fn shutting_down() -> bool {
    finalizing()
}

/// A block from the RAW domain (`PyMem_RawMalloc`/`RawCalloc`; thread-safe, no thread
/// state needed), or from libc in a process without an interpreter. Shared by both PyMem
/// backends; free it with [`raw_free`], resize it with [`raw_realloc`].
///
/// # Safety
/// `req` > 0.
#[cfg(any(feature = "alloc-pymem", feature = "alloc-pymem-raw"))]
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
#[cfg(any(feature = "alloc-pymem", feature = "alloc-pymem-raw"))]
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
#[cfg(any(feature = "alloc-pymem", feature = "alloc-pymem-raw"))]
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
