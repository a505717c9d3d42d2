//! switchyard's hub conformance suite (34 greenlet scenarios driven through the `Hub` trait)
//! on the generic runtime over `tiny`: one macro line. Not with the `broken` feature, whose
//! lost r12 would break them (the fuzzer's finding is what `tests/broken.rs` checks).
#![cfg(not(feature = "broken"))]

switchyard_greenlet::conformance_tests!(
    tiny,
    switchyard_impls::runtime::Runtime<
        custom_backend::Tiny,
        switchyard_greenlet::conformance::ConformancePayload,
    >
);
