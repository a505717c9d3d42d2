//! Helpers for the runtime tests, with the conformance suite's payload.
#![allow(dead_code)]

pub use switchyard_greenlet::conformance::Val;
use switchyard_impls::greenlet::{Body, Hub, HubConfig, Outcome};
use switchyard_impls::runtime::Runtime;
use switchyard_impls::runtime::{SharedStackContract, StableStacks};

pub type H<S> = Runtime<S, Val>;

pub fn hub<S: StableStacks>() -> H<S> {
    H::<S>::new(&HubConfig::default()).expect("hub")
}

pub fn body<S: StableStacks>(
    f: impl FnOnce(&H<S>, Option<Val>) -> Outcome<Val> + Send + 'static,
) -> Body<H<S>, Val> {
    Box::new(f)
}

/// The tests' promise for their stack-copy hubs.
pub struct TestsKeepStacksPrivate;

// SAFETY: the tests that use it pass only owned values between greenlets and threads; none
// keeps a pointer into a suspended greenlet's stack.
unsafe impl SharedStackContract for TestsKeepStacksPrivate {}

/// The stack-copy backend under the tests' promise.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
pub type StackCopy = switchyard_impls::runtime::SharedStack<
    switchyard_impls::stack_copy::StackCopy,
    TestsKeepStacksPrivate,
>;
