//! `custom-switchyard` (switchyard's command with `tiny` added by `main_with`) on the correct
//! switcher: it lists `tiny` with its provenance and guarantees, runs programs on it, and a
//! campaign over it (in worker processes, which must know `tiny` too) finds nothing.
#![cfg(not(feature = "broken"))]

mod common;

use common::{custom_switchyard, findings, out_dir};

#[test]
fn backends_lists_tiny_after_the_built_in_ones_with_where_it_comes_from() {
    let (code, out, err, _) = custom_switchyard(&["backends"]);
    assert_eq!(code, Some(0), "{err}");
    let names: Vec<&str> = out.lines().collect();
    assert_eq!(names.first(), Some(&"thread"));
    assert_eq!(names.last(), Some(&"tiny"));
    let (code, out, err, _) = custom_switchyard(&["backends", "-v"]);
    assert_eq!(code, Some(0), "{err}");
    let block: Vec<&str> = out.lines().skip_while(|l| *l != "tiny").collect();
    assert_eq!(
        block,
        [
            "tiny",
            "  summary:    examples/custom-backend: an mmap'd stack per greenlet, one naked symmetric switch",
            concat!("  from:       crate custom-backend ", env!("CARGO_PKG_VERSION")),
            "  guarantees: all callee-saved state (register probe at every switch)",
        ]
    );
}

#[test]
fn the_corpus_runs_on_tiny_as_on_the_oracle() {
    let corpus = concat!(env!("CARGO_MANIFEST_DIR"), "/../../corpus");
    let mut files: Vec<String> = std::fs::read_dir(corpus)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "gp"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    assert!(files.len() >= 50, "{files:?}");
    let mut args = vec!["run", "--backend", "tiny"];
    args.extend(files.iter().map(String::as_str));
    let (code, out, err, _) = custom_switchyard(&args);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.matches("\nend\n").count(), files.len(), "{out}");
}

#[test]
fn a_campaign_on_tiny_finds_nothing() {
    let dir = out_dir("clean");
    let (code, _, err, _) = custom_switchyard(&[
        "fuzz",
        "--backend",
        "tiny",
        "--programs",
        "3000",
        "--jobs",
        "2",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("3000 programs"), "{err}");
    assert_eq!(findings(&dir), Vec::<std::path::PathBuf>::new());
    let _ = std::fs::remove_dir_all(&dir);
}
