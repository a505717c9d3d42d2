//! A mutant that hangs: a greenlet-semantics wrapper around the real runtime (on the mmap
//! backend) whose `switch` to a dead greenlet walks the parent chain with the wrong variable,
//! so that a switch to a dead greenlet whose parent is dead too loops forever.
//!
//! It exists to prove that the fuzz campaign finds, isolates and minimizes a hang in seconds
//! (`tests/fuzz_finds_mutants.rs`): the worker running it never answers and the parent kills
//! it at the backend's deadline.

use crate::backend::mmap::Mmap;
use crate::greenlet::{
    BackendError, Body, Hub, HubConfig, Outcome, ParentError, Payload, State, UnraisableHook,
};
use crate::runtime::Runtime;

/// Bug: `switch` to a dead greenlet looks for the first live greenlet up its parent chain,
/// but every step restarts from the target's parent instead of the greenlet it reached; when
/// that parent is dead as well, the walk never ends. Everything else is the real runtime's.
pub type MutantHang<V> = HangOnDeadChain<Runtime<Mmap, V>>;

/// The real runtime over `H`, with the looping walk.
pub struct HangOnDeadChain<H> {
    hub: Hold<H>,
}

/// The wrapped hub: owned by the main greenlet's wrapper, borrowed by a body's.
enum Hold<H> {
    Owned(H),
    /// The hub a running body was given; valid for as long as that body runs, which is as long
    /// as the wrapper made for it lives.
    Borrowed(*const H),
}

impl<H> HangOnDeadChain<H> {
    fn inner(&self) -> &H {
        match &self.hub {
            Hold::Owned(h) => h,
            // SAFETY: a borrowed hub is the `&H` the runtime passed to the body that made this
            // wrapper on its own stack; the wrapper does not outlive that body call.
            Hold::Borrowed(p) => unsafe { &**p },
        }
    }
}

/// The broken walk: where a switch to `target` goes.
fn walk<V: Payload, H: Hub<V>>(h: &H, target: &H::Greenlet) -> H::Greenlet {
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

impl<V: Payload, H: Hub<V> + 'static> Hub<V> for HangOnDeadChain<H> {
    type Greenlet = H::Greenlet;
    type Weak = H::Weak;

    fn new(config: &HubConfig) -> Result<Self, BackendError> {
        Ok(HangOnDeadChain {
            hub: Hold::Owned(H::new(config)?),
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
            let me = HangOnDeadChain::<H> {
                hub: Hold::Borrowed(hub),
            };
            body(&me, start)
        });
        self.inner().spawn(inner, parent)
    }

    fn switch(&self, target: H::Greenlet, value: V) -> Outcome<V> {
        // For a live target, or a dead one whose parent is live, this is where the runtime's
        // own walk would deliver the value too. (`dest` is a clone of `target` when the walk
        // does not move, so the caller's reference is handed over all the same.)
        let dest = walk(self.inner(), &target);
        drop(target);
        self.inner().switch(dest, value)
    }

    fn throw(&self, target: H::Greenlet, error: V::Error) -> Outcome<V> {
        self.inner().throw(target, error)
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
                let me = HangOnDeadChain::<H> {
                    hub: Hold::Borrowed(hub),
                };
                hook(&me, error);
            }));
    }
}
