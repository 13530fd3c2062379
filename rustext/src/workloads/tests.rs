//! Workload tests without an interpreter: every workload runs at a small size, its figures
//! are checked against its parameters, and its times against the wall clock.
//!
//! The test binary's global allocator counts, per thread, what each workload asks of it
//! (`counting` below), so a test can check that a workload allocates what it says (one
//! block per op, calloc for `zeroed_vec`, a realloc per resize) and frees all of it.
//!
//! Size: over 300 lines, the tests of every workload family in one file: they share the
//! counting allocator (`counting` below) this test binary installs as its global one.

use super::fragmentation::{fragmentation, FreePattern, Report};
use super::realloc::{realloc_growth, realloc_moves, Growth};
use super::threads::{cross_thread_free, threads_churn};
use super::throughput::*;
use super::zeroed::{memset_vec, zeroed_vec};
use super::*;
use std::time::Instant;

/// No allocator makes an alloc+free pair (or anything a workload counts as an op) in less
/// than half a nanosecond: a figure below that is not a measurement of the work.
const FASTEST_OP_S: f64 = 0.5e-9;

/// Runs a timed workload of `ops` operations and checks that the seconds it reports are a
/// measurement of its work: at least `FASTEST_OP_S` per op, and no more than `threads`
/// times the wall time of the whole call (the busy times of `threads` threads are summed).
fn measured(what: &str, ops: u64, threads: f64, f: impl FnOnce() -> Result<f64>) -> f64 {
    let t0 = Instant::now();
    let s = f().unwrap_or_else(|e| panic!("{what}: {e}"));
    let wall = t0.elapsed().as_secs_f64();
    assert!(
        s <= wall * threads,
        "{what}: reports {s} s, but the whole call took {wall} s"
    );
    assert!(
        s >= FASTEST_OP_S * ops as f64,
        "{what}: reports {s} s for {ops} ops, faster than any allocator"
    );
    s
}

const GROWTHS: [Growth; 4] = [
    Growth::VecPush,
    Growth::StringAppend,
    Growth::ReserveExact,
    Growth::ShrinkToFit,
];

#[test]
fn timed_workloads_report_the_time_of_their_work() {
    measured("alloc_pair", 1000, 1.0, || alloc_pair(1000, 64));
    measured("alloc_pair_unguarded", 1000, 1.0, || {
        alloc_pair_unguarded(1000, 64)
    });
    for order in [Order::Lifo, Order::Fifo] {
        measured("churn_batch", 300, 1.0, || churn_batch(3, 64, 100, order));
    }
    measured("mixed_sizes", 400, 1.0, || mixed_sizes(2, 200, 1));
    for kind in [
        Collection::String,
        Collection::Vec,
        Collection::HashMap,
        Collection::BTreeMap,
    ] {
        measured("collections", 200, 1.0, || collections(2, 100, kind));
    }
    measured("json_roundtrip", 2, 1.0, || json_roundtrip(2, 4, 7));
    for g in GROWTHS {
        measured("realloc_growth", 2, 1.0, || realloc_growth(2, g, 5000));
    }
    for touch in [false, true] {
        measured("zeroed_vec", 2, 1.0, || Ok(zeroed_vec(2, 10_000, touch)));
        measured("memset_vec", 2, 1.0, || Ok(memset_vec(2, 10_000, touch)));
    }
}

#[test]
fn thread_workloads_report_the_time_of_their_work() {
    measured("threads_churn", 20 * 256, 1.0, || {
        threads_churn(20, 2, 64, 256)
    });
    measured("threads_churn, one thread", 20 * 256, 1.0, || {
        threads_churn(20, 1, 64, 256)
    });
    // The producer's allocating time plus the consumer's freeing time: two threads.
    measured("cross_thread_free", 20 * 256, 2.0, || {
        cross_thread_free(20, 64, 256)
    });
    assert!(threads_churn(1, 2, usize::MAX, 1).is_err());
    assert!(cross_thread_free(1, usize::MAX, 1).is_err());
}

