//! Finding files: `BACKEND-KIND-HASH.gp` in the campaign's output directory, a header of
//! `# NAME: value` comment lines (what failed, where the program came from, how to replay and
//! minimize it again) above the minimized program's canonical text. This module writes the
//! header ([`render`]) AND reads it back ([`Header::parse`]), so the two cannot drift apart.
//!
//! A campaign writes each finding twice: unminimized (`BACKEND-KIND-HASH-unminimized.gp`,
//! [`FindingDir::write_unminimized`]) the moment it is seen, then minimized
//! (`BACKEND-KIND-HASH.gp`, [`FindingDir::write`]), which replaces the unminimized file
//! ([`FindingDir::remove_unminimized`]). A finding the campaign could not minimize (it was
//! stopped, or the program did not fail again) stays unminimized.
//!
//! Contract: a finding is written atomically and durably (a temporary file synced, renamed
//! over the name, the directory synced: never a half-written file, never a finding lost to a
//! crash after it was reported written) and at most once: [`FindingDir::write`] skips a
//! finding whose backend, kind and program text are already in the directory, from this run
//! or an earlier one. Every write error names the file.

use super::protocol::{one_line, Failure};
use crate::gen::Profile;
use crate::lang::ast::Program;
use crate::lang::parse::parse;
use crate::lang::print::print;
use crate::minimize::Minimized;
use std::collections::HashSet;
use std::fmt::{self, Write as _};
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
    format!("{}.gp", stem(backend, kind, key))
}

/// What [`write_unminimized`](FindingDir::write_unminimized) adds to the name of a finding
/// not minimized.
pub const UNMINIMIZED: &str = "-unminimized.gp";

/// The file name of an unminimized finding: `BACKEND-KIND-HASH-unminimized.gp`.
pub fn unminimized_file_name(backend: &str, kind: &str, key: u64) -> String {
    format!("{}{UNMINIMIZED}", stem(backend, kind, key))
}

fn stem(backend: &str, kind: &str, key: u64) -> String {
    let backend = if backend.len() > 80 {
        "combined"
    } else {
        backend
    };
    format!("{backend}-{kind}-{key:016x}")
}

/// A path as messages and finding headers show it: as is, or quoted with Rust's escapes when
/// it has a control character (a newline in a file name cannot forge a line of output).
pub fn shown(path: impl AsRef<Path>) -> String {
    let text = path.as_ref().display().to_string();
    if text.chars().any(char::is_control) {
        format!("{text:?}")
    } else {
        text
    }
}

/// Where a finding's program came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Program `index` of `seed` from the generator `profile` (`switchyard gen` prints it).
    Seeded {
        seed: u64,
        index: u64,
        profile: Profile,
    },
    /// A program file given on the command line (its name as [`shown`]).
    File(String),
}

/// What a finding file says about where its program came from.
#[derive(Clone, Debug)]
pub struct Provenance {
    pub origin: Origin,
    /// The command that found it.
    pub found_by: String,
    /// e.g. `minimized from 57 to 6 statements in 312 runs` ([`minimized_note`]).
    pub minimized: String,
}

/// A finding file (or `--out` directory) that could not be written.
#[derive(Debug)]
pub struct WriteError {
    pub path: PathBuf,
    pub error: io::Error,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot write {}: {}", shown(&self.path), self.error)
    }
}

impl std::error::Error for WriteError {}

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

