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
//! * Per-thread caches (as glibc's tcache): each thread keeps up to 64 KiB of blocks per
//!   class and takes or gives back whole chains of that size in O(1), so steady detached
//!   churn takes no class mutex; a thread's cache returns to the shared lists when it exits.
//! * fork(): the child has only the forking thread, so a class mutex held by any other
//!   thread at the fork would stay locked forever. `pthread_atfork` handlers take every
//!   mutex before the fork and release them in parent and child (glibc's malloc does the
//!   same with its arenas).
//!
//! Size: over 300 lines, one data structure: the reservation, the size classes and the
//! per-thread caches share the class lists and the slab cursor, which a split would have to
//! export to each other.

use core::cell::UnsafeCell;
use core::ptr;
use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

pub(crate) const CLASS_STEP: usize = 16;
pub(crate) const MAX_BLOCK: usize = crate::PYMALLOC_SMALL_MAX;
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
    /// Full chains of `cap(class)` blocks, as a thread's cache gave them back: a stack linked
    /// through the second word of each chain's first block (blocks within a chain link
    /// through their first word). Taken and given whole, in O(1).
    chains: usize,
    /// Single blocks (a cache flushed at thread exit, or a thread without a cache).
    loose: usize,
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
    chains: 0,
    loose: 0,
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
    let class = class_of(req);
    let size = (class + 1) * CLASS_STEP;
    // SAFETY: the cache is this thread's own; nothing in it allocates or re-enters.
    let p = match CACHE.try_with(|c| unsafe { (*c.get()).pop(class) }) {
        Ok(p) => p,
        Err(_) => {
            TOTAL.fetch_add(1, Ordering::Relaxed);
            take(class, 1).0 // this thread's cache is gone (thread exit)
        }
    };
    if p == 0 {
        return ptr::null_mut();
    }
    if zeroed {
        // SAFETY: a free block of `size` bytes, ours now.
        unsafe { ptr::write_bytes(p as *mut u8, 0, size) };
    }
    p as *mut u8
}

/// Blocks a thread's cache holds per class at most: 64 KiB worth, 32..1024 blocks, so a
/// thread holds at most 2 MiB (32 classes) and returns it when it exits.
#[inline(always)]
fn cap(class: usize) -> usize {
    ((64 << 10) / ((class + 1) * CLASS_STEP)).clamp(32, 1024)
}

/// Moves up to `n` blocks of `class` out of the shared lists as a chain linked through their
/// first words: a whole given-back chain when `n` is `cap(class)` and there is one, else
/// single or fresh blocks. Returns (head, count).
fn take(class: usize, n: usize) -> (usize, usize) {
    let mut base = BASE.load(Ordering::Acquire);
    if base == 0 {
        base = map_region();
        if base == 0 {
            return (0, 0);
        }
    }
    let size = (class + 1) * CLASS_STEP;
    let (head, got) = CLASS[class].with(|c| {
        if c.chains != 0 && n == cap(class) {
            let head = c.chains;
            // SAFETY: a chain's first block keeps the next chain in its second word.
            c.chains = unsafe { core::mem::replace(&mut *(head as *mut usize).add(1), 0) };
            return (head, n);
        }
        let (mut head, mut tail, mut got) = (0usize, 0usize, 0usize);
        // Appended in order, so fresh slab memory is handed out in ascending addresses.
        let mut link = |p: usize| {
            if head == 0 {
                head = p;
            } else {
                // SAFETY: tail is a block of ours: its first word becomes the chain link.
                unsafe { *(tail as *mut usize) = p };
            }
            tail = p;
        };
        while got < n && c.loose != 0 {
            let p = c.loose;
            // SAFETY: a loose block stores the next one in its first word.
            c.loose = unsafe { *(p as *const usize) };
            link(p);
            got += 1;
        }
        while got < n {
            if c.bump + size > c.end {
                let slab = carve(base);
                if slab == 0 {
                    break;
                }
                c.bump = slab;
                c.end = slab + SLAB_BYTES;
            }
            link(c.bump);
            c.bump += size;
            got += 1;
        }
        if got > 0 {
            // SAFETY: as above; the chain ends here.
            unsafe { *(tail as *mut usize) = 0 };
        }
        (head, got)
    });
    LIVE.fetch_add(got, Ordering::Relaxed);
    (head, got)
}

/// Gives a full chain of `cap(class)` blocks back to the shared lists, in O(1).
fn give_chain(class: usize, head: usize) {
    CLASS[class].with(|c| {
        // SAFETY: head is the chain's first block, ours; its second word links the chains.
        unsafe { *(head as *mut usize).add(1) = c.chains };
        c.chains = head;
    });
    LIVE.fetch_sub(cap(class), Ordering::Relaxed);
}

