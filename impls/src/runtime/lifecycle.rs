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
        if Rc::strong_count(&self.inner) != 1 || self.inner.tearing_down.get() {
            return;
        }
        if self.inner.current.get() != MAIN {
            // The last handle went away inside a greenlet: the running stack cannot be freed.
            // Keep the hub alive for good instead (a leak, never a use after free).
            std::mem::forget(self.inner.clone());
            return;
        }
        self.inner.teardown();
    }
}

impl<S: StackSwitch, V: Payload> Inner<S, V> {
    /// The last handle to `slot` went away (or its kill became possible): free or kill it.
    pub(super) fn release(&self, slot: u32) {
        if self.tearing_down.get() {
            return;
        }
        self.pending.borrow_mut().push(slot);
        if self.draining.get() {
            return;
        }
        self.draining.set(true);
        loop {
            let next = self.pending.borrow_mut().pop();
            let Some(slot) = next else { break };
            self.process_release(slot);
        }
        self.draining.set(false);
    }

    pub(super) fn process_release(&self, slot: u32) {
        let state = {
            let mut recs = self.recs.borrow_mut();
            let rec = &mut recs[slot as usize];
            if rec.state == St::Free || rec.token.strong_count() > 0 {
                return;
            }
            if !rec.orphan {
                rec.orphan = true;
                self.orphans.set(self.orphans.get() + 1);
            }
            rec.state
        };
        match state {
            St::Free => {}
            St::Unstarted | St::Dead => {
                if self.dying.get() != Some(slot) {
                    self.free_record(slot);
                }
            }
            St::Started => {
                let tried = self.recs.borrow()[slot as usize].kill_tried;
                if slot == self.current.get() || tried {
                    return; // killed once it suspends (see `after_switch`), or left alone
                }
                self.kill(slot);
                let (dead, still_orphan) = {
                    let recs = self.recs.borrow();
                    let rec = &recs[slot as usize];
                    (rec.state == St::Dead, rec.token.strong_count() == 0)
                };
                if dead && still_orphan && self.dying.get() != Some(slot) {
                    self.free_record(slot);
                }
            }
        }
    }

    /// parent := current; throw GreenletExit into `slot`; discard the outcome.
    pub(super) fn kill(&self, slot: u32) {
        let cur = self.current.get();
        let new_parent = self.handle(cur);
        let old = {
            let mut recs = self.recs.borrow_mut();
            let rec = &mut recs[slot as usize];
            rec.kill_tried = true;
            rec.parent.replace(new_parent)
        };
        drop(old);
        if self.state_of(slot) == St::Started {
            let _ = self.deliver(slot, Transfer::Error(V::exit_error()));
        }
    }

    pub(super) fn free_record(&self, slot: u32) {
        let (body, parent, ctx) = {
            let mut recs = self.recs.borrow_mut();
            let rec = &mut recs[slot as usize];
            let ctx = std::mem::replace(&mut rec.ctx, std::ptr::null_mut());
            let body = rec.body.take();
            let parent = rec.parent.take();
            if rec.orphan {
                self.orphans.set(self.orphans.get() - 1);
            }
            *rec = Rec::free();
            (body, parent, ctx)
        };
        self.free_slots.borrow_mut().push(slot);
        if !ctx.is_null() {
            // SAFETY: the greenlet is unstarted or dead and not `dying`, so no context runs on
            // this stack or will be resumed; the pointer came from `Box::into_raw`.
            drop(unsafe { Box::from_raw(ctx) });
        }
        drop(body);
        drop(parent);
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
                    self.recs.borrow_mut()[slot as usize].kill_tried = false;
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
        let mut main_ctx = std::ptr::null_mut();
        let mut rest = Vec::with_capacity(recs.len());
        for (i, mut rec) in recs.into_iter().enumerate() {
            let ctx = std::mem::replace(&mut rec.ctx, std::ptr::null_mut());
            if i as u32 == MAIN {
                main_ctx = ctx;
            } else if !ctx.is_null() {
                if rec.state == St::Started {
                    // Refused to die: its stack holds live frames that were never dropped.
                    // Leak it rather than free memory something might still point into.
                } else {
                    // SAFETY: unstarted or dead, so nothing runs on it; from `Box::into_raw`.
                    drop(unsafe { Box::from_raw(ctx) });
                }
            }
            rest.push(rec);
        }
        drop(rest);
        self.main_token.get_mut().take();
        if !main_ctx.is_null() {
            // SAFETY: the main context is the code running now; dropping its record frees no
            // stack, and it came from `Box::into_raw` in `new`.
            drop(unsafe { Box::from_raw(main_ctx) });
        }
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
