//! The function every greenlet starts in, on its own context: takes its body and start value
//! from the hub (an error instead of a start value: it dies with that error at once, its body
//! never run), runs it with panics caught (a panic becomes the payload's error, carrying
//! the panic message), and dies with the outcome. Nothing unwinds past it.

use super::{Inner, Runtime, Transfer};
use crate::greenlet::Payload;
use crate::switch::StackSwitch;
use std::ffi::c_void;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

/// The function every greenlet starts in, on its own context.
pub(super) unsafe extern "C" fn entry<S: StackSwitch, V: Payload>(arg: *mut c_void) -> ! {
    // First of all, in a sanitized build: complete ASan's fiber switch that started us.
    if crate::asan::ENABLED {
        // SAFETY: `arg` is `Rc::as_ptr` of the hub's `Inner`, which outlives every greenlet
        // that can still run; the current slot's context is this one, live, and the switch
        // that started it was announced to ASan (`hub::switch_contexts`); a new context has
        // no fake stack yet.
        unsafe {
            let inner: &Inner<S, V> = &*(arg as *const Inner<S, V>);
            let me = inner.current_ctx.get();
            crate::asan::after_switch::<S>(me, std::ptr::null_mut());
        }
    }
    // Aborts if anything below unwinds (it must not cross the stack switch).
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                b"switchyard: unwinding out of a greenlet entry\n",
            );
            std::process::abort();
        }
    }
    let bomb = Bomb;
    // SAFETY: `arg` is `Rc::as_ptr` of the hub's `Inner`, which outlives every greenlet that
    // can still run (the hub kills them all before it goes away).
    let inner: &Inner<S, V> = unsafe { &*(arg as *const Inner<S, V>) };
    let start = inner
        .transfer
        .take()
        .expect("greenlet started with nothing");
    inner.after_switch();
    let slot = inner.current.get();
    let body = *inner.recs.borrow_mut()[slot as usize]
        .body
        .take()
        .expect("greenlet started without a body");
    // SAFETY: `arg` is `Rc::as_ptr` of a live `Rc<Inner>`; wrapped in `ManuallyDrop` below,
    // this makes a non-owning `Runtime` (no strong count taken, never dropped) that the body
    // borrows as `&Runtime`; a clone it makes is a real strong handle.
    let inner_rc = unsafe { Rc::from_raw(arg as *const Inner<S, V>) };
    let hub = ManuallyDrop::new(Runtime { inner: inner_rc });
    let start = match start {
        Transfer::Value(v) => Some(v),
        Transfer::NoArg => None,
        Transfer::Error(e) => {
            // An error reached this unstarted greenlet: it dies with it, its body never runs.
            drop(body);
            std::mem::forget(bomb);
            inner.die(Err(e))
        }
    };
    let result = match catch_unwind(AssertUnwindSafe(move || body(&hub, start))) {
        Ok(r) => r,
        Err(panic) => {
            let message = crate::greenlet::panic_message(&*panic);
            let _ = catch_unwind(AssertUnwindSafe(move || drop(panic)));
            Err(V::panic_error(message))
        }
    };
    std::mem::forget(bomb);
    inner.die(result)
}
