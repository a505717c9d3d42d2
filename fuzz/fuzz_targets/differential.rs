//! Every registered backend against the thread oracle on `decode(data)`; panics with the
//! findings (and the program) when any backend fails.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::check::{differential, registry};

fuzz_target!(|data: &[u8]| {
    let backends: Vec<_> = registry::BACKENDS.iter().collect();
    differential::check_or_panic(data, &backends);
});
