//! Running `custom-switchyard` as a user would, and reading its finding files.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use switchyard::campaign::findings::UNMINIMIZED;

/// `custom-switchyard ARGS`: exit status, stdout, stderr and how long it took.
pub fn custom_switchyard(args: &[&str]) -> (Option<i32>, String, String, Duration) {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_custom-switchyard"))
        .args(args)
        .output()
        .expect("run custom-switchyard");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}

/// A fresh directory for one test's findings.
pub fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("custom-backend-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The minimized finding files in `dir`.
pub fn findings(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "gp"))
                .filter(|p| !p.to_string_lossy().ends_with(UNMINIMIZED))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}
