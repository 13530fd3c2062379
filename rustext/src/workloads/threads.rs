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
/// starting together. Returns the wall time from the common start to the last finish.
/// One op = one pair on every thread (perfect scaling keeps time per op constant).
pub fn threads_churn(loops: u64, threads: usize, size: usize, batch: usize) -> Result<f64> {
    let l = Layout::from_size_align(size, 8).map_err(|e| bad(e.to_string()))?;
    let start = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut ptrs: Vec<*mut u8> = Vec::with_capacity(batch);
                    start.wait();
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
                })
            })
            .collect();
        start.wait();
        let t0 = Instant::now();
        join_all(handles)?;
        Ok(t0.elapsed().as_secs_f64())
    })
}

/// A producer thread allocates `loops` batches of `batch` blocks of `size` bytes and sends
/// each batch over a bounded channel; a consumer thread frees them. One op = one block.
pub fn cross_thread_free(loops: u64, size: usize, batch: usize) -> Result<f64> {
    let (tx, rx) = mpsc::sync_channel::<Vec<Box<[u8]>>>(4);
    let start = Barrier::new(3);
    std::thread::scope(|s| {
        let start = &start;
        let producer = s.spawn(move || {
            start.wait();
            for round in 0..loops {
                let v: Vec<Box<[u8]>> = (0..batch)
                    .map(|_| vec![round as u8; size].into_boxed_slice())
                    .collect();
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let consumer = s.spawn(move || {
            start.wait();
            let mut n = 0u64;
            for v in rx {
                n += v.len() as u64;
                drop(black_box(v));
            }
            n
        });
        start.wait();
        let t0 = Instant::now();
        join_all(vec![producer])?;
        let freed = join_all(vec![consumer])?[0];
        let t = t0.elapsed().as_secs_f64();
        if freed != loops * batch as u64 {
            return Err(bad(format!(
                "consumer freed {freed} blocks, expected {}",
                loops * batch as u64
            )));
        }
        Ok(t)
    })
}
