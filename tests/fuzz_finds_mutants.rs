//! Proof of detection power (`--features mutants`): `switchyard fuzz`, as a user runs it on
//! 2 workers, finds every deliberately broken backend within 60 seconds (the one that hangs,
//! `mutant-hang`, within 10 seconds, every hanging run included) and minimizes the finding to
//! at most 15 statements; and a backend that kills its worker with SIGSEGV is
//! reported as a finding with its program saved while the campaign goes on to the end.
//! Run with `--nocapture` to see the measured times (the README's table comes from here).

#![cfg(all(feature = "mutants", target_arch = "x86_64", target_os = "linux"))]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use switchyard::check::registry;
use switchyard::lang::ast::count_statements;
use switchyard::lang::parse::parse;

const LIMIT: Duration = Duration::from_secs(60);
/// For `mutant-hang`: found, isolated and minimized, every hanging run waited for.
const HANG_LIMIT: Duration = Duration::from_secs(10);
const MAX_STATEMENTS: usize = 15;

/// The tests here measure time on a shared machine: they take turns, so that one campaign's
/// workers do not slow the other's down.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchyard-mutant-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn findings(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "gp"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn fuzz(args: &[&str]) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("fuzz")
        .args(args)
        .output()
        .expect("run switchyard fuzz");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}

fn statements(file: &Path) -> usize {
    let text = std::fs::read(file).unwrap();
    let program = parse(&file.display().to_string(), &text)
        .unwrap_or_else(|e| panic!("finding does not parse: {e}"));
    count_statements(&program.main)
        + program
            .defs
            .iter()
            .map(|d| count_statements(&d.body))
            .sum::<usize>()
}

#[test]
fn fuzz_finds_and_minimizes_every_mutant_within_a_minute() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let mut table = Vec::new();
    for mutant in registry::mutants().filter(|b| b.name.starts_with("mutant-")) {
        let dir = out_dir(mutant.name);
        let (code, stderr, elapsed) = fuzz(&[
            "--backend",
            mutant.name,
            "--seconds",
            "60",
            "--seed",
            "1",
            "--jobs",
            "2",
            "--stop-after",
            "1",
            "--out",
            dir.to_str().unwrap(),
        ]);
        let written = findings(&dir);
        assert_eq!(
            code,
            Some(1),
            "{}: fuzz did not report a finding:\n{stderr}",
            mutant.name
        );
        assert!(
            !written.is_empty(),
            "{}: no finding written:\n{stderr}",
            mutant.name
        );
        let limit = if mutant.name == "mutant-hang" {
            HANG_LIMIT
        } else {
            LIMIT
        };
        assert!(
            elapsed < limit,
            "{}: took {elapsed:?} to find and minimize:\n{stderr}",
            mutant.name
        );
        let size = statements(&written[0]);
        assert!(
            size <= MAX_STATEMENTS,
            "{}: minimized finding has {size} statements: {}",
            mutant.name,
            std::fs::read_to_string(&written[0]).unwrap()
        );
        let header = std::fs::read_to_string(&written[0]).unwrap();
        let failure = header
            .lines()
            .find_map(|l| l.strip_prefix("# failure: "))
            .unwrap_or("?")
            .to_string();
        let detail = header
            .lines()
            .find_map(|l| l.strip_prefix("# detail: "))
            .unwrap_or("?")
            .to_string();
        if mutant.name == "mutant-hang" {
            assert_eq!(failure, "timeout", "{header}");
            assert!(detail.starts_with("mutant-hang took more than"), "{header}");
        }
        table.push(format!(
            "| `{}` | {:.1} s | {size} | {failure} | {detail} |",
            mutant.name,
            elapsed.as_secs_f64()
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(table.len() >= 7, "only {} mutants registered", table.len());
    eprintln!(
        "| mutant | time to find + minimize | statements | failure | detail |\n|---|---|---|---|---|"
    );
    for row in table {
        eprintln!("{row}");
    }
}

#[test]
fn a_worker_killed_by_sigsegv_is_a_finding_and_the_campaign_completes() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = out_dir("crash-segv");
    let (code, stderr, _) = fuzz(&[
        "--backend",
        "crash-segv",
        "--programs",
        "400",
        "--seed",
        "3",
        "--jobs",
        "2",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    let summary = stderr.lines().last().unwrap_or_default();
    assert!(
        summary.contains("400 programs") && !summary.contains(" 0 crashes"),
        "the campaign must run all 400 programs and count crashes: {summary}"
    );
    let written = findings(&dir);
    assert!(!written.is_empty(), "no finding written:\n{stderr}");
    let text = std::fs::read_to_string(&written[0]).unwrap();
    assert!(text.contains("# failure: crash-SIGSEGV"), "{text}");
    assert!(statements(&written[0]) >= 1);
    let _ = std::fs::remove_dir_all(&dir);
}
