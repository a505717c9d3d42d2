//! Greenlet-semantics mutants: [`Hub`] wrappers around the real runtime (on the mmap backend)
//! that get one rule of greenlet's semantics wrong, one that hangs, and one that crashes.

use crate::backend::mmap::Mmap;
use crate::greenlet::{
    BackendError, Body, Hub, HubConfig, Outcome, ParentError, Payload, State, UnraisableHook,
};
use crate::runtime::Runtime;
use crate::switch::StackSwitch;
use std::cell::Cell;

/// Which bug a [`Wrap`] has.
const WRONG_TARGET: u8 = 1;
const PARENT_SKIP: u8 = 2;
const CRASH_SEGV: u8 = 3;
const KILL_PARENT: u8 = 4;
const HANG: u8 = 5;
const HUB_LEAK: u8 = 6;

/// A hub whose kill-on-last-reference can be broken.
pub trait KillBug {
    /// From now on, kills leave the victim's parent as it was instead of setting it to the
    /// killer.
    fn break_kill(&self);
    /// From now on, every kill on a last reference leaks a hub handle.
    fn break_close(&self);
}

impl<S: StackSwitch, V: Payload> KillBug for Runtime<S, V> {
    fn break_kill(&self) {
        self.mutate_kill_keeps_parent();
    }
    fn break_close(&self) {
        self.mutate_release_holds_handle();
    }
}

/// The real runtime over `H`, with bug `KIND`.
pub struct Wrap<H, const KIND: u8> {
    hub: Hold<H>,
}

/// Bug: `switch` to a suspended greenlet whose parent is another suspended greenlet (not main,
/// not the current one) delivers the value to that parent instead.
pub type WrongTarget<V> = Wrap<Runtime<Mmap, V>, WRONG_TARGET>;

/// Bug: a parent-chain walk that passes two dead greenlets in a row skips the next level:
/// switching or throwing to a dead greenlet whose parent is dead goes on from the
/// grandparent's parent (skipping the grandparent, unless it is main), and a body that ends
/// while its parent and grandparent are dead is returned past the great-grandparent the same
/// way (it is reparented to the skipped level's parent before it dies).
pub type ParentSkip<V> = Wrap<Runtime<Mmap, V>, PARENT_SKIP>;

/// A correct backend, except that the third `throw` into a suspended greenlet in a run raises
/// SIGSEGV (with the default disposition): the process dies by signal.
pub type CrashSegv<V> = Wrap<Runtime<Mmap, V>, CRASH_SEGV>;

/// Bug: killing a suspended greenlet whose last reference went skips greenlet's
/// `parent := current` step: the kill's GreenletExit, and whatever the victim ends with, go to
/// its old parent instead of the greenlet that released it.
pub type KillParent<V> = Wrap<Runtime<Mmap, V>, KILL_PARENT>;

/// Bug: `switch` to a dead greenlet looks for the first live greenlet up its parent chain,
/// but every step restarts from the target's parent instead of the greenlet it reached; when
/// that parent is dead as well, the walk never ends (the worker running it never answers and
/// is killed at the backend's deadline: the campaign's hang handling is what it tests).
pub type Hang<V> = Wrap<Runtime<Mmap, V>, HANG>;

/// Bug (the effect of the one `switchyard fuzz --seed 20261206` found, made frequent): a
/// kill on a last reference (the last handle of a suspended greenlet dropped) leaks a hub
/// handle, so the hub outlives the program and
/// the thread refuses every later hub of another backend.
pub type HubLeak<V> = Wrap<Runtime<Mmap, V>, HUB_LEAK>;

/// The wrapped hub: owned by the main greenlet's wrapper, borrowed by a body's.
enum Hold<H> {
    Owned(H),
    /// The hub a running body was given; valid for as long as that body runs, which is as long
    /// as the wrapper made for it lives.
    Borrowed(*const H),
}

thread_local! {
    /// Throws into a suspended greenlet so far in this thread's current run (`CrashSegv`).
    static THROWS_INTO_SUSPENDED: Cell<u32> = const { Cell::new(0) };
}

impl<H, const KIND: u8> Wrap<H, KIND> {
    fn inner(&self) -> &H {
        match &self.hub {
            Hold::Owned(h) => h,
            // SAFETY: a borrowed hub is the `&H` the runtime passed to the body that made this
            // wrapper on its own stack; the wrapper does not outlive that body call.
            Hold::Borrowed(p) => unsafe { &**p },
        }
    }
}

/// `WrongTarget`'s redirection of a switch to `target`.
fn wrong_target<V: Payload, H: Hub<V>>(h: &H, target: &H::Greenlet) -> H::Greenlet {
    if h.state(target) == State::Suspended {
        if let Some(parent) = h.parent(target) {
            if h.state(&parent) == State::Suspended && h.parent(&parent).is_some() {
                return parent;
            }
        }
    }
    target.clone()
}

/// `ParentSkip`'s walk: where a walk starting at `start` wrongly continues from, if it passes
/// two dead greenlets in a row.
fn skipped<V: Payload, H: Hub<V>>(h: &H, start: &H::Greenlet) -> Option<H::Greenlet> {
    if h.state(start) != State::Dead {
        return None;
    }
    let parent = h.parent(start)?;
    if h.state(&parent) != State::Dead {
        return None;
    }
    let grandparent = h.parent(&parent)?;
    h.parent(&grandparent)
}

