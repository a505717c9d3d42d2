//! Switching: where a switch's value or error goes (greenlet's parent-chain walks), the switch
//! itself through the backend, the
//! housekeeping a resumed greenlet does first, and a finished greenlet's last switch.
//!
//! Two kinds of switch are refused (the switch or throw returns the payload's panic error,
//! [`Payload::panic_error`], with a message saying why, and nothing is switched):
//! - a switch while the thread is unwinding a panic (`std::thread::panicking()`, e.g. from a
//!   destructor during unwinding). The panic state is the OS thread's, not the greenlet's: the
//!   greenlet switched to would run as if panicking (a `MutexGuard` it drops poisons its
//!   mutex) and the unwinding greenlet could be left suspended mid-unwind for good. This
//!   covers the runtime's own kills too: a handle or hub dropped during unwinding kills
//!   nothing; its greenlets are left suspended (as greenlets that refuse to die are);
//! - a switch from inside a `Payload` method while the runtime is resolving where a switch or
//!   a finished greenlet's result goes: the runtime's records are mid-update then (a dying
//!   greenlet switching away there would be left dead but running).

use super::{Inner, Rec, St, Transfer};
use crate::greenlet::{Outcome, Payload};
use crate::switch::StackSwitch;
use std::cell::Cell;

impl<S: StackSwitch, V: Payload> Inner<S, V> {
    /// Walks from `dest` to the greenlet that will receive `payload` (greenlet's parent-chain
    /// rules). `Err` gives the outcome when that greenlet is the current one.
    pub(super) fn resolve(
        &self,
        mut dest: u32,
        payload: Transfer<V>,
    ) -> Result<(u32, Transfer<V>), Outcome<V>> {
        while self.state_of(dest) == St::Dead {
            dest = self.parent_slot(dest);
        }
        if dest == self.current.get() {
            return Err(payload.into_outcome());
        }
        if self.state_of(dest) != St::Unstarted {
            return Ok((dest, payload));
        }
        // An error reaching an unstarted greenlet starts it all the same (greenlet's
        // `g_initialstub`): it is current for a moment, releases the greenlet that switched to
        // it (see `after_switch`), and dies with the error without running its body (`entry`).
        match payload {
            Transfer::Value(v) if v.is_exit_value() => Ok((dest, Transfer::NoArg)),
            other => Ok((dest, other)),
        }
    }

    /// Suspends the current greenlet and resumes `dest` (not current, unstarted or suspended)
    /// with `payload`; returns what the current greenlet is resumed with.
    pub(super) fn switch_to(&self, dest: u32, payload: Transfer<V>) -> Outcome<V> {
        let cur = self.current.get();
        {
            let mut recs = self.recs.borrow_mut();
            if recs[dest as usize].state == St::Unstarted {
                recs[dest as usize].state = St::Started;
            }
        }
        self.switch_contexts(
            cur,
            dest,
            self.current_ctx.get(),
            self.ctxs.ptr(dest),
            payload,
        )
    }

    /// The switch itself: `from` is `cur`'s context (`current_ctx`), `to` that of `dest`,
    /// which is marked started already (both cells of `self.ctxs`, holding contexts).
    #[inline(always)]
    pub(super) fn switch_contexts(
        &self,
        cur: u32,
        dest: u32,
        from: *mut S::Context,
        to: *mut S::Context,
        payload: Transfer<V>,
    ) -> Outcome<V> {
        self.put_transfer(payload);
        self.prev.set(cur);
        self.current.set(dest);
        self.current_ctx.set(to);
        // ASan's fiber annotations (no-ops unless the build is sanitized) go around the
        // switch, outside it: `S::switch` may be the register probe (see `crate::asan`).
        let mut fake_stack: *mut std::ffi::c_void = std::ptr::null_mut();
        // Contexts are dropped only when dead, by another context, or at teardown after every
        // kill; `to` completes the annotation when resumed (here, or in `entry`).
        // SAFETY: `from` is the running context, `to` another live one of this thread, new or
        // suspended in `switch`; both stay in their never-moving cells of `self.ctxs`.
        unsafe {
            crate::asan::before_switch::<S>(to, Some(&mut fake_stack));
            S::switch(from, to, false);
            crate::asan::after_switch::<S>(from, fake_stack);
        }
        if self.has_housekeeping() {
            let got = self.take_transfer();
            self.after_switch_slow();
            return got.into_outcome();
        }
        // Nothing is called between taking the payload and returning it, so that its words
        // can stay in registers: kept across a call they were spilled to the stack 8 bytes
        // at a time and read back 16 at a time to move the value into the outcome, a load
        // the store buffer cannot forward (see `put_transfer`).
        self.take_transfer().into_outcome()
    }

