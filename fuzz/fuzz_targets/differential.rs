//! Every registered backend against the thread oracle on `decode(data)`; panics with the
//! findings (and the program) when any backend fails.
#![no_main]

use switchyard::check::registry;

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard::fuzz_one(data, registry::all()));
