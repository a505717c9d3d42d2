//! Replays every `corpus/**/*.gp` program: the oracle's trace must equal its insta snapshot
//! (each snapshot was verified against real greenlet; `tests/crosscheck.rs` re-verifies them),
//! and every registered backend must give the oracle's trace.

use std::path::{Path, PathBuf};
use switchyard::check::registry;
use switchyard::lang::parse::parse;
use switchyard::lang::trace::diff;

fn corpus_files() -> Vec<PathBuf> {
    switchyard::check::corpus::files(&switchyard::check::corpus::default_dir())
}

fn snapshot_name(path: &Path) -> String {
    let corpus = switchyard::check::corpus::default_dir();
    let relative = path.strip_prefix(&corpus).unwrap_or(path);
    relative
        .with_extension("")
        .to_string_lossy()
        .replace(std::path::MAIN_SEPARATOR, "__")
}

#[test]
fn corpus_has_the_ported_scenarios() {
    let files = corpus_files();
    assert!(files.len() >= 30, "only {} corpus programs", files.len());
}

#[test]
fn corpus_oracle_traces_match_snapshots() {
    for path in corpus_files() {
        // Findings get their expected trace from the oracle at replay time, not a snapshot.
        if path.components().any(|c| c.as_os_str() == "findings") {
            continue;
        }
        let source = std::fs::read(&path).unwrap();
        let program = parse(&path.display().to_string(), &source)
            .unwrap_or_else(|e| panic!("corpus program does not parse: {e}"));
        let trace = registry::oracle()
            .run(&program)
            .unwrap_or_else(|f| panic!("{}: {f}", path.display()));
        insta::assert_snapshot!(snapshot_name(&path), trace.to_string());
    }
}

#[test]
fn corpus_every_backend_equals_the_oracle() {
    let mut failures = Vec::new();
    for path in corpus_files() {
        let source = std::fs::read(&path).unwrap();
        let program = parse(&path.display().to_string(), &source).unwrap();
        let expected = registry::oracle().run(&program).unwrap();
        for backend in registry::real().filter(|b| b.name != registry::ORACLE) {
            match backend.run(&program) {
                Ok(actual) => {
                    if let Some(d) = diff(&expected, &actual) {
                        failures.push(format!("{}: {}: {d}", path.display(), backend.name));
                    }
                }
                Err(fatal) => failures.push(format!("{}: {fatal}", path.display())),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
