//! Backend tests without an interpreter: the flavour's allocator used as a plain value.
//!
//! Size: over 300 lines, every backend's tests in one file: the shared ones run in every
//! flavour's `cargo test`, each backend's own module only under its feature.

use crate::checks::{layout_roundtrip, run_ops, Op};
use crate::{pyapi, ALLOCATOR, NAME, ROUTES_THROUGH_PYMEM};
use core::alloc::{GlobalAlloc, Layout};

const ALIGNS: [usize; 13] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096];
const SIZES: [usize; 14] = [
    1,
    3,
    8,
    15,
    16,
    17,
    100,
    496,
    511,
    512,
    513,
    4096,
    70_000,
    1 << 20,
];

#[test]
fn no_interpreter_means_no_pymem_path() {
    assert!(
        pyapi::api().is_none(),
        "cargo test must not find a CPython API"
    );
    assert!(!pyapi::thread_attached());
    assert_eq!(pyapi::python_version(), None);
}

#[test]
fn shutdown_is_a_one_way_latch() {
    // The only test that begins shutdown. Without an interpreter no allocator path reads
    // the flag (each one needs the CPython API first), so the other tests are unaffected.
    assert!(!pyapi::shutting_down());
    pyapi::begin_shutdown();
    assert!(pyapi::shutting_down());
    pyapi::begin_shutdown();
    assert!(pyapi::shutting_down());
}

#[test]
fn primitive_is_a_working_malloc_and_free_where_it_can_be_called() {
    for size in [1, 64, 512, 513, 4096, 1 << 20] {
        let primitive = crate::primitive(size);
        // The CPython primitives need an interpreter; every other backend has its own.
        assert_eq!(
            primitive.is_some(),
            !ROUTES_THROUGH_PYMEM,
            "{NAME}: primitive({size})"
        );
        let Some((m, f)) = primitive else {
            continue;
        };
        unsafe {
            let (p, q) = (m(size), m(size));
            assert!(!p.is_null() && !q.is_null() && p != q, "{size}");
            p.write_bytes(0xA5, size);
            q.write_bytes(0x5A, size);
            assert!(core::slice::from_raw_parts(p, size)
                .iter()
                .all(|&b| b == 0xA5));
            f(p);
            f(q);
        }
    }
}

#[test]
fn counters_are_the_backends_own() {
    let names: Vec<&str> = crate::counters().iter().map(|c| c.0).collect();
    if cfg!(feature = "pymem") {
        assert_eq!(
            names,
            [
                "fallback_live_blocks",
                "fallback_total_blocks",
                "fallback_slab_bytes",
                "deferred_frees",
                "left_at_exit",
                "deferred_pending"
            ]
        );
    } else {
        assert!(names.is_empty(), "{names:?}");
    }
}