/// `--backend-lib PATH ` for a backend loaded from a shared library (a replay command must
/// load it too), else nothing.
pub fn backend_lib_flag(backend: &str) -> String {
    crate::check::library::path_of(backend)
        .map(|path| format!("--backend-lib {} ", shown(path)))
        .unwrap_or_default()
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
        .map(|b| format!("{}--backend {b} ", backend_lib_flag(b)))
        .collect();
    let file = shown(path);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# switchyard finding: {} {}",
        failure.backend, failure.kind
    );
    let _ = writeln!(out, "# backend: {}", failure.backend);
    let _ = writeln!(out, "# failure: {}", failure.kind);
    let _ = writeln!(out, "# detail: {}", one_line(&failure.detail));
    match &provenance.origin {
        Origin::Seeded {
            seed,
            index,
            profile,
        } => {
            let _ = writeln!(out, "# seed: {seed}");
            let _ = writeln!(out, "# program: {index}");
            let _ = writeln!(out, "# profile: {}", profile.name());
            let _ = writeln!(out, "# found by: {}", one_line(&provenance.found_by));
            let _ = writeln!(
                out,
                "# original program: switchyard gen --seed {seed} --start {index} --profile {}",
                profile.name()
            );
        }
        Origin::File(source) => {
            let _ = writeln!(out, "# source: {}", shown(source));
            let _ = writeln!(out, "# found by: {}", one_line(&provenance.found_by));
            let _ = writeln!(out, "# original program: the file {}", shown(source));
        }
    }
    let command = command();
    let _ = writeln!(out, "# replay: {command} run {backends}{file}");
    let _ = writeln!(out, "# minimize again: {command} minimize {backends}{file}");
    let _ = writeln!(out, "# {}", provenance.minimized);
    out.push_str(program_text);
    out
}

static COMMAND: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Names the command that replay lines invoke: `switchyard` unless the binary embedding
/// switchyard (`cli::main_with`) is called otherwise (its own file name, so that a finding of
/// an out-of-tree backend replays with the binary that has that backend). Set once, at start.
pub fn set_command(name: &str) {
    let _ = COMMAND.set(name.to_string());
}

/// The command replay lines invoke (see [`set_command`]).
pub fn command() -> &'static str {
    COMMAND.get().map_or("switchyard", String::as_str)
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
    /// `# source:`, the program file a finding came from (when not from a seed).
    pub source: Option<String>,
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
            source: value("source"),
        }
    }

    /// Where the program came from, as the header says: `# seed:` and `# program:` (with
    /// `# profile:`, default `default`), else `# source:`; `None` when it says neither.
    pub fn origin(&self) -> Option<Origin> {
        match (self.seed, self.program, &self.source) {
            (Some(seed), Some(index), _) => Some(Origin::Seeded {
                seed,
                index,
                profile: self.profile.unwrap_or(Profile::Default),
            }),
            (_, _, Some(source)) => Some(Origin::File(source.clone())),
            _ => None,
        }
    }
}

/// Writes `contents` to `path` atomically and durably: a temporary file in the same
/// directory, synced, renamed over `path`, then the directory synced (so that the rename
/// survives a power cut).
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
        std::fs::rename(&temp, path)?;
        std::fs::File::open(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        })?
        .sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// A directory of finding files, with what is already in it.
pub struct FindingDir {
    dir: PathBuf,
    /// Keys of the minimized findings there, written by this run or before (from their
    /// header).
    keys: HashSet<u64>,
    /// Keys of the unminimized findings there.
    unminimized: HashSet<u64>,
    /// Canonical texts of the `.gp` files there without a `# backend:` / `# failure:` header.
    texts: HashSet<String>,
}

impl FindingDir {
    /// Makes `dir` (and its parents) and checks that a file can be written there, then reads
    /// the findings already in it. The error names `dir` (or the probe file in it).
    pub fn create(dir: &Path) -> Result<FindingDir, WriteError> {
        let failed = |path: &Path, error| WriteError {
            path: path.to_path_buf(),
            error,
        };
        std::fs::create_dir_all(dir).map_err(|e| failed(dir, e))?;
        let probe = dir.join(format!(".switchyard-probe-{}", std::process::id()));
        write_atomically(
            &probe,
            b"switchyard checks that findings can be written here\n",
        )
        .map_err(|e| failed(&probe, e))?;
        std::fs::remove_file(&probe).map_err(|e| failed(&probe, e))?;
        Ok(FindingDir::open(dir))
    }

