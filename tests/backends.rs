//! Every registered backend against the thread oracle on seeded random programs: sequentially
//! and on several OS threads at once (each thread has its own greenlets, so per-thread state
//! must really be per thread). `SWITCHYARD_DIFF_PROGRAMS` and `SWITCHYARD_DIFF_SEED` change the
//! size and the seed.

mod common;

use switchyard::check::differential::{check_seeded, Failed};
use switchyard::check::registry::{self, Backend};
use switchyard::gen::GenConfig;
use switchyard::lang::print::print;

use common::env_u64;

/// Every real backend (mutants, registered with `--features mutants`, are left out).
fn all() -> Vec<&'static Backend> {
    registry::real().collect()
}

fn assert_none_failed(failed: &[Failed], count: u64) {
    if let Some(first) = failed.first() {
        let findings: Vec<String> = first.findings.iter().map(|f| f.to_string()).collect();
        panic!(
            "{} of {count} programs failed; first: program {} of seed {}:\n{}\n{}",
            failed.len(),
            first.index,
            first.seed,
            findings.join("\n"),
            print(&first.program)
        );
    }
}

#[test]
fn native_backends_are_registered() {
    let names: Vec<&str> = registry::real().map(|b| b.name).collect();
    assert_eq!(names, common::real_backend_names());
}

#[test]
fn random_programs_agree_on_every_backend() {
    let seed = env_u64("SWITCHYARD_DIFF_SEED", 31);
    let count = env_u64("SWITCHYARD_DIFF_PROGRAMS", 10_000);
    let failed = check_seeded(seed, count, &GenConfig::default(), &all(), 1);
    assert_none_failed(&failed, count);
}

#[test]
fn deep_recursion_programs_agree_on_every_backend() {
    let seed = env_u64("SWITCHYARD_DIFF_SEED", 47);
    let count = env_u64("SWITCHYARD_DIFF_PROGRAMS", 10_000) / 5;
    let failed = check_seeded(seed, count, &GenConfig::deep(), &all(), 1);
    assert_none_failed(&failed, count);
}

#[test]
fn programs_agree_when_run_on_several_threads_at_once() {
    let seed = env_u64("SWITCHYARD_DIFF_SEED", 53);
    let count = env_u64("SWITCHYARD_DIFF_PROGRAMS", 10_000) / 4;
    let failed = check_seeded(seed, count, &GenConfig::deep(), &all(), 3);
    assert_none_failed(&failed, count);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// The proptest generator: a failing program is shrunk to a small one before it is shown.
    #[test]
    fn proptest_programs_agree_on_every_backend(
        program in switchyard::gen::strategy::switching_program_strategy()
    ) {
        let findings = switchyard::check::differential::check(&program, &all());
        proptest::prop_assert!(
            findings.is_empty(),
            "{}\n{}",
            findings.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("\n"),
            print(&program)
        );
    }
}
