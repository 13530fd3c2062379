//! Fragmentation: fill the heap, free a pattern, refill with other sizes, drop all, and
//! read RSS after every phase: how much memory each live byte costs, and how much the
//! allocator keeps once everything is freed.

use super::{bad, rss_bytes, Result, Rng};
use std::hint::black_box;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FreePattern {
    /// Every other block, in allocation order: maximal interleaving of holes.
    EveryOther,
    /// A seeded random half.
    RandomHalf,
    /// The first-allocated half: old data expires, young data stays.
    OldestHalf,
}

impl FreePattern {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "every_other" => Ok(Self::EveryOther),
            "random_half" => Ok(Self::RandomHalf),
            "oldest_half" => Ok(Self::OldestHalf),
            _ => Err(bad(format!(
                "pattern must be one of 'every_other', 'random_half', 'oldest_half', got {s:?}"
            ))),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Phase {
    pub name: &'static str,
    /// Bytes the workload holds (requested sizes).
    pub live_bytes: usize,
    /// Process RSS after the phase.
    pub rss_bytes: usize,
    /// RSS above the baseline taken before the fill.
    pub rss_delta: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub baseline_rss: usize,
    pub phases: Vec<Phase>,
}

fn block(size: usize, tag: u8) -> Box<[u8]> {
    // Every byte written, so the pages are resident for every allocator alike. Never a
    // zero fill: `vec![0; n]` is alloc_zeroed (calloc), which may leave fresh pages alone.
    vec![tag | 1; size].into_boxed_slice()
}

/// Runs the four phases on `blocks` blocks of `size_min..=size_max` bytes; the refill
/// uses sizes from `2*size_min..=2*size_max` (other sizes, so holes may not fit them).
#[inline(never)] // its own symbol: tests/test_folds.py reads its calls
pub fn fragmentation(
    blocks: usize,
    size_min: usize,
    size_max: usize,
    pattern: FreePattern,
    seed: u64,
) -> Result<Report> {
    if size_min == 0 || size_min > size_max {
        return Err(bad("size_min must be >= 1 and <= size_max"));
    }
    let mut rng = Rng::new(seed);
    let baseline_rss = rss_bytes();
    let mut phases = Vec::with_capacity(4);
    let mut note = |name, live: usize| {
        let rss = rss_bytes();
        phases.push(Phase {
            name,
            live_bytes: live,
            rss_bytes: rss,
            rss_delta: rss.saturating_sub(baseline_rss),
        });
    };

    let mut held: Vec<Option<Box<[u8]>>> = Vec::with_capacity(blocks);
    let mut live = 0usize;
    for i in 0..blocks {
        let n = rng.range(size_min, size_max);
        live += n;
        held.push(Some(block(n, i as u8)));
    }
    note("fill", live);

    let victims: Vec<usize> = match pattern {
        FreePattern::EveryOther => (0..blocks).step_by(2).collect(),
        FreePattern::OldestHalf => (0..blocks / 2).collect(),
        FreePattern::RandomHalf => {
            let mut idx: Vec<usize> = (0..blocks).collect();
            rng.shuffle(&mut idx);
            idx.truncate(blocks / 2);
            idx
        }
    };
    for i in victims {
        if let Some(b) = held[i].take() {
            live -= b.len();
        }
    }
    note("free", live);

    let refill = blocks / 2;
    for i in 0..refill {
        let n = rng.range(2 * size_min, 2 * size_max);
        live += n;
        held.push(Some(block(n, i as u8)));
    }
    note("refill", live);

    black_box(&held);
    // Freed one by one and counted off, so "drop" reports what is really still held.
    for b in held.drain(..).flatten() {
        live -= b.len();
        drop(b);
    }
    drop(held);
    note("drop", live);
    Ok(Report {
        baseline_rss,
        phases,
    })
}