    /// Hands `payload` to the greenlet about to be resumed. The slot is empty (whoever was
    /// resumed last took what it carried), so it is written without reading the old value.
    ///
    /// In and out, the bytes move eight at a time (`crate::words`): the other side reads
    /// them right after the switch, and a load wider than the stores that wrote them cannot
    /// be forwarded from the store buffer and stalls. The compiler's own copies (a `Cell::set`
    /// loading the old value back, 16-byte loads of bytes just written 8 at a time) did that
    /// several times per switch: with the interpreter's 32-byte payload the mmap round trip
    /// took 42 ns with them and 33 ns without, in one measurement.
    #[inline(always)]
    fn put_transfer(&self, payload: Transfer<V>) {
        let slot = self.transfer.as_ptr();
        // SAFETY: `slot` is this hub's own cell, used on this thread only, with no reference
        // into it live (a `Cell` hands none out); `payload` is moved in whole. If the slot
        // held a value (it never does, see above), that value would be leaked, never dropped
        // twice.
        unsafe { crate::words::write_value(Some(payload), slot) };
    }

    /// What the switch that resumed this greenlet carried, leaving the slot empty.
    #[inline(always)]
    fn take_transfer(&self) -> Transfer<V> {
        let mut got = std::mem::MaybeUninit::<Option<Transfer<V>>>::uninit();
        let slot = self.transfer.as_ptr();
        // SAFETY: the slot is this hub's own cell, used on this thread only, with no reference
        // into it live; its value is moved out whole and the slot set to `None` (written over,
        // not dropped).
        let got = unsafe {
            crate::words::copy_value(slot, got.as_mut_ptr());
            slot.write(None);
            got.assume_init()
        };
        got.expect("switch delivered nothing")
    }

    /// Housekeeping done by the context that has just been resumed, before user code runs.
    #[inline(always)]
    pub(super) fn after_switch(&self) {
        if self.has_housekeeping() {
            self.after_switch_slow();
        }
    }

    /// Whether a resumed context has housekeeping to do ([`Self::after_switch_slow`]).
    #[inline(always)]
    fn has_housekeeping(&self) -> bool {
        self.dying.get().is_some() || self.orphans.get() != 0
    }

    #[inline(never)]
    pub(super) fn after_switch_slow(&self) {
        if let Some(dead) = self.dying.take() {
            let (had_context, orphan) = {
                let mut recs = self.recs.borrow_mut();
                let rec = &mut recs[dead as usize];
                let had = rec.has_context();
                rec.set_flag(Rec::<S, V>::CONTEXT, false);
                (had, rec.orphan())
            };
            if had_context {
                let ctx = self.ctxs.ptr(dead);
                // SAFETY: the dead greenlet switched away for good (`from_dying`), we run in
                // another context, and its cell held its context, now marked gone and
                // dropped once; its stack's shadow is cleared first (sanitized builds only,
                // see `crate::asan`).
                unsafe {
                    crate::asan::release_dead_stack::<S>(ctx);
                    std::ptr::drop_in_place(ctx);
                }
            }
            if orphan {
                self.release(dead);
            }
        } else {
            // The greenlet that switched here is no longer current: if that was its last
            // reference, it is killed now, before this greenlet's own switch returns.
            let prev = self.prev.get();
            let needs_release = {
                let recs = self.recs.borrow();
                let rec = &recs[prev as usize];
                prev != self.current.get()
                    && rec.orphan()
                    && rec.state == St::Started
                    && rec.killing == 0
                    && !rec.zombie()
            };
            if needs_release {
                self.release(prev);
            }
        }
    }

