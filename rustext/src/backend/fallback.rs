//! The PyMem backend's fallback region for small blocks (<= 512 B) allocated where no
//! MEM-domain call may be made: on a thread without an attached thread state, during
//! shutdown, and in processes without an interpreter (`cargo test`).
//!
//! Why a region of its own instead of libc malloc: a small block must later be freed by the
//! family that made it, and the free only sees the pointer and the `Layout`. Blocks from
//! this region are recognised by address (two compares), so neither PyMem blocks nor
//! region blocks carry a header, and pymalloc keeps its 1.00x per-block overhead.
//!
//! Design: one virtual reservation made on first use, carved into 64 KiB slabs per size
//! class (32 classes, 16 B steps, as pymalloc). Each class has a mutex guarding a free list
//! and a bump range; the mutexes never allocate, and nothing here panics. Memory is reused
//! within its class, never unmapped.
//!
//! * Strict overcommit (`vm.overcommit_memory=2`): the reservation is `PROT_NONE`, which the
//!   kernel does not charge against the commit limit; each slab is made read-write when it
//!   is carved (charged then, 64 KiB at a time). A slab the kernel refuses is not consumed:
//!   the allocation returns NULL and a later one tries again.
//! * fork(): the child has only the forking thread, so a class mutex held by any other
//!   thread at the fork would stay locked forever. `pthread_atfork` handlers take every
//!   mutex before the fork and release them in parent and child (glibc's malloc does the
//!   same with its arenas).

use core::cell::UnsafeCell;
use core::ptr;
use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

pub(crate) const CLASS_STEP: usize = 16;
pub(crate) const MAX_BLOCK: usize = 512;
const CLASSES: usize = MAX_BLOCK / CLASS_STEP;
/// Virtual size of the reservation; live fallback blocks beyond it fail with NULL. Under an
/// address-space limit (RLIMIT_AS) the reservation takes at most an eighth of it instead.
pub const REGION_BYTES: usize = 8 << 30;

static SIZE: AtomicUsize = AtomicUsize::new(REGION_BYTES);

fn reservation_size() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut lim) } == 0
        && lim.rlim_cur != libc::RLIM_INFINITY
    {
        let eighth = (lim.rlim_cur as usize / 8) & !(SLAB_BYTES - 1);
        return eighth.clamp(SLAB_BYTES, REGION_BYTES);
    }
    REGION_BYTES
}
const SLAB_BYTES: usize = 64 << 10;

static BASE: AtomicUsize = AtomicUsize::new(0);
static CURSOR: AtomicUsize = AtomicUsize::new(0);
static INIT: AtomicU8 = AtomicU8::new(0); // 0 none, 1 mapping, 2 ready, 3 failed
/// Blocks currently allocated from the region (for diagnostics and tests).
static LIVE: AtomicUsize = AtomicUsize::new(0);
static TOTAL: AtomicUsize = AtomicUsize::new(0);

struct Class {
    free: usize,
    bump: usize,
    end: usize,
}

/// A pthread mutex with its data: unlike `std::sync::Mutex` it can be taken in one
/// `pthread_atfork` handler and released in another.
struct Locked<T> {
    mutex: UnsafeCell<libc::pthread_mutex_t>,
    data: UnsafeCell<T>,
}

// SAFETY: `data` is only reached through `with`, under the mutex.
unsafe impl<T: Send> Sync for Locked<T> {}

impl<T> Locked<T> {
    const fn new(data: T) -> Self {
        Locked {
            mutex: UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER),
            data: UnsafeCell::new(data),
        }
    }

    #[inline(always)]
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: a default mutex, never moved (static); lock/unlock pair around f. Neither
        // call allocates.
        unsafe {
            libc::pthread_mutex_lock(self.mutex.get());
            let r = f(&mut *self.data.get());
            libc::pthread_mutex_unlock(self.mutex.get());
            r
        }
    }
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Locked<Class> = Locked::new(Class {
    free: 0,
    bump: 0,
    end: 0,
});
static CLASS: [Locked<Class>; CLASSES] = [EMPTY; CLASSES];
/// Serialises carving: a slab is made read-write before CURSOR moves past it.
static CARVE: Locked<()> = Locked::new(());

extern "C" fn before_fork() {
    for m in CLASS
        .iter()
        .map(|c| &c.mutex)
        .chain(core::iter::once(&CARVE.mutex))
    {
        // SAFETY: the order every other path follows: one class mutex, then CARVE.
        unsafe { libc::pthread_mutex_lock(m.get()) };
    }
}

extern "C" fn after_fork() {
    for m in core::iter::once(&CARVE.mutex).chain(CLASS.iter().rev().map(|c| &c.mutex)) {
        // SAFETY: locked by before_fork on this thread (in the child: its copy).
        unsafe { libc::pthread_mutex_unlock(m.get()) };
    }
}

