//! The PyMem backend's fallback region for small blocks (<= 512 B) allocated where no
//! MEM-domain call may be made: on a thread without an attached thread state, during
//! shutdown, and in processes without an interpreter (`cargo test`).
//!
//! Why a region of its own instead of libc malloc: a small block must later be freed by the
//! family that made it, and the free only sees the pointer and the `Layout`. Blocks from
//! this region are recognised by address (two compares), so neither PyMem blocks nor
//! region blocks carry a header, and pymalloc keeps its 1.00x per-block overhead.
//!
//! Design: one virtual reservation (`MAP_NORESERVE`, made on first use, pages touched
//! lazily), carved into 64 KiB slabs per size class (32 classes, 16 B steps, as pymalloc).
//! Each class has a futex mutex guarding a free list and a bump range; the mutex never
//! allocates, and nothing here panics. Memory is reused within its class, never unmapped.

use core::ptr;
use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Mutex;

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

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Mutex<Class> = Mutex::new(Class {
    free: 0,
    bump: 0,
    end: 0,
});
static CLASS: [Mutex<Class>; CLASSES] = [EMPTY; CLASSES];

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
                let p = unsafe {
                    libc::mmap(
                        ptr::null_mut(),
                        size,
                        libc::PROT_READ | libc::PROT_WRITE,
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                        -1,
                        0,
                    )
                };
                if p == libc::MAP_FAILED {
                    INIT.store(3, Ordering::Release);
                } else {
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
    let Ok(mut c) = CLASS[class].lock() else {
        return ptr::null_mut();
    };
    let p = if c.free != 0 {
        let p = c.free;
        // SAFETY: a free block stores the next free block in its first word.
        c.free = unsafe { *(p as *const usize) };
        if zeroed {
            unsafe { ptr::write_bytes(p as *mut u8, 0, size) };
        }
        p
    } else {
        if c.bump + size > c.end {
            let off = CURSOR.fetch_add(SLAB_BYTES, Ordering::Relaxed);
            if off + SLAB_BYTES > SIZE.load(Ordering::Relaxed) {
                return ptr::null_mut();
            }
            c.bump = base + off;
            c.end = c.bump + SLAB_BYTES;
        }
        // Fresh bump memory comes zeroed from the kernel.
        let p = c.bump;
        c.bump += size;
        p
    };
    drop(c);
    LIVE.fetch_add(1, Ordering::Relaxed);
    TOTAL.fetch_add(1, Ordering::Relaxed);
    p as *mut u8
}

/// Returns a block to its class. `req` must be the request it was allocated with.
///
/// # Safety
/// `p` came from [`alloc`] with the same `req` and is not used afterwards.
pub(crate) unsafe fn free(p: *mut u8, req: usize) {
    let class = class_of(req);
    if let Ok(mut c) = CLASS[class].lock() {
        // SAFETY: the block is at least 16 bytes and ours again.
        unsafe { *(p as *mut usize) = c.free };
        c.free = p as usize;
        LIVE.fetch_sub(1, Ordering::Relaxed);
    }
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
