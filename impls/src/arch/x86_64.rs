//! x86-64 System V: THE callee-saved frame. Every naked switch function in this crate (the
//! register probe, the register-swap mutants) and the stack-copy integration test build and
//! tear down their frames with the assembly-text macros defined here, so the list of registers
//! a switch preserves, their order and the frame layout are written once. The mmap backend's
//! switch is [`inline_switch!`] (below, see "The inline switch"): one `asm!` statement inlined
//! at the call site, whose frame is [`SwitchFrame`]; stack-copy's switch (`sy_switch!`, and
//! its naked `sy_start`) is built from the same two halves, [`switch_suspend!`] and
//! [`switch_resume!`], around its save and restore calls.
//!
//! # The frame
//!
//! [`save_frame!`] pushes rbp, rbx, r12, r13, r14 and r15, reserves 8 bytes plus `scratch`
//! more, and stores MXCSR at `[rsp]` and the x87 control word at `[rsp + 4]`.
//! [`restore_frame!`] undoes it: loads both control words, drops the reserved bytes and pops
//! the six registers, leaving rsp at the return address. From the stack pointer up (the
//! layout [`SavedFrame`] spells out for `scratch = 0`):
//!
//! ```text
//! [mxcsr: 4][x87 cw: 2][pad: 2][scratch][r15][r14][r13][r12][rbx][rbp][return address]
//! ```
//!
//! The pieces are macros too: [`push_callee_saved!`] / [`pop_callee_saved!`] (the six
//! general-purpose registers only, for code that does not touch the control words),
//! [`store_control_words!`] / [`load_control_words!`] and [`pop_frame!`] (everything but the
//! control-word loads, for code that reloads them conditionally).
//!
//! # Losing one register, on purpose
//!
//! Every restoring macro takes an optional `lost = REG` argument, `REG` one of `rbx`, `rbp`,
//! `r12`, `r13`, `r14`, `r15`, `mxcsr`, `x87_cw` (or `none`, the default): exactly that one
//! restore is left out (a general-purpose register's slot is skipped with `add rsp, 8`
//! instead of popped, a control word is not reloaded), and everything else, including the
//! stack pointer, is as in the real frame. That is how the register mutants are made:
//! `restore_frame!(lost = rbx)` is the real swap that forgets rbx. The native backends
//! generate their switch functions from macros that pass such an argument on (see
//! `crate::backend::mmap::mmap_backend!` and `crate::backend::stack_copy::stack_copy_backend!`),
//! so a lost-register mutant of either is one line.
//!
//! # The inline switch
//!
//! [`inline_switch!`] pushes only rbp, rbx, the control words and the address it continues at
//! ([`SwitchFrame`]); r12-r15 and the caller-saved registers are `asm!` clobbers, so the
//! compiler keeps whichever are live. Its `lost = REG` makes the same mutants: rbx / rbp's pop
//! skipped, r12-r15 left out of the clobbers, a control word never reloaded.
//!
//! (Over 600 lines on purpose: the frame layouts, the macros that must match them and the tests
//! of both are kept in one file, so a change to one is made beside the others.)
//!
//! The macros expand to string literals (one instruction per line) for `naked_asm!` / `asm!`
//! templates; they are exported (hidden at the crate root, re-exported here) so that tests
//! outside the crate use the same frame.

/// The x86-64 SysV callee-saved general-purpose registers, in push order.
pub const CALLEE_SAVED: [&str; 6] = ["rbp", "rbx", "r12", "r13", "r14", "r15"];

/// The MXCSR bits a switch preserves: the control bits (6-15: denormals-are-zero, exception
/// masks, rounding, flush-to-zero). Bits 0-5 are the sticky exception flags, which the x86-64
/// System V ABI does not preserve across a call.
pub const MXCSR_CONTROL: u32 = 0xFFC0;

/// MXCSR a new context starts with: all exceptions masked, round to nearest.
pub const MXCSR_DEFAULT: u32 = 0x1F80;
/// x87 control word a new context starts with: all exceptions masked, 64-bit precision, round
/// to nearest.
pub const X87_CW_DEFAULT: u16 = 0x037F;

/// The control-word slot at the bottom of a saved frame (`[rsp]`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlWords {
    /// MXCSR, as `stmxcsr` stores it.
    pub mxcsr: u32,
    /// The x87 control word, as `fnstcw` stores it.
    pub x87_cw: u16,
    /// Padding to 8 bytes.
    pub pad: u16,
}