/// threads_churn's clock once started when the calling thread returned from the start
/// barrier; with as many workers as cores that thread often ran only after the workers had
/// finished, and calls reported ~0.2 ns per op where the real cost is 25-55 ns. The
/// workers' own clocks bound the measurement now.
#[test]
fn threads_churn_clock_covers_the_threads_work() {
    for threads in [2, 4] {
        for _ in 0..50 {
            measured("threads_churn", 20 * 256, 1.0, || {
                threads_churn(20, threads, 64, 256)
            });
        }
    }
}

#[test]
fn raw_pair_times_the_primitive_or_says_why_it_cannot() {
    if allocbench_alloc::ROUTES_THROUGH_PYMEM {
        // The CPython primitives need a running interpreter, which cargo test does not have.
        let e = raw::raw_pair(1000, 64)
            .expect_err("a PyMem primitive without an interpreter")
            .to_string();
        assert!(
            e.contains(allocbench_alloc::PRIMITIVE) && e.contains("interpreter"),
            "{e}"
        );
    } else {
        measured("raw_pair", 1000, 1.0, || raw::raw_pair(1000, 64));
    }
}

#[test]
fn bad_choices_are_errors_not_panics() {
    assert!(Order::parse("sideways").is_err());
    assert!(Collection::parse("list").is_err());
    assert!(Growth::parse("x").is_err());
    assert!(FreePattern::parse("").is_err());
    assert!(alloc_pair(1, usize::MAX).is_err());
    assert!(alloc_pair_unguarded(1, usize::MAX).is_err());
    assert!(churn_batch(1, usize::MAX, 1, Order::Lifo).is_err());
    assert!(fragmentation(10, 5, 4, FreePattern::EveryOther, 0).is_err());
    assert!(fragmentation(10, 0, 4, FreePattern::EveryOther, 0).is_err());
    // size_min == size_max is a valid (fixed) size.
    assert!(fragmentation(10, 8, 8, FreePattern::EveryOther, 0).is_ok());
}

#[test]
fn every_catalogue_choice_parses_to_its_own_variant() {
    assert_eq!(Order::parse("lifo"), Ok(Order::Lifo));
    assert_eq!(Order::parse("fifo"), Ok(Order::Fifo));
    assert_eq!(Collection::parse("string"), Ok(Collection::String));
    assert_eq!(Collection::parse("vec"), Ok(Collection::Vec));
    assert_eq!(Collection::parse("hashmap"), Ok(Collection::HashMap));
    assert_eq!(Collection::parse("btreemap"), Ok(Collection::BTreeMap));
    assert_eq!(Growth::parse("vec_push"), Ok(Growth::VecPush));
    assert_eq!(Growth::parse("string_append"), Ok(Growth::StringAppend));
    assert_eq!(Growth::parse("reserve_exact"), Ok(Growth::ReserveExact));
    assert_eq!(Growth::parse("shrink_to_fit"), Ok(Growth::ShrinkToFit));
    assert_eq!(
        FreePattern::parse("every_other"),
        Ok(FreePattern::EveryOther)
    );
    assert_eq!(
        FreePattern::parse("random_half"),
        Ok(FreePattern::RandomHalf)
    );
    assert_eq!(
        FreePattern::parse("oldest_half"),
        Ok(FreePattern::OldestHalf)
    );
}

#[test]
fn errors_carry_their_message() {
    // The message is what the Python side shows (WorkloadError -> ValueError).
    assert_eq!(bad("size 3: too small").to_string(), "size 3: too small");
    let e = Order::parse("sideways").unwrap_err().to_string();
    assert!(e.contains("\"sideways\"") && e.contains("'lifo'"), "{e}");
}

#[test]
fn json_document_is_valid_and_about_the_asked_size() {
    let doc = json_document(8, 3);
    assert!(
        doc.len() >= 8 * 1024 && doc.len() < 9 * 1024,
        "{}",
        doc.len()
    );
    let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
    let records = v.as_array().unwrap();
    assert!(records.len() > 10);
    // Records are numbered 0, 1, 2, ... and have every documented field.
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["id"], i as u64);
        for key in ["name", "score", "active", "tags", "address"] {
            assert!(r.get(key).is_some(), "record {i} has no {key}");
        }
    }
    assert_eq!(doc, json_document(8, 3), "same seed, same document");
    assert_ne!(doc, json_document(8, 4), "another seed, another document");
}

