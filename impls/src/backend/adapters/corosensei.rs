//! The `corosensei` backend: the [`corosensei`] crate's stackful coroutines as a
//! [`StackSwitch`], on switchyard's guarded, pooled stacks.
//!
//! corosensei switches asymmetrically: `Coroutine::resume` runs a coroutine until it calls
//! `Yielder::suspend`, which returns to that `resume`. Greenlet switching is symmetric, so the
//! thread's main context is the trampoline (as in the `mmap` backend): main resumes the
//! target; a greenlet switching to main suspends with a null target, and one switching to
//! another greenlet suspends naming it, and main's loop resumes that one. Main to X and X to
//! main are one library switch each, X to Y two (X to main, main to Y).
//!
//! What the register probe sees: corosensei's switch is inline assembly that saves rbx and rbp
//! itself and declares r12-r15 and every caller-saved register clobbered, so the compiler
//! saves r12-r15 in the frame of the function holding the `resume` / `suspend` (this module's
//! `switch`). The probe therefore checks rbx, rbp and the stack pointer as corosensei's
//! assembly keeps them, and r12-r15 as corosensei and rustc keep them together. The MXCSR and
//! the x87 control word are in neither list: corosensei does not keep them per context (see
//! [`StackSwitch::guarantees`] below, and the README's "Route 3: adapters" for the finding).
//!
//! AddressSanitizer (sanitized builds only, [`crate::asan`]): main's loop runs corosensei's
//! and this module's Rust code on main's stack between the greenlet that switches and the one
//! resumed, so the backend announces each hop itself ([`StackSwitch::ANNOTATES_OWN_HOPS`]):
//! around every `resume` (to the greenlet's stack, main's fake stack kept in the loop's frame)
//! and every `suspend` (to main's stack as ASan last reported it to the greenlet; no fake-stack
//! slot when the greenlet is dying), and first thing in a new coroutine. corosensei's own
//! annotations (its `sanitizer` feature) stay off: a cargo feature cannot follow the
//! sanitizer flag, and a build without ASan would then not link.
//!
//! A dead greenlet's coroutine is left suspended in its last `suspend` (its entry function
//! never returns); its context is dropped with `Coroutine::force_reset` first, so that
//! corosensei does not try to unwind a stack that holds nothing to drop (the same as the
//! `mmap` backend simply reusing such a stack).

use crate::greenlet::{BackendError, HubConfig};
use crate::runtime::StableStacks;
use crate::stack::{ContextStack, StackContext};
use crate::switch::{Entry, Guarantees, StackBounds, StackSwitch};
use ::corosensei::stack::{Stack as CoroutineStack, StackPointer};
use ::corosensei::{Coroutine, CoroutineResult, Yielder};
use std::cell::Cell;
use std::ffi::c_void;
use std::ptr::null_mut;

/// The corosensei backend (see the module documentation).
pub struct Corosensei;

/// A greenlet's switching state under [`Corosensei`].
pub type CorosenseiContext = StackContext<Saved>;

/// The switchyard stack a coroutine runs on, as corosensei sees it. The stack itself belongs
/// to the context's [`StackContext`], which drops the coroutine before the stack.
pub struct Bounds {
    base: StackPointer,
    limit: StackPointer,
}

// SAFETY: `base` is the 16-byte aligned top and `limit` the (page-aligned) lowest usable
// address of a switchyard stack that outlives the coroutine (the coroutine is the context's
// first field, dropped before its stack). The guard page lies below `limit`: corosensei uses
// the limit only to tell sanitizers the stack's extent, for which the usable part is exact.
unsafe impl CoroutineStack for Bounds {
    fn base(&self) -> StackPointer {
        self.base
    }
    fn limit(&self) -> StackPointer {
        self.limit
    }
}

/// What a switch hands over in either direction: the greenlet to resume, null for main.
type Target = *mut CorosenseiContext;

type Co = Coroutine<Target, Target, (), Bounds>;

/// corosensei's state for one context (empty for main).
pub struct Saved {
    /// The greenlet's coroutine; `None` in the main context.
    coroutine: Option<Co>,
    /// The coroutine's yielder (on its own stack), set when it first runs.
    yielder: Cell<*const Yielder<Target, Target>>,
    /// The main context's stack as AddressSanitizer reported it when main last resumed this
    /// coroutine (the stack `suspend` returns to); unused unless the build is sanitized.
    main_stack: Cell<Option<StackBounds>>,
}

impl Drop for Saved {
    fn drop(&mut self) {
        if let Some(co) = &mut self.coroutine {
            if co.started() && !co.done() {
                // The runtime drops a started context only after it died (switched away
                // with `from_dying`); the other backends discard the same frames when they
                // reuse such a stack.
                // SAFETY: never resumed again, and its stack holds only the entry function's
                // frames, which have nothing left to drop (`die` forgets what it keeps).
                unsafe { co.force_reset() };
            }
        }
    }
}

fn saved(coroutine: Option<Co>) -> Saved {
    Saved {
        coroutine,
        yielder: Cell::new(std::ptr::null()),
        main_stack: Cell::new(None),
    }
}

// SAFETY: every context but main runs on a switchyard stack of its own that only it writes;
// a suspended context is suspended in corosensei's `resume` (main) or `suspend` (a greenlet),
// whose assembly keeps rbx, rbp and rsp and whose clobber list makes the compiler keep r12-r15
// around it; corosensei does not keep the MXCSR or the x87 control word, which `guarantees`
// declares.
unsafe impl StackSwitch for Corosensei {
    type Context = CorosenseiContext;

