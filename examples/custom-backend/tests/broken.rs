//! With the `broken` feature (`tiny` pops r12's saved value into r11), `custom-switchyard fuzz`
//! finds the bug within 60 s, as a register corruption of r12 caught by switchyard's register
//! probe, and minimizes it to at most 15 statements; the minimized file replays it.
//! `cargo test --release --features broken --test broken`.
#![cfg(feature = "broken")]

mod common;

use common::{custom_switchyard, findings, out_dir};
use std::path::Path;
use std::time::Duration;
use switchyard::lang::parse::parse;
use switchyard::minimize::program_size;

const LIMIT: Duration = Duration::from_secs(60);
const MAX_STATEMENTS: usize = 15;

#[test]
fn fuzz_finds_the_lost_r12_within_60_s_and_minimizes_it() {
    let dir = out_dir("broken");
    let (code, _, err, elapsed) = custom_switchyard(&[
        "fuzz",
        "--backend",
        "tiny",
        "--seconds",
        "60",
        "--jobs",
        "2",
        "--stop-after",
        "1",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "no finding reported:\n{err}");
    let written = findings(&dir);
    assert_eq!(written.len(), 1, "{written:?}\n{err}");
    assert!(elapsed < LIMIT, "took {elapsed:?} to find and minimize");
    let text = std::fs::read_to_string(&written[0]).unwrap();
    let size = statements(&written[0]);
    assert!(size <= MAX_STATEMENTS, "{size} statements:\n{text}");
    assert!(text.contains("# failure: register-corruption"), "{text}");
    assert!(text.contains("r12 expected"), "{text}");
    assert!(
        text.contains("# replay: custom-switchyard run --backend tiny "),
        "the replay line names this binary:\n{text}"
    );
    eprintln!(
        "found and minimized in {:.1} s, {size} statements:\n{text}",
        elapsed.as_secs_f64()
    );

    let file = written[0].to_str().unwrap();
    let (code, _, err, _) = custom_switchyard(&["run", "--backend", "tiny", file]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("tiny: register-corruption"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Statements in a program file, every def's body included.
pub fn statements(file: &Path) -> usize {
    let text = std::fs::read(file).unwrap();
    let program = parse(&file.display().to_string(), &text)
        .unwrap_or_else(|e| panic!("finding does not parse: {e}"));
    program_size(&program)
}
