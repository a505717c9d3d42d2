//! switchyard-greenlet: the greenlet trait, the one interface through which switchyard's
//! interpreter (and any other user) drives greenlets, whatever backend implements them.
//!
//! This crate owns:
//! - the trait and its vocabulary: [`Hub`], [`Payload`], [`Outcome`], [`Body`], [`State`],
//!   [`ParentError`], [`BackendError`], [`HubConfig`] (and [`DEFAULT_STACK_SIZE`]);
//! - [`panic_message`], the one rendering of a panic payload every backend and the registry use
//!   (so that the same panic reads the same on every backend);
//! - with the `conformance` feature, the hub conformance suite (`conformance` module): every
//!   semantic scenario the trait promises, runnable on any [`Hub`] implementation with one
//!   `conformance_tests!` line.
//!
//! It has no unsafe code and no dependencies; the backends live elsewhere
//! (`switchyard-impls`: the generic native runtime and its stack-switching backends, which
//! re-exports this crate as `switchyard_impls::greenlet`; `switchyard-oracle`: the
//! thread-handoff reference).
//!
//! A [`Hub`] is one OS thread's world of greenlets: its main greenlet, the greenlet that is
//! running now, and every greenlet spawned from it. Greenlets are referred to by cheap,
//! reference-counted handles ([`Hub::Greenlet`]); when the last handle to a *suspended*
//! greenlet is dropped on its own thread, the hub kills it by throwing GreenletExit into it, as
//! CPython greenlet's garbage collection does.
//!
//! Values and errors are the caller's, described by [`Payload`]: the hub only needs to recognise
//! GreenletExit (an uncaught one becomes a value for the parent) and to make one (to kill).
//!
//! The semantics are greenlet 3.x's:
//! - `switch(target, v)`: unstarted target starts with `v`; suspended target's pending switch
//!   returns `v`; the current greenlet gets `v` back at once; a dead target forwards the switch
//!   up its parent chain to the first greenlet that is not dead.
//! - a body that returns `v` dies and `v` is switched to its parent (same chain walk); a body that
//!   fails with an error dies and the error is raised in that ancestor, except GreenletExit which
//!   becomes a value. An error arriving at an unstarted greenlet kills it without running its
//!   body and goes on up; a GreenletExit *value* arriving at an unstarted greenlet starts it with
//!   no value at all (`None` start argument).
//! - `throw(target, e)` is a switch that raises `e` at the target's suspension point; into an
//!   unstarted target it kills it at once, into a dead one it goes up the chain (GreenletExit
//!   turned into a value first), into the current greenlet it is raised right there.

#![forbid(unsafe_code)]

#[cfg(feature = "conformance")]
pub mod conformance;

use std::any::Any;
use std::fmt;

/// The caller's values and errors, as carried by switches.
pub trait Payload: Sized + Send + 'static {
    /// An error raised into or out of a greenlet.
    type Error: Send + 'static;
    /// The GreenletExit error, used by the hub to kill a greenlet.
    fn exit_error() -> Self::Error;
    /// Whether `error` is a GreenletExit.
    fn is_exit(error: &Self::Error) -> bool;
    /// GreenletExit turned into a value (what the parent receives from an uncaught exit).
    fn exit_value() -> Self;
    /// Whether this value is the GreenletExit value (it starts an unstarted greenlet with no
    /// value: greenlet's quirk).
    fn is_exit_value(&self) -> bool;
    /// The error a hub throws into a suspended greenlet to kill it when its last reference
    /// goes (greenlet's `GreenletExit("Killing the greenlet because all references have
    /// vanished.")`). It must be a GreenletExit (`is_exit` holds), so that an uncaught one
    /// ends the greenlet like any GreenletExit; a payload may make it distinguishable from a
    /// thrown GreenletExit so that the victim can tell it was killed. Default: `exit_error()`.
    fn kill_error() -> Self::Error {
        Self::exit_error()
    }
    /// The error a panic inside a greenlet body turns into; it is raised in the parent chain
    /// like any other error, so that no panic ever unwinds across a switch.
    fn panic_error(message: String) -> Self::Error;
}

/// What a switch or throw returns to the greenlet that made it.
pub type Outcome<V> = Result<V, <V as Payload>::Error>;

/// Called with every error a hub swallows (greenlet's `sys.unraisablehook`): the error a
/// killed greenlet ends with, and an error (including a kill) that reaches a greenlet while it
/// is suspended inside a release (see the crate doc). The current greenlet is the one that
/// swallowed it.
pub type UnraisableHook<H, V> = Box<dyn Fn(&H, &<V as Payload>::Error) + Send + Sync + 'static>;

/// A greenlet body: called with the hub and the start value (`None`: greenlet's no-argument
/// start), returns the value it finishes with or the error it fails with.
pub type Body<H, V> = Box<dyn FnOnce(&H, Option<V>) -> Outcome<V> + Send + 'static>;

/// Lifecycle state of a greenlet, as `observe` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Spawned, never switched to.
    Unstarted,
    /// The greenlet that is executing now (the hub's current greenlet).
    Running,
    /// Started, not finished, not current.
    Suspended,
    /// Its body has finished, failed, or it was killed before it started.
    Dead,
}