/// Whether `p` was allocated here. Lock-free, cheap enough for every small free.
#[inline(always)]
pub(crate) fn contains(p: *mut u8) -> bool {
    // Acquire pairs with the Release store of BASE, so SIZE is the reservation's size.
    let base = BASE.load(Ordering::Acquire);
    base != 0 && (p as usize).wrapping_sub(base) < SIZE.load(Ordering::Relaxed)
}

#[inline(always)]
fn class_of(req: usize) -> usize {
    debug_assert!((1..=MAX_BLOCK).contains(&req));
    (req - 1) / CLASS_STEP
}

/// Size of the block that serves a request of `req` bytes.
#[inline(always)]
pub(crate) fn block_size(req: usize) -> usize {
    (class_of(req) + 1) * CLASS_STEP
}

#[cold]
fn map_region() -> usize {
    loop {
        match INIT.compare_exchange(0, 1, Ordering::Acquire, Ordering::Acquire) {
            Ok(_) => {
                let size = reservation_size();
                // SAFETY: anonymous private mapping; failure is reported as MAP_FAILED.
                // PROT_NONE: address space only, not charged under strict overcommit.
                let p = unsafe {
                    libc::mmap(
                        ptr::null_mut(),
                        size,
                        libc::PROT_NONE,
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                        -1,
                        0,
                    )
                };
                if p == libc::MAP_FAILED {
                    INIT.store(3, Ordering::Release);
                } else {
                    // SAFETY: two static functions; registration allocates only in libc.
                    unsafe {
                        libc::pthread_atfork(Some(before_fork), Some(after_fork), Some(after_fork))
                    };
                    SIZE.store(size, Ordering::Relaxed);
                    BASE.store(p as usize, Ordering::Release);
                    INIT.store(2, Ordering::Release);
                }
            }
            Err(1) => std::hint::spin_loop(),
            Err(_) => {}
        }
        match INIT.load(Ordering::Acquire) {
            2 => return BASE.load(Ordering::Acquire),
            3 => return 0,
            _ => {}
        }
    }
}

/// A block of at least `req` (1..=512) bytes, 16-byte aligned, or NULL.
pub(crate) fn alloc(req: usize, zeroed: bool) -> *mut u8 {
    let mut base = BASE.load(Ordering::Acquire);
    if base == 0 {
        base = map_region();
        if base == 0 {
            return ptr::null_mut();
        }
    }
    let class = class_of(req);
    let size = (class + 1) * CLASS_STEP;
    let p = CLASS[class].with(|c| {
        if c.free != 0 {
            let p = c.free;
            // SAFETY: a free block stores the next free block in its first word.
            c.free = unsafe { *(p as *const usize) };
            if zeroed {
                unsafe { ptr::write_bytes(p as *mut u8, 0, size) };
            }
            return p;
        }
        if c.bump + size > c.end {
            let slab = carve(base);
            if slab == 0 {
                return 0;
            }
            c.bump = slab;
            c.end = slab + SLAB_BYTES;
        }
        // Fresh slab memory comes zeroed from the kernel.
        let p = c.bump;
        c.bump += size;
        p
    });
    if p == 0 {
        return ptr::null_mut();
    }
    LIVE.fetch_add(1, Ordering::Relaxed);
    TOTAL.fetch_add(1, Ordering::Relaxed);
    p as *mut u8
}

/// The next slab, made read-write; 0 when the region is used up or the kernel refuses the
/// commit (then nothing is consumed, so a later call can succeed).
#[cold]
fn carve(base: usize) -> usize {
    CARVE.with(|()| {
        let off = CURSOR.load(Ordering::Relaxed);
        if off + SLAB_BYTES > SIZE.load(Ordering::Relaxed) {
            return 0;
        }
        let slab = base + off;
        // SAFETY: the slab lies inside our reservation and is used by nobody yet.
        let rw = unsafe {
            libc::mprotect(
                slab as *mut libc::c_void,
                SLAB_BYTES,
                libc::PROT_READ | libc::PROT_WRITE,
            )
        };
        if rw != 0 {
            return 0;
        }
        CURSOR.store(off + SLAB_BYTES, Ordering::Relaxed);
        slab
    })
}

/// Returns a block to its class. `req` must be the request it was allocated with.
///
/// # Safety
/// `p` came from [`alloc`] with the same `req` and is not used afterwards.
pub(crate) unsafe fn free(p: *mut u8, req: usize) {
    CLASS[class_of(req)].with(|c| {
        // SAFETY: the block is at least 16 bytes and ours again.
        unsafe { *(p as *mut usize) = c.free };
        c.free = p as usize;
    });
    LIVE.fetch_sub(1, Ordering::Relaxed);
}

/// (blocks live now, blocks ever allocated, bytes of slabs carved).
pub fn stats() -> (usize, usize, usize) {
    (
        LIVE.load(Ordering::Relaxed),
        TOTAL.load(Ordering::Relaxed),
        CURSOR
            .load(Ordering::Relaxed)
            .min(SIZE.load(Ordering::Relaxed)),
    )
}