#[test]
fn alignment_matrix() {
    for &align in &ALIGNS {
        for &size in &SIZES {
            for (grow, shrink) in [(size * 3 + 1, size.div_ceil(2)), (size + 1, 1), (600, 8)] {
                layout_roundtrip(&ALLOCATOR, size, align, grow, shrink)
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }
}

fn random_ops(seed: u64, n: usize, slots: usize) -> Vec<Op> {
    crate::checks::random_ops(seed, n, slots, 1 << 20, 12)
}

#[test]
fn random_sequences_keep_contents() {
    for seed in 0..10 {
        let ops = random_ops(seed, 500, 64);
        run_ops(&ALLOCATOR, 64, &ops).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
}

#[test]
fn concurrent_random_sequences() {
    std::thread::scope(|s| {
        for t in 0..4 {
            s.spawn(move || {
                for seed in 0..5 {
                    let ops = random_ops(1000 * t + seed, 500, 32);
                    run_ops(&ALLOCATOR, 32, &ops).unwrap_or_else(|e| panic!("thread {t}: {e}"));
                }
            });
        }
    });
}

#[test]
fn blocks_freed_on_another_thread() {
    let l = Layout::from_size_align(48, 8).unwrap();
    let ptrs: Vec<usize> = (0..10_000)
        .map(|i| unsafe {
            let p = ALLOCATOR.alloc(l);
            assert!(!p.is_null());
            p.write(i as u8);
            p as usize
        })
        .collect();
    std::thread::spawn(move || {
        for (i, p) in ptrs.into_iter().enumerate() {
            unsafe {
                assert_eq!((p as *mut u8).read(), i as u8);
                ALLOCATOR.dealloc(p as *mut u8, l);
            }
        }
    })
    .join()
    .unwrap();
}

#[test]
fn oversized_layouts_fail_with_null() {
    let l = Layout::from_size_align(isize::MAX as usize - 4095, 4096).unwrap();
    assert!(unsafe { ALLOCATOR.alloc(l) }.is_null());
}

#[cfg(any(feature = "pymem", feature = "pymem-raw"))]
mod plans {
    use crate::aligned::{self, Plan};
    use core::alloc::Layout;

    fn plan(size: usize, align: usize, round_to: usize) -> Plan {
        aligned::plan(Layout::from_size_align(size, align).unwrap(), round_to).unwrap()
    }

    #[test]
    fn natural_alignments_round_the_request_to_the_family_step() {
        let natural = |req| Plan { req, over: false };
        // pymem rounds small requests to pymalloc's 16-byte step (and at least 16 B).
        for (size, req) in [(0, 16), (1, 16), (8, 16), (15, 16), (16, 16), (17, 32)] {
            assert_eq!(plan(size, 8, 16), natural(req), "size {size}");
        }
        assert_eq!(plan(496, 1, 16), natural(496));
        assert_eq!(plan(497, 4, 16), natural(512));
        // pymem-raw asks for the size itself (at least 1 B).
        for (size, req) in [(0, 1), (1, 1), (5, 5), (16, 16), (4097, 4097)] {
            assert_eq!(plan(size, 8, 1), natural(req), "size {size}");
        }
    }

    #[test]
    fn larger_alignments_over_allocate_by_the_alignment() {
        for round_to in [1, 16] {
            assert_eq!(
                plan(16, 16, round_to),
                Plan {
                    req: 32,
                    over: true
                }
            );
            assert_eq!(
                plan(0, 64, round_to),
                Plan {
                    req: 65,
                    over: true
                }
            );
            assert_eq!(
                plan(100, 4096, round_to),
                Plan {
                    req: 4196,
                    over: true
                }
            );
        }
        // The largest valid layout still plans without overflow (and then fails with NULL).
        let huge = Layout::from_size_align(isize::MAX as usize - 4095, 4096).unwrap();
        assert_eq!(
            aligned::plan(huge, 16).unwrap().req,
            isize::MAX as usize + 1
        );
    }
}

#[cfg(feature = "pymem")]
mod pymem_only {
    use super::*;
    use crate::fallback;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    const SLAB: usize = 64 << 10;

    #[test]
    fn small_blocks_come_from_the_fallback_region_without_python() {
        let l = Layout::from_size_align(64, 8).unwrap();
        let p = unsafe { ALLOCATOR.alloc(l) };
        assert!(fallback::contains(p));
        unsafe { ALLOCATOR.dealloc(p, l) };
        let big = Layout::from_size_align(4096, 8).unwrap();
        let q = unsafe { ALLOCATOR.alloc(big) };
        assert!(!q.is_null() && !fallback::contains(q));
        unsafe { ALLOCATOR.dealloc(q, big) };
    }

    #[test]
    fn fallback_reuses_freed_blocks_within_their_class() {
        let p = fallback::alloc(100, false);
        unsafe { fallback::free(p, 100) };
        let q = fallback::alloc(112, false);
        // Same 16-byte class (97..=112): the freed block comes back (unless another test
        // thread took it in between, which only makes q a different block of the class).
        assert!(fallback::contains(q));
        unsafe { fallback::free(q, 112) };
        let z = fallback::alloc(112, true);
        assert!(unsafe { core::slice::from_raw_parts(z, 112) }
            .iter()
            .all(|&b| b == 0));
        unsafe { fallback::free(z, 112) };
    }

    #[test]
    fn fallback_size_classes_are_16_byte_steps() {
        for (req, block) in [
            (1, 16),
            (15, 16),
            (16, 16),
            (17, 32),
            (32, 32),
            (33, 48),
            (496, 496),
            (497, 512),
            (512, 512),
        ] {
            assert_eq!(fallback::block_size(req), block, "request {req}");
        }
    }

    #[test]
    fn small_realloc_stays_in_place_within_its_size_class() {
        let l = |n| Layout::from_size_align(n, 8).unwrap();
        unsafe {
            // 20 B is served by a 32-byte block (pymem rounds to 16, the region's step).
            let p = ALLOCATOR.alloc(l(20));
            assert!(fallback::contains(p));
            p.write_bytes(7, 20);
            assert_eq!(ALLOCATOR.realloc(p, l(20), 32), p, "same class: big enough");
            // 33 B needs the 48-byte class: a new block, the contents copied.
            let q = ALLOCATOR.realloc(p, l(32), 33);
            assert!(q != p && fallback::contains(q));
            assert!(core::slice::from_raw_parts(q, 20).iter().all(|&b| b == 7));
            // Past 512 B the block moves to the raw domain (libc without an interpreter).
            let r = ALLOCATOR.realloc(q, l(33), 600);
            assert!(!r.is_null() && !fallback::contains(r));
            assert!(core::slice::from_raw_parts(r, 20).iter().all(|&b| b == 7));
            ALLOCATOR.dealloc(r, l(600));
        }
    }

    #[test]
    fn counters_count_the_fallback_blocks_held() {
        let get = |name| {
            crate::counters()
                .into_iter()
                .find(|c| c.0 == name)
                .unwrap()
                .1
        };
        let total_before = get("fallback_total_blocks");
        let l = Layout::from_size_align(40, 8).unwrap();
        let blocks: Vec<*mut u8> = (0..10).map(|_| unsafe { ALLOCATOR.alloc(l) }).collect();
        // Other tests add and free their own blocks at the same time: ours are 10 of them.
        assert!(get("fallback_live_blocks") >= 10);
        assert!(get("fallback_total_blocks") >= total_before + 10);
        let slabs = get("fallback_slab_bytes");
        assert!(slabs >= SLAB && slabs % SLAB == 0, "{slabs}");
        // Without an interpreter nothing is ever deferred or left at exit.
        assert_eq!(get("deferred_frees"), 0);
        assert_eq!(get("left_at_exit"), 0);
        assert_eq!(get("deferred_pending"), 0);
        for p in blocks {
            unsafe { ALLOCATOR.dealloc(p, l) };
        }
    }

    // ---- the region in a process of its own ------------------------------------------------
    // The region is mapped once per process, sized by RLIMIT_AS at that moment, and its
    // counters are global: these tests run `fallback_child` in a fresh process of this test
    // binary, where nothing else allocates from the region.

    const CHILD_MODE: &str = "ALLOCBENCH_FALLBACK_CHILD";

    fn run_child(mode: &str) {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) }, 0);
        if limit.rlim_cur != libc::RLIM_INFINITY || limit.rlim_max != libc::RLIM_INFINITY {
            eprintln!("skipped: the test sets RLIMIT_AS itself, and one is set already");
            return;
        }
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "tests::pymem_only::fallback_child",
                "--ignored",
                "--test-threads=1",
                "--nocapture",
            ])
            .env(CHILD_MODE, mode)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A region that never becomes ready (or never says it failed) must not hang.
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{mode}: the child did not finish in 10 s");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && text.contains("1 passed"),
            "{mode}: {}\n{text}",
            out.status
        );
    }

    #[test]
    #[ignore = "runs in the child process that the fallback_region_* tests start"]
    fn fallback_child() {
        // Outside the child (cargo test -- --ignored) there is nothing to do.
        let Ok(mode) = std::env::var(CHILD_MODE) else {
            return;
        };
        match mode.as_str() {
            "size" => child_region_is_an_eighth_of_the_limit(),
            "no-map" => child_unmappable_region_fails_with_null(),
            "families" => child_blocks_go_back_to_their_family(),
            other => panic!("{CHILD_MODE} is {other:?}"),
        }
    }

    #[test]
    fn fallback_region_is_an_eighth_of_rlimit_as_in_whole_slabs() {
        run_child("size");
    }

    #[test]
    fn fallback_region_that_cannot_be_mapped_fails_with_null() {
        run_child("no-map");
    }

    #[test]
    fn fallback_region_blocks_go_back_to_their_family() {
        run_child("families");
    }

    fn with_rlimit_as<T>(limit: usize, f: impl FnOnce() -> T) -> T {
        let mut old = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        unsafe {
            assert_eq!(libc::getrlimit(libc::RLIMIT_AS, &mut old), 0);
            let new = libc::rlimit {
                rlim_cur: limit as libc::rlim_t,
                rlim_max: old.rlim_max,
            };
            assert_eq!(libc::setrlimit(libc::RLIMIT_AS, &new), 0);
        }
        let r = f();
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &old) }, 0);
        r
    }

    fn child_region_is_an_eighth_of_the_limit() {
        let limit = (2usize << 30) + (512 << 10);
        // The first fallback block maps the region: an eighth of the limit, in whole slabs.
        let first = with_rlimit_as(limit, || fallback::alloc(512, false));
        let size = (limit / 8) & !(SLAB - 1);
        assert_eq!(size, (256 << 20) + SLAB);
        assert!(!first.is_null());
        // Every slab goes to the 512-byte class, 128 blocks each; the first block is the
        // region's base, the last one its last 512 bytes, and then the region is full.
        let (mut n, mut last) = (1, first);
        while n < size / 512 + 1000 {
            let p = fallback::alloc(512, false);
            if p.is_null() {
                break;
            }
            assert!(
                fallback::contains(p),
                "block {n} at {p:p} is outside the region"
            );
            (n, last) = (n + 1, p);
        }
        assert_eq!(n, size / 512, "512-byte blocks in the region");
        assert_eq!(last as usize - first as usize, size - 512);
        assert!(fallback::alloc(512, false).is_null(), "full stays full");
        assert!(
            fallback::alloc(16, false).is_null(),
            "no slab left for any class"
        );
        assert!(fallback::contains(first.wrapping_add(size - 1)));
        assert!(!fallback::contains(first.wrapping_add(size)));
        assert!(!fallback::contains(first.wrapping_sub(1)));
        assert_eq!(fallback::stats(), (n, n, size));
        unsafe {
            for p in [first, last] {
                assert!(core::slice::from_raw_parts(p, 512).iter().all(|&b| b == 0));
                p.write_bytes(0xFF, 512);
            }
            // A freed block is reused, full region or not.
            fallback::free(last, 512);
            assert_eq!(fallback::stats().0, n - 1);
            assert_eq!(fallback::alloc(512, false), last);
        }
    }

    fn child_unmappable_region_fails_with_null() {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        let pages: usize = statm.split_whitespace().next().unwrap().parse().unwrap();
        let vm = pages * 4096;
        // Room for a sixteenth more than the process maps now; the region wants an eighth.
        let limit = vm + vm / 16;
        assert!((limit / 8) & !(SLAB - 1) > limit - vm);
        let p = with_rlimit_as(limit, || fallback::alloc(64, false));
        assert!(p.is_null());
        assert_eq!(fallback::stats(), (0, 0, 0));
    }

    fn child_blocks_go_back_to_their_family() {
        let live = || fallback::stats().0;
        let l = |n, a| Layout::from_size_align(n, a).unwrap();
        unsafe {
            let small = ALLOCATOR.alloc(l(100, 8));
            assert!(fallback::contains(small) && live() == 1);
            // Over-aligned: a 128-byte region block with the aligned block inside.
            let over = ALLOCATOR.alloc(l(64, 64));
            assert!(fallback::contains(over) && over as usize % 64 == 0 && live() == 2);
            let large = ALLOCATOR.alloc(l(4096, 8));
            assert!(!fallback::contains(large) && live() == 2);
            ALLOCATOR.dealloc(over, l(64, 64));
            assert_eq!(live(), 1);
            ALLOCATOR.dealloc(small, l(100, 8));
            assert_eq!(live(), 0);
            // The freed block is the next one of its class, zeroed when asked for (its first
            // word is the free list's link, the allocator's until handed out again).
            small.add(8).write_bytes(0xFF, 92);
            let z = ALLOCATOR.alloc_zeroed(l(100, 8));
            assert_eq!(z, small);
            assert!(core::slice::from_raw_parts(z, 100).iter().all(|&b| b == 0));
            // Crossing 512 B moves the block to the other family and frees the old one.
            let big = ALLOCATOR.realloc(z, l(100, 8), 600);
            assert!(!fallback::contains(big) && live() == 0);
            let back = ALLOCATOR.realloc(big, l(600, 8), 50);
            assert!(fallback::contains(back) && live() == 1);
            ALLOCATOR.dealloc(back, l(50, 8));
            ALLOCATOR.dealloc(large, l(4096, 8));
            assert_eq!(live(), 0);
            // The unguarded path routes the same way without an interpreter.
            let u = crate::alloc_unguarded(l(100, 8));
            assert!(fallback::contains(u) && live() == 1);
            crate::dealloc_unguarded(u, l(100, 8));
            assert_eq!(live(), 0);
        }
    }
}
