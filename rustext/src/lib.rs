//! allocbench's extension: one crate, built once per allocator backend (a flavour), with
//! the workloads that exercise it. The backends are the allocbench-alloc crate
//! (crates/allocbench-alloc); the workloads are `workloads/`.

pub mod callgrind;
mod hazards; // python feature only: see its #![cfg]
mod soundness; // likewise
pub mod workloads;

#[cfg(feature = "python")]
mod bindings;

// The flavour's allocator becomes Rust's global allocator in the extension only: `cargo
// test` (built without the `python` feature) keeps std's, so no test binary ever runs a
// PyMem path by accident, and the backends are tested as plain `GlobalAlloc` values.
#[cfg(feature = "python")]
#[global_allocator]
static GLOBAL: allocbench_alloc::Allocator = allocbench_alloc::Allocator;

/// Build facts recorded by build.rs, reported by the module.
pub mod build_facts {
    pub const FEATURES: &str = env!("ALLOCBENCH_FEATURES");
    pub const RUSTC: &str = env!("ALLOCBENCH_RUSTC");
    pub const PROFILE: &str = env!("ALLOCBENCH_PROFILE");
    pub const BUILT_FOR_PYTHON: &str = env!("ALLOCBENCH_BUILT_FOR_PYTHON");
    pub const TARGET: &str = env!("ALLOCBENCH_TARGET");
    pub const VERSION: &str = env!("CARGO_PKG_VERSION");
}
