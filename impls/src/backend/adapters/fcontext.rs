//! The `fcontext` backend: the [`context`] crate (Boost.Context's `fcontext` assembly,
//! `make_fcontext` / `jump_fcontext`, built by the crate from Boost's own `.S` files) as a
//! [`StackSwitch`], on switchyard's guarded, pooled stacks.
//!
//! fcontext switches symmetrically: `jump_fcontext(to, data)` saves the caller's registers on
//! its own stack, resumes `to`, and hands the resumed side a `Transfer` of the suspended
//! caller's new `fcontext_t` and `data`. So each context's `fcontext_t` is known only to the
//! context that is resumed by it, which stores it back into the caller's [`Saved`]: every
//! switch passes the address of a `(from, to)` pair on the caller's stack as `data`, and the
//! resumed side (returning from its own `jump_fcontext`, or a new context in [`start`]) writes
//! the `fcontext_t` into `from`. A new context finds its entry function in `to`.
//!
//! The switch is a naked shim, `switch_shim`, that calls the library's `jump_fcontext`
//! directly and keeps nothing in a callee-saved register, so the register probe sees Boost's
//! assembly and nothing else. (The crate's `Context::resume` is an inline wrapper around the
//! same call; a Rust function around it could save and restore registers on the library's
//! behalf.) New contexts are made with the crate's `Context::new` on a
//! `context::stack::Stack` describing switchyard's stack.
//!
//! AddressSanitizer (sanitized builds only, [`crate::asan`]): every switch is one
//! `jump_fcontext` from `from`'s stack straight to `to`'s, so the runtime's annotations around
//! the switch describe it exactly; [`StackSwitch::stack_bounds`] gives the usable part of the
//! context's switchyard stack (the range handed to `make_fcontext`, guard page excluded), or
//! the thread's stack for main.
//!
//! Boost's x86-64 `jump_fcontext` saves rbx, rbp, r12-r15, the MXCSR and the x87 control word
//! of the suspending side and restores those of the resumed one, and `make_fcontext` gives a
//! new context the control words of the thread that made it.

use crate::greenlet::{BackendError, HubConfig};
use crate::runtime::StableStacks;
use crate::stack::{ContextStack, StackContext};
use crate::switch::{Entry, StackBounds, StackSwitch};
use ::context::{Context, Transfer};
use std::ffi::c_void;

/// The fcontext backend (see the module documentation).
pub struct Fcontext;

/// A greenlet's switching state under [`Fcontext`].
pub type FcontextContext = StackContext<Saved>;

/// fcontext's state for one context.
#[repr(C)]
pub struct Saved {
    /// This context's `fcontext_t` while it is suspended or new (first, at offset 0, where
    /// `switch_shim` reads it); stale while it runs. Null in a main context until it first
    /// switches away.
    fctx: *const c_void,
    /// What a new context runs (unused in a main context).
    entry: Option<Entry>,
    arg: *mut c_void,
}

const _: () = {
    assert!(std::mem::offset_of!(FcontextContext, saved) == 0);
    assert!(std::mem::offset_of!(Saved, fctx) == 0);
    assert!(std::mem::size_of::<Context>() == std::mem::size_of::<*const c_void>());
};

/// The `data` of every jump: the switching context and the one it resumes, on the switching
/// side's stack (which stays put while that side is suspended or dying).
#[repr(C)]
struct Pair {
    from: *mut FcontextContext,
    to: *mut FcontextContext,
}

extern "C" {
    /// Boost.Context's `jump_fcontext`, as built and linked by the `context` crate (whose
    /// `Context::resume` is an inline call of it).
    fn jump_fcontext(to: *const c_void, data: usize) -> Transfer;
}

