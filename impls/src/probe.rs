//! The register probe: [`Probed<S>`] is backend `S` with every switch checked, at the
//! switching boundary itself, for callee-saved registers and floating-point control words it
//! failed to hand back.
//!
//! A switch must resume a context with exactly the rbx, rbp, r12-r15, MXCSR control bits and
//! x87 control word it was suspended with (see [`crate::switch::StackSwitch`]). Code around a
//! switch rarely notices when a backend gets that wrong: the Rust frames between a caller and
//! the backend's assembly save and restore those registers themselves, and two contexts often
//! hold the same values. So [`Probed<S>`]'s `switch` fills a record on its stack and calls a
//! naked function, `probe_switch`, that:
//!
//! 1. saves the real callee-saved registers, MXCSR and x87 control word (the frame of
//!    [`crate::arch::x86_64`]) and keeps the record's address in that frame;
//! 2. loads canaries: six 64-bit values in rbx, rbp, r12-r15, derived from the suspending
//!    context's address and a per-thread switch counter (splitmix64), so every context and
//!    every switch has its own and a register lost, or swapped with another context's, reads
//!    back wrong; and an MXCSR and x87 control word whose rounding (and, natively,
//!    flush-to-zero / denormals-are-zero and precision) fields cycle with the switch counter
//!    (16 and 12 patterns), exception masks kept;
//! 3. `call`s `S::switch(from, to, dying)` directly (the trait method has the C ABI for this):
//!    no Rust frame sits between the canaries and the backend;
//! 4. when `from` is resumed, stores the registers and control words it came back with into
//!    the record, restores the real ones and returns.
//!
//! The Rust side then compares: on a mismatch it keeps the first [`Corruption`] (register,
//! expected value, seen value) of the thread for [`take_corruption`], which the interpreter
//! calls after every hub switch and turns into a fatal `register-corruption` finding. The
//! resumed code itself runs on with its own, intact registers (the probe restored them), so a
//! lost register is reported, not acted on. A dying switch never returns, so it is not checked
//! (its canaries still reach the context it resumes, where a lost one shows). [`checks`]
//! counts the checked switches (`switchyard stats`).
//!
//! Under Valgrind, which models only the rounding fields of both control words, only those
//! are varied. Elsewhere than x86-64 Linux, `Probed<S>` is `S` unchecked.

use crate::switch::{Guarantees, StackSwitch};
use std::cell::Cell;
use std::ffi::c_void;
use std::fmt;
use std::marker::PhantomData;

/// Backend `S` with a register probe around every switch (see the module documentation).
pub struct Probed<S>(PhantomData<S>);

/// The registers the probe checks, in the order it checks (and reports) them.
pub const REGISTERS: [&str; 8] = ["rbx", "rbp", "r12", "r13", "r14", "r15", "mxcsr", "x87-cw"];

/// A register a switch did not preserve: the first one the probe saw on this thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Corruption {
    /// One of [`REGISTERS`].
    pub register: &'static str,
    /// What the suspending context had in it (for a control word: the whole word).
    pub expected: u64,
    /// What it came back with.
    pub seen: u64,
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} expected {:#x} saw {:#x}",
            self.register, self.expected, self.seen
        )
    }
}

/// Per-thread probe state.
struct State {
    /// Probed switches made on this thread (the canaries' second input).
    switches: Cell<u64>,
    /// Probed switches that returned and were compared.
    checks: Cell<u64>,
    /// The first corruption seen since the last [`take_corruption`].
    corruption: Cell<Option<Corruption>>,
}

thread_local! {
    static STATE: State = const {
        State {
            switches: Cell::new(0),
            checks: Cell::new(0),
            corruption: Cell::new(None),
        }
    };
}

/// Takes the first register corruption the probe saw on this thread since the last call.
pub fn take_corruption() -> Option<Corruption> {
    STATE.with(|s| s.corruption.take())
}

/// How many probed switches have returned and been checked on this thread so far.
pub fn checks() -> u64 {
    STATE.with(|s| s.checks.get())
}

fn note(corruption: Option<Corruption>) {
    STATE.with(|s| {
        s.checks.set(s.checks.get() + 1);
        if corruption.is_some() && s.corruption.get().is_none() {
            s.corruption.set(corruption);
        }
    });
}

