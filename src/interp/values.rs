//! What travels and what ends a run: values and errors as they move between greenlets
//! ([`RtValue`], [`Raised`], the [`Payload`] the hubs carry), the fatal findings that are not
//! trace events ([`Fatal`]), and the counters of `run_counted` ([`RunCounts`]).

use crate::lang::ast;
use crate::lang::trace::Trace;
use std::fmt;
use std::sync::Arc;
use switchyard_impls::greenlet::{Payload, State};

/// A value as it travels between greenlets at run time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RtValue {
    None,
    Int(i64),
    Str(Arc<str>),
    /// A greenlet.GreenletExit delivered as a value.
    Exit,
}

impl From<&ast::Value> for RtValue {
    fn from(value: &ast::Value) -> Self {
        match value {
            ast::Value::None => RtValue::None,
            ast::Value::Int(i) => RtValue::Int(*i),
            ast::Value::Str(s) => RtValue::Str(Arc::from(s.as_str())),
        }
    }
}

impl fmt::Display for RtValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RtValue::None => f.write_str("none"),
            RtValue::Int(i) => write!(f, "{i}"),
            RtValue::Str(s) => write!(f, "\"{s}\""),
            RtValue::Exit => f.write_str("exit"),
        }
    }
}

/// An error as it travels at run time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Raised {
    /// An error a program can name and catch.
    Error(ast::Error),
    /// Fuel ran out: caught by no `catch`.
    Fuel,
    /// The run is over (after `end`, or after a fatal finding): every statement raises this,
    /// nothing catches it and nothing records it, so suspended bodies unwind silently.
    Halt,
    /// A panic in a greenlet body, caught at its entry by the backend.
    Panic(String),
    /// The GreenletExit a hub throws into a suspended greenlet whose last reference went (the
    /// payload's kill error): the victim records `#I kill #J` when it receives it and then
    /// raises `exit` like any GreenletExit.
    Kill,
}

impl Payload for RtValue {
    type Error = Raised;
    fn exit_error() -> Raised {
        Raised::Error(ast::Error::Exit)
    }
    fn is_exit(error: &Raised) -> bool {
        matches!(error, Raised::Error(ast::Error::Exit) | Raised::Kill)
    }
    fn kill_error() -> Raised {
        Raised::Kill
    }
    fn exit_value() -> Self {
        RtValue::Exit
    }
    fn is_exit_value(&self) -> bool {
        *self == RtValue::Exit
    }
    fn panic_error(message: String) -> Raised {
        Raised::Panic(message)
    }
}

/// A finding that ends a run without a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fatal {
    /// A `recurse` frame found its stack data changed after its block returned.
    StackCorruption { backend: String, detail: String },
    /// A greenlet body panicked (a bug in the interpreter or the backend).
    Panic { backend: String, message: String },
    /// The backend could not create a hub or a greenlet.
    Backend { backend: String, error: String },
    /// A backend switch resumed a context with a callee-saved register or floating-point
    /// control word (MXCSR, x87 control word) other than it was suspended with: the register
    /// probe at the backend's switch saw it (`switchyard_impls::probe`).
    RegisterCorruption { backend: String, detail: String },
    /// The run ended with a greenlet hub still alive on its thread (the backend's runtime did
    /// not close it when the run let go of it): every later hub of another backend on that
    /// thread would be refused. `detail` describes the hub (`switchyard_impls::runtime::live_hub`).
    HubLeak { backend: String, detail: String },
}

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fatal::StackCorruption { backend, detail } => {
                write!(f, "stack corruption on backend {backend}: {detail}")
            }
            Fatal::Panic { backend, message } => {
                write!(
                    f,
                    "panic in a greenlet body on backend {backend}: {message}"
                )
            }
            Fatal::Backend { backend, error } => write!(f, "backend {backend} failed: {error}"),
            Fatal::RegisterCorruption { backend, detail } => {
                write!(f, "register corruption on backend {backend}: {detail}")
            }
            Fatal::HubLeak { backend, detail } => write!(
                f,
                "backend {backend} left its greenlet hub alive after the run: {detail}"
            ),
        }
    }
}

/// What one run gives: its trace, or a fatal finding.
pub type RunResult = Result<Trace, Fatal>;

/// What a run did that its trace does not show, for `switchyard stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunCounts {
    /// `switch` and `throw` statements by the state of their target just before the switch:
    /// unstarted, running (the current greenlet), suspended, dead. Teardown's throws are not
    /// statements and are not counted.
    pub targets: [u64; 4],
    /// Backend switches the register probe checked during the run (0 on a backend without
    /// the probe, such as the oracle).
    pub register_checks: u64,
}

impl RunCounts {
    /// The index of `state` in [`RunCounts::targets`].
    pub fn index(state: State) -> usize {
        match state {
            State::Unstarted => 0,
            State::Running => 1,
            State::Suspended => 2,
            State::Dead => 3,
        }
    }
}