/// FNV-1a, to pin a document without storing it.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

#[test]
fn json_document_is_the_same_from_commit_to_commit() {
    // The benchmark's input is part of its definition: results stored for older commits
    // (asv history) compare only if the document does not drift. Change these numbers only
    // together with a deliberate change of the workload.
    let doc = json_document(4, 7);
    assert_eq!((doc.len(), fnv1a(doc.as_bytes())), JSON_4_7);
}
const JSON_4_7: (usize, u64) = (4168, 0x3065_9A78_40B6_24DD);

#[test]
fn realloc_moves_add_up() {
    for g in GROWTHS {
        let m = realloc_moves(g, 100_000);
        assert_eq!(m.reallocs, m.in_place + m.moved, "{g:?}");
        assert!(m.reallocs > 0, "{g:?}");
    }
    // reserve_exact(1) reallocates on every push after the first.
    assert_eq!(realloc_moves(Growth::ReserveExact, 1000).reallocs, 999);
    // shrink_to_fit halves 1024 bytes down to 16: 512, 256, 128, 64, 32, 16.
    assert_eq!(realloc_moves(Growth::ShrinkToFit, 1024).reallocs, 6);
}

#[test]
fn realloc_moves_counts_the_capacity_changes_of_a_vec() {
    // The number of reallocs of a push loop is the number of capacity changes a Vec<u8>
    // makes on the way to the target (std's growth policy, observed here, not assumed).
    for target in [1, 17, 1000, 5000] {
        let mut v: Vec<u8> = Vec::new();
        let mut changes = 0;
        for i in 0..target {
            let cap = v.capacity();
            v.push(i as u8);
            changes += u64::from(cap != 0 && v.capacity() != cap);
        }
        let m = realloc_moves(Growth::VecPush, target);
        assert_eq!(m.reallocs, changes, "target {target}");
    }
}

#[test]
fn fragmentation_phases_track_live_bytes() {
    for pat in [
        FreePattern::EveryOther,
        FreePattern::RandomHalf,
        FreePattern::OldestHalf,
    ] {
        let r = fragmentation(20_000, 16, 128, pat, 5).unwrap();
        let names: Vec<_> = r.phases.iter().map(|p| p.name).collect();
        assert_eq!(names, ["fill", "free", "refill", "drop"]);
        let live: Vec<_> = r.phases.iter().map(|p| p.live_bytes).collect();
        assert!(live[0] >= 20_000 * 16 && live[0] <= 20_000 * 128);
        // The free phase frees half the blocks; the refill adds 10 000 blocks of 32..256 B.
        assert!(live[1] < live[0], "{live:?}");
        assert!(
            live[2] >= live[1] + 10_000 * 32 && live[2] <= live[1] + 10_000 * 256,
            "{live:?}"
        );
        assert_eq!(live[3], 0);
        check_rss(&r);
    }
}

fn check_rss(r: &Report) {
    for p in &r.phases {
        assert!(p.rss_bytes > 0, "{p:?}");
        assert_eq!(p.rss_delta, p.rss_bytes.saturating_sub(r.baseline_rss));
    }
}

#[test]
fn fragmentation_figures_follow_from_the_parameters() {
    // With one block size s, every figure is known: n blocks, the free phase frees every
    // other block (ceil(n / 2)) or half of them (floor(n / 2)), the refill adds floor(n / 2)
    // blocks of 2s, and nothing is left after the drop.
    let (n, s) = (11, 40);
    for (pat, freed) in [
        (FreePattern::EveryOther, 6),
        (FreePattern::OldestHalf, 5),
        (FreePattern::RandomHalf, 5),
    ] {
        let r = fragmentation(n, s, s, pat, 3).unwrap();
        let live: Vec<_> = r.phases.iter().map(|p| p.live_bytes).collect();
        let after_free = (n - freed) * s;
        assert_eq!(
            live,
            [n * s, after_free, after_free + (n / 2) * 2 * s, 0],
            "{pat:?}"
        );
        check_rss(&r);
    }
}

