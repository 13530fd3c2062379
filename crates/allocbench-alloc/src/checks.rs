//! Correctness checks of an allocator, shared by `cargo test` (on the backend values) and
//! allocbench's Python tests (on the installed global allocator, through its bindings):
//! layout round trips, seeded random op sequences with content checks, and their generator.

use core::alloc::{GlobalAlloc, Layout};

mod rng;
pub use rng::Rng;

#[inline]
fn pattern(seed: u64, i: usize) -> u8 {
    (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8 ^ (i as u8).wrapping_mul(31)
}

fn fill(p: *mut u8, n: usize, seed: u64) {
    for i in 0..n {
        unsafe { p.add(i).write(pattern(seed, i)) };
    }
}

fn verify(p: *const u8, n: usize, seed: u64, what: &str) -> Result<(), String> {
    for i in 0..n {
        let got = unsafe { p.add(i).read() };
        if got != pattern(seed, i) {
            return Err(format!(
                "{what}: byte {i} of {n} is {got:#04x}, expected {:#04x}",
                pattern(seed, i)
            ));
        }
    }
    Ok(())
}

fn aligned(p: *mut u8, align: usize, what: &str) -> Result<(), String> {
    if p.is_null() {
        return Err(format!("{what}: allocator returned NULL"));
    }
    if (p as usize) % align != 0 {
        return Err(format!("{what}: {p:p} is not aligned to {align}"));
    }
    Ok(())
}

/// Alloc, grow and shrink realloc, zeroed alloc of one layout: every block aligned,
/// contents kept across realloc, zeroed blocks all zero.
pub fn layout_roundtrip<A: GlobalAlloc + ?Sized>(
    a: &A,
    size: usize,
    align: usize,
    grow_to: usize,
    shrink_to: usize,
) -> Result<(), String> {
    let l = Layout::from_size_align(size, align).map_err(|e| e.to_string())?;
    let what = format!("size {size} align {align}");
    unsafe {
        let p = a.alloc(l);
        aligned(p, align, &format!("alloc {what}"))?;
        fill(p, size, 1);
        let q = a.realloc(p, l, grow_to);
        aligned(q, align, &format!("realloc {what} -> {grow_to}"))?;
        verify(
            q,
            size.min(grow_to),
            1,
            &format!("realloc {what} -> {grow_to}"),
        )?;
        fill(q, grow_to, 2);
        let lg = Layout::from_size_align(grow_to, align).map_err(|e| e.to_string())?;
        let r = a.realloc(q, lg, shrink_to);
        aligned(
            r,
            align,
            &format!("realloc {grow_to} -> {shrink_to} align {align}"),
        )?;
        verify(
            r,
            shrink_to.min(grow_to),
            2,
            &format!("shrink {grow_to} -> {shrink_to}"),
        )?;
        let ls = Layout::from_size_align(shrink_to, align).map_err(|e| e.to_string())?;
        a.dealloc(r, ls);

        let z = a.alloc_zeroed(l);
        aligned(z, align, &format!("alloc_zeroed {what}"))?;
        for i in 0..size {
            if z.add(i).read() != 0 {
                return Err(format!("alloc_zeroed {what}: byte {i} is not zero"));
            }
        }
        a.dealloc(z, l);
    }
    Ok(())
}

/// One step of a random allocation sequence.
#[derive(Clone, Copy, Debug)]
pub enum Op {
    Alloc {
        slot: usize,
        size: usize,
        align: usize,
    },
    Zeroed {
        slot: usize,
        size: usize,
        align: usize,
    },
    Realloc {
        slot: usize,
        size: usize,
    },
    Free {
        slot: usize,
    },
}

/// Runs `ops` over `slots` slots, every block filled with a pattern tied to its slot and
/// generation and verified before it is resized or freed. Returns the number of bytes
/// verified; an error names the op that found a corruption.
pub fn run_ops<A: GlobalAlloc + ?Sized>(a: &A, slots: usize, ops: &[Op]) -> Result<u64, String> {
    let mut table: Vec<Option<(*mut u8, Layout, u64)>> = vec![None; slots];
    let mut verified = 0u64;
    let mut result = Ok(());
    for (k, op) in ops.iter().enumerate() {
        let generation = k as u64 + 1;
        let slot = match *op {
            Op::Alloc { slot, .. }
            | Op::Zeroed { slot, .. }
            | Op::Realloc { slot, .. }
            | Op::Free { slot } => slot,
        };
        if slot >= slots {
            result = Err(format!("op {k}: slot {slot} out of range 0..{slots}"));
            break;
        }
        let step = (|| -> Result<(), String> {
            match *op {
                Op::Alloc { size, align, .. } | Op::Zeroed { size, align, .. } => {
                    if let Some((p, l, seed)) = table[slot].take() {
                        verify(p, l.size(), seed, &format!("op {k}: before free"))?;
                        verified += l.size() as u64;
                        unsafe { a.dealloc(p, l) };
                    }
                    let l = Layout::from_size_align(size.max(1), align)
                        .map_err(|e| format!("op {k}: {e}"))?;
                    let zeroed = matches!(op, Op::Zeroed { .. });
                    let p = unsafe {
                        if zeroed {
                            a.alloc_zeroed(l)
                        } else {
                            a.alloc(l)
                        }
                    };
                    aligned(
                        p,
                        align,
                        &format!("op {k}: alloc {} align {align}", l.size()),
                    )?;
                    if zeroed {
                        for i in 0..l.size() {
                            if unsafe { p.add(i).read() } != 0 {
                                return Err(format!("op {k}: zeroed byte {i} is not zero"));
                            }
                        }
                    }
                    fill(p, l.size(), generation);
                    table[slot] = Some((p, l, generation));
                }
                Op::Realloc { size, .. } => {
                    if let Some((p, l, seed)) = table[slot].take() {
                        let new = size.max(1);
                        verify(p, l.size(), seed, &format!("op {k}: before realloc"))?;
                        let q = unsafe { a.realloc(p, l, new) };
                        aligned(q, l.align(), &format!("op {k}: realloc -> {new}"))?;
                        verify(
                            q,
                            l.size().min(new),
                            seed,
                            &format!("op {k}: after realloc"),
                        )?;
                        verified += 2 * l.size() as u64;
                        let nl =
                            Layout::from_size_align(new, l.align()).map_err(|e| e.to_string())?;
                        fill(q, new, generation);
                        table[slot] = Some((q, nl, generation));
                    }
                }
                Op::Free { .. } => {
                    if let Some((p, l, seed)) = table[slot].take() {
                        verify(p, l.size(), seed, &format!("op {k}: before free"))?;
                        verified += l.size() as u64;
                        unsafe { a.dealloc(p, l) };
                    }
                }
            }
            Ok(())
        })();
        if let Err(e) = step {
            result = Err(e);
            break;
        }
    }
    for (p, l, seed) in table.into_iter().flatten() {
        if result.is_ok() {
            result = verify(p, l.size(), seed, "final check");
            verified += l.size() as u64;
        }
        unsafe { a.dealloc(p, l) };
    }
    result.map(|()| verified)
}

/// A seeded random sequence of `n` ops over `slots` slots: sizes mostly small, some up to
/// `max_size` bytes; alignments 1 ..= 2^`max_align_log2`.
pub fn random_ops(
    seed: u64,
    n: usize,
    slots: usize,
    max_size: usize,
    max_align_log2: u32,
) -> Vec<Op> {
    let mut rng = Rng::new(seed);
    let max_size = max_size.max(2);
    (0..n)
        .map(|_| {
            let slot = rng.range(0, slots.max(1) - 1);
            let size = match rng.range(0, 9) {
                0..=5 => rng.range(1, 600.min(max_size)),
                6..=8 => rng.range(1, 70_000.min(max_size)),
                _ => rng.range(1, max_size),
            };
            let align = 1 << rng.range(0, max_align_log2 as usize);
            match rng.range(0, 9) {
                0..=3 => Op::Alloc { slot, size, align },
                4 => Op::Zeroed { slot, size, align },
                5..=7 => Op::Realloc { slot, size },
                _ => Op::Free { slot },
            }
        })
        .collect()
}