    fn main_context() -> CorosenseiContext {
        StackContext::main(saved(None))
    }

    fn new_context(
        config: &HubConfig,
        entry: Entry,
        arg: *mut c_void,
    ) -> Result<CorosenseiContext, BackendError> {
        let stack = ContextStack::take(config.stack_size, "corosensei backend")?;
        let bounds = match stack.stack() {
            Some(s) => Bounds {
                base: StackPointer::new(s.top() as usize).expect("a stack is not at 0"),
                limit: StackPointer::new(s.bottom() as usize).expect("a stack is not at 0"),
            },
            None => unreachable!("a taken context stack has a stack"),
        };
        // The first resume hands the coroutine its own context (see `switch`). `arg` is
        // opaque here: only the entry function looks at it.
        let arg = arg as usize;
        let co = Co::with_stack(
            bounds,
            move |yielder: &Yielder<Target, Target>, me: Target| {
                // SAFETY: completes main's `start_hop` to this new stack (sanitized builds
                // only), before any code of ours runs here; a new context has no fake stack.
                // `me` is this coroutine's own context, kept unmoving by the runtime, and
                // alive while it runs; `yielder` lives on this coroutine's stack.
                unsafe {
                    (*me)
                        .saved
                        .main_stack
                        .set(crate::asan::finish_hop(null_mut()));
                    (*me).saved.yielder.set(yielder);
                }
                // SAFETY: the runtime's entry with the argument it gave `new_context`; it never
                // returns and never unwinds.
                unsafe { entry(arg as *mut c_void) }
            },
        );
        Ok(StackContext::on(stack, saved(Some(co))))
    }

    fn stack_bounds(ctx: &CorosenseiContext) -> Option<StackBounds> {
        Some(ctx.bounds())
    }

    /// Main's loop below runs between the two hops of a greenlet-to-greenlet switch.
    const ANNOTATES_OWN_HOPS: bool = true;

    /// From main: resume `to`, then every greenlet the resumed one names when it suspends,
    /// until one names main. From a greenlet: suspend back into that loop, naming `to`. In a
    /// sanitized build each `resume` and `suspend` is announced to ASan (see the module
    /// documentation); otherwise those calls are empty.
    unsafe extern "C" fn switch(
        from: *mut CorosenseiContext,
        to: *mut CorosenseiContext,
        from_dying: bool,
    ) {
        // A greenlet runs only inside main's loop below, so when `from` is a greenlet its
        // yielder is set and main waits in that loop. Every `start_hop` is followed by the
        // library switch it announces, and the side resumed calls `finish_hop` first: after
        // `resume` or `suspend` returns, or in a new coroutine's closure (`new_context`). Main
        // never dies; a dying greenlet's last hop (to main) gives ASan no fake-stack slot.
        // SAFETY: the caller guarantees both contexts are live, distinct and of this thread,
        // `to` new or suspended in `switch`; the hops are announced and finished as above.
        unsafe {
            if (*from).is_main {
                let mut next = to;
                loop {
                    let mut fake_stack = null_mut();
                    if crate::asan::ENABLED {
                        crate::asan::start_hop(Some(&mut fake_stack), (*next).bounds());
                    }
                    // Only the `coroutine` field is borrowed: the coroutine reads its own
                    // context's `yielder`, `main_stack` and `is_main` while it runs.
                    let co = match &mut (*next).saved.coroutine {
                        Some(co) => co,
                        None => unreachable!("main is never resumed by its own loop"),
                    };
                    let result = co.resume(next);
                    crate::asan::finish_hop(fake_stack);
                    match result {
                        CoroutineResult::Yield(target) if target.is_null() => return,
                        CoroutineResult::Yield(target) => next = target,
                        CoroutineResult::Return(()) => {
                            unreachable!("a greenlet's entry function never returns")
                        }
                    }
                }
            } else {
                let target = if (*to).is_main { null_mut() } else { to };
                let mut fake_stack = null_mut();
                if crate::asan::ENABLED {
                    let main_stack = (*from).saved.main_stack.get();
                    let slot = if from_dying {
                        None
                    } else {
                        Some(&mut fake_stack)
                    };
                    crate::asan::start_hop(
                        slot,
                        main_stack.unwrap_or_else(crate::asan::thread_stack),
                    );
                }
                (*(*from).saved.yielder.get()).suspend(target);
                if crate::asan::ENABLED {
                    (*from)
                        .saved
                        .main_stack
                        .set(crate::asan::finish_hop(fake_stack));
                }
            }
        }
    }

    /// corosensei's switch keeps neither floating-point control word: a context resumed runs
    /// on with whatever MXCSR and x87 control word the context that switched to it had (see
    /// the README's "Route 3: adapters").
    fn guarantees() -> Guarantees {
        Guarantees {
            mxcsr: false,
            x87_cw: false,
        }
    }
}

// SAFETY: every greenlet context runs on a `Stack` of its own (main on the thread's stack),
// which only its frames write; it goes back to the pool only when the context is dropped
// (unstarted or dead), and a greenlet that refuses to die is leaked with its stack.
unsafe impl StableStacks for Corosensei {}
