//! The C-level baseline ("the physical limit"): the alloc+free pair of `raw_pair` and
//! `alloc_pair`, looped in C (`rustext/csrc/c_pairs.c`, compiled by build.rs) and calling
//! each allocator as a C extension does: extern declarations, direct calls, no function
//! pointers. Each flavour's GlobalAlloc path (`alloc_pair`) and its raw baseline
//! (`raw_pair`) are measured against the C pair of the primitive underneath.
//!
//! Built with the `python` feature only: the C file calls CPython's allocator, whose
//! symbols the interpreter provides when it loads the extension (`cargo test` has none).
//! The PyMem_Malloc and PyMem_Calloc pairs need the GIL, so the entry point takes a
//! `Python` token: only a thread holding the GIL can call it.

use super::{bad, Result};
use pyo3::Python;

/// Block sizes the C pair takes (the catalogue's range for `c_pair`): pymalloc's small
/// blocks and the first raw-domain size above them.
pub const SIZE_MIN: usize = 8;
pub const SIZE_MAX: usize = 1024;
/// The catalogue's `loops` range (`allocbench.catalogue.MAX_LOOPS`).
pub const LOOPS_MAX: u64 = 1_000_000_000;

// The C side: one function per allocator (its own symbol), `loops` pairs of `size` bytes,
// returning the seconds the loop took, or a negative value when the allocator returned NULL.
extern "C" {
    fn allocbench_c_pair_pymem(loops: u64, size: usize) -> f64;
    fn allocbench_c_pair_pymem_calloc(loops: u64, size: usize) -> f64;
    fn allocbench_c_pair_pymem_raw(loops: u64, size: usize) -> f64;
    fn allocbench_c_pair_malloc(loops: u64, size: usize) -> f64;
    #[cfg(feature = "alloc-mimalloc")]
    fn allocbench_c_pair_mimalloc(loops: u64, size: usize) -> f64;
    #[cfg(feature = "alloc-jemalloc")]
    fn allocbench_c_pair_jemalloc(loops: u64, size: usize) -> f64;
}

/// An allocator pair the C side calls.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CPrimitive {
    /// PyMem_Malloc + PyMem_Free (needs the GIL).
    PyMem,
    /// PyMem_Calloc(1, size) + PyMem_Free (needs the GIL).
    PyMemCalloc,
    /// PyMem_RawMalloc + PyMem_RawFree.
    PyMemRaw,
    /// libc's malloc + free.
    Malloc,
    /// mi_malloc + mi_free (mimalloc flavour only).
    Mimalloc,
    /// _rjem_malloc + _rjem_free (jemalloc flavour only).
    Jemalloc,
}

/// Every name `primitive` takes, in the catalogue's order: "own" is the flavour's own
/// primitive for that size (the one `raw_pair` calls).
pub const NAMES: [&str; 7] = [
    "own",
    "pymem",
    "pymem_calloc",
    "pymem_raw",
    "malloc",
    "mimalloc",
    "jemalloc",
];