fn next_switch() -> u64 {
    STATE.with(|s| {
        let n = s.switches.get();
        s.switches.set(n.wrapping_add(1));
        n
    })
}

/// splitmix64's output function, on `x` plus its increment.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// MXCSR fields the probe varies: rounding control (13-14), flush to zero (15), denormals
/// are zero (6).
const MXCSR_VARIED: u32 = 0xE040;
/// The part of [`MXCSR_VARIED`] Valgrind models: rounding control.
const MXCSR_ROUNDING: u32 = 0x6000;
/// MXCSR control bits (6-15); bits 0-5 are sticky exception flags, not compared.
const MXCSR_CONTROL: u32 = 0xFFC0;
/// x87 control-word fields the probe varies: precision (8-9) and rounding (10-11) control.
const X87_VARIED: u16 = 0x0F00;
/// The part of [`X87_VARIED`] Valgrind models: rounding control.
const X87_ROUNDING: u16 = 0x0C00;
/// x87 control bits compared: exception masks (0-5), precision, rounding, infinity (8-12).
const X87_CONTROL: u16 = 0x1F3F;

/// What the probe loads before a switch: derived from the suspending context's address and
/// the thread's switch number, so distinct per context and per switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Canaries {
    /// rbx, rbp, r12, r13, r14, r15.
    gprs: [u64; 6],
    /// The varied MXCSR fields (within [`MXCSR_VARIED`]).
    mxcsr: u32,
    /// The varied x87 control-word fields (within [`X87_VARIED`]).
    x87: u16,
    /// The MXCSR fields varied: [`MXCSR_VARIED`], or [`MXCSR_ROUNDING`] under Valgrind.
    mxcsr_varied: u32,
    /// The x87 fields varied: [`X87_VARIED`], or [`X87_ROUNDING`] under Valgrind.
    x87_varied: u16,
}

/// Distinct odd constants, one per general-purpose register: the canaries of one switch are
/// its seed XOR these, so no two registers of a switch hold the same value (a swap between
/// them shows), and two switches' canaries differ wherever their seeds do.
const REGISTER_SALT: [u64; 6] = [
    0x5b5b_0000_0000_cb01,
    0x5b5b_1111_0000_cb03,
    0x5b5b_2222_0000_cb05,
    0x5b5b_3333_0000_cb07,
    0x5b5b_4444_0000_cb09,
    0x5b5b_5555_0000_cb0b,
];

impl Canaries {
    /// The canaries of switch number `switch` from `context`; a control word the backend does
    /// not keep (`kept`) is not varied.
    fn new(context: usize, switch: u64, valgrind: bool, kept: Guarantees) -> Canaries {
        // One splitmix64 of (context, switch): different contexts and different switches of
        // a thread get different seeds (and so different values in every register).
        let seed = splitmix64((context as u64).rotate_left(32) ^ switch);
        let gprs = REGISTER_SALT.map(|salt| seed ^ salt);
        // The control words cycle with the switch number alone (16 MXCSR and 12 x87 patterns),
        // so a context resumed with a word loaded k switches after its own sees a different one
        // unless k is a multiple of 16 (12), whatever the addresses: a finding replays alike.
        let m = switch % 16;
        let rounding = ((m & 3) as u32) << 13;
        let mxcsr = rounding | (((m >> 2) & 1) as u32) << 15 | (((m >> 3) & 1) as u32) << 6;
        let x = switch % 12;
        // Precision control 1 is reserved: 0 (single), 2 (double), 3 (extended).
        let precision = [0u16, 2, 3][(x / 4) as usize] << 8;
        let x87 = ((x % 4) as u16) << 10 | precision;
        let (mut mxcsr_varied, mut x87_varied) = if valgrind {
            (MXCSR_ROUNDING, X87_ROUNDING)
        } else {
            (MXCSR_VARIED, X87_VARIED)
        };
        if !kept.mxcsr {
            mxcsr_varied = 0;
        }
        if !kept.x87_cw {
            x87_varied = 0;
        }
        Canaries {
            gprs,
            mxcsr: mxcsr & mxcsr_varied,
            x87: x87 & x87_varied,
            mxcsr_varied,
            x87_varied,
        }
    }
}

