//! Tests of the register probe: the canaries, each register's loss reported with its values by
//! fake backends that break exactly one promise, and the real backends passing through it.

use super::*;
use crate::greenlet::{BackendError, Hub, HubConfig};
use crate::runtime::Runtime;
use crate::switch::Entry;
use crate::test_payload::N;
use std::ffi::c_void;

#[test]
fn canaries_differ_per_context_and_per_switch() {
    let a = Canaries::new(0x7000_1000, 5, false, Guarantees::ALL);
    let b = Canaries::new(0x7000_2000, 5, false, Guarantees::ALL);
    let c = Canaries::new(0x7000_1000, 6, false, Guarantees::ALL);
    for (x, y) in [(a, b), (a, c), (b, c)] {
        for i in 0..6 {
            assert_ne!(x.gprs[i], y.gprs[i], "register {i}");
        }
    }
    // Within one switch, no two registers hold the same value (a swap would go unseen).
    let mut sorted = a.gprs;
    sorted.sort_unstable();
    assert!(sorted.windows(2).all(|w| w[0] != w[1]));
    // Over many switches every varied field takes several values, within its mask.
    let (mut mxcsr, mut x87) = (
        std::collections::HashSet::new(),
        std::collections::HashSet::new(),
    );
    for n in 0..200 {
        let k = Canaries::new(0x7000_1000, n, false, Guarantees::ALL);
        assert_eq!(k.mxcsr & !MXCSR_VARIED, 0);
        assert_eq!(k.x87 & !X87_VARIED, 0);
        assert_ne!(k.x87 & 0x0300, 0x0100, "precision control 1 is reserved");
        mxcsr.insert(k.mxcsr);
        x87.insert(k.x87);
        let v = Canaries::new(0x7000_1000, n, true, Guarantees::ALL);
        assert_eq!(v.gprs, k.gprs);
        assert_eq!(v.mxcsr, k.mxcsr & MXCSR_ROUNDING);
        assert_eq!(v.x87, k.x87 & X87_ROUNDING);
        assert_eq!((k.mxcsr_varied, k.x87_varied), (MXCSR_VARIED, X87_VARIED));
        assert_eq!(
            (v.mxcsr_varied, v.x87_varied),
            (MXCSR_ROUNDING, X87_ROUNDING)
        );
    }
    assert_eq!(mxcsr.len(), 16, "rounding x FTZ x DAZ");
    assert_eq!(x87.len(), 12, "rounding x 3 precisions");
    // A control word loaded k switches later differs unless k is a multiple of 16 (12).
    let at = |n| Canaries::new(0x7000_1000, n, false, Guarantees::ALL);
    for k in 1..16 {
        assert_ne!(at(40).mxcsr, at(40 + k).mxcsr, "{k}");
    }
    for k in 1..12 {
        assert_ne!(at(40).x87, at(40 + k).x87, "{k}");
    }
}

/// A fake backend whose `switch` does not switch: it returns at once after running `$asm`,
/// as if the context had been resumed by a backend that did exactly that damage.
macro_rules! fake_backend {
    ($name:ident, $($asm:literal),*) => {
        struct $name;

        // SAFETY: none: broken on purpose; only `Probed<$name>::switch` is ever called, with
        // dummy contexts, and the probe repairs the damage.
        unsafe impl StackSwitch for $name {
            type Context = u64;
            fn main_context() -> u64 {
                0
            }
            fn new_context(_: &HubConfig, _: Entry, _: *mut c_void) -> Result<u64, BackendError> {
                Err(BackendError("fake".to_string()))
            }
            #[unsafe(naked)]
            unsafe extern "C" fn switch(_from: *mut u64, _to: *mut u64, _dying: bool) {
                core::arch::naked_asm!($($asm),*)
            }
        }
    };
}

