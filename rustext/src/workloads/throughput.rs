//! Throughput: how fast blocks come and go.

use super::{bad, object_like_size, timed, Result, Rng};
use std::alloc::{alloc, dealloc, Layout};
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, DefaultHasher};
use std::hint::black_box;

fn layout(size: usize) -> Result<Layout> {
    Layout::from_size_align(size, 8).map_err(|e| bad(format!("size {size}: {e}")))
}

/// Allocates one block, touches its first and last byte, frees it: the allocator's
/// fastest path (the block is reused every time).
#[inline(always)]
unsafe fn pair(l: Layout, a: unsafe fn(Layout) -> *mut u8, d: unsafe fn(*mut u8, Layout)) {
    unsafe {
        let p = a(l);
        if p.is_null() {
            std::alloc::handle_alloc_error(l);
        }
        p.write_volatile(1);
        p.add(l.size() - 1).write_volatile(2);
        black_box(p);
        d(p, l);
    }
}

/// Runs `f` with a neighbour block live: one block is allocated, a second beside it, and
/// the first freed, so pymalloc serves the pairs from a pool that their frees never empty
/// (the state would otherwise depend on what the process allocated before; see c_pairs.c).
unsafe fn with_neighbour<R>(
    l: Layout,
    a: unsafe fn(Layout) -> *mut u8,
    d: unsafe fn(*mut u8, Layout),
    f: impl FnOnce() -> R,
) -> R {
    unsafe {
        let (first, neighbour) = (a(l), a(l));
        if first.is_null() || neighbour.is_null() {
            std::alloc::handle_alloc_error(l);
        }
        d(first, l);
        let r = f();
        d(neighbour, l);
        r
    }
}

/// `loops` alloc+free pairs of `size` bytes through the global allocator.
#[inline(never)] // its own symbol: tests/test_folds.py reads its calls
pub fn alloc_pair(loops: u64, size: usize) -> Result<f64> {
    let l = layout(size)?;
    Ok(unsafe {
        with_neighbour(l, alloc, dealloc, || {
            timed(|| {
                for _ in 0..loops {
                    pair(l, alloc, dealloc);
                }
            })
        })
    })
}

/// The same pairs through the backend with its thread-state guard compiled out (pymem);
/// identical to `alloc_pair` elsewhere. The ratio of the two is what the guard costs.
#[inline(never)] // its own symbol: tests/test_folds.py reads its calls
pub fn alloc_pair_unguarded(loops: u64, size: usize) -> Result<f64> {
    let l = layout(size)?;
    let (a, d) = (
        allocbench_alloc::alloc_unguarded as unsafe fn(Layout) -> *mut u8,
        allocbench_alloc::dealloc_unguarded as unsafe fn(*mut u8, Layout),
    );
    Ok(unsafe {
        with_neighbour(l, a, d, || {
            timed(|| {
                for _ in 0..loops {
                    pair(l, a, d);
                }
            })
        })
    })
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Order {
    Lifo,
    Fifo,
}

impl Order {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "lifo" => Ok(Order::Lifo),
            "fifo" => Ok(Order::Fifo),
            _ => Err(bad(format!("order must be 'lifo' or 'fifo', got {s:?}"))),
        }
    }
}

fn free_all(ptrs: &mut Vec<*mut u8>, order: Order, l: Layout) {
    match order {
        Order::Lifo => {
            while let Some(p) = ptrs.pop() {
                unsafe { dealloc(p, l) };
            }
        }
        Order::Fifo => {
            for &p in ptrs.iter() {
                unsafe { dealloc(p, l) };
            }
            ptrs.clear();
        }
    }
}

/// `loops` batches: `live` blocks of `size` bytes allocated and written (8 bytes each),
/// then all freed in `order`. One op = one block allocated and freed.
#[inline(never)] // its own symbol: tests/test_folds.py reads its calls
pub fn churn_batch(loops: u64, size: usize, live: usize, order: Order) -> Result<f64> {
    let l = layout(size)?;
    let mut ptrs: Vec<*mut u8> = Vec::with_capacity(live);
    Ok(timed(|| {
        for _ in 0..loops {
            for i in 0..live {
                let p = unsafe { alloc(l) };
                if p.is_null() {
                    std::alloc::handle_alloc_error(l);
                }
                unsafe { (p as *mut u64).write_unaligned(i as u64) };
                ptrs.push(black_box(p));
            }
            free_all(&mut ptrs, order, l);
        }
    }))
}