#[test]
fn object_like_sizes_follow_the_documented_mix() {
    let mut rng = Rng::new(9);
    let sizes: Vec<usize> = (0..100_000).map(|_| object_like_size(&mut rng)).collect();
    // 60 % 16-64 B, 25 % 65-256 B, 10 % 257 B-4 KiB, 4 % to 64 KiB, 1 % to 1 MiB.
    let buckets = [
        (16, 64, 0.60),
        (65, 256, 0.25),
        (257, 4096, 0.10),
        (4097, 65536, 0.04),
        (65537, 1 << 20, 0.01),
    ];
    for (lo, hi, share) in buckets {
        let got = sizes.iter().filter(|&&s| (lo..=hi).contains(&s)).count() as f64 / 1e5;
        assert!((got - share).abs() < 0.005, "{lo}..={hi}: {got}");
    }
    assert!(sizes.iter().all(|&s| (16..=1 << 20).contains(&s)));
}

#[test]
fn rng_is_splitmix64() {
    // SplitMix64's reference output for state 0 (Rng::new xors the seed with the
    // increment, so this seed starts the generator at state 0).
    let mut r = Rng::new(0x9E37_79B9_7F4A_7C15);
    assert_eq!(
        [r.next_u64(), r.next_u64(), r.next_u64()],
        [
            0xE220_A839_7B1D_CDAF,
            0x6E78_9E6A_A1B9_65F4,
            0x06C4_5D18_8009_454F
        ]
    );
}

#[test]
fn rng_is_deterministic_and_ranges_inclusive() {
    let a: Vec<u64> = {
        let mut r = Rng::new(1);
        (0..5).map(|_| r.next_u64()).collect()
    };
    let b: Vec<u64> = {
        let mut r = Rng::new(1);
        (0..5).map(|_| r.next_u64()).collect()
    };
    assert_eq!(a, b);
    assert_ne!(
        Rng::new(2).next_u64(),
        a[0],
        "another seed, another sequence"
    );
    let mut r = Rng::new(2);
    let mut seen = [false; 4];
    for _ in 0..1000 {
        seen[r.range(3, 6) - 3] = true;
    }
    assert!(seen.iter().all(|&s| s));
    assert!((0..100).all(|_| r.range(7, 7) == 7));
}

#[test]
fn shuffle_is_a_seeded_uniform_permutation() {
    let shuffled = |seed| {
        let mut v: Vec<usize> = (0..8).collect();
        Rng::new(seed).shuffle(&mut v);
        v
    };
    assert_eq!(shuffled(5), shuffled(5));
    let mut fixed_points = 0;
    let mut moved = 0;
    for seed in 0..1000 {
        let v = shuffled(seed);
        let mut sorted = v.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..8).collect::<Vec<_>>(), "not a permutation");
        fixed_points += v.iter().enumerate().filter(|&(i, &x)| i == x).count();
        moved += usize::from(v != sorted);
    }
    // A uniform permutation leaves on average one element in place (8000 trials: ~1000);
    // a cyclic-only shuffle (Sattolo's) would leave none, the identity all 8000.
    assert!((800..1200).contains(&fixed_points), "{fixed_points}");
    assert!(moved > 990, "{moved}");
}

#[test]
fn rss_bytes_reads_this_process_resident_set() {
    fn status_rss() -> usize {
        let s = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        let kib: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib * 1024
    }
    let before = status_rss();
    let rss = rss_bytes();
    let after = status_rss();
    assert!(rss % 4096 == 0 && rss > 1 << 20, "{rss}");
    // Other tests allocate at the same time: allow a few MiB of movement between reads.
    let slack = 8 << 20;
    assert!(
        rss + slack >= before.min(after) && rss <= before.max(after) + slack,
        "rss_bytes {rss}, VmRSS {before} / {after}"
    );
}