fake_backend!(Intact, "ret");
fake_backend!(LosesRbx, "xor ebx, ebx", "ret");
fake_backend!(LosesRbp, "mov rbp, 1", "ret");
fake_backend!(LosesR12, "xor r12d, r12d", "ret");
fake_backend!(LosesR13, "not r13", "ret");
fake_backend!(LosesR14, "inc r14", "ret");
fake_backend!(LosesR15, "mov r15, 7", "ret");
fake_backend!(SwapsR12R13, "xchg r12, r13", "ret");
fake_backend!(
    LosesMxcsr,
    "sub rsp, 8",
    "stmxcsr [rsp]",
    "xor dword ptr [rsp], 0x2000",
    "ldmxcsr [rsp]",
    "add rsp, 8",
    "ret"
);
fake_backend!(
    LosesX87,
    "sub rsp, 8",
    "fnstcw [rsp]",
    "xor word ptr [rsp], 0x0400",
    "fldcw [rsp]",
    "add rsp, 8",
    "ret"
);
fake_backend!(
    ChangesOnlyMxcsrFlags,
    "sub rsp, 8",
    "stmxcsr [rsp]",
    "or dword ptr [rsp], 0x3f",
    "ldmxcsr [rsp]",
    "add rsp, 8",
    "ret"
);

fn control_words() -> (u32, u16) {
    let (mut mxcsr, mut cw) = (0u32, 0u16);
    // SAFETY: stores MXCSR and the x87 control word to two live locals; no other effect.
    unsafe {
        core::arch::asm!(
            "stmxcsr [{m}]",
            "fnstcw [{c}]",
            m = in(reg) &raw mut mxcsr,
            c = in(reg) &raw mut cw,
            options(nostack, preserves_flags)
        )
    };
    (mxcsr & MXCSR_CONTROL, cw)
}

/// Runs one probed switch of `S` (a fake) and returns what the probe recorded.
fn probe_once<S: StackSwitch<Context = u64>>() -> Option<Corruption> {
    let _ = take_corruption();
    let before = checks();
    let words = control_words();
    let (mut a, mut b) = (0u64, 0u64);
    // SAFETY: the fakes never switch; they only damage registers the probe restores.
    unsafe { Probed::<S>::switch(&raw mut a, &raw mut b, false) };
    assert_eq!(
        control_words(),
        words,
        "the probe restores the control words"
    );
    assert_eq!(checks(), before + 1);
    take_corruption()
}

#[test]
fn an_intact_switch_is_checked_and_passes() {
    assert_eq!(probe_once::<Intact>(), None);
    assert_eq!(probe_once::<ChangesOnlyMxcsrFlags>(), None);
}

#[test]
fn each_lost_register_is_named_with_what_it_should_have_held() {
    let cases: [(Option<Corruption>, &str); 9] = [
        (probe_once::<LosesRbx>(), "rbx"),
        (probe_once::<LosesRbp>(), "rbp"),
        (probe_once::<LosesR12>(), "r12"),
        (probe_once::<LosesR13>(), "r13"),
        (probe_once::<LosesR14>(), "r14"),
        (probe_once::<LosesR15>(), "r15"),
        (probe_once::<SwapsR12R13>(), "r12"),
        (probe_once::<LosesMxcsr>(), "mxcsr"),
        (probe_once::<LosesX87>(), "x87-cw"),
    ];
    for (found, register) in cases {
        let c = found.unwrap_or_else(|| panic!("{register}: not seen"));
        assert_eq!(c.register, register);
        assert_ne!(c.expected, c.seen);
        let text = c.to_string();
        assert!(
            text.starts_with(&format!("{register} expected 0x")),
            "{text}"
        );
        assert!(text.contains(" saw 0x"), "{text}");
    }
    let r12 = probe_once::<LosesR12>().unwrap();
    assert_eq!(r12.seen, 0);
    let x87 = probe_once::<LosesX87>().unwrap();
    assert_eq!(x87.expected ^ x87.seen, 0x0400);
}

/// `S`, declaring that it keeps neither control word.
struct KeepsNoControlWords<S>(PhantomData<S>);

