//! Greenlet handles and the per-thread hub registry: [`Greenlet`] (a reference-counted
//! token naming a slot of a hub), the type-erased view of the thread's live hub that a dropped
//! handle and `Hub::new` reach through a thread-local, and the slot look-ups that turn handles
//! into slots and back.

use super::thread_exit::HubCell;
use super::{Inner, Rec, St, MAIN};
use crate::greenlet::Payload;
use crate::switch::StackSwitch;
use std::any::{Any, TypeId};
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

/// What a greenlet handle points to: immutable identity, no state. Eight bytes, so that with
/// the `Arc`'s two counts it is a 24-byte allocation (a 32-byte malloc chunk): part of every
/// greenlet's memory (issue 12's bookkeeping budget). The hub's serial tells the hub, and so
/// its thread, since hubs never move between threads.
pub(super) struct Token {
    pub(super) slot: u32,
    pub(super) hub: u32,
}

const _: () = assert!(std::mem::size_of::<Token>() == 8);

impl Drop for Token {
    fn drop(&mut self) {
        release_token(self.hub, self.slot);
    }
}

/// A reference-counted handle to one greenlet of a [`Runtime`]. Equality is identity.
#[derive(Clone)]
pub struct Greenlet {
    pub(super) token: Arc<Token>,
}

impl PartialEq for Greenlet {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.token, &other.token)
    }
}

impl Eq for Greenlet {}

impl fmt::Debug for Greenlet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Greenlet(hub {}, slot {})",
            self.token.hub, self.token.slot
        )
    }
}

impl Greenlet {
    /// This handle if it is its greenlet's last one (so that dropping it would release the
    /// greenlet), `None` (and the handle dropped) otherwise: what a switch keeps while the
    /// caller is suspended.
    pub(super) fn unless_shared(self) -> Option<Greenlet> {
        (Arc::strong_count(&self.token) == 1).then_some(self)
    }

    /// Gives this handle up: if it was its greenlet's last one, returns the slot to release,
    /// which the caller must then release (the token's own `Drop`, which would look the
    /// thread's hub up and release it, does not run); `None` otherwise.
    #[inline]
    pub(super) fn into_last_slot(self) -> Option<u32> {
        let token = Arc::into_inner(self.token)?;
        let slot = token.slot;
        std::mem::forget(token);
        Some(slot)
    }
}

/// A weak handle to a greenlet of a [`Runtime`]: names it without keeping it alive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeakGreenlet {
    pub(super) hub: u32,
    pub(super) slot: u32,
    pub(super) generation: u32,
}

/// The type-erased view of a hub that handle drops and `Hub::new` use through the thread-local
/// registry.
pub(super) trait ErasedHub: Any {
    /// Called when the last handle to `slot` was dropped on this thread; consumes the strong
    /// reference the registry lookup made (dropping it like a [`Runtime`] handle).
    fn release_then_drop(self: Rc<Self>, slot: u32);
    fn into_any(self: Rc<Self>) -> Rc<dyn Any>;
    fn kind(&self) -> TypeId;
    fn serial(&self) -> u32;
    /// The thread is exiting: tear the hub down (see `thread_exit`).
    fn thread_exit(self: Rc<Self>);
    /// One line on the hub, for [`live_hub`].
    fn describe(&self) -> String;
}

thread_local! {
    /// The live hub of this thread, if any; it is torn down when the thread exits (see
    /// `thread_exit`).
    pub(super) static THREAD_HUB: HubCell = const { HubCell::new() };
}

fn release_token(hub: u32, slot: u32) {
    // Only this thread's live hub with the handle's serial owns the slot; a handle dropped on
    // another thread (or after its hub went away) does nothing here: its greenlet is dealt
    // with when its hub goes away.
    let strong = THREAD_HUB
        .try_with(|cell| {
            let weak = cell.0.try_borrow().ok()?.as_ref()?.clone();
            weak.upgrade()
        })
        .ok()
        .flatten();
    let Some(strong) = strong else { return };
    if strong.serial() == hub {
        strong.release_then_drop(slot);
    } else {
        drop_erased(strong);
    }
}

/// Drops a strong reference obtained from the registry without skipping the teardown a last
/// `Runtime` handle performs.
pub(super) fn drop_erased(strong: Rc<dyn ErasedHub>) {
    strong.release_then_drop(u32::MAX);
}