/// The record `probe_switch` works from, on [`Probed::switch`]'s stack (offsets are fixed: the
/// assembly uses them).
#[repr(C)]
struct Record {
    /// The canaries for rbx, rbp, r12, r13, r14, r15.
    expected: [u64; 6],
    /// What those registers held when the switch returned.
    seen: [u64; 6],
    /// In: the varied MXCSR fields; out: the whole MXCSR loaded (the real one, those fields
    /// replaced).
    mxcsr: u32,
    /// In: the varied x87 fields; out: the whole control word loaded.
    x87: u16,
    /// The x87 control-word bits kept from the real word (the others come from `x87`).
    x87_keep: u16,
    /// MXCSR when the switch returned.
    seen_mxcsr: u32,
    /// The x87 control word when the switch returned.
    seen_x87: u16,
    _pad: u16,
    /// The MXCSR bits kept from the real MXCSR (the others come from `mxcsr`).
    mxcsr_keep: u32,
    _pad2: u32,
    /// `S::switch`.
    switch: *const (),
    from: *mut c_void,
    to: *mut c_void,
    /// 0 or 1: `from_dying`.
    dying: u64,
}

const _: () = {
    use std::mem::offset_of;
    assert!(offset_of!(Record, expected) == 0);
    assert!(offset_of!(Record, seen) == 48);
    assert!(offset_of!(Record, mxcsr) == 96);
    assert!(offset_of!(Record, x87) == 100);
    assert!(offset_of!(Record, x87_keep) == 102);
    assert!(offset_of!(Record, seen_mxcsr) == 104);
    assert!(offset_of!(Record, seen_x87) == 108);
    assert!(offset_of!(Record, mxcsr_keep) == 112);
    assert!(offset_of!(Record, switch) == 120);
    assert!(offset_of!(Record, from) == 128);
    assert!(offset_of!(Record, to) == 136);
    assert!(offset_of!(Record, dying) == 144);
};

impl Record {
    /// Whether every register came back as it went in (of the control words, those `kept`).
    #[inline(always)]
    fn intact(&self, kept: Guarantees) -> bool {
        let mut differ = 0;
        for (e, s) in self.expected.iter().zip(&self.seen) {
            differ |= e ^ s;
        }
        differ == 0
            && (!kept.mxcsr || (self.mxcsr ^ self.seen_mxcsr) & MXCSR_CONTROL == 0)
            && (!kept.x87_cw || (self.x87 ^ self.seen_x87) & X87_CONTROL == 0)
    }

