//! Register-swap mutants: a stack per greenlet (the mmap backend's stacks, pools and guard
//! pages, used as they are) and a copy of its naked-asm swap with one restore left out.

use crate::greenlet::{BackendError, HubConfig};
use crate::mmap::{MainGuard, Stack};
use crate::switch::{Entry, StackSwitch};
use std::ffi::c_void;

/// Which restore the swap leaves out.
const RBX: u8 = 1;
const MXCSR: u8 = 2;

/// A stack per greenlet with a broken register swap (`BUG`: which restore is missing).
pub struct Swap<const BUG: u8>;

/// Bug: the swap pushes rbx when it suspends a context but does not pop it when it resumes
/// one: a resumed context gets the rbx of whoever switched to it.
pub type MutantRbx = Swap<RBX>;

/// Bug: the swap stores MXCSR when it suspends a context but does not load it when it resumes
/// one: a resumed context runs with the MXCSR (rounding mode, exception masks) of whoever
/// switched to it.
pub type MutantMxcsr = Swap<MXCSR>;

/// A greenlet's switching state: the saved stack pointer and its own stack (none for main).
pub struct SwapContext {
    sp: *mut u8,
    stack: Option<Stack>,
    _main: Option<MainGuard>,
}

impl Drop for SwapContext {
    fn drop(&mut self) {
        if let Some(stack) = self.stack.take() {
            stack.recycle();
        }
    }
}

/// Default MXCSR (all exceptions masked, round to nearest) and x87 control word.
const MXCSR_DEFAULT: u64 = 0x1F80;
const FPCW_DEFAULT: u64 = 0x037F;

/// The mmap backend's swap, but rbx is skipped (`add rsp, 8`) instead of popped.
#[unsafe(naked)]
unsafe extern "sysv64" fn swap_keeping_rbx(_from_sp: *mut *mut u8, _to_sp: *mut u8) {
    core::arch::naked_asm!(
        "push rbp",
        "push rbx",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "sub rsp, 8",
        "stmxcsr [rsp]",
        "fnstcw [rsp + 4]",
        "mov [rdi], rsp",
        "mov rsp, rsi",
        "ldmxcsr [rsp]",
        "fldcw [rsp + 4]",
        "add rsp, 8",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "add rsp, 8", // the bug: should be `pop rbx`
        "pop rbp",
        "ret",
    )
}

/// The mmap backend's swap, but without the `ldmxcsr`.
#[unsafe(naked)]
unsafe extern "sysv64" fn swap_keeping_mxcsr(_from_sp: *mut *mut u8, _to_sp: *mut u8) {
    core::arch::naked_asm!(
        "push rbp",
        "push rbx",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "sub rsp, 8",
        "stmxcsr [rsp]",
        "fnstcw [rsp + 4]",
        "mov [rdi], rsp",
        "mov rsp, rsi",
        // the bug: `ldmxcsr [rsp]` belongs here
        "fldcw [rsp + 4]",
        "add rsp, 8",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbx",
        "pop rbp",
        "ret",
    )
}

/// Where a new stack's first swap returns to: r12 holds the entry, r13 its argument.
#[unsafe(naked)]
unsafe extern "sysv64" fn trampoline() {
    core::arch::naked_asm!("mov rdi, r13", "call r12", "ud2")
}

// SAFETY: none; the swap is broken on purpose (see the type aliases) and this backend exists
// only for tests that expect it to misbehave. Stacks are owned as in the mmap backend.
unsafe impl<const BUG: u8> StackSwitch for Swap<BUG> {
    type Context = SwapContext;

    fn main_context() -> SwapContext {
        SwapContext {
            sp: std::ptr::null_mut(),
            stack: None,
            _main: Some(MainGuard::new()),
        }
    }

    fn new_context(
        config: &HubConfig,
        entry: Entry,
        arg: *mut c_void,
    ) -> Result<SwapContext, BackendError> {
        let stack = Stack::take(config.stack_size, "mutant swap backend")?;
        let top = stack.top() as *mut u64;
        // The mmap backend's layout, from the top down: [0: fake return address]
        // [trampoline] [rbp=0] [rbx] [r12=entry] [r13=arg] [r14] [r15] [mxcsr | fpcw << 32].
        let words: [u64; 10] = [
            MXCSR_DEFAULT | (FPCW_DEFAULT << 32),
            0,
            0,
            arg as u64,
            entry as *const () as u64,
            0,
            0,
            trampoline as *const () as u64,
            0,
            0,
        ];
        // SAFETY: the 80 bytes below `top` lie in the usable part of our fresh stack.
        let sp = unsafe {
            let sp = top.sub(words.len());
            std::ptr::copy_nonoverlapping(words.as_ptr(), sp, words.len());
            sp
        };
        Ok(SwapContext {
            sp: sp as *mut u8,
            stack: Some(stack),
            _main: None,
        })
    }

    unsafe fn switch(from: *mut SwapContext, to: *mut SwapContext, _from_dying: bool) {
        // SAFETY: both contexts are live, distinct and of this thread (switch's contract), `to`
        // new or suspended in a swap; the swap stores `from`'s stack pointer before loading
        // `to`'s (and then breaks the register contract, on purpose).
        unsafe {
            if BUG == RBX {
                swap_keeping_rbx(&raw mut (*from).sp, (*to).sp)
            } else {
                swap_keeping_mxcsr(&raw mut (*from).sp, (*to).sp)
            }
        }
    }
}
