//! Greenlet lifetimes: what happens when the last handle to a greenlet goes away (free it, or
//! kill it with GreenletExit), when the last `Runtime` handle goes away (kill every suspended
//! greenlet, then free every context), and giving heap memory back after a big hub.

use super::{Inner, Rec, Runtime, St, Transfer, MAIN};
use crate::greenlet::Payload;
use crate::switch::StackSwitch;
use std::rc::Rc;

/// How many kill passes the hub makes over still-suspended greenlets when it goes away.
const TEARDOWN_PASSES: usize = 3;

impl<S: StackSwitch, V: Payload> Drop for Runtime<S, V> {
    fn drop(&mut self) {
        let inner = &self.inner;
        let left = inner.handles.get() - 1;
        inner.handles.set(left);
        if left != 0 || inner.closing.get() {
            return;
        }
        if inner.current.get() != MAIN {
            // The last handle went away inside a greenlet: the running stack cannot be freed
            // now. Keep the hub alive with a strong reference of its own; it closes as soon as
            // the main greenlet runs the runtime again (the end of the kill or hook that main
            // is suspended in, see `close_if_abandoned`), which takes that reference back.
            if !inner.leaked.replace(true) {
                std::mem::forget(inner.clone());
            }
            return;
        }
        inner.close_if_abandoned();
    }
}

impl<S: StackSwitch, V: Payload> Inner<S, V> {
    /// Whether `slot` has a reference besides its handles: being current, being killed now,
    /// being a zombie.
    fn held(&self, rec: &Rec<S, V>, slot: u32) -> bool {
        slot == self.current.get() || rec.killing > 0 || rec.zombie()
    }

    /// `slot` may have lost its last reference (its last handle went, it stopped being current,
    /// or a kill of it ended): free it, or kill it, if nothing refers to it any more. Frees run
    /// up a chain of parent links iteratively; a kill runs at once, on the current greenlet.
    pub(super) fn release(&self, slot: u32) {
        let mut slot = slot;
        loop {
            if self.tearing_down.get() {
                return;
            }
            let state = {
                let mut recs = self.recs.borrow_mut();
                let rec = &mut recs[slot as usize];
                if rec.state == St::Free || rec.token.strong_count() > 0 {
                    return;
                }
                if !rec.orphan() {
                    rec.set_flag(Rec::<S, V>::ORPHAN, true);
                    self.orphans.set(self.orphans.get() + 1);
                }
                if self.held(rec, slot) {
                    return;
                }
                rec.state
            };
            match state {
                St::Free => return,
                St::Started => return self.kill(slot),
                St::Unstarted | St::Dead => {
                    if self.dying.get() == Some(slot) {
                        return; // freed by the context that runs next (`after_switch`)
                    }
                    let Some(parent) = self.free_record(slot) else {
                        return;
                    };
                    // The parent link was a reference: release it without recursing.
                    match parent.into_last_slot() {
                        Some(parent) => slot = parent,
                        None => return,
                    }
                }
            }
        }
    }

    /// Kills suspended `slot` on behalf of the current greenlet (greenlet's
    /// `_green_dealloc_kill_started_non_main_greenlet`): parent := current (the old parent stays
    /// referenced meanwhile), the kill error thrown in, the outcome discarded (an error goes to
    /// the unraisable hook), the old parent restored; then the victim is freed if dead and
    /// unreferenced, or becomes a zombie if suspended and unreferenced.
    pub(super) fn kill(&self, slot: u32) {
        let cur = self.current.get();
        let killer = self.handle(cur);
        let old = {
            let mut recs = self.recs.borrow_mut();
            let rec = &mut recs[slot as usize];
            rec.killing = rec
                .killing
                .checked_add(1)
                .expect("switchyard: more than 65,535 nested kills of one greenlet");
            #[cfg(feature = "mutants")]
            if self.kill_keeps_parent.get() {
                let current = rec.parent.clone();
                drop(recs);
                return self.kill_finish(slot, current, Some(killer));
            }
            rec.parent.replace(killer)
        };
        self.kill_finish(slot, old, None);
    }

    /// The rest of [`Inner::kill`] once the victim's parent is set: `old` is what to put back.
    fn kill_finish(&self, slot: u32, old: Option<super::Greenlet>, spare: Option<super::Greenlet>) {
        drop(spare);
        if self.state_of(slot) == St::Started && slot != self.current.get() {
            if let Err(e) = self.deliver(slot, Transfer::Error(V::kill_error())) {
                self.unraisable(&e);
            }
        }
        let killer = {
            let mut recs = self.recs.borrow_mut();
            let rec = &mut recs[slot as usize];
            rec.killing -= 1;
            std::mem::replace(&mut rec.parent, old)
        };
        drop(killer);
        let zombie = {
            let mut recs = self.recs.borrow_mut();
            let rec = &mut recs[slot as usize];
            let unreferenced = rec.token.strong_count() == 0 && !self.held(rec, slot);
            if unreferenced && rec.state == St::Started && !self.tearing_down.get() {
                rec.set_flag(Rec::<S, V>::ZOMBIE, true);
            }
            rec.zombie()
        };
        if !zombie {
            self.release(slot);
        }
    }