    /// The findings already in `dir` (none when it cannot be read).
    pub fn open(dir: &Path) -> FindingDir {
        let mut found = FindingDir {
            dir: dir.to_path_buf(),
            keys: HashSet::new(),
            unminimized: HashSet::new(),
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
            let unminimized = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with(UNMINIMIZED));
            match Header::parse(&String::from_utf8_lossy(&bytes)) {
                Header {
                    backend: Some(b),
                    failure: Some(k),
                    ..
                } => {
                    let key = key(&b, &k, &text);
                    if unminimized {
                        found.unminimized.insert(key);
                    } else {
                        found.keys.insert(key);
                    }
                }
                _ => {
                    found.texts.insert(text);
                }
            }
        }
        found
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes the minimized finding `failure` of `program` (atomically) unless the
    /// directory already has it. Returns the file written, `None` for a duplicate.
    pub fn write(
        &mut self,
        failure: &Failure,
        provenance: &Provenance,
        program: &Program,
    ) -> Result<Option<PathBuf>, WriteError> {
        let text = print(program);
        let kind = failure.kind.to_string();
        let key = key(&failure.backend, &kind, &text);
        let path = self.dir.join(file_name(&failure.backend, &kind, key));
        if self.keys.contains(&key) || self.texts.contains(&text) || path.exists() {
            return Ok(None);
        }
        write_atomically(&path, render(&path, failure, provenance, &text).as_bytes()).map_err(
            |error| WriteError {
                path: path.clone(),
                error,
            },
        )?;
        self.keys.insert(key);
        Ok(Some(path))
    }

    /// Writes the finding `failure` of `program` as found, before any minimization, to
    /// `BACKEND-KIND-HASH-unminimized.gp` (atomically, and over the file of the same name
    /// when `rewrite`, e.g. to change its note). Returns that file, which may have been there
    /// already (the same unminimized finding, from an earlier run).
    pub fn write_unminimized(
        &mut self,
        failure: &Failure,
        provenance: &Provenance,
        program: &Program,
        rewrite: bool,
    ) -> Result<PathBuf, WriteError> {
        let text = print(program);
        let kind = failure.kind.to_string();
        let key = key(&failure.backend, &kind, &text);
        let path = self
            .dir
            .join(unminimized_file_name(&failure.backend, &kind, key));
        if rewrite || !self.unminimized.contains(&key) || !path.exists() {
            write_atomically(&path, render(&path, failure, provenance, &text).as_bytes()).map_err(
                |error| WriteError {
                    path: path.clone(),
                    error,
                },
            )?;
            self.unminimized.insert(key);
        }
        Ok(path)
    }

    /// Removes an unminimized finding file that a minimized one now stands for.
    pub fn remove_unminimized(&mut self, path: &Path) -> io::Result<()> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
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
            origin: Origin::Seeded {
                seed: 7,
                index: 12,
                profile: Profile::Deep,
            },
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
                source: None,
            }
        );
        assert_eq!(Header::parse(&file).origin(), Some(provenance.origin));
        assert_eq!(Header::parse(text), Header::default());
    }

    #[test]
    fn a_program_from_a_file_says_so_and_no_seed() {
        let failure = Failure {
            backend: "mmap".into(),
            kind: FailureKind::Divergence,
            detail: "d".into(),
        };
        let provenance = Provenance {
            origin: Origin::File("hand\nwritten.gp".into()),
            found_by: "switchyard minimize hand.gp".into(),
            minimized: "m".into(),
        };
        let file = render(
            Path::new("out\ndir/x.gp"),
            &failure,
            &provenance,
            "main {}\n",
        );
        assert!(!file.contains("# seed:"), "{file}");
        assert!(!file.contains("switchyard gen"), "{file}");
        assert!(file.contains("# source: \"hand\\nwritten.gp\"\n"), "{file}");
        assert!(
            file.contains("# replay: switchyard run --backend mmap \"out\\ndir/x.gp\"\n"),
            "{file}"
        );
        // Every line but the program's is a header line: no file name forged one.
        assert_eq!(file.lines().filter(|l| !l.starts_with("# ")).count(), 1);
        let header = Header::parse(&file);
        assert_eq!(header.seed, None);
        assert_eq!(
            header.origin(),
            Some(Origin::File("\"hand\\nwritten.gp\"".into()))
        );
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
            origin: Origin::Seeded {
                seed: 1,
                index: 2,
                profile: Profile::Default,
            },
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