/// Minor page faults of the calling thread so far.
fn minor_faults() -> i64 {
    let mut u: libc::rusage = unsafe { core::mem::zeroed() };
    // SAFETY: getrusage writes the struct it is given.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut u) }, 0);
    u.ru_minflt
}

#[test]
fn zeroed_vec_touches_every_page_only_when_asked() {
    // 64 MiB from calloc are fresh, untouched pages: touching one byte per 4 KiB page
    // faults each of them in (16384 faults; fewer, larger ones with transparent huge pages).
    let faults = |touch| {
        let before = minor_faults();
        zeroed_vec(1, 64 << 20, touch);
        minor_faults() - before
    };
    let (untouched, touched) = (faults(false), faults(true));
    assert!(
        touched >= 32 && untouched * 4 < touched,
        "faults: {untouched} untouched, {touched} touched"
    );
}

/// The global allocator of this test binary: std's System, counted per thread.
#[cfg(not(feature = "python"))]
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct Counts {
        pub allocs: u64,
        pub zeroed: u64,
        pub reallocs: u64,
        pub reallocs_in_place: u64,
        pub frees: u64,
        /// Bytes allocated minus bytes freed.
        pub net_bytes: i64,
    }

    const ZERO: Counts = Counts {
        allocs: 0,
        zeroed: 0,
        reallocs: 0,
        reallocs_in_place: 0,
        frees: 0,
        net_bytes: 0,
    };

    thread_local! {
        // Const-initialised and without a destructor: usable from the allocator at any
        // point of a thread's life.
        static COUNTS: Cell<Counts> = const { Cell::new(ZERO) };
    }

    fn note(f: impl FnOnce(&mut Counts)) {
        let _ = COUNTS.try_with(|c| {
            let mut v = c.get();
            f(&mut v);
            c.set(v);
        });
    }

    pub struct Counting;

    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, l: Layout) -> *mut u8 {
            let p = unsafe { System.alloc(l) };
            if !p.is_null() {
                note(|c| {
                    c.allocs += 1;
                    c.net_bytes += l.size() as i64;
                });
            }
            p
        }

        unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
            let p = unsafe { System.alloc_zeroed(l) };
            if !p.is_null() {
                note(|c| {
                    c.zeroed += 1;
                    c.net_bytes += l.size() as i64;
                });
            }
            p
        }

        unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
            note(|c| {
                c.frees += 1;
                c.net_bytes -= l.size() as i64;
            });
            unsafe { System.dealloc(p, l) }
        }

        unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
            let q = unsafe { System.realloc(p, l, new_size) };
            if !q.is_null() {
                note(|c| {
                    c.reallocs += 1;
                    c.reallocs_in_place += u64::from(q == p);
                    c.net_bytes += new_size as i64 - l.size() as i64;
                });
            }
            q
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    /// `f()` and what it asked of the allocator on this thread.
    pub fn counted<T>(f: impl FnOnce() -> T) -> (T, Counts) {
        let before = COUNTS.with(Cell::get);
        let r = f();
        let a = COUNTS.with(Cell::get);
        let d = Counts {
            allocs: a.allocs - before.allocs,
            zeroed: a.zeroed - before.zeroed,
            reallocs: a.reallocs - before.reallocs,
            reallocs_in_place: a.reallocs_in_place - before.reallocs_in_place,
            frees: a.frees - before.frees,
            net_bytes: a.net_bytes - before.net_bytes,
        };
        (r, d)
    }
}

#[cfg(not(feature = "python"))]
mod allocations {
    use super::counting::{counted, Counts};
    use super::*;
    use std::hint::black_box;

    /// Runs a single-threaded workload and returns its counts, checking that it freed
    /// everything it allocated.
    fn balanced(what: &str, f: impl FnOnce()) -> Counts {
        let ((), c) = counted(f);
        assert_eq!(
            c.net_bytes, 0,
            "{what} left {} bytes allocated",
            c.net_bytes
        );
        assert_eq!(c.allocs + c.zeroed, c.frees, "{what}: {c:?}");
        c
    }