impl ControlWords {
    /// The control words a new context starts with.
    pub const DEFAULT: ControlWords = ControlWords {
        mxcsr: MXCSR_DEFAULT,
        x87_cw: X87_CW_DEFAULT,
        pad: 0,
    };
}

/// The frame [`save_frame!`] leaves (with no scratch), from the stack pointer up, and that
/// [`restore_frame!`] followed by `ret` consumes: a suspended context's stack pointer points
/// at one. A new context for a symmetric swap starts from one written by hand.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SavedFrame {
    /// `[rsp]`: MXCSR and the x87 control word.
    pub control: ControlWords,
    /// The callee-saved general-purpose registers, in pop order.
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub rbx: u64,
    pub rbp: u64,
    /// Where the final `ret` goes.
    pub return_address: u64,
}

const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(offset_of!(ControlWords, mxcsr) == 0); // stmxcsr [rsp]
    assert!(offset_of!(ControlWords, x87_cw) == 4); // fnstcw [rsp + 4]
    assert!(size_of::<ControlWords>() == 8); // sub rsp, 8
    assert!(offset_of!(SavedFrame, r15) == 8);
    assert!(offset_of!(SavedFrame, rbx) == 40);
    assert!(offset_of!(SavedFrame, rbp) == 48);
    assert!(offset_of!(SavedFrame, return_address) == 56);
};

/// The frame a new context of [`inline_switch!`] starts from (the mmap backend's): the first
/// resume (`pop rax; jmp rax`) goes to `start` (a trampoline), which pops `entry` and `arg` and
/// jumps to `entry(arg)` with the stack pointer at `entry_return`, a zero return address that
/// ends backtraces. 32 bytes: written just below a 16-byte aligned stack top it leaves the
/// stack pointer 8 mod 16 at the jump, as after a call.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct StartFrame {
    /// The trampoline the first resume continues at.
    pub start: u64,
    /// The context's entry function.
    pub entry: u64,
    /// Its argument.
    pub arg: u64,
    /// 0: the fake return address of `entry`.
    pub entry_return: u64,
}

const _: () = assert!(std::mem::size_of::<StartFrame>().is_multiple_of(16));

/// Writes `frame` just below `top` and returns its address: the stack pointer a new context
/// starts with.
///
/// # Safety
///
/// `top` is the 16-byte aligned top of a stack the caller owns, with at least
/// `size_of::<T>()` writable bytes below it that nothing else uses.
pub(crate) unsafe fn place_below<T>(top: *mut u8, frame: T) -> *mut u8 {
    // SAFETY: the caller guarantees the `size_of::<T>()` bytes below `top` are ours; every
    // frame type here is made of 8-byte words (aligned at a 16-byte aligned top).
    unsafe {
        let at = (top as *mut T).sub(1);
        at.write(frame);
        at as *mut u8
    }
}

/// The frame [`inline_switch!`] leaves on a suspended stack, from its stack pointer up: where
/// the context continues, its control words, rbx and rbp. (r12-r15 are not in it: the switch
/// declares them clobbered, and the compiler keeps whichever of them are live in the
/// surrounding function's own frame.) A new context's [`StartFrame`] begins the same way:
/// `start` is where its first resume continues.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SwitchFrame {
    /// `[rsp]`: the address the resumer jumps to (`pop rax; jmp rax`).
    pub resume: u64,
    /// `[rsp + 8]`: MXCSR and the x87 control word.
    pub control: ControlWords,
    pub rbx: u64,
    pub rbp: u64,
}

const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(offset_of!(SwitchFrame, resume) == 0); // pop rax
    assert!(offset_of!(SwitchFrame, control) == 8); // stmxcsr [rsp] before the push
    assert!(offset_of!(SwitchFrame, rbx) == 16);
    assert!(offset_of!(SwitchFrame, rbp) == 24);
    assert!(size_of::<SwitchFrame>() == 32); // rsp stays 16-byte aligned
    assert!(offset_of!(StartFrame, start) == offset_of!(SwitchFrame, resume));
};

// ---- the frame macros ----

