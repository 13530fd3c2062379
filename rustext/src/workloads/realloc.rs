//! Realloc growth: how buffers grow and shrink, and whether the allocator resizes in place.

use super::{bad, timed, Result};
use std::hint::black_box;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Growth {
    /// `Vec<u8>::push` one byte at a time: amortised doubling.
    VecPush,
    /// `String::push_str` of 7-byte pieces.
    StringAppend,
    /// `reserve_exact(1)` before every push: one realloc per byte (the worst case).
    ReserveExact,
    /// Fill to the target, then halve length and `shrink_to_fit` until 16 bytes remain.
    ShrinkToFit,
}

impl Growth {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "vec_push" => Ok(Self::VecPush),
            "string_append" => Ok(Self::StringAppend),
            "reserve_exact" => Ok(Self::ReserveExact),
            "shrink_to_fit" => Ok(Self::ShrinkToFit),
            _ => Err(bad(format!(
                "pattern must be one of 'vec_push', 'string_append', 'reserve_exact', \
                 'shrink_to_fit', got {s:?}"
            ))),
        }
    }
}

/// Counts of buffer resizes during one growth.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Moves {
    pub reallocs: u64,
    pub in_place: u64,
    pub moved: u64,
}

impl Moves {
    #[inline(always)]
    fn note(&mut self, before: (*const u8, usize), after: (*const u8, usize), tracking: bool) {
        if tracking && before.1 != after.1 && before.1 != 0 {
            self.reallocs += 1;
            if before.0 == after.0 {
                self.in_place += 1;
            } else {
                self.moved += 1;
            }
        }
    }
}

/// One growth to `target` bytes. With `TRACK`, records every capacity change.
#[inline(always)]
fn grow<const TRACK: bool>(pattern: Growth, target: usize, moves: &mut Moves) {
    match pattern {
        Growth::VecPush | Growth::ReserveExact => {
            let mut v: Vec<u8> = Vec::new();
            for i in 0..target {
                let before = (v.as_ptr(), v.capacity());
                if pattern == Growth::ReserveExact {
                    v.reserve_exact(1);
                }
                v.push(i as u8);
                moves.note(before, (v.as_ptr(), v.capacity()), TRACK);
            }
            black_box(&v);
        }
        Growth::StringAppend => {
            let mut s = String::new();
            while s.len() < target {
                let before = (s.as_ptr(), s.capacity());
                s.push_str("abcdefg");
                moves.note(before, (s.as_ptr(), s.capacity()), TRACK);
            }
            black_box(&s);
        }
        Growth::ShrinkToFit => {
            let mut v: Vec<u8> = Vec::with_capacity(target);
            v.resize(target, 7);
            while v.len() > 16 {
                let before = (v.as_ptr(), v.capacity());
                v.truncate(v.len() / 2);
                v.shrink_to_fit();
                moves.note(before, (v.as_ptr(), v.capacity()), TRACK);
            }
            black_box(&v);
        }
    }
}

/// `loops` growths to `target` bytes. One op = one whole growth.
#[inline(never)] // its own symbol: tests/test_folds.py reads its calls
pub fn realloc_growth(loops: u64, pattern: Growth, target: usize) -> Result<f64> {
    let mut m = Moves::default();
    Ok(timed(|| {
        for _ in 0..loops {
            grow::<false>(pattern, target, &mut m);
        }
    }))
}

/// One growth with every resize counted: how many kept the pointer, how many moved.
#[inline(never)] // its own symbol: tests/test_folds.py reads its calls
pub fn realloc_moves(pattern: Growth, target: usize) -> Moves {
    let mut m = Moves::default();
    grow::<true>(pattern, target, &mut m);
    m
}
