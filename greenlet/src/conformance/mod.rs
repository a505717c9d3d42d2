//! The hub conformance suite (cargo feature `conformance`): every greenlet-semantics scenario
//! the [`Hub`] trait promises, written once, generic over the hub, and run on a backend by one
//! line in that backend's tests:
//!
//! ```ignore
//! use switchyard_greenlet::conformance::{ConformancePayload, Setup};
//! switchyard_greenlet::conformance_tests!(mmap, Runtime<Mmap, ConformancePayload>);
//! // A backend whose greenlets run on the thread's own stack needs a big one:
//! switchyard_greenlet::conformance_tests!(
//!     stack_copy,
//!     Runtime<StackCopy, ConformancePayload>,
//!     Setup::new().thread_stack(256 << 20)
//! );
//! ```
//!
//! The macro makes a module `mmap` with one `#[test]` per scenario, named by the scenario (a
//! sentence saying what must hold). The hub type must be a `Hub<ConformancePayload>`: the
//! scenarios carry this module's own payload ([`Val`], errors [`Err`]). Hubs are made with the
//! trait's own constructor, [`Hub::new`], from the [`Setup`]'s [`HubConfig`], inside the
//! scenario and on the thread that uses them (a hub belongs to one OS thread; scenarios about
//! threads make one hub per thread). With [`Setup::thread_stack`], each scenario runs on a
//! fresh thread with that much stack (as do the extra threads a scenario starts), and a panic
//! there fails the test with the same message.
//!
//! What the trait leaves to each backend is *not* checked here, and is tested next to the
//! backend instead: what a second `Hub::new` on the same thread returns (the native runtime:
//! the same hub; the thread oracle: an independent one), how a handle's `Debug` reads, the exact
//! panic message for a handle used with the wrong hub, and how many times a hub that goes away
//! throws GreenletExit into a greenlet that keeps refusing to die (here: at least once).

pub mod fixtures;
pub mod kills;
pub mod scenarios;

use std::panic::resume_unwind;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::{Body, Hub, HubConfig, Outcome, Payload};

/// The suite's values.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    None,
    Int(i64),
    Str(String),
    /// GreenletExit as a value.
    Exit,
}

/// The suite's errors.
#[derive(Clone, Debug, PartialEq)]
pub enum Err {
    E(u8),
    /// GreenletExit.
    Exit,
    /// A panic in a body, with its message.
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

/// The payload every hub under test must carry: `conformance_tests!(name, X<ConformancePayload>)`.
pub type ConformancePayload = Val;

/// How a backend's scenarios are run.
#[derive(Clone, Debug, Default)]
pub struct Setup {
    /// What every hub of the scenarios is created with.
    pub config: HubConfig,
    /// Run each scenario (and every thread it starts) on a new thread with this much stack;
    /// `None`: on the test's own thread (threads a scenario starts get Rust's default stack).
    pub thread_stack: Option<usize>,
}

impl Setup {
    /// The default config, scenarios on the test's own thread.
    pub fn new() -> Self {
        Setup::default()
    }

    /// Hubs are created with `config`.
    pub fn config(mut self, config: HubConfig) -> Self {
        self.config = config;
        self
    }

    /// Scenarios run on threads with `bytes` of stack.
    pub fn thread_stack(mut self, bytes: usize) -> Self {
        self.thread_stack = Some(bytes);
        self
    }

    /// A hub for the calling thread.
    pub fn hub<H: Hub<Val>>(&self) -> H {
        match H::new(&self.config) {
            Ok(h) => h,
            Result::Err(e) => panic!("cannot create a hub: {e}"),
        }
    }

    /// Starts a thread (with the configured stack, if any).
    pub fn spawn_thread<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> JoinHandle<T> {
        let mut builder = std::thread::Builder::new();
        if let Some(bytes) = self.thread_stack {
            builder = builder.stack_size(bytes);
        }
        builder.spawn(f).expect("cannot start a thread")
    }
}

/// Runs one scenario as `setup` says; a failing scenario panics with its own message.
pub fn run(setup: &Setup, scenario: fn(&Setup)) {
    if setup.thread_stack.is_none() {
        return scenario(setup);
    }
    let inner = setup.clone();
    if let Result::Err(panic) = setup.spawn_thread(move || scenario(&inner)).join() {
        resume_unwind(panic);
    }
}

/// A body for a hub of type `H` (just a box, with the closure's argument types inferred).
pub fn body<H: Hub<Val>>(
    f: impl FnOnce(&H, Option<Val>) -> Outcome<Val> + Send + 'static,
) -> Body<H, Val> {
    Box::new(f)
}

/// A string value.
pub fn s(text: &str) -> Val {
    Val::Str(text.to_string())
}

/// A shared event log.
#[derive(Clone, Debug, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn push(&self, event: impl Into<String>) {
        self.0.lock().unwrap().push(event.into());
    }
    /// Every event so far, emptying the log.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// A late-bound greenlet handle a body can look up or drop.
