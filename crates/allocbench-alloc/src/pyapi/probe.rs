//! The thread-state probe: may the calling thread call CPython's MEM domain now? Where it
//! reads is found once, at calibration, on the importing thread; why each version's reading
//! answers for the calling thread is the top of `pymem.rs`. The symbols it calls are
//! `symbols.rs`'s.

use super::symbols::{self, Api, TstateFn};
use core::sync::atomic::{AtomicUsize, Ordering};
use std::mem::MaybeUninit;

/// Where the probe reads, found once at start-up (see [`calibrate`]).
#[derive(Clone, Copy)]
pub(crate) struct Probe {
    /// 3.12+: this thread's attached state (`PyThreadState_GetUnchecked`, or
    /// `_PyThreadState_UncheckedGet` on 3.12), NULL while detached. 3.11: the GIL holder's
    /// state (`_PyThreadState_UncheckedGet` reads a global there).
    current: TstateFn,
    /// Byte offset of `thread_id` in `PyThreadState` (3.12+): the thread the state is
    /// bound to, which is the thread whose GILState slot holds it.
    thread_id_off: usize,
    /// 3.11 only: the GIL holder is ours iff its eval loop's `_PyCFrame` is on our stack.
    gil_holder_global: bool,
    /// 3.11 only: `&_PyRuntime.gilstate.tstate_current`, read directly (one load instead of
    /// a call; checked against `_PyThreadState_UncheckedGet` at calibration).
    holder_slot: *const AtomicUsize,
    /// 3.12+: the `%fs` offset of CPython's own thread-local state pointer when the getter
    /// is exactly a one-load function (a static interpreter: `mov %fs:OFF,%rax; ret`, or
    /// initial-exec TLS): the probe then makes that same load itself instead of a call.
    /// 0 when the getter must be called (a shared libpython's `__tls_get_addr`).
    tls_off: isize,
}

/// The main interpreter while MEM-domain calls are allowed; 0 from the start of shutdown,
/// so one compare in the probe also answers "has shutdown begun?".
pub(super) static LIVE_INTERP: AtomicUsize = AtomicUsize::new(0);
/// The main thread's stack top (3.11 probe; see [`on_this_stack`]).
static MAIN_STACK_TOP: AtomicUsize = AtomicUsize::new(0);

/// `PyThreadState.interp`: the third pointer in every version (prev, next, interp).
const INTERP_OFF: usize = 16;
/// `PyThreadState.cframe` on 3.11 (offsetof with 3.11's headers; checked at calibration).
const CFRAME_OFF_311: usize = 56;
/// `offsetof(_PyRuntimeState, gilstate.tstate_current)` on 3.11 (pyenv's 3.11.7 and
/// bookworm's 3.11.2 headers agree; checked at calibration).
const HOLDER_OFF_311: usize = 576;

/// The calling thread's identity as CPython records it (`PyThread_get_thread_ident`, which
/// is `pthread_self()`): on x86-64 glibc the TCB's self pointer at %fs:0x10, one load.
#[inline(always)]
fn thread_self() -> usize {
    #[cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]
    {
        let me: usize;
        // SAFETY: glibc keeps the TCB's `self` field at %fs:0x10 on x86-64 (tcbhead_t).
        unsafe {
            core::arch::asm!("mov {}, qword ptr fs:[0x10]", out(reg) me,
                options(nostack, readonly, preserves_flags, pure))
        };
        me
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu")))]
    {
        // SAFETY: always callable.
        unsafe { libc::pthread_self() as usize }
    }
}

/// The word at `%fs:off` (x86-64): what a one-load TLS getter returns.
#[inline(always)]
unsafe fn read_fs(off: isize) -> *const u8 {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        let v: usize;
        // SAFETY: `off` is the offset the interpreter's own getter reads (tls_offset_of).
        unsafe {
            core::arch::asm!("mov {}, qword ptr fs:[{}]", out(reg) v, in(reg) off,
                options(nostack, readonly, preserves_flags))
        };
        v as *const u8
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    {
        let _ = off;
        core::ptr::null()
    }
}

/// Decodes a thread-state getter that is a single `%fs` load: local-exec
/// (`[endbr64] mov %fs:OFF,%rax; ret`) or initial-exec
/// (`[endbr64] mov GOT(%rip),%rax; mov %fs:(%rax),%rax; ret`). Either way every thread reads
/// its state at the same `%fs` offset, which is returned; None for anything else.
unsafe fn tls_offset_of(getter: TstateFn) -> Option<isize> {
    if !cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        return None;
    }
    // SAFETY: reads at most 16 bytes of the getter's machine code (mapped, readable text).
    unsafe {
        let mut p = getter as *const u8;
        let code = |p: *const u8, n: usize| core::slice::from_raw_parts(p, n);
        if code(p, 4) == [0xf3, 0x0f, 0x1e, 0xfa] {
            p = p.add(4); // endbr64
        }
        if code(p, 5) == [0x64, 0x48, 0x8b, 0x04, 0x25] && *p.add(9) == 0xc3 {
            return Some(p.add(5).cast::<i32>().read_unaligned() as isize);
        }
        if code(p, 3) == [0x48, 0x8b, 0x05] && code(p.add(7), 5) == [0x64, 0x48, 0x8b, 0x00, 0xc3] {
            let got = p
                .add(7)
                .offset(p.add(3).cast::<i32>().read_unaligned() as isize);
            return Some(got.cast::<isize>().read());
        }
        None
    }
}

