//! Register-swap mutants: a stack per greenlet (the stacks, pools and guard pages of
//! [`crate::stack`], used as they are) and a symmetric register swap built from the frame
//! macros of [`crate::arch::x86_64`] with one restore left out (`lost = REG`).
//!
//! Each mutant is one `swap_mutant!` line; the same works for every callee-saved register
//! (rbx, rbp, r12-r15, mxcsr, x87_cw). The real backends make their own register mutants the
//! same way: `crate::backend::mmap::mmap_backend!` and
//! `crate::backend::stack_copy::stack_copy_backend!`.

use crate::arch::x86_64::{place_below, ControlWords, SavedFrame};
use crate::greenlet::{BackendError, HubConfig};
use crate::stack::{ContextStack, StackContext};
use crate::switch::{Entry, StackSwitch};
use std::ffi::c_void;
use std::marker::PhantomData;

/// The swap a [`Swap`] backend uses: `swap(&from.saved, to.saved)` stores the running
/// context's stack pointer, loads the target's and restores its frame (minus one register).
pub trait LostRegister: 'static {
    /// The swap, made by `swap_mutant!`.
    const SWAP: unsafe extern "sysv64" fn(*mut *mut u8, *mut u8);
}

/// A stack per greenlet with a broken register swap (`L`: which restore is missing).
pub struct Swap<L: LostRegister>(PhantomData<L>);

/// Defines marker type `$marker` whose swap is the real symmetric swap minus register
/// `lost`'s restore, and `$alias = Swap<$marker>`.
macro_rules! swap_mutant {
    ($(#[$attr:meta])* $alias:ident = $marker:ident, lost = $lost:ident) => {
        #[doc = concat!("The swap of [`", stringify!($alias), "`].")]
        pub struct $marker;

        impl LostRegister for $marker {
            const SWAP: unsafe extern "sysv64" fn(*mut *mut u8, *mut u8) = {
                /// Saves the frame, stores rsp in `*from_sp` (rdi), switches to `to_sp` (rsi)
                /// and restores the frame found there, without `lost`.
                #[unsafe(naked)]
                unsafe extern "sysv64" fn swap(_from_sp: *mut *mut u8, _to_sp: *mut u8) {
                    core::arch::naked_asm!(
                        crate::arch::x86_64::save_frame!(),
                        "mov [rdi], rsp",
                        "mov rsp, rsi",
                        crate::arch::x86_64::restore_frame!(lost = $lost),
                        "ret",
                    )
                }
                swap
            };
        }

        $(#[$attr])*
        pub type $alias = Swap<$marker>;
    };
}

swap_mutant!(
    /// Bug: the swap pushes rbx when it suspends a context but does not pop it when it resumes
    /// one: a resumed context gets the rbx of whoever switched to it.
    MutantRbx = LoseRbx, lost = rbx
);

swap_mutant!(
    /// Bug: the swap stores MXCSR when it suspends a context but does not load it when it
    /// resumes one: a resumed context runs with the MXCSR (rounding mode, exception masks) of
    /// whoever switched to it.
    MutantMxcsr = LoseMxcsr, lost = mxcsr
);

/// A greenlet's switching state: the saved stack pointer and its own stack (none for main).
pub type SwapContext = StackContext<*mut u8>;

/// The frame a new context starts from: a saved frame whose `ret` goes to [`trampoline`] with
/// the entry in r12 and its argument in r13, then a zero return address (and padding) above.
#[repr(C)]
struct SwapStartFrame {
    frame: SavedFrame,
    entry_return: u64,
    pad: u64,
}

/// Where a new stack's first swap returns to: r12 holds the entry, r13 its argument.
#[unsafe(naked)]
unsafe extern "sysv64" fn trampoline() {
    core::arch::naked_asm!("mov rdi, r13", "call r12", "ud2")
}

// SAFETY: none; the swap is broken on purpose (see the type aliases) and this backend exists
// only for tests that expect it to misbehave. Stacks are owned as in the mmap backend.
unsafe impl<L: LostRegister> StackSwitch for Swap<L> {
    type Context = SwapContext;

    fn main_context() -> SwapContext {
        StackContext::main(std::ptr::null_mut())
    }

    fn new_context(
        config: &HubConfig,
        entry: Entry,
        arg: *mut c_void,
    ) -> Result<SwapContext, BackendError> {
        let stack = ContextStack::take(config.stack_size, "mutant swap backend")?;
        let top = match stack.stack() {
            Some(s) => s.top(),
            None => unreachable!("a taken context stack has a stack"),
        };
        let start = SwapStartFrame {
            frame: SavedFrame {
                control: ControlWords::DEFAULT,
                r15: 0,
                r14: 0,
                r13: arg as u64,
                r12: entry as *const () as u64,
                rbx: 0,
                rbp: 0,
                return_address: trampoline as *const () as u64,
            },
            entry_return: 0,
            pad: 0,
        };
        // SAFETY: `top` is the aligned top of our fresh stack, far more than 80 bytes deep.
        let sp = unsafe { place_below(top, start) };
        Ok(StackContext::on(stack, sp))
    }

    fn stack_bounds(ctx: &SwapContext) -> Option<crate::switch::StackBounds> {
        Some(ctx.bounds())
    }

    unsafe extern "C" fn switch(from: *mut SwapContext, to: *mut SwapContext, _from_dying: bool) {
        // SAFETY: both contexts are live, distinct and of this thread (switch's contract), `to`
        // new or suspended in a swap; the swap stores `from`'s stack pointer before loading
        // `to`'s (and then breaks the register contract, on purpose).
        unsafe { (L::SWAP)(&raw mut (*from).saved, (*to).saved) }
    }
}
