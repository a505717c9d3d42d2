//! Detects an AddressSanitizer build (`-Zsanitizer=address` in the rustc flags, as `cargo fuzz
//! run` passes by default, or `RUSTFLAGS=-Zsanitizer=address` by hand) and then sets
//! `cfg(switchyard_asan)`, which compiles in the fiber annotations and the shadow-preserving
//! stack copies of `src/asan.rs`. Cargo reruns this script whenever the rustc flags change, so
//! one target directory can hold sanitized and plain builds in turn (cargo-fuzz does that with
//! `-s address` / `-s none`). Stable Rust needs `RUSTC_BOOTSTRAP=1` for the `-Z` flag itself;
//! nothing here uses an unstable feature.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(switchyard_asan)");
    println!("cargo::rerun-if-changed=build.rs");
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let args: Vec<&str> = flags.split('\x1f').collect();
    // `-Zsanitizer=address`, `-Z sanitizer=address`, or a list such as `sanitizer=address,leak`.
    let asan = args.iter().enumerate().any(|(i, arg)| {
        let value = match arg.strip_prefix("-Z") {
            Some("") => args.get(i + 1).copied().unwrap_or(""),
            Some(v) => v,
            None => return false,
        };
        value
            .strip_prefix("sanitizer=")
            .is_some_and(|list| list.split(',').any(|s| s == "address"))
    });
    if asan {
        println!("cargo::rustc-cfg=switchyard_asan");
    }
}
