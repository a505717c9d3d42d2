//! Parent cycles (docs/language.md, section 8, "Parent cycles"): the soak finding that made
//! the thread oracle and every backend loop forever without spending fuel (seed 20261207,
//! program 3483986 of the default profile, and 3373995 of the deep one) now ends, on the oracle and on every backend, with
//! the same trace. The minimized program and the four refused walks are corpus programs
//! (`corpus/parent_cycle_*.gp`), checked against their snapshots and real greenlet there.

use std::sync::mpsc;
use std::time::Duration;
use switchyard::check::registry;
use switchyard::gen::{self, GenConfig, Profile};
use switchyard::lang::trace::diff;

#[test]
fn soak_program_with_a_parent_cycle_ends_on_every_backend() {
    let program = gen::seeded::program(20_261_207, 3_483_986, &GenConfig::default());
    let text = ends_alike_everywhere(program);
    // A body's error that would have gone round the cycle goes to main, which fails with it.
    assert!(text.ends_with("#0 fail E2\nend\n"), "{text}");
}

/// The deep-profile soak's finding of the same kind (seed 20261207, program 3373995).
#[test]
fn deep_soak_program_with_a_parent_cycle_ends_on_every_backend() {
    let program = gen::seeded::program(20_261_207, 3_373_995, &Profile::Deep.config());
    ends_alike_everywhere(program);
}

/// Runs `program` on the oracle and every real backend, requiring one trace within 300 s;
/// returns it.
fn ends_alike_everywhere(program: switchyard::lang::ast::Program) -> String {
    let (tx, rx) = mpsc::channel();
    // A hang is this test's failure; the thread is left behind when it happens.
    std::thread::spawn(move || {
        let expected = registry::oracle().run(&program).expect("oracle run");
        let mut failures = Vec::new();
        for backend in registry::real().filter(|b| b.name != registry::ORACLE) {
            match backend.run(&program) {
                Ok(actual) => {
                    if let Some(d) = diff(&expected, &actual) {
                        failures.push(format!("{}: {d}", backend.name));
                    }
                }
                Err(fatal) => failures.push(format!("{}: {fatal}", backend.name)),
            }
        }
        let _ = tx.send((expected, failures));
    });
    let (trace, failures) = rx
        .recv_timeout(Duration::from_secs(300))
        .expect("the program still loops (no trace after 300 s)");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    trace.to_string()
}
