//! Register probes: run a closure (typically one greenlet switch) and report which
//! callee-saved registers and floating-point control words it failed to preserve.
//!
//! A switch must hand the switching greenlet back its callee-saved registers exactly as it left
//! them (see [`crate::switch::StackSwitch`]). Code around a switch rarely notices when a backend
//! gets that wrong: the compiler may not keep anything live in the damaged register at that
//! point, or the other context may happen to hold the same value. [`preserved`] makes the damage
//! visible: on x86-64 Linux a naked function saves rbx, rbp, r12-r15, MXCSR and the x87 control
//! word (the frame of [`crate::arch::x86_64`]), loads a distinct canary into each of the six registers, calls the closure through a
//! trampoline, and afterwards compares every canary and both control words (MXCSR: control bits
//! only, the sticky exception flags are ignored) with what they were, then restores them all
//! and returns a bitmask of the damaged ones. Elsewhere it just calls the closure.
//!
//! [`set_rounding`] gives a greenlet its own MXCSR rounding mode, so that a backend that does
//! not restore MXCSR on a switch leaks one greenlet's mode into another, where the probe sees
//! it. Rust code that does no floating point (the interpreter) runs the same in every mode.

use std::fmt;

/// Which registers a probed call failed to preserve (a bitmask; empty: none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Damage(pub u32);

impl Damage {
    /// No damage.
    pub const NONE: Damage = Damage(0);
    /// The registers, one bit each, in bit order.
    pub const REGISTERS: [&'static str; 8] =
        ["rbx", "rbp", "r12", "r13", "r14", "r15", "mxcsr", "x87-cw"];

    /// Whether every register survived.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The names of the damaged registers.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::REGISTERS
            .into_iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, name)| name)
    }
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let names: Vec<&str> = self.names().collect();
        f.write_str(&names.join(", "))
    }
}

/// Runs `f` and reports which callee-saved registers and control words it did not preserve.
/// A panic in `f` is caught inside the probe and resumed after it, so it never unwinds through
/// the probe's assembly frame.
pub fn preserved<R>(f: impl FnOnce() -> R) -> (R, Damage) {
    imp::preserved(f)
}

/// Sets the MXCSR rounding-control field (bits 13-14) to `mode & 3` (0: to nearest, the
/// default; 1: down; 2: up; 3: toward zero). A no-op where there is no probe.
pub fn set_rounding(mode: u32) {
    imp::set_rounding(mode)
}

