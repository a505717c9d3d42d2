//! Proof of detection power (`--features mutants`): `switchyard fuzz`, as a user runs it on
//! 2 workers, finds every deliberately broken backend within 60 seconds (each lost-register
//! mutant within 10, as a register corruption naming that register; the one that hangs,
//! `mutant-hang`, within 10 seconds, every hanging run included, also when the first hang is
//! an 80-statement program) and minimizes the finding to at most 15 statements; and a backend that kills its worker with SIGSEGV is
//! reported as a finding with its program saved while the campaign goes on to the end.
//! Run with `--nocapture` to see the measured times (the README's table comes from here).

#![cfg(all(feature = "mutants", target_arch = "x86_64", target_os = "linux"))]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use switchyard::campaign::findings::UNMINIMIZED;
use switchyard::campaign::Timeouts;
use switchyard::check::registry;
use switchyard::lang::parse::parse;
use switchyard::minimize::program_size;

const LIMIT: Duration = Duration::from_secs(60);
/// The budget for each lost-register mutant.
const LOST_REGISTER_LIMIT: Duration = Duration::from_secs(10);
/// For `mutant-hang`: found, isolated and minimized, every hanging run waited for, whichever
/// hanging program comes first (a small one, or program 3 of seed 1, 80 statements).
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
                // Findings left unminimized when --stop-after ended the campaign.
                .filter(|p| !p.to_string_lossy().ends_with(UNMINIMIZED))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Runs `switchyard fuzz` on `backend` with `seed` and `jobs` workers, findings in `dir`, and
/// `more` arguments: its exit status, its stderr and how long it took.
fn fuzz(
    backend: &str,
    seed: &str,
    jobs: &str,
    dir: &Path,
    more: &[&str],
) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("fuzz")
        .args([
            "--backend",
            backend,
            "--seed",
            seed,
            "--jobs",
            jobs,
            "--out",
        ])
        .arg(dir)
        .args(more)
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
    program_size(&program)
}

/// One mutant found and minimized: the table row, the failure kind, the finding's detail and
/// the whole finding file.
struct Found {
    row: String,
    failure: String,
    detail: String,
    text: String,
}

impl Found {
    /// A header line of the finding file (`# KEY: VALUE`): its value.
    fn header(&self, key: &str) -> &str {
        header(&self.text, key)
    }
}

fn header<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix("# ")?.strip_prefix(key)?.strip_prefix(": "))
        .unwrap_or("?")
}

/// Runs `switchyard fuzz` on `mutant` as a user would (2 workers, seed 1, stop at the first
/// finding) and checks it found the bug within `limit` and minimized it to at most
/// [`MAX_STATEMENTS`] statements.
fn find_and_minimize(mutant: &str, limit: Duration) -> Found {
    find_and_minimize_with(mutant, limit, "2")
}

/// [`find_and_minimize`] with `jobs` workers (one worker runs the seed's programs in order, so
/// the first finding is the first failing program).
fn find_and_minimize_with(mutant: &str, limit: Duration, jobs: &str) -> Found {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = out_dir(&format!("{mutant}-{jobs}"));
    let seconds = limit.as_secs().to_string();
    let (code, stderr, elapsed) = fuzz(
        mutant,
        "1",
        jobs,
        &dir,
        &["--seconds", &seconds, "--stop-after", "1"],
    );
    let written = findings(&dir);
    assert_eq!(
        code,
        Some(1),
        "{mutant}: fuzz did not report a finding:\n{stderr}"
    );
    assert!(
        !written.is_empty(),
        "{mutant}: no finding written:\n{stderr}"
    );
    assert!(
        elapsed < limit,
        "{mutant}: took {elapsed:?} to find and minimize"
    );
    let size = statements(&written[0]);
    let text = std::fs::read_to_string(&written[0]).unwrap();
    assert!(
        size <= MAX_STATEMENTS,
        "{mutant}: minimized finding has {size} statements: {text}"
    );
    let failure = header(&text, "failure").to_string();
    let detail = header(&text, "detail").to_string();
    let _ = std::fs::remove_dir_all(&dir);
    Found {
        row: format!(
            "| `{mutant}` | {:.1} s | {size} | {failure} | {detail} |",
            elapsed.as_secs_f64()
        ),
        failure,
        detail,
        text,
    }
}

