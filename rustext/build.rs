//! Records the build facts the module reports (`build_info()`): features, rustc, profile,
//! and the Python maturin built for; compiles the C-level baseline (`csrc/c_pairs.c`).
use std::process::Command;

/// The C-level alloc+free pairs (`workloads/c_pair.rs`), with the `python` feature only:
/// they call CPython's allocator, which only the interpreter provides (at load time; the
/// abi3 extension links with those symbols undefined), so `cargo test` (no python feature,
/// no libpython) builds without them. mimalloc's and jemalloc's pairs are compiled only in
/// their own flavours, whose extension links that allocator. -O2 and position-independent
/// code, as a C extension is built.
fn c_pairs() {
    println!("cargo:rerun-if-changed=csrc/c_pairs.c");
    if std::env::var_os("CARGO_FEATURE_PYTHON").is_none() {
        return;
    }
    let mut build = cc::Build::new();
    build
        .file("csrc/c_pairs.c")
        .opt_level(2)
        .pic(true)
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true);
    if std::env::var_os("CARGO_FEATURE_ALLOC_MIMALLOC").is_some() {
        build.define("ALLOCBENCH_MIMALLOC", None);
    }
    if std::env::var_os("CARGO_FEATURE_ALLOC_JEMALLOC").is_some() {
        build.define("ALLOCBENCH_JEMALLOC", None);
    }
    build.compile("allocbench_c_pairs");
}

fn main() {
    c_pairs();

    let mut features: Vec<String> = std::env::vars()
        .filter_map(|(k, _)| {
            k.strip_prefix("CARGO_FEATURE_")
                .map(|f| f.to_lowercase().replace('_', "-"))
        })
        .collect();
    features.sort();
    println!("cargo:rustc-env=ALLOCBENCH_FEATURES={}", features.join(","));

    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_default();
    println!("cargo:rustc-env=ALLOCBENCH_RUSTC={}", version.trim());

    let profile = std::env::var("PROFILE").unwrap_or_default();
    let opt = std::env::var("OPT_LEVEL").unwrap_or_default();
    println!("cargo:rustc-env=ALLOCBENCH_PROFILE={profile} (opt-level {opt})");

    let python = std::env::var("PYO3_PYTHON")
        .or_else(|_| std::env::var("PYTHON_SYS_EXECUTABLE"))
        .unwrap_or_default();
    println!("cargo:rustc-env=ALLOCBENCH_BUILT_FOR_PYTHON={python}");
    println!(
        "cargo:rustc-env=ALLOCBENCH_TARGET={}",
        std::env::var("TARGET").unwrap_or_default()
    );
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    println!("cargo:rerun-if-env-changed=PYTHON_SYS_EXECUTABLE");
    println!("cargo:rerun-if-changed=build.rs");
}
