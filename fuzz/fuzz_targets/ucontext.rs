//! The `ucontext` backend against the thread oracle on `decode(data)`; panics with the findings
//! (and the program) when it fails.
#![no_main]

use switchyard::check::registry;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let backend =
        registry::find("ucontext").expect("the ucontext backend is registered on this platform");
    switchyard::fuzz_one(data, &[backend]);
});
