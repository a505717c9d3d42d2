//! Every real backend (the adapters included) against the thread oracle on `decode(data)`;
//! panics with the findings (and the program) when any backend fails. `SWITCHYARD_FUZZ_BACKENDS` (a
//! comma-separated list of registered names) narrows the backends, e.g. to the ASan mutant:
//! `SWITCHYARD_FUZZ_BACKENDS=mutant-asan-redzone cargo fuzz run --features mutants differential`.
#![no_main]

use std::sync::OnceLock;
use switchyard::check::registry::{self, Backend};

/// The backends to check, chosen once.
fn backends() -> &'static [&'static Backend] {
    static CHOSEN: OnceLock<Vec<&'static Backend>> = OnceLock::new();
    CHOSEN.get_or_init(|| match std::env::var("SWITCHYARD_FUZZ_BACKENDS") {
        Ok(names) => names
            .split(',')
            .map(|name| {
                registry::find(name.trim()).unwrap_or_else(|| {
                    panic!(
                        "SWITCHYARD_FUZZ_BACKENDS: no backend '{name}' (have: {})",
                        registry::names()
                    )
                })
            })
            .collect(),
        // Every real backend, the adapters included (`switchyard fuzz --backend all`): all of
        // them announce their stack switches to AddressSanitizer (README, AddressSanitizer).
        Err(_) => switchyard::campaign::all_backends(),
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard::fuzz_one(data, backends()));