    #[test]
    fn the_counting_allocator_counts() {
        let ((), c) = counted(|| {
            let mut v = vec![1u8; 10];
            v.reserve_exact(100);
            drop(black_box(v));
        });
        assert_eq!((c.allocs, c.reallocs, c.frees, c.net_bytes), (1, 1, 1, 0));
    }

    #[test]
    fn one_op_is_one_block_allocated_and_freed() {
        let c = balanced("alloc_pair", || {
            alloc_pair(500, 64).unwrap();
        });
        // Plus the neighbour kept live beside the pairs, and the block freed to make room.
        assert_eq!(c.allocs, 500 + 2);
        for order in [Order::Lifo, Order::Fifo] {
            // Plus the vector that holds the batch's pointers.
            let c = balanced("churn_batch", || {
                churn_batch(4, 48, 100, order).unwrap();
            });
            assert_eq!(c.allocs, 4 * 100 + 1, "{order:?}");
        }
        let c = balanced("mixed_sizes", || {
            mixed_sizes(3, 200, 1).unwrap();
        });
        assert!(c.allocs >= 3 * 200, "{c:?}");
        for kind in [Collection::String, Collection::Vec, Collection::HashMap] {
            // Every element owns a heap block (a String or a Vec).
            let c = balanced("collections", || {
                collections(2, 300, kind).unwrap();
            });
            assert!(c.allocs >= 2 * 300, "{kind:?}: {c:?}");
        }
        // BTreeMap<u64, u64>: one node per up to 11 elements.
        let c = balanced("collections", || {
            collections(2, 300, Collection::BTreeMap).unwrap();
        });
        assert!(c.allocs >= 2 * 300 / 11, "{c:?}");
        balanced("json_roundtrip", || {
            json_roundtrip(2, 4, 7).unwrap();
        });
        for g in GROWTHS {
            balanced("realloc_growth", || {
                realloc_growth(2, g, 5000).unwrap();
            });
        }
    }

    #[test]
    fn raw_pair_bypasses_the_global_allocator() {
        // The raw baseline calls the backend's primitive itself, never GlobalAlloc. (The
        // CPython primitives need an interpreter: raw_pair_times_the_primitive_... .)
        if !allocbench_alloc::ROUTES_THROUGH_PYMEM {
            let (r, c) = counted(|| raw::raw_pair(200, 64));
            assert!(r.is_ok());
            assert_eq!(c.allocs + c.zeroed + c.reallocs, 0, "{c:?}");
        }
    }

    #[test]
    fn zeroed_vec_callocs_and_memset_vec_does_not() {
        for touch in [false, true] {
            let c = balanced("zeroed_vec", || {
                zeroed_vec(3, 10_000, touch);
            });
            assert_eq!((c.zeroed, c.allocs), (3, 0), "touch {touch}");
            let c = balanced("memset_vec", || {
                memset_vec(3, 10_000, touch);
            });
            assert_eq!((c.zeroed, c.allocs), (0, 3), "touch {touch}");
        }
    }

    #[test]
    fn realloc_moves_counts_every_realloc_and_where_it_went() {
        for g in GROWTHS {
            for target in [100, 5000, 300_000] {
                let (m, c) = counted(|| realloc_moves(g, target));
                assert_eq!(m.reallocs, c.reallocs, "{g:?} {target}");
                assert_eq!(m.in_place, c.reallocs_in_place, "{g:?} {target}");
                assert_eq!(m.moved, c.reallocs - c.reallocs_in_place, "{g:?} {target}");
            }
        }
    }

    #[test]
    fn fragmentation_frees_everything_it_allocated() {
        for pat in [
            FreePattern::EveryOther,
            FreePattern::RandomHalf,
            FreePattern::OldestHalf,
        ] {
            let (r, c) = counted(|| fragmentation(1000, 16, 128, pat, 2).unwrap());
            // What is left is the report itself (its vector of phases).
            let report = (r.phases.capacity() * core::mem::size_of_val(&r.phases[0])) as i64;
            assert_eq!(c.net_bytes, report, "{pat:?}");
            // 1000 fill blocks and 500 refill blocks, each written.
            assert!(c.allocs >= 1500, "{pat:?}: {c:?}");
        }
    }
}
