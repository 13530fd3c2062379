//! Threads: Rust threads churning at once, and blocks freed on another thread than the one
//! that allocated them. The bindings run these with the GIL released, so in the pymem
//! flavour they exercise the detached paths (fallback region, deferred frees).

use super::{bad, Result};
use std::alloc::{alloc, dealloc, Layout};
use std::hint::black_box;
use std::sync::{mpsc, Barrier};
use std::time::Instant;

fn join_all<T>(handles: Vec<std::thread::ScopedJoinHandle<'_, T>>) -> Result<Vec<T>> {
    handles
        .into_iter()
        .map(|h| h.join().map_err(|_| bad("a workload thread panicked")))
        .collect()
}

/// `threads` threads each run `loops` batches of `batch` alloc+free pairs of `size` bytes,
/// starting together. Returns the wall time from the first worker's start to the last
/// worker's finish, read by the workers' own clocks: the calling thread may be scheduled
/// only after the workers are done (2 cores), so its clock would miss their work.
/// One op = one pair on every thread (perfect scaling keeps time per op constant).
#[inline(never)] // its own symbol: tests/test_folds.py reads its calls
pub fn threads_churn(loops: u64, threads: usize, size: usize, batch: usize) -> Result<f64> {
    let l = Layout::from_size_align(size, 8).map_err(|e| bad(e.to_string()))?;
    let start = Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut ptrs: Vec<*mut u8> = Vec::with_capacity(batch);
                    start.wait();
                    let t0 = Instant::now();
                    for _ in 0..loops {
                        for i in 0..batch {
                            let p = unsafe { alloc(l) };
                            if p.is_null() {
                                std::alloc::handle_alloc_error(l);
                            }
                            unsafe { (p as *mut u64).write_unaligned(i as u64) };
                            ptrs.push(black_box(p));
                        }
                        while let Some(p) = ptrs.pop() {
                            unsafe { dealloc(p, l) };
                        }
                    }
                    (t0, Instant::now())
                })
            })
            .collect();
        let spans = join_all(handles)?;
        let first = spans.iter().map(|s| s.0).min();
        let last = spans.iter().map(|s| s.1).max();
        match (first, last) {
            (Some(a), Some(b)) => Ok(b.duration_since(a).as_secs_f64()),
            _ => Err(bad("threads must be >= 1")),
        }
    })
}

/// A batch of blocks on its way from the producer to the consumer.
struct Blocks(Vec<*mut u8>);
// SAFETY: the blocks are plain heap memory owned by whoever holds the batch.
unsafe impl Send for Blocks {}

/// A producer thread allocates `loops` batches of `batch` blocks of `size` bytes (one byte
/// written in each) and sends each batch over a bounded channel; a consumer thread frees
/// them. The time is the producer's time spent allocating plus the consumer's spent
/// freeing: filling, the channel and waiting are left out (the batch vectors go back to
/// the producer for reuse, so they allocate nothing either). Two clock reads per batch and
/// side: use batches of 64 blocks or more. One op = one block allocated and freed.
#[inline(never)] // its own symbol: tests/test_folds.py reads its calls
pub fn cross_thread_free(loops: u64, size: usize, batch: usize) -> Result<f64> {
    let l = Layout::from_size_align(size, 8).map_err(|e| bad(e.to_string()))?;
    let (tx, rx) = mpsc::sync_channel::<Blocks>(4);
    let (back_tx, back_rx) = mpsc::channel::<Blocks>();
    let start = Barrier::new(2);
    std::thread::scope(|s| {
        let start = &start;
        let producer = s.spawn(move || {
            let mut spare: Vec<Blocks> =
                (0..6).map(|_| Blocks(Vec::with_capacity(batch))).collect();
            let mut spent = 0.0;
            start.wait();
            for _ in 0..loops {
                let mut v = spare
                    .pop()
                    .or_else(|| back_rx.recv().ok())
                    .unwrap_or_else(|| Blocks(Vec::with_capacity(batch)));
                let t = Instant::now();
                for _ in 0..batch {
                    let p = unsafe { alloc(l) };
                    if p.is_null() {
                        std::alloc::handle_alloc_error(l);
                    }
                    unsafe { p.write_volatile(1) };
                    v.0.push(black_box(p));
                }
                spent += t.elapsed().as_secs_f64();
                if tx.send(v).is_err() {
                    break;
                }
            }
            spent
        });
        let consumer = s.spawn(move || {
            let (mut n, mut spent) = (0u64, 0.0);
            start.wait();
            for mut v in rx {
                n += v.0.len() as u64;
                let t = Instant::now();
                for p in v.0.drain(..) {
                    unsafe { dealloc(black_box(p), l) };
                }
                spent += t.elapsed().as_secs_f64();
                let _ = back_tx.send(v);
            }
            (n, spent)
        });
        let allocating = join_all(vec![producer])?[0];
        let (freed, freeing) = join_all(vec![consumer])?[0];
        if freed != loops * batch as u64 {
            return Err(bad(format!(
                "consumer freed {freed} blocks, expected {}",
                loops * batch as u64
            )));
        }
        Ok(allocating + freeing)
    })
}