/// [`Hang`]'s broken walk: where a switch to `target` goes.
fn hanging_walk<V: Payload, H: Hub<V>>(h: &H, target: &H::Greenlet) -> H::Greenlet {
    let mut reached = target.clone();
    while h.state(&reached) == State::Dead {
        // BUG: should be `h.parent(&reached)`.
        match h.parent(target) {
            Some(parent) => reached = parent,
            None => break,
        }
    }
    reached
}

impl<V: Payload, H: Hub<V> + KillBug + 'static, const KIND: u8> Hub<V> for Wrap<H, KIND> {
    type Greenlet = H::Greenlet;
    type Weak = H::Weak;

    fn new(config: &HubConfig) -> Result<Self, BackendError> {
        THROWS_INTO_SUSPENDED.with(|n| n.set(0));
        let hub = H::new(config)?;
        if KIND == KILL_PARENT {
            hub.break_kill();
        }
        if KIND == HUB_LEAK {
            hub.break_close();
        }
        Ok(Wrap {
            hub: Hold::Owned(hub),
        })
    }

    fn main(&self) -> H::Greenlet {
        self.inner().main()
    }

    fn current(&self) -> H::Greenlet {
        self.inner().current()
    }

    fn spawn(
        &self,
        body: Body<Self, V>,
        parent: Option<&H::Greenlet>,
    ) -> Result<H::Greenlet, BackendError> {
        let inner: Body<H, V> = Box::new(move |hub: &H, start: Option<V>| {
            let me = Wrap::<H, KIND> {
                hub: Hold::Borrowed(hub),
            };
            let result = body(&me, start);
            if KIND == PARENT_SKIP {
                let current = hub.current();
                if let Some(parent) = hub.parent(&current) {
                    if let Some(dest) = skipped(hub, &parent) {
                        // An ancestor of `current`: never a cycle.
                        let _ = hub.set_parent(&current, &dest);
                    }
                }
            }
            result
        });
        self.inner().spawn(inner, parent)
    }

    fn switch(&self, target: H::Greenlet, value: V) -> Outcome<V> {
        match KIND {
            WRONG_TARGET => {
                let dest = wrong_target(self.inner(), &target);
                drop(target);
                self.inner().switch(dest, value)
            }
            PARENT_SKIP => match skipped(self.inner(), &target) {
                Some(dest) => self.inner().switch(dest, value),
                None => self.inner().switch(target, value),
            },
            HANG => {
                // For a live target, or a dead one whose parent is live, this is where the
                // runtime's own walk would deliver the value too. (`dest` is a clone of
                // `target` when the walk does not move, so the caller's reference is handed
                // over all the same.)
                let dest = hanging_walk(self.inner(), &target);
                drop(target);
                self.inner().switch(dest, value)
            }
            _ => self.inner().switch(target, value),
        }
    }

    fn throw(&self, target: H::Greenlet, error: V::Error) -> Outcome<V> {
        match KIND {
            PARENT_SKIP => match skipped(self.inner(), &target) {
                Some(dest) => self.inner().throw(dest, error),
                None => self.inner().throw(target, error),
            },
            CRASH_SEGV => {
                if self.inner().state(&target) == State::Suspended {
                    let n = THROWS_INTO_SUSPENDED.with(|n| {
                        n.set(n.get() + 1);
                        n.get()
                    });
                    if n == 3 {
                        crash();
                    }
                }
                self.inner().throw(target, error)
            }
            _ => self.inner().throw(target, error),
        }
    }

    fn parent(&self, greenlet: &H::Greenlet) -> Option<H::Greenlet> {
        self.inner().parent(greenlet)
    }

    fn set_parent(&self, greenlet: &H::Greenlet, parent: &H::Greenlet) -> Result<(), ParentError> {
        self.inner().set_parent(greenlet, parent)
    }

    fn state(&self, greenlet: &H::Greenlet) -> State {
        self.inner().state(greenlet)
    }

    fn downgrade(&self, greenlet: &H::Greenlet) -> H::Weak {
        self.inner().downgrade(greenlet)
    }

    fn upgrade(&self, weak: &H::Weak) -> Option<H::Greenlet> {
        self.inner().upgrade(weak)
    }

    fn set_unraisable_hook(&self, hook: UnraisableHook<Self, V>) {
        self.inner()
            .set_unraisable_hook(Box::new(move |hub: &H, error: &V::Error| {
                let me = Wrap::<H, KIND> {
                    hub: Hold::Borrowed(hub),
                };
                hook(&me, error);
            }));
    }
}

/// Dies by SIGSEGV, whatever handler is installed (the mmap backend's overflow handler passes
/// faults it does not own on, but a raised signal is not a fault it could re-run).
fn crash() -> ! {
    // SAFETY: resetting a signal's disposition and raising it have no memory-safety
    // preconditions; the process is meant to die here.
    unsafe {
        libc::signal(libc::SIGSEGV, libc::SIG_DFL);
        libc::raise(libc::SIGSEGV);
    }
    std::process::abort()
}