#[doc(hidden)]
#[macro_export]
macro_rules! __sy_push_callee_saved {
    () => {
        "push rbp\npush rbx\npush r12\npush r13\npush r14\npush r15\n"
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __sy_pop_callee_saved {
    () => {
        $crate::__sy_pop_callee_saved!(lost = none)
    };
    (lost = $lost:ident) => {
        concat!(
            $crate::__sy_check_lost!($lost),
            $crate::__sy_pop!($lost, r15),
            $crate::__sy_pop!($lost, r14),
            $crate::__sy_pop!($lost, r13),
            $crate::__sy_pop!($lost, r12),
            $crate::__sy_pop!($lost, rbx),
            $crate::__sy_pop!($lost, rbp),
        )
    };
}

/// `pop REG`, or skipping its slot when it is the lost one.
#[doc(hidden)]
#[macro_export]
macro_rules! __sy_pop {
    (rbx, rbx) => {
        "add rsp, 8\n"
    };
    (rbp, rbp) => {
        "add rsp, 8\n"
    };
    (r12, r12) => {
        "add rsp, 8\n"
    };
    (r13, r13) => {
        "add rsp, 8\n"
    };
    (r14, r14) => {
        "add rsp, 8\n"
    };
    (r15, r15) => {
        "add rsp, 8\n"
    };
    ($lost:ident, $reg:ident) => {
        concat!("pop ", stringify!($reg), "\n")
    };
}

/// Accepts exactly the register names a frame can lose (expanding to nothing): a typo in a
/// mutant's `lost = ...` is a compile error, not a silently correct swap.
#[doc(hidden)]
#[macro_export]
macro_rules! __sy_check_lost {
    (none) => {
        ""
    };
    (rbx) => {
        ""
    };
    (rbp) => {
        ""
    };
    (r12) => {
        ""
    };
    (r13) => {
        ""
    };
    (r14) => {
        ""
    };
    (r15) => {
        ""
    };
    (mxcsr) => {
        ""
    };
    (x87_cw) => {
        ""
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __sy_store_control_words {
    () => {
        "stmxcsr [rsp]\nfnstcw [rsp + 4]\n"
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __sy_load_control_words {
    () => {
        $crate::__sy_load_control_words!(lost = none)
    };
    (lost = mxcsr) => {
        "fldcw [rsp + 4]\n"
    };
    (lost = x87_cw) => {
        "ldmxcsr [rsp]\n"
    };
    (lost = $lost:ident) => {
        concat!(
            $crate::__sy_check_lost!($lost),
            "ldmxcsr [rsp]\nfldcw [rsp + 4]\n"
        )
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __sy_save_frame {
    () => {
        $crate::__sy_save_frame!(scratch = 0)
    };
    (scratch = $scratch:literal) => {
        concat!(
            $crate::__sy_push_callee_saved!(),
            "sub rsp, 8 + ",
            $scratch,
            "\n",
            $crate::__sy_store_control_words!(),
        )
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __sy_pop_frame {
    () => {
        $crate::__sy_pop_frame!(scratch = 0, lost = none)
    };
    (lost = $lost:ident) => {
        $crate::__sy_pop_frame!(scratch = 0, lost = $lost)
    };
    (scratch = $scratch:literal) => {
        $crate::__sy_pop_frame!(scratch = $scratch, lost = none)
    };
    (scratch = $scratch:literal, lost = $lost:ident) => {
        concat!(
            "add rsp, 8 + ",
            $scratch,
            "\n",
            $crate::__sy_pop_callee_saved!(lost = $lost),
        )
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __sy_restore_frame {
    () => {
        $crate::__sy_restore_frame!(scratch = 0, lost = none)
    };
    (lost = $lost:ident) => {
        $crate::__sy_restore_frame!(scratch = 0, lost = $lost)
    };
    (scratch = $scratch:literal) => {
        $crate::__sy_restore_frame!(scratch = $scratch, lost = none)
    };
    (scratch = $scratch:literal, lost = $lost:ident) => {
        concat!(
            $crate::__sy_load_control_words!(lost = $lost),
            $crate::__sy_pop_frame!(scratch = $scratch, lost = $lost),
        )
    };
}

/// `push rbp`, `push rbx`, `push r12` ... `push r15`: the callee-saved general-purpose
/// registers.
pub use crate::__sy_push_callee_saved as push_callee_saved;

/// The pops matching [`push_callee_saved!`] (`pop r15` ... `pop rbp`); with `lost = REG` one
/// of them skips its slot instead.
pub use crate::__sy_pop_callee_saved as pop_callee_saved;

/// `stmxcsr [rsp]`, `fnstcw [rsp + 4]`.
pub use crate::__sy_store_control_words as store_control_words;

/// `ldmxcsr [rsp]`, `fldcw [rsp + 4]`; with `lost = mxcsr` or `lost = x87_cw` one is left out.
pub use crate::__sy_load_control_words as load_control_words;

/// The whole frame: [`push_callee_saved!`], `sub rsp, 8 + scratch`, [`store_control_words!`].
/// `save_frame!()` or `save_frame!(scratch = N)` (N a multiple of 8; `[rsp + 8]` onwards).
pub use crate::__sy_save_frame as save_frame;

/// The end of a frame without the control-word loads: `add rsp, 8 + scratch`,
/// [`pop_callee_saved!`]. Optional `scratch = N`, `lost = REG` (in that order).
pub use crate::__sy_pop_frame as pop_frame;

/// Tears down [`save_frame!`]'s frame: [`load_control_words!`] then [`pop_frame!`]; rsp is
/// left at the return address. Optional `scratch = N`, `lost = REG` (in that order).
pub use crate::__sy_restore_frame as restore_frame;

// ---- the inline switch ----

/// The first half of [`inline_switch!`], as text: pushes rbp and rbx, stores MXCSR and the
/// x87 control word below them (and keeps copies in ecx / edx for the resumed side's
/// comparison), then pushes the address of label `2`, where this context continues.
#[doc(hidden)]
#[macro_export]
macro_rules! __sy_switch_suspend {
    () => {
        concat!(
            "push rbp\n",
            "push rbx\n",
            "sub rsp, 8\n",
            "stmxcsr [rsp]\n",
            "fnstcw [rsp + 4]\n",
            "mov ecx, [rsp]\n",
            "movzx edx, word ptr [rsp + 4]\n",
            "lea rax, [rip + 2f]\n",
            "push rax\n",
        )
    };
}

/// The control-word reload of a resumed context (out of line, jumped to only when a word
/// differs from the switcher's), with `lost = mxcsr` / `lost = x87_cw` leaving one load out.
#[doc(hidden)]
#[macro_export]
macro_rules! __sy_switch_reload {
    (mxcsr) => {
        "fldcw [rsp + 4]\n"
    };
    (x87_cw) => {
        "ldmxcsr [rsp]\n"
    };
    ($lost:ident) => {
        concat!(
            $crate::__sy_check_lost!($lost),
            "ldmxcsr [rsp]\nfldcw [rsp + 4]\n"
        )
    };
}

/// The second half of [`inline_switch!`], as text, after the jump into the other context:
/// label `3`, the out-of-line control-word reload; label `2`, where a suspended context
/// continues: its control words are reloaded only if the MXCSR control bits
/// ([`MXCSR_CONTROL`]) or the x87 control word differ from the switcher's (ecx / edx), then
/// rbx and rbp are popped (one of them skipped with `lost = rbx|rbp`).
#[doc(hidden)]
#[macro_export]
macro_rules! __sy_switch_resume {
    (lost = $lost:ident) => {
        concat!(
            "3:\n",
            $crate::__sy_switch_reload!($lost),
            "jmp 4f\n",
            "2:\n",
            "xor ecx, [rsp]\n",
            "test ecx, 0xFFC0\n",
            "jnz 3b\n",
            "cmp dx, word ptr [rsp + 4]\n",
            "jne 3b\n",
            "4:\n",
            "add rsp, 8\n",
            $crate::__sy_pop!($lost, rbx),
            $crate::__sy_pop!($lost, rbp),
        )
    };
}

/// Invokes the macro `M` as `M!(@asm ARGS... LOST, CLOBBERS)`, where CLOBBERS declares
/// r12-r15 clobbered (`lateout`) but for `LOST`: an inline switch saves none of r12-r15
/// itself and leaves them to the compiler, so leaving one out of the clobbers makes the
/// switch that loses it (the `lost = REG` mutants). Any other `LOST` (`none`, `rbx`, `rbp`,
/// `mxcsr`, `x87_cw`) gets all four. The one table the inline switches share
/// ([`inline_switch!`], stack-copy's `sy_switch!`).
#[doc(hidden)]
#[macro_export]
macro_rules! __sy_with_clobbers {
    ([$($m:tt)*] ($($args:tt)*) r12) => {
        $($m)*!(@asm $($args)* r12, lateout("r13") _, lateout("r14") _, lateout("r15") _,)
    };
    ([$($m:tt)*] ($($args:tt)*) r13) => {
        $($m)*!(@asm $($args)* r13, lateout("r12") _, lateout("r14") _, lateout("r15") _,)
    };
    ([$($m:tt)*] ($($args:tt)*) r14) => {
        $($m)*!(@asm $($args)* r14, lateout("r12") _, lateout("r13") _, lateout("r15") _,)
    };
    ([$($m:tt)*] ($($args:tt)*) r15) => {
        $($m)*!(@asm $($args)* r15, lateout("r12") _, lateout("r13") _, lateout("r14") _,)
    };
    ([$($m:tt)*] ($($args:tt)*) $lost:ident) => {
        $($m)*!(@asm $($args)* $lost,
            lateout("r12") _, lateout("r13") _, lateout("r14") _, lateout("r15") _,)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __sy_inline_switch {
    (from = $from:expr, to = $to:expr, lost = $lost:ident) => {
        $crate::__sy_with_clobbers!([$crate::__sy_inline_switch] ($from, $to,) $lost)
    };
    (@asm $from:expr, $to:expr, $lost:ident, $($clobber:tt)*) => {
        core::arch::asm!(
            $crate::__sy_switch_suspend!(),
            "mov [rdi], rsp",
            "mov rsp, [rsi]",
            "pop rax",
            "jmp rax",
            $crate::__sy_switch_resume!(lost = $lost),
            in("rdi") $from,
            in("rsi") $to,
            $($clobber)*
            clobber_abi("sysv64"),
        )
    };
}

/// The first half of [`inline_switch!`] (`push rbp` ... `push` of the resume address), as
/// text.
pub use crate::__sy_switch_suspend as switch_suspend;

/// The second half of [`inline_switch!`] (the resume point and its pops), as text; takes
/// `lost = REG` (`none` for the real switch).
pub use crate::__sy_switch_resume as switch_resume;

/// The whole switch as one `asm!` statement, for inlining at the call site:
/// `inline_switch!(from = FROM_SP_SLOT, to = TO_SP_SLOT, lost = none)`, both `*mut *mut u8`
/// (the running context's stack pointer is stored at `*FROM_SP_SLOT`, the target's read from
/// `*TO_SP_SLOT`). Must be used inside an `unsafe` block whose caller guarantees that `to`'s
/// slot holds the stack pointer of a context suspended by this same switch (or of a new one
/// whose stack starts with a [`StartFrame`]), and that nothing else runs on either stack.
///
/// What it saves, and how:
///
/// - rbx and rbp (which `asm!` cannot name as operands) are pushed and popped by the asm
///   itself, with MXCSR and the x87 control word (the [`SwitchFrame`]);
/// - r12-r15 are declared clobbered (`lateout`), and every caller-saved register with
///   `clobber_abi("sysv64")`: the compiler saves, in its own frame, only the ones live
///   across the switch (none, in a tight loop), and a non-inlined copy of the switch saves
///   all four in its prologue as any function that uses them does;
/// - the control words are stored on every suspension but reloaded on resume only when the
///   control bits differ from the switcher's: an `ldmxcsr` that changes MXCSR cost 90-220 ns
///   on the development machine (KVM Xeon), so the sticky exception flags (bits 0-5, which
///   the ABI does not preserve across a call either) do not count: a context resumed with
///   the same control bits keeps the switcher's flags;
/// - the resume is `pop rax; jmp rax`: no `call` or `ret`, so the return-address predictor's
///   stack is left as it was, and the indirect jump is predicted from its own history.
///
/// `lost = REG` (a mutant) loses exactly that register: rbx/rbp's pop becomes `add rsp, 8`,
/// r12-r15 is left out of the clobbers (so the compiler believes it survives, and it holds
/// the switcher's value), a control word is never reloaded.
pub use crate::__sy_inline_switch as inline_switch;

#[cfg(test)]
mod tests {
    use super::{restore_frame, save_frame};

    /// Every restore a frame can lose, with the one line that disappears or changes.
    macro_rules! each_lost {
        ($check:ident) => {
            $check!(rbx, "pop rbx");
            $check!(rbp, "pop rbp");
            $check!(r12, "pop r12");
            $check!(r13, "pop r13");
            $check!(r14, "pop r14");
            $check!(r15, "pop r15");
            $check!(mxcsr, "ldmxcsr [rsp]");
            $check!(x87_cw, "fldcw [rsp + 4]");
        };
    }

    fn lines(asm: &str) -> Vec<&str> {
        asm.lines().collect()
    }

    #[test]
    fn the_frame_saves_every_callee_saved_register_and_restores_them_in_reverse() {
        let save = lines(save_frame!());
        let restore = lines(restore_frame!());
        assert_eq!(
            save,
            [
                "push rbp",
                "push rbx",
                "push r12",
                "push r13",
                "push r14",
                "push r15",
                "sub rsp, 8 + 0",
                "stmxcsr [rsp]",
                "fnstcw [rsp + 4]",
            ]
        );
        assert_eq!(
            restore,
            [
                "ldmxcsr [rsp]",
                "fldcw [rsp + 4]",
                "add rsp, 8 + 0",
                "pop r15",
                "pop r14",
                "pop r13",
                "pop r12",
                "pop rbx",
                "pop rbp",
            ]
        );
        for reg in super::CALLEE_SAVED {
            assert!(save.contains(&format!("push {reg}").as_str()));
        }
        assert_eq!(restore_frame!(), restore_frame!(lost = none));
        assert_eq!(
            lines(restore_frame!(scratch = 16))[2],
            "add rsp, 8 + 16",
            "scratch widens the reserved space"
        );
    }

    #[test]
    fn the_inline_switch_loses_exactly_the_register_it_names() {
        use super::{switch_resume, switch_suspend};
        let suspend = lines(switch_suspend!());
        for reg in ["rbp", "rbx"] {
            assert!(suspend.contains(&format!("push {reg}").as_str()));
        }
        assert!(suspend.contains(&"stmxcsr [rsp]"));
        assert!(suspend.contains(&"fnstcw [rsp + 4]"));
        let intact = lines(switch_resume!(lost = none));
        for line in ["pop rbx", "pop rbp", "ldmxcsr [rsp]", "fldcw [rsp + 4]"] {
            assert_eq!(intact.iter().filter(|l| **l == line).count(), 1, "{line}");
        }
        macro_rules! check {
            ($reg:ident, $restore:literal) => {{
                let lost = lines(switch_resume!(lost = $reg));
                let differing: Vec<usize> = (0..intact.len())
                    .filter(|&i| lost.get(i) != Some(&intact[i]))
                    .collect();
                match stringify!($reg) {
                    // Not in the text: the switch leaves them out of its clobbers.
                    "r12" | "r13" | "r14" | "r15" => assert_eq!(lost, intact),
                    "rbx" | "rbp" => {
                        assert_eq!(differing.len(), 1, "{}", stringify!($reg));
                        assert_eq!(intact[differing[0]], $restore);
                        assert_eq!(lost[differing[0]], "add rsp, 8");
                    }
                    _ => {
                        let mut expected = intact.clone();
                        expected.retain(|l| *l != $restore);
                        assert_eq!(lost, expected, "{}", stringify!($reg));
                    }
                }
            }};
        }
        each_lost!(check);
    }

    #[test]
    fn a_lost_register_drops_exactly_its_own_restore() {
        macro_rules! check {
            ($reg:ident, $restore:literal) => {{
                let intact = lines(restore_frame!());
                let lost = lines(restore_frame!(lost = $reg));
                let differing: Vec<usize> = (0..intact.len())
                    .filter(|&i| lost.get(i) != Some(&intact[i]))
                    .collect();
                if $restore.starts_with("pop") {
                    // The slot is skipped instead: same length, same stack pointer.
                    assert_eq!(lost.len(), intact.len(), "{}", stringify!($reg));
                    assert_eq!(differing.len(), 1, "{}", stringify!($reg));
                    assert_eq!(intact[differing[0]], $restore);
                    assert_eq!(lost[differing[0]], "add rsp, 8");
                } else {
                    let mut expected = intact.clone();
                    expected.retain(|l| *l != $restore);
                    assert_eq!(lost, expected, "{}", stringify!($reg));
                    assert_eq!(lost.len() + 1, intact.len());
                }
                assert_eq!(
                    restore_frame!(scratch = 8, lost = $reg).lines().count(),
                    lost.len()
                );
            }};
        }
        each_lost!(check);
    }
}