    /// The first register that came back other than it went in.
    #[cold]
    #[inline(never)]
    fn corruption(&self, kept: Guarantees) -> Option<Corruption> {
        for (i, (&expected, &seen)) in self.expected.iter().zip(&self.seen).enumerate() {
            if expected != seen {
                return Some(Corruption {
                    register: REGISTERS[i],
                    expected,
                    seen,
                });
            }
        }
        if kept.mxcsr && (self.mxcsr ^ self.seen_mxcsr) & MXCSR_CONTROL != 0 {
            return Some(Corruption {
                register: REGISTERS[6],
                expected: self.mxcsr.into(),
                seen: self.seen_mxcsr.into(),
            });
        }
        if kept.x87_cw && (self.x87 ^ self.seen_x87) & X87_CONTROL != 0 {
            return Some(Corruption {
                register: REGISTERS[7],
                expected: self.x87.into(),
                seen: self.seen_x87.into(),
            });
        }
        None
    }
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod imp {
    use super::Record;

    /// `probe_switch(record [rdi])`: see the module documentation. Frame:
    /// [`crate::arch::x86_64::save_frame!`] with 16 bytes of scratch (six pushes and 24 bytes
    /// below the return address, so rsp is 16-byte aligned at the call): `[rsp]` the real
    /// MXCSR, `[rsp + 4]` the real x87 control word, `[rsp + 8]` the record's address.
    #[unsafe(naked)]
    pub(super) unsafe extern "sysv64" fn probe_switch(_record: *mut Record) {
        core::arch::naked_asm!(
            crate::arch::x86_64::save_frame!(scratch = 16),
            "mov [rsp + 8], rdi",
            // The control words to load: the real ones with the varied fields replaced.
            "mov eax, [rsp]",
            "and eax, [rdi + 112]",
            "or eax, [rdi + 96]",
            "mov [rdi + 96], eax",
            "ldmxcsr [rdi + 96]",
            "movzx eax, word ptr [rsp + 4]",
            "and ax, [rdi + 102]",
            "or ax, [rdi + 100]",
            "mov [rdi + 100], ax",
            "fldcw [rdi + 100]",
            // The canaries.
            "mov rbx, [rdi]",
            "mov rbp, [rdi + 8]",
            "mov r12, [rdi + 16]",
            "mov r13, [rdi + 24]",
            "mov r14, [rdi + 32]",
            "mov r15, [rdi + 40]",
            // S::switch(from, to, dying).
            "mov rax, [rdi + 120]",
            "mov rdx, [rdi + 144]",
            "mov rsi, [rdi + 136]",
            "mov rdi, [rdi + 128]",
            "call rax",
            // `from` is resumed: record what it came back with.
            "mov rax, [rsp + 8]",
            "mov [rax + 48], rbx",
            "mov [rax + 56], rbp",
            "mov [rax + 64], r12",
            "mov [rax + 72], r13",
            "mov [rax + 80], r14",
            "mov [rax + 88], r15",
            "stmxcsr [rax + 104]",
            "fnstcw [rax + 108]",
            crate::arch::x86_64::restore_frame!(scratch = 16),
            "ret",
        )
    }

    /// Whether this process runs under Valgrind (its `RUNNING_ON_VALGRIND` request), asked
    /// once.
    pub(super) fn valgrind() -> bool {
        use std::sync::atomic::{AtomicU8, Ordering};
        static ANSWER: AtomicU8 = AtomicU8::new(0);
        match ANSWER.load(Ordering::Relaxed) {
            1 => false,
            2 => true,
            _ => {
                let yes = crate::stack::running_on_valgrind();
                ANSWER.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
                yes
            }
        }
    }
}

// SAFETY: `Probed<S>` switches with `S` and keeps `S`'s contexts as they are. Around
// `S::switch`, `probe_switch` saves every callee-saved register and both control words of the
// caller in its own frame and restores them all before it returns (whatever `S` did to them),
// keeps rsp aligned for the call, and otherwise only loads canaries, which `S::switch` may
// find in any register. The varied control words keep every exception masked, and only the
// backend's own code runs under them: a new context starts with the default words on the
// built-in backends.
unsafe impl<S: StackSwitch> StackSwitch for Probed<S> {
    crate::forward_contexts!(S);

    unsafe extern "C" fn switch(from: *mut S::Context, to: *mut S::Context, from_dying: bool) {
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        {
            let kept = S::guarantees();
            let canaries = Canaries::new(from as usize, next_switch(), imp::valgrind(), kept);
            let switch: unsafe extern "C" fn(*mut S::Context, *mut S::Context, bool) = S::switch;
            let mut record = Record {
                expected: canaries.gprs,
                seen: [0; 6],
                mxcsr: canaries.mxcsr,
                x87: canaries.x87,
                x87_keep: !canaries.x87_varied,
                seen_mxcsr: 0,
                seen_x87: 0,
                _pad: 0,
                mxcsr_keep: !canaries.mxcsr_varied,
                _pad2: 0,
                switch: switch as *const (),
                from: from.cast(),
                to: to.cast(),
                dying: u64::from(from_dying),
            };
            // SAFETY: switch's contract, passed on to `S::switch` (through `record`, which
            // lives on this frame until `probe_switch` returns, and is saved and restored with
            // this stack like any other frame of `from`); `probe_switch` gives its caller back
            // every callee-saved register and both control words (see the impl's SAFETY).
            unsafe { imp::probe_switch(&raw mut record) };
            if from_dying {
                // `S` resumed a context that switched away for good.
                std::process::abort();
            }
            note(if record.intact(kept) {
                None
            } else {
                record.corruption(kept)
            });
        }
        #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
        {
            let _ = next_switch;
            // SAFETY: switch's contract, passed on.
            unsafe { S::switch(from, to, from_dying) }
        }
    }

    fn guarantees() -> Guarantees {
        S::guarantees()
    }
}

#[cfg(all(test, target_arch = "x86_64", target_os = "linux"))]
mod tests;