impl CPrimitive {
    pub const ALL: [CPrimitive; 6] = [
        CPrimitive::PyMem,
        CPrimitive::PyMemCalloc,
        CPrimitive::PyMemRaw,
        CPrimitive::Malloc,
        CPrimitive::Mimalloc,
        CPrimitive::Jemalloc,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CPrimitive::PyMem => "pymem",
            CPrimitive::PyMemCalloc => "pymem_calloc",
            CPrimitive::PyMemRaw => "pymem_raw",
            CPrimitive::Malloc => "malloc",
            CPrimitive::Mimalloc => "mimalloc",
            CPrimitive::Jemalloc => "jemalloc",
        }
    }

    /// Whether this flavour's extension holds the allocator (mimalloc and jemalloc are
    /// linked into their own flavours only).
    pub fn available(self) -> bool {
        const MIMALLOC_LINKED: bool = cfg!(feature = "alloc-mimalloc");
        const JEMALLOC_LINKED: bool = cfg!(feature = "alloc-jemalloc");
        match self {
            CPrimitive::Mimalloc => MIMALLOC_LINKED,
            CPrimitive::Jemalloc => JEMALLOC_LINKED,
            _ => true,
        }
    }

    /// The flavour's own primitive for `size`, as `allocbench_alloc::primitive(size)` picks it.
    pub fn own(size: usize) -> CPrimitive {
        if cfg!(feature = "alloc-pymem") {
            if size <= allocbench_alloc::PYMALLOC_SMALL_MAX {
                CPrimitive::PyMem
            } else {
                CPrimitive::PyMemRaw
            }
        } else if cfg!(feature = "alloc-pymem-raw") {
            CPrimitive::PyMemRaw
        } else if cfg!(feature = "alloc-mimalloc") {
            CPrimitive::Mimalloc
        } else if cfg!(feature = "alloc-jemalloc") {
            CPrimitive::Jemalloc
        } else {
            CPrimitive::Malloc
        }
    }

    /// The names `primitive` takes in this flavour ("own" first).
    pub fn available_names() -> Vec<&'static str> {
        std::iter::once("own")
            .chain(
                CPrimitive::ALL
                    .into_iter()
                    .filter(|p| p.available())
                    .map(CPrimitive::name),
            )
            .collect()
    }

    /// `name` ("own" resolved for `size`), refused when unknown or not in this flavour.
    pub fn parse(name: &str, size: usize) -> Result<CPrimitive> {
        if name == "own" {
            return Ok(CPrimitive::own(size));
        }
        let Some(p) = CPrimitive::ALL.into_iter().find(|p| p.name() == name) else {
            return Err(bad(format!(
                "primitive must be one of {}; got '{name}'",
                quoted(&NAMES)
            )));
        };
        if !p.available() {
            return Err(bad(format!(
                "primitive '{name}' is not available in the {} flavour (its allocator is not \
                 linked into this extension); this flavour takes {}",
                allocbench_alloc::NAME,
                quoted(&CPrimitive::available_names())
            )));
        }
        Ok(p)
    }
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `loops` alloc+free pairs of `size` bytes looped in C through `primitive` (a name of
/// `NAMES`); the seconds the C loop took. The `Python` token proves the GIL is held, which
/// the PyMem_Malloc and PyMem_Calloc pairs need.
#[inline(never)] // its own symbol: allocbench.calls reads its calls
pub fn c_pair(_gil: Python<'_>, loops: u64, size: usize, primitive: &str) -> Result<f64> {
    if !(1..=LOOPS_MAX).contains(&loops) {
        return Err(bad(format!(
            "loops must be an int in 1..{LOOPS_MAX}; got {loops}"
        )));
    }
    if !(SIZE_MIN..=SIZE_MAX).contains(&size) {
        return Err(bad(format!(
            "size must be an int in {SIZE_MIN}..{SIZE_MAX}; got {size}"
        )));
    }
    let p = CPrimitive::parse(primitive, size)?;
    // SAFETY: the C loops free every block they allocate with the matching free; the GIL is
    // held (the token), which the PyMem_Malloc and PyMem_Calloc pairs need.
    let t = unsafe {
        match p {
            CPrimitive::PyMem => allocbench_c_pair_pymem(loops, size),
            CPrimitive::PyMemCalloc => allocbench_c_pair_pymem_calloc(loops, size),
            CPrimitive::PyMemRaw => allocbench_c_pair_pymem_raw(loops, size),
            CPrimitive::Malloc => allocbench_c_pair_malloc(loops, size),
            #[cfg(feature = "alloc-mimalloc")]
            CPrimitive::Mimalloc => allocbench_c_pair_mimalloc(loops, size),
            #[cfg(feature = "alloc-jemalloc")]
            CPrimitive::Jemalloc => allocbench_c_pair_jemalloc(loops, size),
            // parse() refused it: that allocator is not linked into this flavour.
            _ => unreachable!("{p:?} is not available in this flavour"),
        }
    };
    if t < 0.0 {
        return Err(bad(format!(
            "the C pair {} returned NULL for {size} bytes",
            p.name()
        )));
    }
    Ok(t)
}
