//! The per-thread hub registry's cell, and tearing a hub down when its OS thread exits.
//!
//! A hub normally goes away with its last [`Runtime`] handle. A suspended greenlet can hold a
//! handle itself (a clone on its stack), which would keep the hub, its greenlets and their stacks alive for good, with none of their
//! destructors ever run. So when the thread exits (its thread-locals are destroyed), the
//! registry's cell tears the thread's live hub down as the last handle would: every suspended
//! greenlet is killed with GreenletExit (up to three passes), and the bodies of unstarted
//! greenlets are dropped unrun. The hub is then freed as soon as nothing holds it; a greenlet
//! that refused to die keeps it (and its stack) leaked, which is memory-safe.

use super::handles::ErasedHub;
use super::{Inner, MAIN};
use crate::greenlet::Payload;
use crate::switch::StackSwitch;
use std::cell::RefCell;
use std::rc::{Rc, Weak};

/// The thread's live hub, if any (the cell of `handles::THREAD_HUB`).
pub(super) struct HubCell(pub(super) RefCell<Option<Weak<dyn ErasedHub>>>);

impl HubCell {
    pub(super) const fn new() -> Self {
        HubCell(RefCell::new(None))
    }
}

impl Drop for HubCell {
    fn drop(&mut self) {
        let live = self.0.get_mut().take().and_then(|weak| weak.upgrade());
        if let Some(hub) = live {
            hub.thread_exit();
        }
    }
}

impl<S: StackSwitch, V: Payload> Inner<S, V> {
    /// The thread is exiting, on its main greenlet: close the hub (kill every suspended
    /// greenlet, drop the bodies of unstarted ones), then let `hub` (a strong reference) go.
    pub(super) fn thread_exit(self: Rc<Self>) {
        if self.current.get() == MAIN && !self.closing.get() {
            // `self` is a strong reference held across the close.
            self.close();
        }
        drop(self);
    }
}
