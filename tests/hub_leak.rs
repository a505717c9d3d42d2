//! A program that leaves something behind in its worker never gets later, innocent programs
//! blamed: a greenlet hub left alive on the program thread is its own finding (`hub-leak`,
//! naming the program that leaked; shown with the broken backend `mutant-hub-leak`, feature
//! `mutants`), the worker goes on with a new program thread and is restarted; and a failure
//! that does not happen again in a fresh worker (injected: `stale@BACKEND#I` spoils BACKEND
//! in its worker once it has run program I, the minimizer's worker included) is written as not
//! reproducible alone, with the programs its worker ran before it, never minimized.

use std::path::{Path, PathBuf};
use std::process::Command;
use switchyard::campaign::CRASH_ENV;

const EXE: &str = env!("CARGO_BIN_EXE_switchyard");

fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("switchyard-hubleak-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Runs `switchyard fuzz ARGS --out DIR` (with `crash` as [`CRASH_ENV`]): exit code, stderr.
fn fuzz(args: &[&str], dir: &Path, crash: Option<&str>) -> (i32, String) {
    let mut command = Command::new(EXE);
    command.arg("fuzz").args(args).arg("--out").arg(dir);
    command.env_remove(CRASH_ENV);
    if let Some(spec) = crash {
        command.env(CRASH_ENV, spec);
    }
    let out = command.output().expect("run switchyard");
    (
        out.status.code().expect("exited"),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    found.sort();
    found
}

fn header(text: &str, field: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("# {field}: ")))
        .unwrap_or_else(|| panic!("no {field} in:\n{text}"))
        .to_string()
}

#[test]
fn a_failure_that_needs_earlier_programs_is_recorded_not_minimized() {
    let dir = temp_dir("stale");
    let (code, stderr) = fuzz(
        &[
            "--backend",
            "mmap",
            "--programs",
            "8",
            "--jobs",
            "1",
            "--seed",
            "5",
        ],
        &dir,
        // 3 spoils the campaign's worker; 4, the first finding, spoils the minimizer's worker
        // too, which would then make every candidate of the next finding fail.
        Some("stale@mmap#3,stale@mmap#4"),
    );
    assert_eq!(code, 1, "{stderr}");
    // Programs 4..8 failed in the spoiled worker (after the first, the worker's history is
    // the same kind each time); each finding kept as found, with its sequence.
    let found = files(&dir, "gp");
    assert!(!found.is_empty(), "no finding: {stderr}");
    for path in &found {
        let text = std::fs::read_to_string(path).unwrap();
        assert!(
            text.contains("NOT REPRODUCIBLE ALONE"),
            "{}:\n{text}",
            path.display()
        );
        assert!(!text.contains("minimized from"), "{text}");
        let index: u64 = header(&text, "program").parse().unwrap();
        assert!(index > 3, "program {index} failed before the spoiling one");
        // The program is the generated one, whole.
        let original = Command::new(EXE)
            .args(["gen", "--seed", "5", "--start", &index.to_string()])
            .output()
            .unwrap()
            .stdout;
        let original = String::from_utf8(original).unwrap();
        let body: String = original.lines().filter(|l| !l.starts_with('#')).collect();
        let kept: String = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(body, kept, "the finding's program was changed");
        let sequence = std::fs::read_to_string(path.with_extension("sequence"))
            .unwrap_or_else(|e| panic!("no sequence next to {}: {e}", path.display()));
        let earlier: Vec<u64> = sequence.lines().map(|l| l.parse().unwrap()).collect();
        assert_eq!(earlier, (0..index).collect::<Vec<_>>(), "{text}");
        assert!(
            text.contains(&format!("--programs {}", index + 1)),
            "{text}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(feature = "mutants")]
#[test]
fn a_leaked_hub_is_its_own_finding_and_blames_no_later_program() {
    let dir = temp_dir("mutant");
    let (code, stderr) = fuzz(
        &[
            "--backend",
            "mutant-hub-leak",
            "--backend",
            "mmap",
            "--programs",
            "200",
            "--jobs",
            "1",
            "--seed",
            "1",
        ],
        &dir,
        None,
    );
    assert_eq!(code, 1, "{stderr}");
    let found = files(&dir, "gp");
    assert!(!found.is_empty(), "no finding: {stderr}");
    for path in &found {
        let text = std::fs::read_to_string(path).unwrap();
        assert_eq!(header(&text, "backend"), "mutant-hub-leak", "{text}");
        assert_eq!(header(&text, "failure"), "hub-leak", "{text}");
        assert!(text.contains("minimized from"), "{text}");
        // The minimized program still kills a greenlet on its last reference.
        assert!(text.contains("drop g"), "{text}");
    }
    // No program was refused a hub because an earlier one leaked.
    assert!(!stderr.contains("live greenlet hub"), "{stderr}");
    assert!(!stderr.contains("mmap backend"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The soak's program, minimized (`corpus/hub_closes_with_killer_suspended.gp`), on the same
/// program thread: the real backends leave no hub (the fixed runtime), the mutant's leak is
/// reported on the mutant alone.
#[cfg(feature = "mutants")]
#[test]
fn one_thread_runs_every_backend_after_a_leak() {
    use switchyard::check::registry;
    use switchyard::interp::Fatal;
    let path = switchyard::check::corpus::default_dir().join("hub_closes_with_killer_suspended.gp");
    let program = switchyard::lang::parse::parse("leak", &std::fs::read(path).unwrap()).unwrap();
    for name in [
        "stack-copy",
        "mutant-hub-leak",
        "mmap",
        "ucontext",
        "stack-copy",
    ] {
        let result = registry::find(name).unwrap().run(&program);
        match (name, result) {
            ("mutant-hub-leak", Err(Fatal::HubLeak { backend, .. })) => {
                assert_eq!(backend, "mutant-hub-leak")
            }
            ("mutant-hub-leak", other) => panic!("the mutant's leak was not seen: {other:?}"),
            (_, Ok(_)) => {}
            (_, Err(e)) => panic!("{name}: {e}"),
        }
    }
}