    /// Why a switch from the current greenlet must be refused now, if it must (see the
    /// module doc).
    #[inline(always)]
    fn refused(&self) -> Option<&'static str> {
        if std::thread::panicking() {
            Some(
                "switchyard: switch refused: this greenlet is unwinding a panic, and the \
                 panic state belongs to the OS thread, so the greenlet switched to would run \
                 as if it were panicking",
            )
        } else if self.resolving.get() {
            Some(
                "switchyard: switch refused: called from a Payload method while the runtime \
                 is resolving a switch or a greenlet's death",
            )
        } else {
            None
        }
    }

    /// The outcome of a refused switch.
    #[cold]
    #[inline(never)]
    fn refusal(why: &'static str) -> Outcome<V> {
        Err(V::panic_error(why.to_string()))
    }

    /// `resolve`, with switches refused while it runs (it calls `Payload` methods).
    fn resolve_guarded(
        &self,
        dest: u32,
        payload: Transfer<V>,
    ) -> Result<(u32, Transfer<V>), Outcome<V>> {
        let _guard = Resolving::enter(&self.resolving);
        self.resolve(dest, payload)
    }

    /// `deliver` of an error thrown at `target`: an exit thrown at a dead greenlet travels
    /// up its parent chain as the exit value (greenlet's `throw` into a dead greenlet).
    pub(super) fn deliver_error(&self, target: u32, error: V::Error) -> Outcome<V> {
        let payload = if self.state_of(target) == St::Dead && V::is_exit(&error) {
            Transfer::Value(V::exit_value())
        } else {
            Transfer::Error(error)
        };
        self.deliver(target, payload)
    }

    /// Delivers `payload` to `target` (a slot of this hub): the switch, or the outcome at
    /// once when it comes back to the current greenlet.
    ///
    /// The fast path (a suspended target, nothing to resolve) is inlined into the caller, and
    /// so is the switch in it: the two sides of a round trip then each continue in their own
    /// caller's code, and no `ret` returns to a call made on another stack. A shared,
    /// out-of-line `deliver` made every switch end in a `ret` the CPU's return-stack buffer
    /// predicted to the other side's caller: two mispredicted returns per round trip (the
    /// mmap round trip with an 8-byte payload took 47 ns instead of 17 in one measurement).
    /// The rest is in [`Self::deliver_slow`], never inlined.
    #[inline(always)]
    pub(super) fn deliver(&self, target: u32, payload: Transfer<V>) -> Outcome<V> {
        // Fast path, every switch to a suspended greenlet: nothing to resolve, the payload
        // goes as it is; the target's record is read without taking a borrow, its context
        // found in its chunk, the current one's kept in `current_ctx`.
        let cur = self.current.get();
        if self.refused().is_none() {
            // No borrow count is taken: the fast path writes nothing but the switch itself.
            // SAFETY: the records are only read, in this statement, which calls nothing that
            // could borrow them mutably; `try_borrow_unguarded` fails if one is live now.
            let recs = unsafe { self.recs.try_borrow_unguarded() };
            let suspended = recs
                .ok()
                .and_then(|recs| recs.get(target as usize))
                .is_some_and(|rec| target != cur && rec.state == St::Started);
            if suspended {
                // SAFETY: `target` has a record, so its cell is reserved (`ptr_unchecked`).
                let to = unsafe { self.ctxs.ptr_unchecked(target) };
                return self.switch_contexts(cur, target, self.current_ctx.get(), to, payload);
            }
        }
        self.deliver_slow(target, payload)
    }

    /// `deliver` when the switch is refused or the target is not simply suspended
    /// (unstarted, dead, current, or the records are borrowed): the refusal, or the
    /// parent-chain walk and then the switch.
    #[inline(never)]
    fn deliver_slow(&self, target: u32, payload: Transfer<V>) -> Outcome<V> {
        if let Some(why) = self.refused() {
            return Self::refusal(why);
        }
        match self.resolve_guarded(target, payload) {
            Err(outcome) => outcome,
            Ok((dest, payload)) => self.switch_to(dest, payload),
        }
    }

    /// The current greenlet's body has ended with `result`: it dies and its result goes to its
    /// parent chain. Never returns. It is marked dead only once its destination is known, so
    /// that it never reports itself dead while it can still run; `Payload` methods called
    /// meanwhile cannot switch (see the module doc).
    pub(super) fn die(&self, result: Outcome<V>) -> ! {
        let cur = self.current.get();
        let resolving = Resolving::enter(&self.resolving);
        let payload = match result {
            Ok(v) => Transfer::Value(v),
            Err(e) if V::is_exit(&e) => Transfer::Value(V::exit_value()),
            Err(e) => Transfer::Error(e),
        };
        let parent = self.parent_slot(cur);
        let (dest, payload) = match self.resolve(parent, payload) {
            Ok(x) => x,
            Err(_) => unreachable!("a greenlet is never its own ancestor"),
        };
        {
            let mut recs = self.recs.borrow_mut();
            recs[cur as usize].state = St::Dead;
            if recs[dest as usize].state == St::Unstarted {
                recs[dest as usize].state = St::Started;
            }
        }
        let (from, to) = (self.current_ctx.get(), self.ctxs.ptr(dest));
        self.put_transfer(payload);
        self.prev.set(cur);
        self.current.set(dest);
        self.current_ctx.set(to);
        self.dying.set(Some(cur));
        drop(resolving);
        // A dying context hands ASan no fake-stack slot (ASan frees its fake stack); the
        // context resumed clears the shadow of its stack before freeing it (`after_switch`).
        // SAFETY: as in `switch_to`; in addition `from` is dying: nothing on this stack is
        // used again (this frame holds no value that needs dropping) and it is freed by the
        // context we resume (`after_switch`).
        unsafe {
            crate::asan::note_dying();
            crate::asan::before_switch::<S>(to, None);
            S::switch(from, to, true);
        }
        // A dead context is never resumed; if a backend did, nothing sane can follow.
        std::process::abort()
    }
}

/// Marks the hub as resolving (switches refused) until dropped.
struct Resolving<'a>(&'a Cell<bool>);

impl<'a> Resolving<'a> {
    fn enter(flag: &'a Cell<bool>) -> Self {
        flag.set(true);
        Resolving(flag)
    }
}

impl Drop for Resolving<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}