#[derive(Debug)]
pub struct Slot<G>(Arc<Mutex<Option<G>>>);

impl<G> Clone for Slot<G> {
    fn clone(&self) -> Self {
        Slot(Arc::clone(&self.0))
    }
}

impl<G> Default for Slot<G> {
    fn default() -> Self {
        Slot(Arc::new(Mutex::new(None)))
    }
}

impl<G: Clone> Slot<G> {
    pub fn set(&self, g: &G) {
        *self.0.lock().unwrap() = Some(g.clone());
    }
    pub fn get(&self) -> G {
        self.0.lock().unwrap().clone().expect("slot set")
    }
    /// Drops the handle in the slot (outside the lock).
    pub fn clear(&self) {
        let old = self.0.lock().unwrap().take();
        drop(old);
    }
}

/// Generates one `#[test]` per conformance scenario, in a module `$name`, for the hub type
/// `$hub` (a `Hub<ConformancePayload>`), optionally with a [`Setup`] expression:
///
/// `switchyard_greenlet::conformance_tests!(mmap, Runtime<Mmap, ConformancePayload>);`
///
/// Names the hub type uses must be in scope where the macro is invoked (the module does
/// `use super::*`).
#[macro_export]
macro_rules! conformance_tests {
    ($name:ident, $hub:ty $(,)?) => {
        $crate::conformance_tests!($name, $hub, $crate::conformance::Setup::new());
    };
    ($name:ident, $hub:ty, $setup:expr $(,)?) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $crate::__conformance_each! {
                ($hub) ($setup)
                the_language_doc_example_runs_as_documented,
                main_is_current_until_a_greenlet_runs,
                switch_and_throw_to_the_current_greenlet_return_at_once,
                values_ping_pong_between_main_and_a_greenlet,
                switch_ref_and_throw_ref_act_as_switch_and_throw_with_a_clone,
                return_to_an_unstarted_parent_starts_it,
                error_through_an_unstarted_parent_kills_it,
                uncaught_exit_becomes_the_exit_value,
                exit_value_reaching_an_unstarted_greenlet_starts_it_with_nothing,
                throw_into_unstarted_kills_it_without_running_its_body,
                throw_into_suspended_raises_at_its_switch,
                an_error_a_thrown_greenlet_fails_with_reaches_the_thrower,
                throw_into_a_suspended_parent_of_an_unstarted_child_raises_at_its_switch,
                switch_to_dead_forwards_up_a_chain_of_dead_greenlets,
                throw_into_dead_goes_up_the_chain,
                switch_and_throw_to_dead_walk_up_to_the_first_greenlet_not_dead,
                set_parent_refuses_cycles_and_main,
                panic_in_a_body_is_raised_in_the_parent,
                dropping_the_last_handle_kills_a_suspended_greenlet,
                a_greenlet_killed_from_main_gets_main_as_parent,
                a_greenlet_surviving_its_kill_is_left_alone_until_the_hub_goes_away,
                dropping_the_hub_kills_every_suspended_greenlet,
                dropping_the_hub_kills_suspended_greenlets_in_spawn_order,
                a_parent_link_keeps_a_greenlet_alive,
                a_chain_held_only_by_parent_links_dies_with_its_leaf,
                dropping_an_unstarted_handle_drops_its_body_unrun,
                a_greenlet_suspending_with_no_references_is_killed_by_the_next_one_to_run,
                a_kill_makes_the_killer_the_parent_and_restores_the_old_parent,
                a_killed_greenlets_result_is_discarded_and_its_error_swallowed,
                a_throw_into_a_dropper_suspended_in_its_drop_is_swallowed,
                nested_kills_run_at_once_with_the_victim_as_killer,
                dropping_your_own_last_handle_kills_you_when_you_switch_away,
                an_error_into_an_unstarted_greenlet_makes_it_the_killer,
                weak_handles_do_not_keep_greenlets_alive,
                handles_are_send_and_compare_by_identity,
                a_handle_used_on_another_thread_panics_and_changes_nothing,
                hubs_on_two_threads_run_side_by_side,
                deep_recursion_fits_in_the_default_stack,
                big_frames_survive_interleaved_switches,
                sixty_four_greenlets_run_fast,
                ten_thousand_greenlets_can_be_suspended_at_once,
                #[ignore = "slow; may hit a system limit (vm.max_map_count), which must then be reported clearly"]
                a_hundred_thousand_greenlets_can_be_suspended_or_the_limit_is_reported,
            }
        }
    };
}

/// One `#[test]` per listed scenario (used by [`conformance_tests!`]).
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_each {
    (($hub:ty) ($setup:expr) $( $(#[$attr:meta])* $scenario:ident ),* $(,)?) => {
        $(
            #[test]
            $(#[$attr])*
            fn $scenario() {
                $crate::conformance::run(
                    &$setup,
                    $crate::conformance::scenarios::$scenario::<$hub>,
                );
            }
        )*
    };
}