/// Whether `addr` lies in the calling thread's stack above the current frame (3.11 probe).
/// glibc places a thread's TCB (`%fs:0`) right above the stack it allocates, so for every
/// thread but the main one the stack is `[.., tcb)`; the main thread's TCB lies elsewhere
/// (below its stack), and its stack top is read once with `pthread_getattr_np`.
/// `FAST`: never call out (the main thread's top not read yet counts as "no"), so the
/// allocator's fast paths need no stack frame; the cold paths ask again with `FAST = false`.
#[inline(always)]
fn on_this_stack<const FAST: bool>(addr: usize) -> bool {
    let sp = stack_pointer();
    let tcb = thread_self();
    let top = if tcb > sp {
        tcb
    } else {
        match MAIN_STACK_TOP.load(Ordering::Relaxed) {
            0 if FAST => return false,
            0 => stack_top_slow(),
            top => top,
        }
    };
    addr > sp && addr < top
}

#[inline(always)]
fn stack_pointer() -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        let sp: usize;
        // SAFETY: reads rsp.
        unsafe {
            core::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags))
        };
        sp
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let here = 0u8;
        core::ptr::addr_of!(here) as usize
    }
}

#[cold]
#[inline(never)]
fn stack_top_slow() -> usize {
    // Only the main thread (or a thread on a stack glibc did not allocate) gets here; the
    // first one to ask records its own stack, and only the main thread may record.
    // SAFETY: pthread_getattr_np fills the attr it is given (glibc allocates with its own
    // malloc, never through this allocator); destroyed after use.
    let top = unsafe {
        let mut attr = MaybeUninit::<libc::pthread_attr_t>::uninit();
        if libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) != 0 {
            return 0;
        }
        let mut addr = core::ptr::null_mut();
        let mut size = 0;
        let ok = libc::pthread_attr_getstack(attr.as_ptr(), &mut addr, &mut size) == 0;
        libc::pthread_attr_destroy(attr.as_mut_ptr());
        if !ok {
            return 0;
        }
        addr as usize + size
    };
    // SAFETY: getpid/gettid take no arguments.
    if unsafe { libc::getpid() == libc::gettid() } {
        MAIN_STACK_TOP.store(top, Ordering::Relaxed);
    }
    top
}

impl Probe {
    /// (offset of thread_id, reads the GIL holder, `%fs` offset or 0): for tests.
    pub(super) fn layout(&self) -> (usize, bool, isize) {
        (self.thread_id_off, self.gil_holder_global, self.tls_off)
    }