// SAFETY: `S`'s promise, less the control words, which this declares not kept.
unsafe impl<S: StackSwitch<Context = u64>> StackSwitch for KeepsNoControlWords<S> {
    crate::forward_contexts!(S);
    unsafe extern "C" fn switch(from: *mut u64, to: *mut u64, dying: bool) {
        // SAFETY: the caller's contract, passed on.
        unsafe { S::switch(from, to, dying) }
    }
    fn guarantees() -> Guarantees {
        Guarantees {
            mxcsr: false,
            x87_cw: false,
        }
    }
}

#[test]
fn a_control_word_declared_not_kept_is_not_checked_but_the_registers_are() {
    assert_eq!(probe_once::<KeepsNoControlWords<LosesMxcsr>>(), None);
    assert_eq!(probe_once::<KeepsNoControlWords<LosesX87>>(), None);
    let rbx = probe_once::<KeepsNoControlWords<LosesRbx>>();
    assert_eq!(rbx.map(|c| c.register), Some("rbx"));
    // Not varied either: the probe loads the real words, so the backend runs under them.
    let k = Canaries::new(
        0x7000_1000,
        3,
        false,
        KeepsNoControlWords::<Intact>::guarantees(),
    );
    assert_eq!((k.mxcsr, k.x87, k.mxcsr_varied, k.x87_varied), (0, 0, 0, 0));
    assert_eq!(
        KeepsNoControlWords::<Intact>::guarantees().to_string(),
        "all callee-saved state but mxcsr and x87-cw"
    );
    assert_eq!(Guarantees::ALL.to_string(), "all callee-saved state");
}

#[test]
fn only_the_first_corruption_is_kept_until_taken() {
    let _ = take_corruption();
    let (mut a, mut b) = (0u64, 0u64);
    // SAFETY: as in `probe_once`.
    unsafe {
        Probed::<LosesRbp>::switch(&raw mut a, &raw mut b, false);
        Probed::<LosesR15>::switch(&raw mut a, &raw mut b, false);
    }
    assert_eq!(take_corruption().map(|c| c.register), Some("rbp"));
    assert_eq!(take_corruption(), None);
}

/// Two greenlets and main ping-pong through `S` under the probe: nothing is reported and every
/// returning switch is checked.
/// `S` is the probed backend (behind a `SharedStack` contract for stack-copy).
fn ping_pong<S: crate::runtime::StableStacks>() {
    let _ = take_corruption();
    let before = checks();
    let hub = Runtime::<S, N>::new(&HubConfig::default()).unwrap();
    let main = hub.main();
    let m = main.clone();
    let a = hub
        .spawn(
            Box::new(move |h, v| {
                let mut n = v.unwrap().0;
                for _ in 0..50 {
                    n = h.switch(m.clone(), N(n + 1))?.0;
                }
                Ok(N(n))
            }),
            None,
        )
        .unwrap();
    let mut n = 0;
    for _ in 0..50 {
        n = hub.switch(a.clone(), N(n)).unwrap().0;
        let b = hub
            .spawn(Box::new(|_, v| Ok(N(v.unwrap().0 * 2))), None)
            .unwrap();
        n = hub.switch(b.clone(), N(n)).unwrap().0 / 2;
    }
    assert_eq!(n, 50);
    assert_eq!(hub.switch(a.clone(), N(n)).unwrap(), N(50));
    assert_eq!(take_corruption(), None);
    // Main switches 101 times (51 to `a`, 50 to the `b`s) and `a` 50 times, all returning.
    assert!(checks() - before >= 151, "{} checks", checks() - before);
}

/// This test's promise for stack-copy.
struct PingPongKeepsStacksPrivate;

// SAFETY: `ping_pong`'s bodies keep no pointer into any greenlet's stack (they pass plain
// values), and it starts no threads.
unsafe impl crate::runtime::SharedStackContract for PingPongKeepsStacksPrivate {}

#[test]
fn the_real_backends_pass_the_probe() {
    ping_pong::<Probed<crate::mmap::Mmap>>();
    ping_pong::<
        crate::runtime::SharedStack<
            Probed<crate::stack_copy::StackCopy>,
            PingPongKeepsStacksPrivate,
        >,
    >();
    #[cfg(target_env = "gnu")]
    ping_pong::<Probed<crate::ucontext::Ucontext>>();
}