/// Gives `n` single blocks (a chain through their first words) back; walks the chain, so it
/// serves only rare calls (thread exit, a thread without its cache).
fn give_loose(class: usize, head: usize, n: usize) {
    if n == 0 {
        return;
    }
    let mut tail = head;
    for _ in 1..n {
        // SAFETY: `n` linked blocks of ours.
        tail = unsafe { *(tail as *const usize) };
    }
    CLASS[class].with(|c| {
        // SAFETY: tail is the chain's last block, ours.
        unsafe { *(tail as *mut usize) = c.loose };
        c.loose = head;
    });
    LIVE.fetch_sub(n, Ordering::Relaxed);
}

/// Per-thread caches in front of the shared lists (glibc's tcache does the same in front of
/// its arenas): a detached thread's churn touches no shared state until its cache of a class
/// is empty (it then takes a whole chain) or holds `cap(class)` blocks (it gives them all
/// back as one chain). A thread's cache returns to the shared lists when the thread exits.
#[derive(Clone, Copy)]
struct Bin {
    head: usize,
    count: usize,
}

struct Cache {
    bins: [Bin; CLASSES],
    /// Blocks handed out since the count last went to TOTAL.
    allocs: usize,
}

const EMPTY_BIN: Bin = Bin { head: 0, count: 0 };

impl Cache {
    const EMPTY: Cache = Cache {
        bins: [EMPTY_BIN; CLASSES],
        allocs: 0,
    };

    #[inline]
    fn pop(&mut self, class: usize) -> usize {
        let bin = &mut self.bins[class];
        if bin.head == 0 {
            let (head, count) = take(class, cap(class));
            TOTAL.fetch_add(self.allocs, Ordering::Relaxed);
            self.allocs = 0;
            if count == 0 {
                return 0;
            }
            *bin = Bin { head, count };
        }
        let p = bin.head;
        // SAFETY: cached blocks link the next one through their first word, cleared as the
        // block leaves (fresh slab memory is handed out all zero, as the kernel gave it).
        bin.head = unsafe { core::mem::replace(&mut *(p as *mut usize), 0) };
        bin.count -= 1;
        self.allocs += 1;
        p
    }

    #[inline]
    fn push(&mut self, class: usize, p: usize) {
        let bin = &mut self.bins[class];
        if bin.count >= cap(class) {
            give_chain(class, bin.head);
            *bin = EMPTY_BIN;
        }
        // SAFETY: the block is ours again and at least 16 bytes.
        unsafe { *(p as *mut usize) = bin.head };
        bin.head = p;
        bin.count += 1;
    }

    fn flush(&mut self) {
        for (class, bin) in self.bins.iter_mut().enumerate() {
            give_loose(class, bin.head, bin.count);
            *bin = EMPTY_BIN;
        }
        TOTAL.fetch_add(self.allocs, Ordering::Relaxed);
        self.allocs = 0;
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        self.flush();
    }
}

thread_local! {
    static CACHE: UnsafeCell<Cache> = const { UnsafeCell::new(Cache::EMPTY) };
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
    let class = class_of(req);
    // SAFETY: the cache is this thread's own; nothing in it allocates or re-enters.
    if CACHE
        .try_with(|c| unsafe { (*c.get()).push(class, p as usize) })
        .is_err()
    {
        give_loose(class, p as usize, 1); // this thread's cache is gone (thread exit)
    }
}

/// (blocks live, blocks ever allocated, bytes of slabs carved). Live: out of the shared lists
/// and not in the calling thread's cache (another live thread's cached blocks count as live;
/// an exited thread's went back). Allocated: as reported by each thread at every refill and
/// at its exit, plus the calling thread's own count. Exact in a single-threaded process and
/// once the other threads have exited.
pub fn stats() -> (usize, usize, usize) {
    // SAFETY: reads this thread's own cache.
    let (cached, pending) = CACHE
        .try_with(|c| unsafe {
            let c = &*c.get();
            (c.bins.iter().map(|b| b.count).sum::<usize>(), c.allocs)
        })
        .unwrap_or((0, 0));
    (
        LIVE.load(Ordering::Relaxed).saturating_sub(cached),
        TOTAL.load(Ordering::Relaxed) + pending,
        CURSOR
            .load(Ordering::Relaxed)
            .min(SIZE.load(Ordering::Relaxed)),
    )
}
