//! The `mmap` backend against the thread oracle on `decode(data)`; panics with the findings
//! (and the program) when it fails.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::check::{differential, registry};

fuzz_target!(|data: &[u8]| {
    let backend = registry::find("mmap").expect("the mmap backend is registered on this platform");
    differential::check_or_panic(data, &[backend]);
});
