//! The CPython symbols the backends call, looked up at run time with `dlsym` (why not at
//! link time: `pyapi.rs`): their C signatures, the table they fill ([`Api`]), the lookup
//! itself, and the `Py_AtExit` registration. Where the probe reads is `probe.rs`.

use super::probe::{self, Probe};
use core::ffi::{c_char, c_ulong, c_void};

pub(crate) type MallocFn = unsafe extern "C" fn(usize) -> *mut c_void;
pub(crate) type CallocFn = unsafe extern "C" fn(usize, usize) -> *mut c_void;
pub(crate) type ReallocFn = unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void;
pub(crate) type FreeFn = unsafe extern "C" fn(*mut c_void);
pub(crate) type TstateFn = unsafe extern "C" fn() -> *mut c_void;

/// The CPython functions the backends call, and where the probe reads, found by [`lookup`].
// pymem-raw reads only the raw domain's functions.
#[cfg_attr(not(feature = "pymem"), allow(dead_code))]
pub(crate) struct Api {
    pub mem_malloc: MallocFn,
    pub mem_calloc: CallocFn,
    pub mem_realloc: ReallocFn,
    pub mem_free: FreeFn,
    pub raw_malloc: MallocFn,
    pub raw_calloc: CallocFn,
    pub raw_realloc: ReallocFn,
    pub raw_free: FreeFn,
    pub(super) probe: Probe,
    /// `Py_Version`, e.g. 0x030C01F0 for 3.12.1.
    pub version: u32,
}

/// The address of the exported symbol `name` (NUL-terminated), NULL when there is none.
pub(super) unsafe fn sym(name: &[u8]) -> *mut c_void {
    debug_assert!(name.ends_with(b"\0"));
    // SAFETY: name is NUL-terminated; dlsym allocates only through libc, never through us.
    unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr() as *const c_char) }
}

/// `need!("Name", FnType)`: the symbol as a function pointer, or `return None` from the
/// enclosing lookup when the interpreter does not export it.
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

/// Every symbol, and the probe calibrated; None outside an initialised CPython >= 3.11 or
/// when the probe cannot be calibrated (see `pyapi.rs`).
pub(super) unsafe fn lookup() -> Option<Api> {
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
    let current = if minor >= 13 {
        need!("PyThreadState_GetUnchecked", TstateFn)
    } else {
        need!("_PyThreadState_UncheckedGet", TstateFn)
    };
    let main_interp = need!("PyInterpreterState_Main", TstateFn);
    let runtime = unsafe { sym(b"_PyRuntime\0") } as usize;
    let probe = unsafe { probe::calibrate(current, main_interp() as usize, minor, runtime) }?;
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

extern "C" fn at_exit_callback() {
    super::begin_shutdown();
}

/// Registers [`begin_shutdown`](super::begin_shutdown) with `Py_AtExit` (runs at the very
/// end of `Py_FinalizeEx`, also in embedders that never run Python's `atexit`). Called from
/// [`calibrate`](probe::calibrate), inside the first allocation: `Py_AtExit` allocates
/// nothing.
///
/// # Safety
/// The calling thread holds the GIL.
pub(super) unsafe fn register_at_exit() {
    let p = unsafe { sym(b"Py_AtExit\0") };
    if !p.is_null() {
        // SAFETY: int Py_AtExit(void (*func)(void)); the caller holds the GIL.
        let f: unsafe extern "C" fn(extern "C" fn()) -> i32 = unsafe { core::mem::transmute(p) };
        unsafe { f(at_exit_callback) };
    }
}
