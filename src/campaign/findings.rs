//! Finding files: `BACKEND-KIND-HASH.gp` in the campaign's output directory, a header of
//! `# NAME: value` comment lines (what failed, where the program came from, how to replay and
//! minimize it again) above the minimized program's canonical text. This module writes the
//! header ([`render`]) AND reads it back ([`Header::parse`]), so the two cannot drift apart.
//!
//! Contract: a finding is written atomically (a temporary file renamed over the name, never a
//! half-written file) and at most once: [`FindingDir::write`] skips a finding whose backend,
//! kind and program text are already in the directory, from this run or an earlier one.

use super::protocol::{one_line, Failure};
use crate::gen::Profile;
use crate::lang::ast::Program;
use crate::lang::parse::parse;
use crate::lang::print::print;
use crate::minimize::Minimized;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// FNV-1a, 64 bits: a hash that stays the same across Rust releases (file names depend on it).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The dedup key of a finding: its backend, its failure kind (as written in the header) and
/// the canonical text of its (minimized) program.
pub fn key(backend: &str, kind: &str, program_text: &str) -> u64 {
    fnv1a(format!("{backend}\0{kind}\0{program_text}").as_bytes())
}

/// The file name of a finding: `BACKEND-KIND-HASH.gp` (`combined` for BACKEND when a crash
/// needs more backends than fit in a file name).
pub fn file_name(backend: &str, kind: &str, key: u64) -> String {
    let backend = if backend.len() > 80 {
        "combined"
    } else {
        backend
    };
    format!("{backend}-{kind}-{key:016x}.gp")
}

/// What a finding file says about where its program came from.
#[derive(Clone, Debug)]
pub struct Provenance {
    pub seed: u64,
    pub index: u64,
    pub profile: Profile,
    /// The command that found it.
    pub found_by: String,
    /// e.g. `minimized from 57 to 6 statements in 312 runs` ([`minimized_note`]).
    pub minimized: String,
}

/// The header's note on a minimization: `minimized from 57 to 6 statements in 312 runs`,
/// with ` (budget spent)` when the budget ran out.
pub fn minimized_note(m: &Minimized) -> String {
    format!(
        "minimized from {} to {} statements in {} runs{}",
        m.statements_before,
        m.statements_after,
        m.runs,
        if m.exhausted { " (budget spent)" } else { "" }
    )
}

/// The header comment and program text of a finding file at `path`.
pub fn render(
    path: &Path,
    failure: &Failure,
    provenance: &Provenance,
    program_text: &str,
) -> String {
    let backends: String = failure
        .backend
        .split('+')
        .map(|b| format!("--backend {b} "))
        .collect();
    let file = path.display();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# switchyard finding: {} {}",
        failure.backend, failure.kind
    );
    let _ = writeln!(out, "# backend: {}", failure.backend);
    let _ = writeln!(out, "# failure: {}", failure.kind);
    let _ = writeln!(out, "# detail: {}", one_line(&failure.detail));
    let _ = writeln!(out, "# seed: {}", provenance.seed);
    let _ = writeln!(out, "# program: {}", provenance.index);
    let _ = writeln!(out, "# profile: {}", provenance.profile.name());
    let _ = writeln!(out, "# found by: {}", provenance.found_by);
    let _ = writeln!(
        out,
        "# original program: switchyard gen --seed {} --start {} --profile {}",
        provenance.seed,
        provenance.index,
        provenance.profile.name()
    );
    let _ = writeln!(out, "# replay: switchyard run {backends}{file}");
    let _ = writeln!(
        out,
        "# minimize again: switchyard minimize {backends}{file}"
    );
    let _ = writeln!(out, "# {}", provenance.minimized);
    out.push_str(program_text);
    out
}

/// The header of a finding file as read back; every field is `None` when its line is missing
/// (any `.gp` file parses, with or without a header).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// `# backend:` (backends joined by `+` for a crash pinned on several).
    pub backend: Option<String>,
    /// `# failure:`, the failure kind as written.
    pub failure: Option<String>,
    /// `# seed:`, when it is a number.
    pub seed: Option<u64>,
    /// `# program:` (the index in the seed), when it is a number.
    pub program: Option<u64>,
    /// `# profile:`, when it names a profile.
    pub profile: Option<Profile>,
    /// `# found by:`.
    pub found_by: Option<String>,
}