    /// Frees `slot`'s record (unstarted or dead, not `dying`), returning its parent link.
    #[must_use]
    pub(super) fn free_record(&self, slot: u32) -> Option<super::Greenlet> {
        let (body, parent, had_context, generation) = {
            let mut recs = self.recs.borrow_mut();
            let rec = &mut recs[slot as usize];
            let body = rec.body.take();
            let parent = rec.parent.take();
            if rec.orphan() {
                self.orphans.set(self.orphans.get() - 1);
            }
            let had_context = rec.has_context();
            let generation = rec.generation;
            *rec = Rec::free(generation);
            (body, parent, had_context, generation)
        };
        // A slot whose generation cannot grow again is retired: a weak handle names a
        // greenlet by slot and generation, which must never come back.
        if generation != u32::MAX {
            self.free_slots.borrow_mut().push(slot);
        }
        if had_context {
            // SAFETY: the greenlet is unstarted or dead and not `dying`, so no context runs on
            // this stack or will be resumed; its cell held its context, now marked gone and
            // dropped once.
            unsafe { std::ptr::drop_in_place(self.ctxs.ptr(slot)) };
        }
        drop(body);
        parent
    }

    /// Closes the hub if the program has no handle to it any more and the main greenlet runs:
    /// [`Inner::close`]. Called by every strong reference of the runtime's own when it ends (a
    /// handle drop's look-up of the hub, which may have run a kill), so that a hub whose last
    /// handle went away inside a greenlet closes once main runs the runtime again. The caller
    /// holds a strong reference until after this returns.
    pub(super) fn close_if_abandoned(&self) {
        if self.handles.get() == 0 && !self.closing.get() && self.current.get() == MAIN {
            self.close();
        }
    }

    /// The hub's end, on the main greenlet, once nothing can use it any more: every suspended
    /// greenlet is killed ([`Inner::teardown`]), the bodies of unstarted ones are dropped, and
    /// the hub stops being the thread's hub, so the thread can make another, of any backend.
    /// This happens whatever the greenlets did: one suspended inside the runtime's own code
    /// (a kill it ran by dropping a handle) holds a strong reference that is not a handle,
    /// and one that refuses to die keeps only memory (its stack is leaked, see
    /// `Drop for Inner`): no handle can reach it, so it never runs again.
    pub(super) fn close(&self) {
        debug_assert_eq!(self.current.get(), MAIN);
        self.closing.set(true);
        if !self.tearing_down.get() {
            self.teardown();
        }
        // Bodies are `Send`, so they hold no hub handle; drop them here, on the main greenlet
        // with the hub intact, rather than in the hub's drop.
        let bodies: Vec<_> = self
            .recs
            .borrow_mut()
            .iter_mut()
            .filter_map(|rec| rec.body.take())
            .collect();
        drop(bodies);
        super::handles::unregister(self);
        if self.leaked.replace(false) {
            // SAFETY: the strong reference forgotten by `Drop for Runtime` when the last
            // handle went inside a greenlet; the caller holds another until after we return,
            // so this is not the last one.
            unsafe { Rc::decrement_strong_count(self as *const Self) };
        }
    }

    /// Kills every still-suspended greenlet (parent := main), from the main greenlet.
    pub(super) fn teardown(&self) {
        debug_assert_eq!(self.current.get(), MAIN);
        // Let releases queued by earlier kills run first.
        for _ in 0..TEARDOWN_PASSES {
            let mut any = false;
            let mut slot = 1;
            while (slot as usize) < self.recs.borrow().len() {
                if self.state_of(slot) == St::Started {
                    any = true;
                    self.recs.borrow_mut()[slot as usize].set_flag(Rec::<S, V>::ZOMBIE, false);
                    self.kill(slot);
                }
                slot += 1;
            }
            if !any {
                break;
            }
        }
        self.tearing_down.set(true);
    }
}

impl<S: StackSwitch, V: Payload> Drop for Inner<S, V> {
    fn drop(&mut self) {
        self.tearing_down.set(true);
        let recs = std::mem::take(self.recs.get_mut());
        let held = recs.len();
        let mut main_ctx = false;
        let mut rest = Vec::with_capacity(recs.len());
        for (i, rec) in recs.into_iter().enumerate() {
            let slot = i as u32;
            if slot == MAIN {
                main_ctx = rec.has_context();
            } else if rec.has_context() {
                if rec.state == St::Started {
                    // Refused to die: its stack holds live frames that were never dropped.
                    // Leak it, and the chunk its context is in, rather than free memory
                    // something might still point into.
                    self.ctxs.keep_chunk_of(slot);
                } else {
                    // SAFETY: unstarted or dead, so nothing runs on it; its cell holds its
                    // context, dropped once, here.
                    unsafe { std::ptr::drop_in_place(self.ctxs.ptr(slot)) };
                }
            }
            rest.push(rec);
        }
        drop(rest);
        self.main_token.get_mut().take();
        if main_ctx {
            // SAFETY: the main context is the code running now; dropping it frees no stack,
            // and its cell holds it, dropped once, here.
            unsafe { std::ptr::drop_in_place(self.ctxs.ptr(MAIN)) };
        }
        // The contexts' chunks go before the trim below, not after this body with the other
        // fields: trimming could not give back the memory they still held.
        drop(std::mem::replace(&mut self.ctxs, super::Contexts::new()));
        if held > TRIM_AFTER_GREENLETS {
            give_back_free_memory();
        }
    }
}

/// A hub that held more greenlets than this gives the allocator's free memory back to the
/// system when it goes away.
const TRIM_AFTER_GREENLETS: usize = 10_000;

/// Returns free heap memory to the system. glibc keeps freed small blocks (greenlet records,
/// bodies, stack-copy's saved stack slices) in its heap, so without this a program that had a
/// million greenlets suspended would leave the process hundreds of MiB bigger after they are
/// all gone.
fn give_back_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own heap under its own locks; it has no
    // preconditions and frees nothing that is in use.
    unsafe {
        libc::malloc_trim(0);
    }
}