impl<S: StackSwitch, V: Payload> ErasedHub for Inner<S, V> {
    fn release_then_drop(self: Rc<Self>, slot: u32) {
        #[cfg(feature = "mutants")]
        if self.release_holds_handle.get()
            && slot != u32::MAX
            && slot != MAIN
            && self.state_of(slot) == St::Started
        {
            // The mutant: a kill leaks a handle, so the hub never closes.
            self.handles.set(self.handles.get() + 1);
            std::mem::forget(self.clone());
        }
        if slot != u32::MAX {
            self.release(slot);
        }
        // The release may have run a kill in which the last handle went away.
        self.close_if_abandoned();
    }
    fn into_any(self: Rc<Self>) -> Rc<dyn Any> {
        self
    }
    fn kind(&self) -> TypeId {
        TypeId::of::<Self>()
    }
    fn serial(&self) -> u32 {
        self.serial
    }
    fn thread_exit(self: Rc<Self>) {
        Inner::thread_exit(self);
    }
    fn describe(&self) -> String {
        let recs = self.recs.borrow();
        let suspended = recs
            .iter()
            .enumerate()
            .filter(|(i, r)| *i as u32 != MAIN && r.state == St::Started)
            .count();
        format!(
            "a {} hub (serial {}) with {} handle(s) and {suspended} suspended greenlet(s)",
            std::any::type_name::<S>(),
            self.serial,
            self.handles.get()
        )
    }
}

/// The calling thread's live greenlet hub of the generic runtime, described (its backend
/// type, handles and suspended greenlets), or `None` when it has none. A thread has one from
/// [`Hub::new`](crate::greenlet::Hub::new) until the hub closes: when its last
/// [`Runtime`] handle goes away (on the main greenlet), or when the thread exits. A caller
/// that has dropped every handle it made can check with this that nothing kept the hub alive
/// (the interpreter does after every program).
pub fn live_hub() -> Option<String> {
    let hub = THREAD_HUB
        .try_with(|cell| cell.0.try_borrow().ok()?.as_ref()?.upgrade())
        .ok()
        .flatten()?;
    let text = hub.describe();
    drop_erased(hub);
    Some(text)
}

/// Makes `hub` no longer the thread's hub (it is closing).
pub(super) fn unregister<S: StackSwitch, V: Payload>(hub: &Inner<S, V>) {
    let _ = THREAD_HUB.try_with(|cell| {
        if let Ok(mut registered) = cell.0.try_borrow_mut() {
            let ours = registered
                .as_ref()
                .is_some_and(|w| std::ptr::addr_eq(w.as_ptr(), hub as *const Inner<S, V>));
            if ours {
                *registered = None;
            }
        }
    });
}

impl<S: StackSwitch, V: Payload> Inner<S, V> {
    pub(super) fn check(&self, g: &Greenlet) -> u32 {
        if g.token.hub != self.serial {
            self.foreign_handle(g);
        }
        g.token.slot
    }

    #[cold]
    #[inline(never)]
    fn foreign_handle(&self, g: &Greenlet) -> ! {
        panic!(
            "switchyard: greenlet handle used with a hub it does not belong to (the handle is \
             of hub {}, used with hub {} of thread {:?}); a handle belongs to the hub that made \
             it, and greenlets can only be used on their own thread",
            g.token.hub, self.serial, self.thread
        );
    }

    pub(super) fn state_of(&self, slot: u32) -> St {
        self.recs.borrow()[slot as usize].state
    }

    pub(super) fn parent_slot(&self, slot: u32) -> u32 {
        match &self.recs.borrow()[slot as usize].parent {
            Some(p) => p.token.slot,
            None => MAIN,
        }
    }

    /// A handle to `slot`, making a new token if the greenlet had lost all its handles.
    pub(super) fn handle(&self, slot: u32) -> Greenlet {
        if slot == MAIN {
            let token = self
                .main_token
                .borrow()
                .as_ref()
                .expect("main token")
                .clone();
            return Greenlet { token };
        }
        let mut recs = self.recs.borrow_mut();
        let rec = &mut recs[slot as usize];
        if let Some(token) = rec.token.upgrade() {
            return Greenlet { token };
        }
        let token = Arc::new(Token {
            slot,
            hub: self.serial,
        });
        rec.token = Arc::downgrade(&token);
        if rec.orphan() {
            rec.set_flag(Rec::<S, V>::ORPHAN, false);
            self.orphans.set(self.orphans.get() - 1);
        }
        Greenlet { token }
    }
}
