//! The adapters over real switching crates (`corosensei`, `fcontext`; feature `adapters`):
//! registered under those names, and the corosensei control-word finding
//! (`docs/findings/corosensei-register-corruption.gp`) kept alive. With every guarantee
//! claimed, the register probe reports the MXCSR (and, with only the x87 control word claimed,
//! that) as corrupted; the registered backend declares both not kept and agrees with the
//! oracle. Boost's fcontext keeps both: claiming them finds nothing.
#![cfg(all(feature = "adapters", target_arch = "x86_64", target_os = "linux"))]

use std::marker::PhantomData;
use switchyard::check::registry;
use switchyard::interp::{self, Fatal, RtValue};
use switchyard::lang::parse::parse;
use switchyard::lang::trace::diff;
use switchyard_impls::backend::adapters::{corosensei::Corosensei, fcontext::Fcontext};
use switchyard_impls::greenlet::HubConfig;
use switchyard_impls::probe::Probed;
use switchyard_impls::runtime::{Runtime, StableStacks};
use switchyard_impls::switch::{Guarantees, StackSwitch};

const FINDING: &str = "docs/findings/corosensei-register-corruption.gp";

/// Backend `S` claiming the control-word guarantees `MXCSR` and `X87` whatever `S` declares:
/// the probe then checks what is claimed.
struct Claiming<S, const MXCSR: bool, const X87: bool>(PhantomData<S>);

// SAFETY: every call goes to `S` unchanged. Only `guarantees` may claim more than `S` keeps,
// which is what these tests are for: it decides what the register probe checks, and a control
// word handed over from another context changes floating-point rounding, not memory.
unsafe impl<S: StackSwitch, const MXCSR: bool, const X87: bool> StackSwitch
    for Claiming<S, MXCSR, X87>
{
    switchyard_impls::forward_contexts!(S);

    unsafe extern "C" fn switch(from: *mut S::Context, to: *mut S::Context, from_dying: bool) {
        // SAFETY: switch's contract, passed on.
        unsafe { S::switch(from, to, from_dying) }
    }

    fn guarantees() -> Guarantees {
        Guarantees {
            mxcsr: MXCSR,
            x87_cw: X87,
        }
    }
}

// SAFETY: `S`'s stacks, unchanged.
unsafe impl<S: StableStacks, const MXCSR: bool, const X87: bool> StableStacks
    for Claiming<S, MXCSR, X87>
{
}

type ProbedHub<S> = Runtime<Probed<S>, RtValue>;

fn finding() -> switchyard::lang::ast::Program {
    let source = std::fs::read(FINDING).unwrap();
    parse(FINDING, &source).unwrap()
}

/// The register a run on `S` reported corrupted, or `None` when it agreed with the oracle.
fn corrupted<S: StableStacks>() -> Option<String> {
    let program = finding();
    let expected = registry::oracle().run(&program).unwrap();
    match interp::run::<ProbedHub<S>>(&program, "claiming", &HubConfig::default()) {
        Ok(trace) => {
            assert_eq!(diff(&expected, &trace), None);
            None
        }
        Err(Fatal::RegisterCorruption { detail, .. }) => {
            Some(detail.split(' ').next().unwrap().to_string())
        }
        Err(other) => panic!("{other}"),
    }
}

#[test]
fn the_adapters_are_registered_with_their_crates_names() {
    for name in ["corosensei", "fcontext"] {
        let backend = registry::find(name).unwrap_or_else(|| panic!("{name} not registered"));
        assert!(!backend.is_mutant());
    }
    assert!(registry::find("generator").is_none());
}

#[test]
fn corosensei_claiming_every_guarantee_loses_the_mxcsr() {
    assert_eq!(
        corrupted::<Claiming<Corosensei, true, true>>().as_deref(),
        Some("mxcsr")
    );
}

#[test]
fn corosensei_claiming_the_x87_control_word_loses_it() {
    assert_eq!(
        corrupted::<Claiming<Corosensei, false, true>>().as_deref(),
        Some("x87-cw")
    );
}

#[test]
fn corosensei_as_registered_agrees_with_the_oracle() {
    assert_eq!(
        Corosensei::guarantees(),
        Guarantees {
            mxcsr: false,
            x87_cw: false
        }
    );
    assert_eq!(corrupted::<Corosensei>(), None);
    let program = finding();
    let expected = registry::oracle().run(&program).unwrap();
    let actual = registry::find("corosensei").unwrap().run(&program).unwrap();
    assert_eq!(diff(&expected, &actual), None);
}

#[test]
fn fcontext_keeps_both_control_words() {
    assert_eq!(Fcontext::guarantees(), Guarantees::ALL);
    assert_eq!(corrupted::<Fcontext>(), None);
}

#[test]
fn campaigns_run_the_adapters_only_when_asked() {
    let names = |bs: Vec<&registry::Backend>| bs.iter().map(|b| b.name).collect::<Vec<_>>();
    let default = names(switchyard::campaign::default_backends());
    let all = names(switchyard::campaign::all_backends());
    for adapter in ["corosensei", "fcontext"] {
        assert!(!default.contains(&adapter), "{default:?}");
        assert!(all.contains(&adapter), "{all:?}");
    }
    assert_eq!(all.len(), default.len() + 2);
    assert!(!all.contains(&registry::ORACLE));
}