    /// True when the calling thread may call MEM-domain functions: it holds the GIL with a
    /// state of the main interpreter that is its own GILState state (the debug hooks' rule).
    /// Why each version's reading is sound: the top of `pymem.rs`.
    #[inline(always)]
    pub(super) fn attached<const FAST: bool>(&self) -> bool {
        // SAFETY: `current` takes no arguments; the fields read are those of a state that is
        // attached to this thread (3.12+), or re-validated after the read (3.11).
        unsafe {
            if !self.gil_holder_global {
                let t = if self.tls_off != 0 {
                    read_fs(self.tls_off)
                } else {
                    (self.current)() as *const u8
                };
                return !t.is_null()
                    && *(t.add(self.thread_id_off) as *const usize) == thread_self()
                    && *(t.add(INTERP_OFF) as *const usize) == LIVE_INTERP.load(Ordering::Relaxed);
            }
            let holder = &*self.holder_slot;
            let t = holder.load(Ordering::Acquire) as *const u8;
            if t.is_null() {
                return false;
            }
            // The holder may be another thread's state, deleted while we read: the reads are
            // volatile and the holder is read again after them (see pymem.rs).
            let cframe = core::ptr::read_volatile(t.add(CFRAME_OFF_311) as *const usize);
            let interp = core::ptr::read_volatile(t.add(INTERP_OFF) as *const usize);
            on_this_stack::<FAST>(cframe)
                && interp == LIVE_INTERP.load(Ordering::Relaxed)
                && holder.load(Ordering::Acquire) == t as usize
        }
    }
}

impl Api {
    /// True when the calling thread may call MEM-domain functions (see [`Probe::attached`]).
    #[inline(always)]
    pub fn attached(&self) -> bool {
        self.probe.attached::<false>()
    }

    /// As [`Api::attached`], but never calls out of line: "no" where the answer needs
    /// one-time work (the caller then takes its cold path, which asks `attached`).
    #[cfg_attr(not(feature = "pymem"), allow(dead_code))]
    #[inline(always)]
    pub fn attached_fast(&self) -> bool {
        self.probe.attached::<true>()
    }
}

/// Finds where the probe reads on this build. Called by the resolving thread, which is the
/// thread importing the extension (attached, with the main interpreter's state bound to it).
/// The offset of `thread_id` is the one word of that state equal to `pthread_self()`;
/// on 3.11 the `cframe` field must point into this thread's stack. None (the process is
/// then treated as having no usable MEM domain: every block takes the fallback paths)
/// when the reading cannot be established.
pub(super) unsafe fn calibrate(
    current: TstateFn,
    main_interp: usize,
    minor: u32,
    runtime: usize,
) -> Option<Probe> {
    // SAFETY: the getter takes no arguments; a non-NULL result is this thread's own state
    // (or on 3.11 the holder's, which is this thread's while it imports us).
    let t = unsafe { current() } as *const usize;
    if t.is_null() || main_interp == 0 {
        return None;
    }
    let me = unsafe { libc::pthread_self() } as usize;
    if thread_self() != me || unsafe { *t.add(INTERP_OFF / 8) } != main_interp {
        return None;
    }
    // 64 words cover PyThreadState in 3.11..3.15 (288..360 bytes). No allocation here: this
    // runs inside the first allocation.
    let mut hits = (3..64).filter(|&i| unsafe { *t.add(i) } == me);
    let (Some(word), None) = (hits.next(), hits.next()) else {
        return None;
    };
    let holder_slot = if minor == 11 {
        // SAFETY: _PyRuntime is exported by 3.11; the word must hold the holder (us).
        if runtime == 0 || unsafe { *((runtime + HOLDER_OFF_311) as *const usize) } != t as usize {
            return None;
        }
        (runtime + HOLDER_OFF_311) as *const AtomicUsize
    } else {
        core::ptr::null()
    };
    LIVE_INTERP.store(main_interp, Ordering::Relaxed);
    // The one-load reading must give what the getter gives, here and now.
    let tls_off = match unsafe { tls_offset_of(current) } {
        Some(off) if off != 0 && minor >= 12 && unsafe { read_fs(off) } == t as *const u8 => off,
        _ => 0,
    };
    let probe = Probe {
        current,
        thread_id_off: word * 8,
        gil_holder_global: minor == 11,
        holder_slot,
        tls_off,
    };
    // The probe must say yes here, on the importing thread, or it is not read right.
    if !probe.attached::<false>() {
        return None;
    }
    // This thread holds the GIL, and this runs once per process.
    unsafe { symbols::register_at_exit() };
    Some(probe)
}
