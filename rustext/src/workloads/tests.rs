//! Workload tests without an interpreter: every workload runs at a small size and its
//! figures are consistent.

use super::fragmentation::{fragmentation, FreePattern};
use super::realloc::{realloc_growth, realloc_moves, Growth};
use super::threads::{cross_thread_free, threads_churn};
use super::throughput::*;
use super::zeroed::{memset_vec, zeroed_vec};
use super::*;

#[test]
fn timed_workloads_return_positive_seconds() {
    assert!(alloc_pair(100, 64).unwrap() > 0.0);
    assert!(alloc_pair_unguarded(100, 64).unwrap() > 0.0);
    for order in [Order::Lifo, Order::Fifo] {
        assert!(churn_batch(3, 64, 100, order).unwrap() > 0.0);
    }
    assert!(mixed_sizes(2, 200, 1).unwrap() > 0.0);
    for kind in [
        Collection::String,
        Collection::Vec,
        Collection::HashMap,
        Collection::BTreeMap,
    ] {
        assert!(collections(2, 100, kind).unwrap() > 0.0);
    }
    assert!(json_roundtrip(2, 4, 7).unwrap() > 0.0);
    for g in [
        Growth::VecPush,
        Growth::StringAppend,
        Growth::ReserveExact,
        Growth::ShrinkToFit,
    ] {
        assert!(realloc_growth(2, g, 5000).unwrap() > 0.0);
    }
    assert!(zeroed_vec(2, 10_000, true) > 0.0);
    assert!(memset_vec(2, 10_000, false) > 0.0);
    assert!(threads_churn(3, 2, 64, 50).unwrap() > 0.0);
    assert!(cross_thread_free(3, 64, 50).unwrap() > 0.0);
    assert!(raw::raw_pair(100, 64).is_ok() || crate::backend::NAME.starts_with("pymem"));
}

#[test]
fn bad_choices_are_errors_not_panics() {
    assert!(Order::parse("sideways").is_err());
    assert!(Collection::parse("list").is_err());
    assert!(Growth::parse("x").is_err());
    assert!(FreePattern::parse("").is_err());
    assert!(alloc_pair(1, usize::MAX).is_err());
    assert!(fragmentation(10, 5, 4, FreePattern::EveryOther, 0).is_err());
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
    assert!(v.as_array().unwrap().len() > 10);
    assert_eq!(doc, json_document(8, 3), "same seed, same document");
}

#[test]
fn realloc_moves_add_up() {
    for g in [
        Growth::VecPush,
        Growth::StringAppend,
        Growth::ReserveExact,
        Growth::ShrinkToFit,
    ] {
        let m = realloc_moves(g, 100_000);
        assert_eq!(m.reallocs, m.in_place + m.moved, "{g:?}");
        assert!(m.reallocs > 0, "{g:?}");
    }
    // reserve_exact(1) reallocates on every push after the first.
    assert_eq!(realloc_moves(Growth::ReserveExact, 1000).reallocs, 999);
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
        assert!(
            live[1] < live[0] && live[2] > live[1] && live[3] == 0,
            "{live:?}"
        );
        assert!(r.phases[0].rss_bytes > 0);
    }
}

#[test]
fn object_like_sizes_follow_the_documented_mix() {
    let mut rng = Rng::new(9);
    let sizes: Vec<usize> = (0..100_000).map(|_| object_like_size(&mut rng)).collect();
    let small = sizes.iter().filter(|&&s| s <= 64).count() as f64 / 1e5;
    assert!((0.58..0.62).contains(&small), "{small}");
    assert!(sizes.iter().all(|&s| (16..=1 << 20).contains(&s)));
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
    let mut r = Rng::new(2);
    let mut seen = [false; 4];
    for _ in 0..1000 {
        seen[r.range(3, 6) - 3] = true;
    }
    assert!(seen.iter().all(|&s| s));
}