/// `loops` rounds of `live` blocks with object-like sizes (seeded), freed in a seeded
/// random order. One op = one block allocated and freed.
#[inline(never)] // its own symbol: tests/test_folds.py reads its calls
pub fn mixed_sizes(loops: u64, live: usize, seed: u64) -> Result<f64> {
    let mut rng = Rng::new(seed);
    let layouts: Vec<Layout> = (0..live)
        .map(|_| layout(object_like_size(&mut rng)))
        .collect::<Result<_>>()?;
    let mut order: Vec<usize> = (0..live).collect();
    rng.shuffle(&mut order);
    let mut ptrs: Vec<*mut u8> = vec![std::ptr::null_mut(); live];
    Ok(timed(|| {
        for _ in 0..loops {
            for (slot, &l) in ptrs.iter_mut().zip(&layouts) {
                let p = unsafe { alloc(l) };
                if p.is_null() {
                    std::alloc::handle_alloc_error(l);
                }
                unsafe { p.write_volatile(1) };
                *slot = black_box(p);
            }
            for &i in &order {
                unsafe { dealloc(ptrs[i], layouts[i]) };
            }
        }
    }))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Collection {
    String,
    Vec,
    HashMap,
    BTreeMap,
}

impl Collection {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "string" => Ok(Self::String),
            "vec" => Ok(Self::Vec),
            "hashmap" => Ok(Self::HashMap),
            "btreemap" => Ok(Self::BTreeMap),
            _ => Err(bad(format!(
                "kind must be one of 'string', 'vec', 'hashmap', 'btreemap', got {s:?}"
            ))),
        }
    }
}

/// `loops` times: build a collection of `n` elements the way extension code does, drop
/// it. One op = one element inserted and dropped.
#[inline(never)] // its own symbol: tests/test_folds.py reads its calls
pub fn collections(loops: u64, n: usize, kind: Collection) -> Result<f64> {
    Ok(timed(|| {
        for _ in 0..loops {
            match kind {
                // Short formatted strings in a growing Vec (names, keys, tokens).
                Collection::String => {
                    let mut v = Vec::new();
                    for i in 0..n {
                        v.push(format!("item-{i}-{}", i.wrapping_mul(2654435761)));
                    }
                    black_box(&v);
                }
                // Small vectors (rows, coordinates).
                Collection::Vec => {
                    let mut v = Vec::new();
                    for i in 0..n as u64 {
                        v.push(vec![i, i + 1, i + 2, i + 3]);
                    }
                    black_box(&v);
                }
                // std's SipHash-1-3 with fixed keys rather than RandomState: the same
                // hashing work, but the same probe and drop order in every process, so
                // instruction counts repeat (a random seed moved them by ~0.1 %).
                Collection::HashMap => {
                    let mut m =
                        HashMap::with_hasher(BuildHasherDefault::<DefaultHasher>::default());
                    for i in 0..n as u64 {
                        m.insert(i, i.to_string());
                    }
                    black_box(&m);
                }
                Collection::BTreeMap => {
                    let mut m = BTreeMap::new();
                    for i in 0..n as u64 {
                        m.insert(i.wrapping_mul(0x9E37_79B9_7F4A_7C15), i);
                    }
                    black_box(&m);
                }
            }
        }
    }))
}

/// A seeded JSON document of about `kib` KiB: an array of records with strings, numbers,
/// nested objects and arrays, like an API response.
pub fn json_document(kib: usize, seed: u64) -> String {
    use std::fmt::Write;
    let mut rng = Rng::new(seed);
    let mut s = String::from("[");
    let mut i = 0u64;
    while s.len() < kib * 1024 {
        if i > 0 {
            s.push(',');
        }
        let tags: Vec<String> = (0..rng.range(0, 5))
            .map(|t| format!("\"tag{}\"", rng.range(0, 50) + t))
            .collect();
        let _ = write!(
            s,
            r#"{{"id":{i},"name":"user-{}","score":{}.{},"active":{},"tags":[{}],"address":{{"city":"c{}","zip":"{:05}"}}}}"#,
            rng.next_u64() % 100_000,
            rng.range(0, 1000),
            rng.range(0, 99),
            rng.next_u64() % 2 == 0,
            tags.join(","),
            rng.range(0, 300),
            rng.range(0, 99_999),
        );
        i += 1;
    }
    s.push(']');
    s
}

/// `loops` times: parse the document into a `serde_json::Value` and serialise it back.
/// One op = one document.
#[inline(never)] // its own symbol: tests/test_folds.py reads its calls
pub fn json_roundtrip(loops: u64, kib: usize, seed: u64) -> Result<f64> {
    let doc = json_document(kib, seed);
    let mut err = None;
    let t = timed(|| {
        for _ in 0..loops {
            match serde_json::from_str::<serde_json::Value>(black_box(&doc)) {
                Ok(v) => {
                    let out = serde_json::to_string(&v).unwrap_or_default();
                    black_box(out);
                }
                Err(e) => {
                    err = Some(e.to_string());
                    break;
                }
            }
        }
    });
    match err {
        Some(e) => Err(bad(format!("generated document did not parse: {e}"))),
        None => Ok(t),
    }
}
