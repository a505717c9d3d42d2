//! The oracle against real CPython greenlet: every corpus program and a seeded set of random
//! programs must give identical traces. The venv with greenlet is made by `ci/venv.sh`.
//! `SWITCHYARD_CROSSCHECK_PROGRAMS` and `SWITCHYARD_CROSSCHECK_SEED` change the random set.

mod common;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use switchyard::check::crosscheck::{self, GreenletRunner};
use switchyard::gen::GenConfig;
use switchyard::lang::parse::parse;
use switchyard::lang::print::print;

/// The venv's python, made once per test process (tests run in parallel threads).
fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap();
    PYTHON
        .get_or_init(|| crosscheck::make_venv().unwrap_or_else(|e| panic!("{e}")))
        .clone()
}

use common::env_u64;

#[test]
fn corpus_oracle_equals_real_greenlet() {
    let mut runner = GreenletRunner::start(&python(), &crosscheck::default_runner()).unwrap();
    let mut failures = Vec::new();
    for path in switchyard::check::corpus::files(&switchyard::check::corpus::default_dir()) {
        let source = std::fs::read(&path).unwrap();
        let program = parse(&path.display().to_string(), &source).unwrap();
        if let Some((problem, greenlet, oracle)) =
            crosscheck::check_program(&mut runner, &program).unwrap()
        {
            failures.push(format!(
                "{}: {problem}\ngreenlet:\n{greenlet}oracle:\n{}",
                path.display(),
                oracle.map(|t| t.to_string()).unwrap_or_default()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn random_programs_oracle_equals_real_greenlet() {
    let seed = env_u64("SWITCHYARD_CROSSCHECK_SEED", 2026);
    let count = env_u64("SWITCHYARD_CROSSCHECK_PROGRAMS", 1000);
    let mut runner = GreenletRunner::start(&python(), &crosscheck::default_runner()).unwrap();
    let report = crosscheck::crosscheck(
        &mut runner,
        seed,
        0,
        count,
        &GenConfig::default(),
        |_, _| {},
    )
    .unwrap();
    assert_eq!(report.checked, count);
    if let Some(m) = report.mismatches.first() {
        panic!(
            "{} of {count} programs differ; first: program {} of seed {seed}: {}\n{}\ngreenlet:\n{}oracle:\n{}",
            report.mismatches.len(),
            m.index,
            m.problem,
            print(&m.program),
            m.greenlet,
            m.oracle.as_ref().map(|t| t.to_string()).unwrap_or_default()
        );
    }
}

/// A stand-in for real greenlet with one deliberate difference from the oracle (an "oracle
/// bug" seen from the other side): it passes programs to the real runner and reports every
/// greenlet it observes dead as `suspended`.
const OBSERVES_DEAD_AS_SUSPENDED: &str = r#"
import subprocess, sys
RS = "\x1e"
real = subprocess.Popen([sys.executable, sys.argv[1], "--batch"], stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE, text=True)
for line in sys.stdin:
    real.stdin.write(line)
    if line.rstrip("\n") != RS:
        continue
    real.stdin.flush()
    while True:
        out = real.stdout.readline()
        if out == "":
            sys.exit(1)
        if " observe " in out:
            out = out.replace(" dead ", " suspended ")
        sys.stdout.write(out)
        if out.rstrip("\n") == RS:
            break
    sys.stdout.flush()
"#;

#[test]
fn crosscheck_minimizes_the_first_difference_keeping_it() {
    let dir = std::env::temp_dir().join(format!("switchyard-crosscheck-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let wrapper = dir.join("observes_dead_as_suspended.py");
    std::fs::write(&wrapper, OBSERVES_DEAD_AS_SUSPENDED).unwrap();
    // The wrapper takes the real runner as its first argument: a tiny launcher passes it.
    let launcher = dir.join("launch.sh");
    std::fs::write(
        &launcher,
        format!(
            "#!/bin/sh\nshift\nexec {} {} {} \"$@\"\n",
            python().display(),
            wrapper.display(),
            crosscheck::default_runner().display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args([
            "crosscheck",
            "--seed",
            "1",
            "--programs",
            "300",
            "--python",
            "/bin/sh",
        ])
        .arg("--runner")
        .arg(&launcher)
        .output()
        .expect("run switchyard crosscheck");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let note = stderr
        .lines()
        .find(|l| l.starts_with("minimized from "))
        .unwrap_or_else(|| panic!("no minimization:\n{stderr}"));
    let after: usize = note
        .split_whitespace()
        .nth(4)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{note}"));
    // def f {} main { spawn g0 f; switch g0 none; observe g0 } is the smallest.
    assert!(after <= 4, "{stderr}");
    assert!(
        stderr.contains("difference: ") && stderr.contains("observe #1 suspended"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
