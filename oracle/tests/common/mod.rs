//! Shared test payload and helpers for the oracle's tests.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use switchyard_greenlet::{Body, Hub, HubConfig, Outcome, Payload};
use switchyard_oracle::{Greenlet, ThreadHub};

/// Test values.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    None,
    Int(i64),
    Str(String),
    Exit,
}

/// Test errors.
#[derive(Clone, Debug, PartialEq)]
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
    fn exit_value() -> Self {
        Val::Exit
    }
    fn is_exit_value(&self) -> bool {
        *self == Val::Exit
    }
    fn panic_error(message: String) -> Err {
        Err::Panic(message)
    }
}

pub type H = ThreadHub<Val>;
pub type G = Greenlet<Val>;

pub fn hub() -> H {
    H::new(&HubConfig::default()).expect("hub")
}

pub fn body(f: impl FnOnce(&H, Option<Val>) -> Outcome<Val> + Send + 'static) -> Body<H, Val> {
    Box::new(f)
}

pub fn s(text: &str) -> Val {
    Val::Str(text.to_string())
}

/// A shared event log.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn push(&self, event: impl Into<String>) {
        self.0.lock().unwrap().push(event.into());
    }
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// A late-bound greenlet handle a body can look up.
#[derive(Clone, Default)]
pub struct Slot(Arc<Mutex<Option<G>>>);

impl Slot {
    pub fn set(&self, g: &G) {
        *self.0.lock().unwrap() = Some(g.clone());
    }
    pub fn get(&self) -> G {
        self.0.lock().unwrap().clone().expect("slot set")
    }
    pub fn clear(&self) {
        let old = self.0.lock().unwrap().take();
        drop(old);
    }
}
