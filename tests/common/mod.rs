//! What several root integration tests expect alike (a module they include, `mod common;`,
//! not a test binary of its own).

// Each test binary that includes this module uses only some of it.
#![allow(dead_code)]

/// The real backends (mutants left out) the registry must list, in registration order, for
/// this target and these features. Written out here, not taken from the registry, so that a
/// backend going missing, appearing or moving shows.
pub fn real_backend_names() -> Vec<&'static str> {
    vec![
        "thread",
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        "stack-copy",
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        "mmap",
        #[cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]
        "ucontext",
        #[cfg(all(feature = "adapters", target_arch = "x86_64", target_os = "linux"))]
        "corosensei",
        #[cfg(all(feature = "adapters", target_arch = "x86_64", target_os = "linux"))]
        "fcontext",
    ]
}

/// The environment variable `name` as a number (a test's size knob), `default` when unset or
/// not a number.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