fn print_table(rows: &[String]) {
    eprintln!(
        "| mutant | time to find + minimize | statements | failure | detail |\n|---|---|---|---|---|"
    );
    for row in rows {
        eprintln!("{row}");
    }
}

/// Issue 8: a runtime whose kill on a last reference skips greenlet's `parent := current` is
/// found within 10 s on 2 workers and minimized to at most 15 statements, and the minimized
/// program really drops a slot.
#[test]
fn the_kill_parent_mutant_is_found_within_ten_seconds() {
    let found = find_and_minimize("mutant-kill-parent", Duration::from_secs(10));
    assert!(
        found.text.contains("drop g"),
        "the finding drops no slot: {}",
        found.text
    );
    assert!(
        found.text.contains(" kill #"),
        "the divergence is not at a kill: {}",
        found.text
    );
}

/// `mutant-hang` found as a `timeout` reported at the normal deadline (far longer than the
/// oracle's time, not the tighter one its minimization judged candidates with).
fn assert_a_hang(found: &Found) {
    assert_eq!(found.failure, "timeout", "{}", found.row);
    assert!(
        found.detail.starts_with("mutant-hang took more than")
            && found.detail.contains(" x the oracle's "),
        "{}",
        found.row
    );
    let factor = Timeouts::default().factor;
    assert!(
        found.detail.contains(&format!("({factor} x the oracle's ")),
        "not confirmed at the normal deadline: {}",
        found.row
    );
}

/// The slow case of `mutant-hang`: with one worker the seed's programs run in order, so the
/// first finding is program 3 of seed 1 (80 statements, about 110 of its minimization's
/// candidates still hang), and it too is found, isolated and minimized within 10 s.
#[test]
fn a_large_hanging_program_is_minimized_within_ten_seconds() {
    let found = find_and_minimize_with("mutant-hang", HANG_LIMIT, "1");
    assert_a_hang(&found);
    assert_eq!(found.header("program"), "3", "{}", found.text);
    print_table(&[found.row]);
}

#[test]
fn fuzz_finds_and_minimizes_every_mutant_within_a_minute() {
    let mut rows = Vec::new();
    for mutant in registry::mutants().filter(|b| {
        b.name.starts_with("mutant-") && !b.name.contains("-lost-") && !b.is_asan_only()
    }) {
        if mutant.name == "mutant-hang" {
            let found = find_and_minimize(mutant.name, HANG_LIMIT);
            assert_a_hang(&found);
            rows.push(found.row);
        } else {
            rows.push(find_and_minimize(mutant.name, LIMIT).row);
        }
    }
    assert!(rows.len() >= 8, "only {} mutants registered", rows.len());
    print_table(&rows);
}

/// Every lost-register mutant (each native backend, each callee-saved register and control
/// word) is found within 10 s as a `register-corruption` naming exactly the lost register.
#[test]
fn fuzz_finds_every_lost_register_within_ten_seconds() {
    let mut rows = Vec::new();
    for mutant in registry::mutants().filter(|b| b.name.contains("-lost-")) {
        let found = find_and_minimize(mutant.name, LOST_REGISTER_LIMIT);
        assert_eq!(found.failure, "register-corruption", "{}", mutant.name);
        let register = &mutant.name[mutant.name.find("-lost-").unwrap() + "-lost-".len()..];
        assert!(
            found.detail.contains(&format!(": {register} expected 0x")),
            "{}: the finding names another register: {}",
            mutant.name,
            found.detail
        );
        rows.push(found.row);
    }
    #[cfg(target_env = "gnu")]
    assert_eq!(rows.len(), 24, "8 registers on 3 backends");
    print_table(&rows);
}

#[test]
fn a_worker_killed_by_sigsegv_is_a_finding_and_the_campaign_completes() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = out_dir("crash-segv");
    let (code, stderr, _) = fuzz("crash-segv", "3", "2", &dir, &["--programs", "400"]);
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
