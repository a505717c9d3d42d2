//! Helpers for the oracle's tests, with the conformance suite's payload.
#![allow(dead_code)]

pub use switchyard_greenlet::conformance::Val;
use switchyard_greenlet::{Body, Hub, HubConfig, Outcome};
use switchyard_oracle::ThreadHub;

pub type H = ThreadHub<Val>;

pub fn hub() -> H {
    H::new(&HubConfig::default()).expect("hub")
}

pub fn body(f: impl FnOnce(&H, Option<Val>) -> Outcome<Val> + Send + 'static) -> Body<H, Val> {
    Box::new(f)
}