/// The MXCSR rounding-control field now (0 where there is no probe).
pub fn rounding() -> u32 {
    imp::rounding()
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod imp {
    use super::Damage;
    use std::ffi::c_void;
    use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

    /// `probe(f [rdi], arg [rsi]) -> damage [eax]`: calls `f(arg)` with canaries in rbx, rbp,
    /// r12-r15 and returns the damage bitmask (bit order of [`Damage::REGISTERS`]).
    ///
    /// Frame: [`crate::arch::x86_64::save_frame!`] with 16 bytes of scratch (six pushes and 24
    /// bytes below the return address, so rsp is 16-byte aligned at the call); `[rsp]` MXCSR
    /// before, `[rsp + 4]` x87 control word before, `[rsp + 8]` and `[rsp + 12]` their values
    /// after.
    #[unsafe(naked)]
    pub(super) unsafe extern "sysv64" fn probe(
        _f: unsafe extern "C" fn(*mut c_void),
        _arg: *mut c_void,
    ) -> u32 {
        core::arch::naked_asm!(
            crate::arch::x86_64::save_frame!(scratch = 16),
            "mov rax, rdi",
            "mov rdi, rsi",
            "movabs rbx, 0x5b5b5b5b0000cb01",
            "movabs rbp, 0x5b5b5b5b0000cb02",
            "movabs r12, 0x5b5b5b5b0000cb03",
            "movabs r13, 0x5b5b5b5b0000cb04",
            "movabs r14, 0x5b5b5b5b0000cb05",
            "movabs r15, 0x5b5b5b5b0000cb06",
            "call rax",
            "xor ecx, ecx",
            "movabs rax, 0x5b5b5b5b0000cb01",
            "cmp rbx, rax",
            "je 2f",
            "or ecx, 1",
            "2:",
            "movabs rax, 0x5b5b5b5b0000cb02",
            "cmp rbp, rax",
            "je 3f",
            "or ecx, 2",
            "3:",
            "movabs rax, 0x5b5b5b5b0000cb03",
            "cmp r12, rax",
            "je 4f",
            "or ecx, 4",
            "4:",
            "movabs rax, 0x5b5b5b5b0000cb04",
            "cmp r13, rax",
            "je 5f",
            "or ecx, 8",
            "5:",
            "movabs rax, 0x5b5b5b5b0000cb05",
            "cmp r14, rax",
            "je 6f",
            "or ecx, 16",
            "6:",
            "movabs rax, 0x5b5b5b5b0000cb06",
            "cmp r15, rax",
            "je 7f",
            "or ecx, 32",
            "7:",
            // MXCSR: control bits (6-15) only; bits 0-5 are sticky exception flags.
            "stmxcsr [rsp + 8]",
            "mov eax, [rsp + 8]",
            "xor eax, [rsp]",
            "test eax, 0xffc0",
            "je 8f",
            "or ecx, 64",
            "8:",
            // x87 control word: masks, precision and rounding (bits 0-5, 8-12).
            "fnstcw [rsp + 12]",
            "movzx eax, word ptr [rsp + 12]",
            "movzx edx, word ptr [rsp + 4]",
            "xor eax, edx",
            "test eax, 0x1f3f",
            "je 9f",
            "or ecx, 128",
            "9:",
            // Put the control words back only when damaged (ldmxcsr is slow).
            "test ecx, 192",
            "je 12f",
            crate::arch::x86_64::load_control_words!(),
            "12:",
            "mov eax, ecx",
            crate::arch::x86_64::pop_frame!(scratch = 16),
            "ret",
        )
    }

    /// The closure and its result, shared between [`preserved`] and [`trampoline`].
    struct Call<F, R> {
        f: Option<F>,
        result: Option<std::thread::Result<R>>,
    }

    /// Runs the closure of the `Call<F, R>` at `arg`, catching any panic.
    unsafe extern "C" fn trampoline<F: FnOnce() -> R, R>(arg: *mut c_void) {
        // SAFETY: `arg` is the `&mut Call<F, R>` that `preserved` passed to `probe`, which
        // passes it on unchanged; nothing else uses it during this call.
        let call = unsafe { &mut *(arg as *mut Call<F, R>) };
        if let Some(f) = call.f.take() {
            call.result = Some(catch_unwind(AssertUnwindSafe(f)));
        }
    }

    pub(super) fn preserved<R>(f: impl FnOnce() -> R) -> (R, Damage) {
        run(f)
    }

    fn run<F: FnOnce() -> R, R>(f: F) -> (R, Damage) {
        let mut call: Call<F, R> = Call {
            f: Some(f),
            result: None,
        };
        // SAFETY: `probe` preserves every callee-saved register and both control words for
        // its caller (it pushes and pops them, and reloads MXCSR and the x87 control word it
        // saved) and keeps the stack aligned for the call; `trampoline::<F, R>` matches the
        // `Call<F, R>` it is given, which outlives the call, and it never unwinds.
        let bits = unsafe { probe(trampoline::<F, R>, &raw mut call as *mut c_void) };
        match call.result {
            Some(Ok(r)) => (r, Damage(bits)),
            Some(Err(panic)) => resume_unwind(panic),
            None => unreachable!("the probe always runs its closure"),
        }
    }

    fn mxcsr() -> u32 {
        let mut v: u32 = 0;
        // SAFETY: stmxcsr stores the 4-byte MXCSR to a live local; no other effect.
        unsafe {
            core::arch::asm!("stmxcsr [{}]", in(reg) &raw mut v, options(nostack, preserves_flags))
        };
        v
    }

    pub(super) fn set_rounding(mode: u32) {
        let v = (mxcsr() & !(3 << 13)) | ((mode & 3) << 13);
        // SAFETY: `v` is the current MXCSR with only the rounding field changed, a valid value
        // (no reserved bits set). Rust code that does no floating point is unaffected by the
        // rounding mode.
        unsafe {
            core::arch::asm!("ldmxcsr [{}]", in(reg) &raw const v, options(nostack, preserves_flags))
        };
    }

    pub(super) fn rounding() -> u32 {
        (mxcsr() >> 13) & 3
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
mod imp {
    use super::Damage;

    pub(super) fn preserved<R>(f: impl FnOnce() -> R) -> (R, Damage) {
        (f(), Damage::NONE)
    }

    pub(super) fn set_rounding(_mode: u32) {}

    pub(super) fn rounding() -> u32 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_call_damages_nothing() {
        let (v, damage) = preserved(|| std::hint::black_box(40) + 2);
        assert_eq!(v, 42);
        assert_eq!(damage, Damage::NONE);
    }

    /// Breaks the ABI on purpose: returns with r12 and r15 changed.
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    #[unsafe(naked)]
    unsafe extern "C" fn clobber(_arg: *mut std::ffi::c_void) {
        core::arch::naked_asm!("xor r12d, r12d", "mov r15, 7", "ret")
    }

    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    #[test]
    fn register_damage_is_reported_and_repaired() {
        // SAFETY: `clobber` damages only r12 and r15, which the probe restores (what is being
        // tested); it ignores its argument.
        let bits = unsafe { imp::probe(clobber, std::ptr::null_mut()) };
        let damage = Damage(bits);
        assert_eq!(damage.names().collect::<Vec<_>>(), ["r12", "r15"]);
        assert_eq!(damage.to_string(), "r12, r15");
    }

    #[test]
    fn mxcsr_damage_is_reported_and_repaired() {
        let before = rounding();
        let ((), damage) = preserved(|| set_rounding(before + 1));
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        assert_eq!(damage.to_string(), "mxcsr");
        #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
        assert_eq!(damage, Damage::NONE);
        assert_eq!(rounding(), before, "the probe restores MXCSR");
    }

    #[test]
    fn panics_pass_through_the_probe() {
        let caught = std::panic::catch_unwind(|| preserved(|| panic!("boom")));
        assert!(caught.is_err());
    }
}
