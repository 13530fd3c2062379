//! Backend tests without an interpreter: the flavour's allocator used as a plain value.

use super::{pyapi, ALLOCATOR};
use crate::checks::{layout_roundtrip, run_ops, Op};
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

#[cfg(feature = "alloc-pymem")]
mod pymem_only {
    use super::super::{aligned, fallback};
    use super::*;

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
    fn plan_rounds_small_requests_and_over_allocates_large_alignments() {
        let p = |s, a| aligned::plan(Layout::from_size_align(s, a).unwrap(), 16).unwrap();
        assert_eq!(
            p(1, 1),
            aligned::Plan {
                req: 16,
                over: false
            }
        );
        assert_eq!(
            p(17, 8),
            aligned::Plan {
                req: 32,
                over: false
            }
        );
        assert_eq!(
            p(16, 16),
            aligned::Plan {
                req: 32,
                over: true
            }
        );
        assert_eq!(
            p(100, 4096),
            aligned::Plan {
                req: 4196,
                over: true
            }
        );
        // The largest valid layout still plans without overflow (and then fails with NULL).
        let huge = Layout::from_size_align(isize::MAX as usize - 4095, 4096).unwrap();
        assert_eq!(
            aligned::plan(huge, 16).unwrap().req,
            isize::MAX as usize + 1
        );
    }
}