impl State {
    /// The word the trace uses.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Unstarted => "unstarted",
            State::Running => "running",
            State::Suspended => "suspended",
            State::Dead => "dead",
        }
    }
}

/// Why `set_parent` refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParentError {
    /// The new parent chain would contain the greenlet itself.
    Cycle,
    /// The main greenlet's parent cannot be set.
    Main,
}

impl fmt::Display for ParentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParentError::Cycle => f.write_str("cyclic parent chain"),
            ParentError::Main => f.write_str("the main greenlet's parent cannot be set"),
        }
    }
}

/// A backend that could not set up or grow its world (out of memory, a system limit such as
/// `vm.max_map_count`, a thread that could not be created). Never used for greenlet semantics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendError(pub String);

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BackendError {}

/// Settings a hub is created with.
#[derive(Clone, Debug)]
pub struct HubConfig {
    /// Bytes of stack for each greenlet, where the backend gives greenlets stacks of their own
    /// (mmap, ucontext, thread). Ignored by stack-copy, which runs on the thread's stack. Any
    /// value is accepted when the hub is made; a size the backend cannot provide (too large to
    /// map, or more than the address space or memory allows) makes `spawn` fail with a
    /// [`BackendError`] that says so.
    pub stack_size: usize,
}

/// The default greenlet stack: enough for the deepest program the language's static limits
/// allow, on every backend.
pub const DEFAULT_STACK_SIZE: usize = 16 << 20;

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            stack_size: DEFAULT_STACK_SIZE,
        }
    }
}

/// One OS thread's greenlets. All methods are called from greenlet bodies or from the thread
/// that created the hub, and always act on behalf of the current greenlet.
pub trait Hub<V: Payload>: Sized {
    /// A reference-counted handle to one greenlet: one reference (see the crate doc).
    type Greenlet: Clone + PartialEq + fmt::Debug + Send + 'static;
    /// A handle that is not a reference: it does not keep its greenlet alive. Equal weak
    /// handles name the same greenlet.
    type Weak: Clone + PartialEq + fmt::Debug + Send + 'static;

    /// A hub for the calling OS thread, whose main greenlet is the calling code.
    fn new(config: &HubConfig) -> Result<Self, BackendError>;
    /// The main greenlet (never dead, has no parent).
    fn main(&self) -> Self::Greenlet;
    /// The greenlet running now.
    fn current(&self) -> Self::Greenlet;
    /// A new unstarted greenlet that will run `body`, with parent `parent` (default: current).
    fn spawn(
        &self,
        body: Body<Self, V>,
        parent: Option<&Self::Greenlet>,
    ) -> Result<Self::Greenlet, BackendError>;
    /// Suspends the current greenlet and delivers `value` to `target` (see the module doc).
    /// Takes the caller's handle: while the caller is suspended it does not keep `target`
    /// alive (unless it was `target`'s last reference).
    fn switch(&self, target: Self::Greenlet, value: V) -> Outcome<V>;
    /// Suspends the current greenlet and raises `error` in `target` (see the module doc);
    /// takes the handle as [`Hub::switch`] does.
    fn throw(&self, target: Self::Greenlet, error: V::Error) -> Outcome<V>;
    /// [`Hub::switch`] with the caller keeping its handle: `target` stays referenced by it
    /// while the caller is suspended, as by any handle the caller holds. Same outcome and
    /// effects as `self.switch(target.clone(), value)` (the default), without the clone:
    /// a hub whose handles are reference-counted switches with no reference-count traffic.
    fn switch_ref(&self, target: &Self::Greenlet, value: V) -> Outcome<V> {
        self.switch(target.clone(), value)
    }
    /// [`Hub::throw`] with the caller keeping its handle, as [`Hub::switch_ref`] does.
    fn throw_ref(&self, target: &Self::Greenlet, error: V::Error) -> Outcome<V> {
        self.throw(target.clone(), error)
    }
    /// The greenlet's parent; `None` only for main.
    fn parent(&self, greenlet: &Self::Greenlet) -> Option<Self::Greenlet>;
    /// Sets the greenlet's parent; refuses cycles and main.
    fn set_parent(
        &self,
        greenlet: &Self::Greenlet,
        parent: &Self::Greenlet,
    ) -> Result<(), ParentError>;
    /// The greenlet's state now.
    fn state(&self, greenlet: &Self::Greenlet) -> State;
    /// A weak handle to the greenlet.
    fn downgrade(&self, greenlet: &Self::Greenlet) -> Self::Weak;
    /// A handle to the greenlet, if it still exists (zombies do; freed greenlets do not).
    fn upgrade(&self, weak: &Self::Weak) -> Option<Self::Greenlet>;
    /// Installs the hook that sees every error the hub swallows (replacing any earlier one).
    fn set_unraisable_hook(&self, hook: UnraisableHook<Self, V>);
}

/// The text of a panic payload: the message of a `panic!` (a `&str` or a `String`), or a fixed
/// phrase for any other payload type (`std::panic::panic_any` with something else).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}
