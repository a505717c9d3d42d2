//! The cross-check against CPython's real `greenlet`: drives `tools/greenlet_runner.py` (in a
//! venv made by `ci/venv.sh`) over many programs and compares its traces with the oracle's.

use crate::check::registry;
use crate::gen::{self, GenConfig};
use crate::lang::ast::Program;
use crate::lang::print::print;
use crate::lang::trace::{diff, Divergence, Trace};
use crate::minimize::{self, Budget, Minimized};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// Ends each program sent to the runner and each trace it sends back, alone on a line.
pub const RECORD_SEPARATOR: &str = "\x1e";

/// The repository this binary was built from (where `tools/` and `ci/` are).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The default Python: the project's venv.
pub fn default_python() -> PathBuf {
    repo_root().join(".venv/bin/python")
}

/// Runs `ci/venv.sh`, which makes the project's venv with the pinned greenlet if it is
/// missing, and returns the venv's Python (the script's last line of output).
pub fn make_venv() -> io::Result<PathBuf> {
    let out = Command::new("bash")
        .arg(repo_root().join("ci/venv.sh"))
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "ci/venv.sh failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    match stdout.lines().last() {
        Some(line) => Ok(PathBuf::from(line.trim())),
        None => Err(io::Error::other("ci/venv.sh printed no python path")),
    }
}

/// The default runner script.
pub fn default_runner() -> PathBuf {
    repo_root().join("tools/greenlet_runner.py")
}

/// A running `greenlet_runner.py --batch`.
pub struct GreenletRunner {
    python: PathBuf,
    runner: PathBuf,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl GreenletRunner {
    /// Starts the runner with `python`.
    pub fn start(python: &Path, runner: &Path) -> io::Result<GreenletRunner> {
        if !python.exists() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{} does not exist: run ci/venv.sh to create the venv with greenlet",
                    python.display()
                ),
            ));
        }
        let mut child = crate::lifeline::bind_to_parent(&mut Command::new(python))
            .arg(runner)
            .arg("--batch")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Ok(GreenletRunner {
            python: python.to_path_buf(),
            runner: runner.to_path_buf(),
            child,
            stdin,
            stdout,
        })
    }

    /// Replaces the runner process by a fresh one (after a program it failed on).
    pub fn restart(&mut self) -> io::Result<()> {
        *self = GreenletRunner::start(&self.python, &self.runner)?;
        Ok(())
    }

    /// The trace real greenlet gives for the program text `source`.
    pub fn run(&mut self, source: &str) -> io::Result<Trace> {
        write!(self.stdin, "{source}\n{RECORD_SEPARATOR}\n")?;
        self.stdin.flush()?;
        let mut lines = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            if self.stdout.read_line(&mut line)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "greenlet_runner.py ended before finishing a trace (see its stderr)",
                ));
            }
            let text = line.trim_end_matches(['\n', '\r']);
            if text == RECORD_SEPARATOR {
                return Ok(Trace { lines });
            }
            lines.push(text.to_string());
        }
    }
}

impl Drop for GreenletRunner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A program on which the oracle and real greenlet disagree.
#[derive(Debug)]
pub struct Mismatch {
    /// Index of the generated program.
    pub index: u64,
    pub program: Program,
    /// Where the traces part, or the oracle's fatal finding.
    pub problem: String,
    pub greenlet: Trace,
    pub oracle: Option<Trace>,
}

/// Outcome of a cross-check.
#[derive(Debug, Default)]
pub struct Report {
    pub checked: u64,
    pub mismatches: Vec<Mismatch>,
}

/// Compares one program's oracle trace with real greenlet's.
pub fn check_program(
    runner: &mut GreenletRunner,
    program: &Program,
) -> io::Result<Option<(String, Trace, Option<Trace>)>> {
    let expected = runner.run(&print(program))?;
    Ok(match registry::oracle().run(program) {
        Ok(actual) => {
            diff(&expected, &actual).map(|d: Divergence| (d.to_string(), expected, Some(actual)))
        }
        Err(fatal) => Some((fatal.to_string(), expected, None)),
    })
}

/// Runs programs `start .. start + count` of `seed` through real greenlet and the oracle.
/// `progress` is called after each program with the number checked so far.
pub fn crosscheck(
    runner: &mut GreenletRunner,
    seed: u64,
    start: u64,
    count: u64,
    config: &GenConfig,
    mut progress: impl FnMut(u64, usize),
) -> io::Result<Report> {
    let mut report = Report::default();
    for index in start..start + count {
        let program = gen::seeded::program(seed, index, config);
        if let Some((problem, greenlet, oracle)) = check_program(runner, &program)? {
            report.mismatches.push(Mismatch {
                index,
                program,
                problem,
                greenlet,
                oracle,
            });
        }
        report.checked += 1;
        progress(report.checked, report.mismatches.len());
    }
    Ok(report)
}

/// What kind of difference a mismatch is, for keeping it while minimizing: the oracle's fatal
/// finding, or the events (the word after the greenlet id, `end`, or none when the trace had
/// ended) that greenlet and the oracle have at the first differing line.
pub fn difference_kind(greenlet: &Trace, oracle: Option<&Trace>) -> Option<String> {
    let event = |line: &Option<String>| match line {
        None => "(ended)".to_string(),
        Some(l) => {
            let mut words = l.split_whitespace();
            let first = words.next().unwrap_or("");
            if first.starts_with('#') {
                words.next().unwrap_or("").to_string()
            } else {
                first.to_string()
            }
        }
    };
    match oracle {
        None => Some("oracle fatal".to_string()),
        Some(actual) => diff(greenlet, actual).map(|d| {
            format!(
                "greenlet {} / oracle {}",
                event(&d.expected),
                event(&d.actual)
            )
        }),
    }
}

/// Minimizes `program`, on which the oracle and real greenlet differ, keeping the kind of
/// difference ([`difference_kind`]): the same minimizer as the campaign's, with each candidate
/// run through `runner` and the oracle. A candidate the runner fails on does not count (the
/// runner is restarted). `Err` only when the runner cannot be restarted.
pub fn minimize_mismatch(
    runner: &mut GreenletRunner,
    program: &Program,
    budget: &Budget,
) -> io::Result<Minimized> {
    let mut error = None;
    let mut kind_of = |p: &Program| -> Option<String> {
        match check_program(runner, p) {
            Ok(found) => {
                found.and_then(|(_, greenlet, oracle)| difference_kind(&greenlet, oracle.as_ref()))
            }
            Err(_) => {
                if let Err(e) = runner.restart() {
                    error.get_or_insert(e);
                }
                None
            }
        }
    };
    let wanted = kind_of(program);
    let minimized = minimize::minimize(program, budget, |p| {
        wanted.is_some() && kind_of(p) == wanted
    });
    match error {
        Some(e) => Err(e),
        None => Ok(minimized),
    }
}
