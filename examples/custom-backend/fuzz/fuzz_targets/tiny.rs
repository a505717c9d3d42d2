//! `tiny` against switchyard's thread oracle on every input libFuzzer makes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard::fuzz_one(data, &[&custom_backend::TINY]));