impl Header {
    /// Reads the `# NAME: value` lines of `source` (the first line of each name counts).
    pub fn parse(source: &str) -> Header {
        let value = |name: &str| {
            let prefix = format!("# {name}: ");
            source
                .lines()
                .find_map(|l| l.strip_prefix(&prefix))
                .map(|v| v.trim().to_string())
        };
        let number = |name: &str| value(name).and_then(|v| v.parse().ok());
        Header {
            backend: value("backend"),
            failure: value("failure"),
            seed: number("seed"),
            program: number("program"),
            profile: value("profile").and_then(|p| Profile::from_name(&p)),
            found_by: value("found by"),
        }
    }
}

/// Writes `contents` to `path` atomically: a temporary file in the same directory, synced,
/// then renamed over `path`.
pub fn write_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let temp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// A directory of finding files, with what is already in it.
pub struct FindingDir {
    dir: PathBuf,
    /// Keys of the findings written, by this run or before (from their header).
    keys: HashSet<u64>,
    /// Canonical texts of the `.gp` files there without a `# backend:` / `# failure:` header.
    texts: HashSet<String>,
}

impl FindingDir {
    /// The findings already in `dir` (none when it cannot be read).
    pub fn open(dir: &Path) -> FindingDir {
        let mut found = FindingDir {
            dir: dir.to_path_buf(),
            keys: HashSet::new(),
            texts: HashSet::new(),
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return found;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "gp") {
                continue;
            }
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let Ok(program) = parse(&path.display().to_string(), &bytes) else {
                continue;
            };
            let text = print(&program);
            match Header::parse(&String::from_utf8_lossy(&bytes)) {
                Header {
                    backend: Some(b),
                    failure: Some(k),
                    ..
                } => {
                    found.keys.insert(key(&b, &k, &text));
                }
                _ => {
                    found.texts.insert(text);
                }
            }
        }
        found
    }

    /// Writes the finding `failure` of `program` (atomically) unless the directory already
    /// has it. Returns the file written, `None` for a duplicate.
    pub fn write(
        &mut self,
        failure: &Failure,
        provenance: &Provenance,
        program: &Program,
    ) -> io::Result<Option<PathBuf>> {
        let text = print(program);
        let kind = failure.kind.to_string();
        let key = key(&failure.backend, &kind, &text);
        let path = self.dir.join(file_name(&failure.backend, &kind, key));
        if !self.keys.insert(key) || self.texts.contains(&text) || path.exists() {
            return Ok(None);
        }
        write_atomically(&path, render(&path, failure, provenance, &text).as_bytes())?;
        Ok(Some(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::protocol::FailureKind;

    #[test]
    fn the_header_reads_back_what_render_writes() {
        let failure = Failure {
            backend: "mmap+ucontext".into(),
            kind: FailureKind::Signal(libc::SIGSEGV),
            detail: "worker killed\nby SIGSEGV".into(),
        };
        let provenance = Provenance {
            seed: 7,
            index: 12,
            profile: Profile::Deep,
            found_by: "switchyard fuzz --seed 7".into(),
            minimized: "minimized from 9 to 2 statements in 30 runs".into(),
        };
        let text = "main {\n  observe main\n}\n";
        let file = render(Path::new("d/x.gp"), &failure, &provenance, text);
        assert!(file.ends_with(text));
        assert!(file.contains("# detail: worker killed by SIGSEGV\n"));
        assert!(file.contains("# replay: switchyard run --backend mmap --backend ucontext d/x.gp"));
        assert_eq!(
            Header::parse(&file),
            Header {
                backend: Some("mmap+ucontext".into()),
                failure: Some("crash-SIGSEGV".into()),
                seed: Some(7),
                program: Some(12),
                profile: Some(Profile::Deep),
                found_by: Some("switchyard fuzz --seed 7".into()),
            }
        );
        assert_eq!(Header::parse(text), Header::default());
    }

    #[test]
    fn a_finding_is_written_once() {
        let dir = std::env::temp_dir().join(format!("switchyard-findings-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let program = parse("t", b"main {\n  observe main\n}\n").unwrap();
        let failure = Failure {
            backend: "mmap".into(),
            kind: FailureKind::Divergence,
            detail: "d".into(),
        };
        let provenance = Provenance {
            seed: 1,
            index: 2,
            profile: Profile::Default,
            found_by: "test".into(),
            minimized: "m".into(),
        };
        let mut findings = FindingDir::open(&dir);
        let path = findings.write(&failure, &provenance, &program).unwrap();
        let path = path.expect("a new finding is written");
        assert!(path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("mmap-divergence-"));
        assert_eq!(
            findings.write(&failure, &provenance, &program).unwrap(),
            None
        );
        // A later run recognises it from the file's header.
        let mut again = FindingDir::open(&dir);
        assert_eq!(again.write(&failure, &provenance, &program).unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
