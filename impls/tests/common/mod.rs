//! A small payload for the runtime tests, and helpers.
#![allow(dead_code)]

use switchyard_impls::greenlet::{Body, Hub, HubConfig, Outcome, Payload};
use switchyard_impls::runtime::Runtime;
use switchyard_impls::switch::StackSwitch;

#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    None,
    Int(i64),
    Str(String),
    Exit,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Err {
    E(u8),
    Exit,
    Panic(String),
}

impl Payload for Val {
    type Error = Err;
    fn exit_error() -> Err {
        Err::Exit
    }
    fn is_exit(error: &Err) -> bool {
        *error == Err::Exit
    }
    fn exit_value() -> Val {
        Val::Exit
    }
    fn is_exit_value(&self) -> bool {
        *self == Val::Exit
    }
    fn panic_error(message: String) -> Err {
        Err::Panic(message)
    }
}

pub type H<S> = Runtime<S, Val>;

pub fn hub<S: StackSwitch>() -> H<S> {
    H::<S>::new(&HubConfig::default()).expect("hub")
}

pub fn body<S: StackSwitch>(
    f: impl FnOnce(&H<S>, Option<Val>) -> Outcome<Val> + Send + 'static,
) -> Body<H<S>, Val> {
    Box::new(f)
}