/// `switch_shim(from [rdi], to [rsi])`: pushes the pair `(from, to)`, jumps to `to`'s
/// `fcontext_t` with the pair's address as data, and, once resumed, stores the `fcontext_t`
/// of the side that resumed it (rax) into that side's `from` (the first word of the pair
/// whose address came back in rdx).
#[unsafe(naked)]
unsafe extern "sysv64" fn switch_shim(_from: *mut FcontextContext, _to: *mut FcontextContext) {
    core::arch::naked_asm!(
        "push rsi",
        "push rdi",
        "mov rdi, [rsi]",
        "mov rsi, rsp",
        "sub rsp, 8",
        "call {jump}",
        "add rsp, 24",
        "mov rcx, [rdx]",
        "mov [rcx], rax",
        "ret",
        jump = sym jump_fcontext,
    )
}

/// Where a new context starts (the crate's `ContextFn`): stores the `fcontext_t` of the side
/// that resumed it, then runs its entry function.
extern "C" fn start(t: Transfer) -> ! {
    let pair = t.data as *const Pair;
    // SAFETY: a new context is first resumed only by `switch_shim`, whose data is a `Pair`
    // on the suspended caller's stack naming two live contexts: the caller and this one.
    // `Context` is one pointer (asserted above).
    unsafe {
        let Pair { from, to } = *pair;
        (*from).saved.fctx = std::mem::transmute::<Context, *const c_void>(t.context);
        let entry = (*to)
            .saved
            .entry
            .expect("a new context has an entry function");
        entry((*to).saved.arg)
    }
}

// SAFETY: every context but main runs on a switchyard stack of its own that only it writes;
// a suspended context is suspended in Boost's `jump_fcontext` (called by `switch_shim`,
// which keeps nothing in registers across it), which keeps rbx, rbp, r12-r15, rsp, the MXCSR
// and the x87 control word.
unsafe impl StackSwitch for Fcontext {
    type Context = FcontextContext;

    fn main_context() -> FcontextContext {
        StackContext::main(Saved {
            fctx: std::ptr::null(),
            entry: None,
            arg: std::ptr::null_mut(),
        })
    }

    fn new_context(
        config: &HubConfig,
        entry: Entry,
        arg: *mut c_void,
    ) -> Result<FcontextContext, BackendError> {
        let stack = ContextStack::take(config.stack_size, "fcontext backend")?;
        let (top, bottom) = match stack.stack() {
            Some(s) => (s.top(), s.bottom()),
            None => unreachable!("a taken context stack has a stack"),
        };
        // SAFETY: `bottom..top` is the usable part of a switchyard stack that nothing else
        // uses and that lives as long as the context (its `stack` field).
        let bounds = unsafe { ::context::stack::Stack::new(top.cast(), bottom.cast()) };
        // SAFETY: `make_fcontext` only writes the new context's first frame at the top of
        // that stack; `start` never returns.
        let context = unsafe { Context::new(&bounds, start) };
        Ok(StackContext::on(
            stack,
            Saved {
                // SAFETY: `Context` is one pointer (asserted above).
                fctx: unsafe { std::mem::transmute::<Context, *const c_void>(context) },
                entry: Some(entry),
                arg,
            },
        ))
    }

    fn stack_bounds(ctx: &FcontextContext) -> Option<StackBounds> {
        Some(ctx.bounds())
    }

    #[inline]
    unsafe extern "C" fn switch(from: *mut FcontextContext, to: *mut FcontextContext, _: bool) {
        // SAFETY: the caller guarantees both contexts are live, distinct and of this thread,
        // `to` new (its `fctx` from `make_fcontext`) or suspended in `switch_shim` (its `fctx`
        // stored by the context it resumed); `from` is running, so the context that resumes
        // it next finds it in the pair.
        unsafe { switch_shim(from, to) }
    }
}

// SAFETY: every greenlet context runs on a `Stack` of its own (main on the thread's stack),
// which only its frames write; it goes back to the pool only when the context is dropped
// (unstarted or dead), and a greenlet that refuses to die is leaked with its stack.
unsafe impl StableStacks for Fcontext {}
