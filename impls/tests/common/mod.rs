//! Helpers for the runtime tests, with the conformance suite's payload.
#![allow(dead_code)]

pub use switchyard_greenlet::conformance::Val;
use switchyard_impls::greenlet::{Body, Hub, HubConfig, Outcome};
use switchyard_impls::runtime::Runtime;
use switchyard_impls::switch::StackSwitch;

pub type H<S> = Runtime<S, Val>;

pub fn hub<S: StackSwitch>() -> H<S> {
    H::<S>::new(&HubConfig::default()).expect("hub")
}

pub fn body<S: StackSwitch>(
    f: impl FnOnce(&H<S>, Option<Val>) -> Outcome<Val> + Send + 'static,
) -> Body<H<S>, Val> {
    Box::new(f)
}
