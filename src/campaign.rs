//! The differential fuzzing campaign: seeded random programs run on several backends in child
//! processes, each trace compared with the thread oracle's; crashes isolated to the backend
//! that crashed; findings minimized, deduplicated and written atomically.
//!
//! # Processes
//!
//! The campaign (the parent) never runs a program itself. It starts `--jobs` long-lived worker
//! processes (the same binary, hidden subcommand [`WORKER_COMMAND`]) and hands each one job at
//! a time over its stdin; the worker answers on its stdout. A worker that dies (a signal, an
//! abort, a stack overflow message, an exit) or does not answer within the timeout (it is
//! killed) is a crash of the program it was running: the parent re-runs that program in a
//! fresh worker on each backend separately (the oracle first) to find which backend crashed,
//! starts a new worker and goes on.
//!
//! # Worker protocol
//!
//! One request, parent to worker:
//!
//! ```text
//! MODE SEED INDEX PROFILE BACKENDS gen\n
//! MODE SEED INDEX PROFILE BACKENDS text LEN\n<LEN bytes of program text>
//! ```
//!
//! MODE is `check` (run the oracle, then each backend, compare each trace with the oracle's)
//! or `run` (run each backend alone, no oracle: only fatal findings and crashes count; used to
//! pin a crash on one backend). BACKENDS is a comma-separated list of registered names, or `-`
//! for none. `gen` runs program INDEX of SEED from the generator PROFILE (`default` | `deep`);
//! `text` runs the program text that follows (SEED and INDEX then only say where it came
//! from). The reply, worker to parent, is zero or more lines
//!
//! ```text
//! failure BACKEND KIND DETAIL\n
//! ```
//!
//! then `done\n`; a request the worker cannot understand gets `error MESSAGE\n`. Lines that
//! start otherwise are ignored. The worker exits 0 at the end of its stdin.
//!
//! # Failure kinds
//!
//! `divergence`, or a fatal finding's kind (its `Fatal` variant in kebab case:
//! `stack-corruption`, `panic`, `backend`, ...), reported by a live worker; and, for a dead one, `stack-overflow` (its stderr says so), `crash-SIGSEGV` / `crash-SIGABRT` /
//! ... (killed by that signal), `exit-N` (exited by itself), `timeout`.
//!
//! # Test-only crash injection
//!
//! A worker whose environment has [`CRASH_ENV`] set to `WHAT@BACKEND#INDEX[,...]` crashes when
//! it is about to run BACKEND on a program that came from index INDEX (generated or text),
//! where WHAT is `segv`, `kill`, `abort`, `overflow` (a stack overflow message, then abort),
//! `exit` (exit status 3), `hang`, `garbage` (a line that is not UTF-8 nor the protocol, then
//! it runs on) or `close` (closes its stdout and hangs). It exists only so that the tests can check that a
//! campaign survives crashing workers; nothing sets it otherwise.

use crate::check::registry::{self, Backend};
use crate::gen::{self, Profile};
use crate::interp::Fatal;
use crate::lang::ast::Program;
use crate::lang::parse::parse;
use crate::lang::print::print;
use crate::lang::trace::diff;
use crate::minimize::{self, Budget};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The hidden subcommand that runs a worker.
pub const WORKER_COMMAND: &str = "__worker";
/// Test-only: makes workers crash on chosen programs (see the module doc).
pub const CRASH_ENV: &str = "SWITCHYARD_TEST_CRASH";

/// Whether a worker compares with the oracle or only runs the backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Oracle first, then each backend, each trace compared with the oracle's.
    Check,
    /// Each backend alone, no oracle: only fatal findings (and crashes) count.
    Run,
}

/// One program for a worker.
#[derive(Clone, Debug)]
pub struct Job {
    pub mode: Mode,
    pub backends: Vec<String>,
    pub seed: u64,
    pub index: u64,
    pub profile: Profile,
    /// The program text; `None`: program `index` of `seed` from `profile`.
    pub text: Option<String>,
}

impl Job {
    /// The request line (and program text) as sent to a worker.
    pub fn encode(&self) -> Vec<u8> {
        let mode = match self.mode {
            Mode::Check => "check",
            Mode::Run => "run",
        };
        let backends = if self.backends.is_empty() {
            "-".to_string()
        } else {
            self.backends.join(",")
        };
        let mut out = format!(
            "{mode} {} {} {} {backends} ",
            self.seed,
            self.index,
            self.profile.name()
        )
        .into_bytes();
        match &self.text {
            None => out.extend_from_slice(b"gen\n"),
            Some(text) => {
                out.extend_from_slice(format!("text {}\n", text.len()).as_bytes());
                out.extend_from_slice(text.as_bytes());
            }
        }
        out
    }

    /// Reads one request; `Ok(None)` at the end of the input.
    pub fn decode(input: &mut impl BufRead) -> Result<Option<Job>, String> {
        let mut line = String::new();
        match input.read_line(&mut line) {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e) => return Err(format!("cannot read a request: {e}")),
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let bad = || format!("malformed request '{}'", line.trim_end());
        if words.len() < 6 {
            return Err(bad());
        }
        let mode = match words[0] {
            "check" => Mode::Check,
            "run" => Mode::Run,
            _ => return Err(bad()),
        };
        let seed = words[1].parse().map_err(|_| bad())?;
        let index = words[2].parse().map_err(|_| bad())?;
        let profile = Profile::from_name(words[3]).ok_or_else(bad)?;
        let backends = if words[4] == "-" {
            Vec::new()
        } else {
            words[4].split(',').map(str::to_string).collect()
        };
        let text = match (words[5], words.get(6)) {
            ("gen", None) => None,
            ("text", Some(len)) => {
                let len: usize = len.parse().map_err(|_| bad())?;
                let mut bytes = vec![0; len];
                input
                    .read_exact(&mut bytes)
                    .map_err(|e| format!("cannot read the program text: {e}"))?;
                Some(String::from_utf8(bytes).map_err(|_| "program text is not UTF-8")?)
            }
            _ => return Err(bad()),
        };
        Ok(Some(Job {
            mode,
            backends,
            seed,
            index,
            profile,
            text,
        }))
    }

    /// The program this job runs.
    pub fn program(&self) -> Result<Program, String> {
        match &self.text {
            None => Ok(gen::seeded::program(
                self.seed,
                self.index,
                &self.profile.config(),
            )),
            Some(text) => parse("job.gp", text.as_bytes()).map_err(|e| e.to_string()),
        }
    }
}

/// How one backend failed on one program.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Failure {
    /// The backend (for a crash seen only when several backends run in one process, their
    /// names joined with `+`).
    pub backend: String,
    /// See the module doc.
    pub kind: String,
    /// One line for a person.
    pub detail: String,
}

/// What a worker gave for one job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The worker answered: every backend that failed (none: all agreed).
    Done(Vec<Failure>),
    /// The worker died or timed out while running the job.
    Crashed { kind: String, detail: String },
}

/// The kind of a fatal finding: its variant's name in kebab case (`stack-corruption`,
/// `panic`, `backend`, ...), so that a new kind of fatal finding needs no change here.
pub fn fatal_kind(fatal: &Fatal) -> String {
    let debug = format!("{fatal:?}");
    let variant = debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("fatal");
    let mut kind = String::new();
    for (i, c) in variant.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            kind.push('-');
        }
        kind.push(c.to_ascii_lowercase());
    }
    kind
}

/// Whether a failure kind is a crash: found by a worker dying or timing out, not reported by
/// a live worker.
pub fn is_crash_kind(kind: &str) -> bool {
    kind.starts_with("crash-")
        || kind.starts_with("exit-")
        || matches!(
            kind,
            "stack-overflow" | "timeout" | "worker-error" | "protocol-error"
        )
}

/// Backends a campaign runs by default: every registered one but the oracle (it always runs)
/// and the deliberately broken or test-only ones (`mutant-*`, `crash-*`).
pub fn default_backends() -> Vec<&'static Backend> {
    registry::real()
        .filter(|b| b.name != registry::ORACLE)
        .collect()
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

// ---- the worker (child side) ----

/// Crashes injected by [`CRASH_ENV`] (test-only).
struct Injection {
    entries: Vec<(String, String, u64)>,
}

impl Injection {
    fn from_env() -> Injection {
        let spec = std::env::var(CRASH_ENV).unwrap_or_default();
        let entries = spec
            .split(',')
            .filter_map(|entry| {
                let (what, rest) = entry.trim().split_once('@')?;
                let (backend, index) = rest.split_once('#')?;
                Some((what.to_string(), backend.to_string(), index.parse().ok()?))
            })
            .collect();
        Injection { entries }
    }

    fn before_run(&self, backend: &str, index: u64) {
        for (what, b, i) in &self.entries {
            if b == backend && *i == index {
                crash_now(what);
            }
        }
    }
}

fn crash_now(what: &str) {
    let _ = io::stdout().flush();
    match what {
        "segv" | "kill" => {
            let signal = if what == "segv" {
                libc::SIGSEGV
            } else {
                libc::SIGKILL
            };
            switchyard_impls::process::die_by_signal(signal);
        }
        "overflow" => {
            eprintln!("switchyard: greenlet stack overflow (injected by {CRASH_ENV})");
            std::process::abort();
        }
        "exit" => std::process::exit(3),
        "garbage" => {
            // A damaged worker's output: not UTF-8, not the protocol. It then runs on.
            let _ = io::stdout().write_all(b"\xff\xfe\x00 garbage\n");
            let _ = io::stdout().flush();
        }
        "close" => {
            // The worker then never answers.
            switchyard_impls::process::close_stdout();
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        "hang" => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
        _ => std::process::abort(),
    }
}

/// Runs one job in this process. `before_run` is called with each backend's name just
/// before it runs.
pub fn execute(job: &Job, mut before_run: impl FnMut(&str)) -> Result<Vec<Failure>, String> {
    let program = job.program()?;
    let mut backends = Vec::new();
    for name in &job.backends {
        backends.push(registry::find(name).ok_or_else(|| format!("unknown backend '{name}'"))?);
    }
    let fatal = |b: &Backend, f: Fatal| Failure {
        backend: b.name.to_string(),
        kind: fatal_kind(&f).to_string(),
        detail: one_line(&f.to_string()),
    };
    let mut failures = Vec::new();
    match job.mode {
        Mode::Run => {
            for b in backends {
                before_run(b.name);
                if let Err(f) = b.run(&program) {
                    failures.push(fatal(b, f));
                }
            }
        }
        Mode::Check => {
            let oracle = registry::oracle();
            before_run(oracle.name);
            let expected = match oracle.run(&program) {
                Ok(t) => t,
                Err(f) => return Ok(vec![fatal(oracle, f)]),
            };
            for b in backends.into_iter().filter(|b| b.name != oracle.name) {
                before_run(b.name);
                match b.run(&program) {
                    Ok(actual) => {
                        if let Some(d) = diff(&expected, &actual) {
                            failures.push(Failure {
                                backend: b.name.to_string(),
                                kind: "divergence".to_string(),
                                detail: one_line(&format!(
                                    "trace diverges from {} at {d}",
                                    registry::ORACLE
                                )),
                            });
                        }
                    }
                    Err(f) => failures.push(fatal(b, f)),
                }
            }
        }
    }
    Ok(failures)
}

/// The worker's main loop: answers requests on stdin until it ends. Returns the exit status.
pub fn worker_main() -> u8 {
    let injection = Injection::from_env();
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    loop {
        let reply = match Job::decode(&mut input) {
            Ok(None) => return 0,
            Ok(Some(job)) => match execute(&job, |b| injection.before_run(b, job.index)) {
                Ok(failures) => {
                    let mut reply = String::new();
                    for f in failures {
                        let _ = writeln!(reply, "failure {} {} {}", f.backend, f.kind, f.detail);
                    }
                    reply.push_str("done\n");
                    reply
                }
                Err(e) => format!("error {}\n", one_line(&e)),
            },
            Err(e) => {
                let _ = writeln!(out, "error {}", one_line(&e));
                let _ = out.flush();
                return 2;
            }
        };
        if out
            .write_all(reply.as_bytes())
            .and_then(|()| out.flush())
            .is_err()
        {
            return 0; // the parent has gone
        }
    }
}

// ---- the worker (parent side) ----

/// A worker process as the parent drives it, started on first use and restarted after it
/// dies.
pub struct Worker {
    exe: PathBuf,
    env: Vec<(String, String)>,
    live: Option<Live>,
}

struct Live {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    stderr_tail: Arc<Mutex<VecDeque<u8>>>,
    stderr_reader: Option<JoinHandle<()>>,
}

const STDERR_TAIL: usize = 4096;

impl Worker {
    /// A worker that runs `exe __worker`.
    pub fn new(exe: &Path) -> Worker {
        Worker {
            exe: exe.to_path_buf(),
            env: Vec::new(),
            live: None,
        }
    }

    /// Sets an environment variable of the worker processes (tests use it for [`CRASH_ENV`]).
    pub fn env(mut self, key: &str, value: &str) -> Worker {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// The process id of the running worker process, if one is running.
    pub fn pid(&self) -> Option<u32> {
        self.live.as_ref().map(|l| l.child.id())
    }

    fn start(&mut self) -> io::Result<&mut Live> {
        if self.live.is_none() {
            let mut child = Command::new(&self.exe)
                .arg(WORKER_COMMAND)
                .envs(self.env.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()?;
            let stdin = child.stdin.take().expect("piped");
            let stdout = child.stdout.take().expect("piped");
            let mut stderr = child.stderr.take().expect("piped");
            let (tx, lines) = mpsc::channel();
            std::thread::Builder::new()
                .name("worker-stdout".into())
                .spawn(move || {
                    // Bytes, not UTF-8 lines: a worker whose memory a backend corrupted may write
                    // anything, and its stdout must still be read to its end.
                    let mut reader = io::BufReader::new(stdout);
                    let mut buf = Vec::new();
                    loop {
                        buf.clear();
                        match reader.read_until(b'\n', &mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(_) => {}
                        }
                        while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                            buf.pop();
                        }
                        if tx.send(String::from_utf8_lossy(&buf).into_owned()).is_err() {
                            break;
                        }
                    }
                })?;
            let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
            let tail = Arc::clone(&stderr_tail);
            let stderr_reader = std::thread::Builder::new()
                .name("worker-stderr".into())
                .spawn(move || {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = stderr.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                        t.extend(&buf[..n]);
                        while t.len() > STDERR_TAIL {
                            t.pop_front();
                        }
                    }
                })?;
            self.live = Some(Live {
                child,
                stdin,
                lines,
                stderr_tail,
                stderr_reader: Some(stderr_reader),
            });
        }
        Ok(self.live.as_mut().expect("just started"))
    }

    /// Runs `job`, waiting at most `timeout` for the answer. A worker that dies or times out
    /// gives [`Outcome::Crashed`] and is replaced on the next call. `Err` only when no worker
    /// can be started.
    pub fn run(&mut self, job: &Job, timeout: Duration) -> io::Result<Outcome> {
        let live = self.start()?;
        let deadline = Instant::now() + timeout;
        let mut failures = Vec::new();
        // A write error means the worker is already gone; its exit status says why.
        let sent = live
            .stdin
            .write_all(&job.encode())
            .and_then(|()| live.stdin.flush());
        loop {
            let received = if sent.is_err() {
                Err(RecvTimeoutError::Disconnected)
            } else {
                live.lines
                    .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            };
            match received {
                Ok(line) => {
                    if line == "done" {
                        return Ok(Outcome::Done(failures));
                    }
                    let failure = line.strip_prefix("failure ").map(|rest| {
                        let mut parts = rest.splitn(3, ' ');
                        Failure {
                            backend: parts.next().unwrap_or("").to_string(),
                            kind: parts.next().unwrap_or("").to_string(),
                            detail: printable(parts.next().unwrap_or("")),
                        }
                    });
                    let bad = match &failure {
                        Some(f) => !well_formed(f, job),
                        None => !line.starts_with("error "),
                    };
                    let kind = if bad {
                        "protocol-error"
                    } else if failure.is_none() {
                        "worker-error"
                    } else {
                        ""
                    };
                    if kind.is_empty() {
                        failures.extend(failure);
                        continue;
                    }
                    let _ = live.child.kill();
                    let _ = live.child.wait();
                    self.live = None;
                    let detail = line.strip_prefix("error ").unwrap_or(&line);
                    return Ok(Outcome::Crashed {
                        kind: kind.to_string(),
                        detail: printable(detail).chars().take(200).collect(),
                    });
                }
                Err(RecvTimeoutError::Timeout) => {
                    let _ = live.child.kill();
                    let _ = live.child.wait();
                    self.live = None;
                    return Ok(Outcome::Crashed {
                        kind: "timeout".to_string(),
                        detail: format!("no answer within {} ms", timeout.as_millis()),
                    });
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let mut live = self.live.take().expect("live");
                    // Its stdout is closed: it is exiting. One that closed its stdout and lives
                    // on is broken; it is killed after a grace period.
                    let grace = Instant::now() + Duration::from_secs(2);
                    let status = loop {
                        if let Some(status) = live.child.try_wait()? {
                            break Some(status);
                        }
                        if Instant::now() >= grace {
                            let _ = live.child.kill();
                            let _ = live.child.wait();
                            break None;
                        }
                        std::thread::sleep(Duration::from_millis(2));
                    };
                    let Some(status) = status else {
                        return Ok(Outcome::Crashed {
                            kind: "protocol-error".to_string(),
                            detail: "the worker closed its stdout without exiting".to_string(),
                        });
                    };
                    if let Some(reader) = live.stderr_reader.take() {
                        let _ = reader.join();
                    }
                    let tail = live
                        .stderr_tail
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .iter()
                        .copied()
                        .collect::<Vec<u8>>();
                    let (kind, detail) = classify(status, &String::from_utf8_lossy(&tail));
                    return Ok(Outcome::Crashed { kind, detail });
                }
            }
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(mut live) = self.live.take() {
            let _ = live.child.kill();
            let _ = live.child.wait();
        }
    }
}

/// Control characters replaced, so that a line from a damaged worker prints safely.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Whether a failure line from a worker names a backend of the job and a plausible kind (a
/// worker whose memory a backend corrupted may write anything).
fn well_formed(failure: &Failure, job: &Job) -> bool {
    let backend_ok = failure.backend == registry::ORACLE || job.backends.contains(&failure.backend);
    let kind_ok = !failure.kind.is_empty()
        && failure
            .kind
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    backend_ok && kind_ok
}

/// Names a dead worker's failure from its exit status and the end of its stderr.
pub fn classify(status: ExitStatus, stderr: &str) -> (String, String) {
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(one_line)
        .unwrap_or_default();
    let with_last = |what: String| {
        if last.is_empty() {
            what
        } else {
            format!("{what}; stderr: {last}")
        }
    };
    if stderr.contains("stack overflow") {
        let line = stderr
            .lines()
            .find(|l| l.contains("stack overflow"))
            .map(one_line)
            .unwrap_or_default();
        return ("stack-overflow".to_string(), line);
    }
    if let Some(signal) = status.signal() {
        let name = signal_name(signal);
        return (
            format!("crash-{name}"),
            with_last(format!("worker killed by {name}")),
        );
    }
    let code = status.code().unwrap_or(-1);
    (
        format!("exit-{code}"),
        with_last(format!("worker exited with status {code}")),
    )
}

fn signal_name(signal: i32) -> String {
    match signal {
        libc::SIGSEGV => "SIGSEGV".into(),
        libc::SIGABRT => "SIGABRT".into(),
        libc::SIGKILL => "SIGKILL".into(),
        libc::SIGBUS => "SIGBUS".into(),
        libc::SIGILL => "SIGILL".into(),
        libc::SIGFPE => "SIGFPE".into(),
        libc::SIGTRAP => "SIGTRAP".into(),
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGSYS => "SIGSYS".into(),
        n => format!("SIG{n}"),
    }
}

// ---- crash isolation ----

/// A failure and how to reproduce it in a worker.
#[derive(Clone, Debug)]
pub struct Reproducer {
    pub failure: Failure,
    /// The job that shows it (its text is replaced by each candidate while minimizing).
    pub job: Job,
}

impl Reproducer {
    /// Whether `outcome` is this failure again: the same backend and kind (for a divergence,
    /// any divergence on that backend).
    pub fn matches(&self, outcome: &Outcome) -> bool {
        match outcome {
            Outcome::Done(failures) => failures
                .iter()
                .any(|f| f.backend == self.failure.backend && f.kind == self.failure.kind),
            Outcome::Crashed { kind, .. } => *kind == self.failure.kind,
        }
    }

    /// The job running `program` in place of the original.
    pub fn job_for(&self, program: &Program) -> Job {
        Job {
            text: Some(print(program)),
            ..self.job.clone()
        }
    }
}

/// The reproducers of a failure a live worker reported in `job` (a check job).
pub fn reproducer_for(job: &Job, failure: Failure) -> Reproducer {
    let mode = if failure.kind == "divergence" {
        Mode::Check
    } else {
        Mode::Run
    };
    Reproducer {
        job: Job {
            mode,
            backends: vec![failure.backend.clone()],
            ..job.clone()
        },
        failure,
    }
}

/// Finds which backend crashed on `job` (which crashed a worker): the oracle alone, then the
/// oracle and each backend in turn, each in a fresh worker. When none crashes alone, the whole job is run again in
/// a fresh worker; a crash then is pinned on the backends together (names joined by `+`).
/// Empty: the crash did not happen again.
pub fn isolate(exe: &Path, job: &Job, timeout: Duration) -> io::Result<Vec<Reproducer>> {
    let mut names = vec![registry::ORACLE.to_string()];
    for b in &job.backends {
        if !names.contains(b) {
            names.push(b.clone());
        }
    }
    let mut found = Vec::new();
    for name in names {
        // The oracle alone; then each backend after the oracle, as in the campaign (the
        // oracle did not crash alone).
        let mode = if name == registry::ORACLE {
            Mode::Run
        } else {
            Mode::Check
        };
        let alone = Job {
            mode,
            backends: vec![name.clone()],
            ..job.clone()
        };
        if let Outcome::Crashed { kind, detail } = Worker::new(exe).run(&alone, timeout)? {
            found.push(Reproducer {
                failure: Failure {
                    backend: name,
                    kind,
                    detail,
                },
                job: alone,
            });
            if mode == Mode::Run {
                // The oracle crashes alone: every check job would crash too.
                return Ok(found);
            }
        }
    }
    if found.is_empty() {
        if let Outcome::Crashed { kind, detail } = Worker::new(exe).run(job, timeout)? {
            found.push(Reproducer {
                failure: Failure {
                    backend: job.backends.join("+"),
                    kind,
                    detail,
                },
                job: job.clone(),
            });
        }
    }
    Ok(found)
}

// ---- minimizing in workers ----

/// Minimizes the program of `reproducer`, every candidate run in `worker`. Returns the
/// minimized program, or `None` when the original program does not fail that way again.
pub fn minimize_in_worker(
    worker: &mut Worker,
    reproducer: &Reproducer,
    program: &Program,
    budget: &Budget,
    timeout: Duration,
) -> io::Result<Option<minimize::Minimized>> {
    let mut error = None;
    let mut fails = |p: &Program| match worker.run(&reproducer.job_for(p), timeout) {
        Ok(outcome) => reproducer.matches(&outcome),
        Err(e) => {
            error.get_or_insert(e);
            false
        }
    };
    if !fails(program) {
        return match error {
            Some(e) => Err(e),
            None => Ok(None),
        };
    }
    let minimized = minimize::minimize(program, budget, &mut fails);
    match error {
        Some(e) => Err(e),
        None => Ok(Some(minimized)),
    }
}

// ---- finding files ----

/// FNV-1a, 64 bits: a hash that stays the same across Rust releases (file names depend on it).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The dedup key of a finding: its backend, its failure kind and the canonical text of its
/// (minimized) program.
pub fn finding_key(backend: &str, kind: &str, program_text: &str) -> u64 {
    fnv1a(format!("{backend}\0{kind}\0{program_text}").as_bytes())
}

/// The file name of a finding: `BACKEND-KIND-HASH.gp` (`combined` for BACKEND when a crash
/// needs more backends than fit in a file name).
pub fn finding_file_name(backend: &str, kind: &str, key: u64) -> String {
    let backend = if backend.len() > 80 {
        "combined"
    } else {
        backend
    };
    format!("{backend}-{kind}-{key:016x}.gp")
}

/// Keys of the findings already in `dir` (from their `# backend:` and `# failure:` header
/// lines and their program), and the canonical texts of `.gp` files there without such a
/// header.
pub fn existing_findings(dir: &Path) -> (HashSet<u64>, HashSet<String>) {
    let mut keys = HashSet::new();
    let mut texts = HashSet::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (keys, texts);
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
        let source = String::from_utf8_lossy(&bytes);
        let header = |name: &str| {
            source
                .lines()
                .find_map(|l| l.strip_prefix(&format!("# {name}: ")))
                .map(str::trim)
                .map(str::to_string)
        };
        match (header("backend"), header("failure")) {
            (Some(b), Some(k)) => {
                keys.insert(finding_key(&b, &k, &text));
            }
            _ => {
                texts.insert(text);
            }
        }
    }
    (keys, texts)
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

/// What a finding file says about where its program came from.
#[derive(Clone, Debug)]
pub struct Provenance {
    pub seed: u64,
    pub index: u64,
    pub profile: Profile,
    /// The command that found it.
    pub found_by: String,
    /// e.g. `minimized from 57 to 6 statements in 312 runs`.
    pub minimized: String,
}

/// The header comment and program text of a finding file at `path`.
pub fn finding_file(
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

// ---- the campaign ----

/// When a campaign stops.
#[derive(Clone, Copy, Debug)]
pub enum Limit {
    Seconds(f64),
    Programs(u64),
}

/// A campaign's settings.
#[derive(Clone, Debug)]
pub struct Options {
    /// Backends compared with the oracle (names as registered).
    pub backends: Vec<String>,
    pub limit: Limit,
    pub seed: u64,
    pub jobs: usize,
    /// Where finding files go.
    pub out: PathBuf,
    /// How long a worker may take for one program.
    pub timeout: Duration,
    pub profile: Profile,
    /// The switchyard binary workers run.
    pub exe: PathBuf,
    /// Budget of each minimization.
    pub minimize: Budget,
    /// Most findings minimized per (backend, failure kind); the rest are counted only.
    pub max_per_kind: usize,
    /// The command line, for finding headers.
    pub command_line: String,
    /// End the campaign once this many findings have been written (or recognised as already
    /// written); findings still waiting for the minimizer are then dropped.
    pub stop_after: Option<u64>,
}

/// What a campaign found.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub programs: u64,
    pub elapsed: Duration,
    /// (program, backend) pairs whose trace diverged.
    pub divergences: u64,
    /// (program, backend) pairs with a fatal finding (stack corruption, panic, backend error).
    pub fatal: u64,
    /// Programs during which a worker died or timed out.
    pub crashes: u64,
    /// Crashes that did not happen again when isolated.
    pub unreproduced: u64,
    pub written: u64,
    /// Minimized findings already written (by this run or in the directory before).
    pub duplicates: u64,
    /// Findings not minimized because their (backend, kind) had reached the cap.
    pub over_cap: u64,
    /// Findings whose program did not fail again in a fresh worker (written unminimized).
    pub not_reproduced: u64,
}

impl Summary {
    pub fn found_anything(&self) -> bool {
        self.divergences + self.fatal + self.crashes > 0
    }

    pub fn rate(&self) -> f64 {
        self.programs as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

#[derive(Default)]
struct Counters {
    programs: AtomicU64,
    divergences: AtomicU64,
    fatal: AtomicU64,
    crashes: AtomicU64,
    unreproduced: AtomicU64,
    written: AtomicU64,
    duplicates: AtomicU64,
    over_cap: AtomicU64,
    not_reproduced: AtomicU64,
    pending: AtomicU64,
}

impl Counters {
    fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
    fn add(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Prints a line above the progress bar (or plainly when there is none).
#[derive(Clone)]
struct Log(Option<ProgressBar>);

impl Log {
    fn line(&self, text: &str) {
        match &self.0 {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }
}

/// A finding on its way to the minimizer.
struct Pending {
    reproducer: Reproducer,
    program: Program,
}

/// Runs a campaign; progress goes to stderr. `Err` when workers cannot be started or the
/// output directory cannot be made.
pub fn run(options: &Options) -> io::Result<Summary> {
    std::fs::create_dir_all(&options.out)?;
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let tty = io::stderr().is_terminal();
    let bar = tty.then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                .expect("valid template"),
        );
        bar
    });
    let log = Log(bar.clone());
    let started = Instant::now();

    let (found_tx, found_rx) = mpsc::channel::<Pending>();
    let minimizer = {
        let options = options.clone();
        let counters = Arc::clone(&counters);
        let log = log.clone();
        std::thread::Builder::new()
            .name("minimizer".into())
            .spawn({
                let stop = Arc::clone(&stop);
                move || minimizer_loop(&options, found_rx, &counters, &stop, &log)
            })?
    };

    let mut workers = Vec::new();
    for _ in 0..options.jobs.max(1) {
        let options = options.clone();
        let counters = Arc::clone(&counters);
        let stop = Arc::clone(&stop);
        let next = Arc::clone(&next);
        let found = found_tx.clone();
        let log = log.clone();
        workers.push(
            std::thread::Builder::new()
                .name("campaign".into())
                .spawn(move || campaign_loop(&options, &counters, &stop, &next, &found, &log))?,
        );
    }
    drop(found_tx);

    let status = |counters: &Counters, elapsed: Duration| {
        let programs = Counters::get(&counters.programs);
        let mut s = format!(
            "{programs} programs, {:.1}/s, {} divergences, {} fatal, {} crashes, {} findings written",
            programs as f64 / elapsed.as_secs_f64().max(1e-9),
            Counters::get(&counters.divergences),
            Counters::get(&counters.fatal),
            Counters::get(&counters.crashes),
            Counters::get(&counters.written),
        );
        let pending = Counters::get(&counters.pending);
        if pending > 0 {
            let _ = write!(s, ", {pending} minimizing");
        }
        s
    };
    let mut last_plain = Instant::now();
    let mut campaign_elapsed = None;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let elapsed = started.elapsed();
        if let Limit::Seconds(s) = options.limit {
            if elapsed.as_secs_f64() >= s {
                stop.store(true, Ordering::Relaxed);
            }
        }
        let campaign_done = workers.iter().all(|w| w.is_finished());
        if campaign_done && campaign_elapsed.is_none() {
            campaign_elapsed = Some(elapsed);
        }
        let rate_elapsed = campaign_elapsed.unwrap_or(elapsed);
        match &bar {
            Some(bar) => bar.set_message(status(&counters, rate_elapsed)),
            None => {
                if last_plain.elapsed() >= Duration::from_secs(5) {
                    last_plain = Instant::now();
                    eprintln!(
                        "[{:>6.1} s] {}",
                        elapsed.as_secs_f64(),
                        status(&counters, rate_elapsed)
                    );
                }
            }
        }
        if campaign_done && minimizer.is_finished() {
            break;
        }
    }
    let mut error = None;
    for w in workers {
        if let Ok(Err(e)) = w.join() {
            error.get_or_insert(e);
        }
    }
    if let Ok(Err(e)) = minimizer.join() {
        error.get_or_insert(e);
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    if let Some(e) = error {
        return Err(e);
    }
    let c = &counters;
    Ok(Summary {
        programs: Counters::get(&c.programs),
        elapsed: campaign_elapsed.unwrap_or_else(|| started.elapsed()),
        divergences: Counters::get(&c.divergences),
        fatal: Counters::get(&c.fatal),
        crashes: Counters::get(&c.crashes),
        unreproduced: Counters::get(&c.unreproduced),
        written: Counters::get(&c.written),
        duplicates: Counters::get(&c.duplicates),
        over_cap: Counters::get(&c.over_cap),
        not_reproduced: Counters::get(&c.not_reproduced),
    })
}

fn campaign_loop(
    options: &Options,
    counters: &Counters,
    stop: &AtomicBool,
    next: &AtomicU64,
    found: &mpsc::Sender<Pending>,
    log: &Log,
) -> io::Result<()> {
    let mut worker = Worker::new(&options.exe);
    let config = options.profile.config();
    let send = |reproducer: Reproducer, program: &Program| {
        counters.pending.fetch_add(1, Ordering::Relaxed);
        let _ = found.send(Pending {
            reproducer,
            program: program.clone(),
        });
    };
    while !stop.load(Ordering::Relaxed) {
        let index = next.fetch_add(1, Ordering::Relaxed);
        if let Limit::Programs(n) = options.limit {
            if index >= n {
                break;
            }
        }
        let job = Job {
            mode: Mode::Check,
            backends: options.backends.clone(),
            seed: options.seed,
            index,
            profile: options.profile,
            text: None,
        };
        let outcome = worker.run(&job, options.timeout)?;
        Counters::add(&counters.programs);
        match outcome {
            Outcome::Done(failures) => {
                if failures.is_empty() {
                    continue;
                }
                let program = gen::seeded::program(options.seed, index, &config);
                for f in failures {
                    if f.kind == "divergence" {
                        Counters::add(&counters.divergences);
                    } else {
                        Counters::add(&counters.fatal);
                    }
                    log.line(&format!(
                        "program {index}: {} {}: {}",
                        f.backend, f.kind, f.detail
                    ));
                    send(reproducer_for(&job, f), &program);
                }
            }
            Outcome::Crashed { kind, detail } => {
                Counters::add(&counters.crashes);
                log.line(&format!(
                    "program {index}: worker crashed ({kind}: {detail}); isolating"
                ));
                let program = gen::seeded::program(options.seed, index, &config);
                let reproducers = isolate(&options.exe, &job, options.timeout)?;
                if reproducers.is_empty() {
                    Counters::add(&counters.unreproduced);
                    log.line(&format!(
                        "program {index}: the crash did not happen again (replay: switchyard fuzz --seed {} --programs {} ...)",
                        options.seed,
                        index + 1
                    ));
                }
                for r in reproducers {
                    log.line(&format!(
                        "program {index}: {} {}: {}",
                        r.failure.backend, r.failure.kind, r.failure.detail
                    ));
                    send(r, &program);
                }
            }
        }
    }
    Ok(())
}

fn minimizer_loop(
    options: &Options,
    found: Receiver<Pending>,
    counters: &Counters,
    stop: &AtomicBool,
    log: &Log,
) -> io::Result<()> {
    let (mut keys, texts) = existing_findings(&options.out);
    let mut per_kind: HashMap<(String, String), usize> = HashMap::new();
    let mut worker = Worker::new(&options.exe);
    let enough = |counters: &Counters| {
        options.stop_after.is_some_and(|n| {
            Counters::get(&counters.written) + Counters::get(&counters.duplicates) >= n
        })
    };
    for pending in found {
        if enough(counters) {
            counters.pending.fetch_sub(1, Ordering::Relaxed);
            continue;
        }
        let result = minimize_finding(
            options,
            &pending,
            &mut worker,
            &mut keys,
            &texts,
            &mut per_kind,
            counters,
            log,
        );
        counters.pending.fetch_sub(1, Ordering::Relaxed);
        result?;
        if enough(counters) {
            stop.store(true, Ordering::Relaxed);
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn minimize_finding(
    options: &Options,
    pending: &Pending,
    worker: &mut Worker,
    keys: &mut HashSet<u64>,
    texts: &HashSet<String>,
    per_kind: &mut HashMap<(String, String), usize>,
    counters: &Counters,
    log: &Log,
) -> io::Result<()> {
    let failure = &pending.reproducer.failure;
    let count = per_kind
        .entry((failure.backend.clone(), failure.kind.clone()))
        .or_default();
    if *count >= options.max_per_kind {
        Counters::add(&counters.over_cap);
        return Ok(());
    }
    *count += 1;
    let before = minimize::program_size(&pending.program);
    let (program, note) = match minimize_in_worker(
        worker,
        &pending.reproducer,
        &pending.program,
        &options.minimize,
        options.timeout,
    )? {
        Some(m) => {
            let note = format!(
                "minimized from {} to {} statements in {} runs{}",
                m.statements_before,
                m.statements_after,
                m.runs,
                if m.exhausted { " (budget spent)" } else { "" }
            );
            (m.program, note)
        }
        None => {
            Counters::add(&counters.not_reproduced);
            (
                pending.program.clone(),
                format!(
                    "not minimized: it did not fail that way again in a fresh worker ({before} statements)"
                ),
            )
        }
    };
    let text = print(&program);
    let key = finding_key(&failure.backend, &failure.kind, &text);
    let path = options
        .out
        .join(finding_file_name(&failure.backend, &failure.kind, key));
    if !keys.insert(key) || texts.contains(&text) || path.exists() {
        Counters::add(&counters.duplicates);
        return Ok(());
    }
    let provenance = Provenance {
        seed: pending.reproducer.job.seed,
        index: pending.reproducer.job.index,
        profile: pending.reproducer.job.profile,
        found_by: options.command_line.clone(),
        minimized: note,
    };
    write_atomically(
        &path,
        finding_file(&path, failure, &provenance, &text).as_bytes(),
    )?;
    Counters::add(&counters.written);
    log.line(&format!("wrote {}", path.display()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fatal_kinds_are_kebab_case_variant_names() {
        let s = |x: &str| x.to_string();
        assert_eq!(
            fatal_kind(&Fatal::StackCorruption {
                backend: s("b"),
                detail: s("d")
            }),
            "stack-corruption"
        );
        assert_eq!(
            fatal_kind(&Fatal::Panic {
                backend: s("b"),
                message: s("m")
            }),
            "panic"
        );
        assert_eq!(
            fatal_kind(&Fatal::Backend {
                backend: s("b"),
                error: s("e")
            }),
            "backend"
        );
        assert!(!is_crash_kind("stack-corruption") && is_crash_kind("crash-SIGSEGV"));
    }

    #[test]
    fn jobs_round_trip_through_the_protocol() {
        for (text, backends) in [
            (None, vec![]),
            (
                Some("main {\n  observe main\n}\n".to_string()),
                vec!["a".into(), "b".into()],
            ),
        ] {
            let job = Job {
                mode: Mode::Run,
                backends,
                seed: u64::MAX,
                index: 7,
                profile: Profile::Deep,
                text,
            };
            let bytes = job.encode();
            let mut input = io::Cursor::new([bytes.clone(), bytes].concat());
            for _ in 0..2 {
                let back = Job::decode(&mut input).unwrap().unwrap();
                assert_eq!(back.encode(), job.encode());
            }
            assert!(Job::decode(&mut input).unwrap().is_none());
        }
    }

    #[test]
    fn dead_workers_are_classified() {
        let signalled = ExitStatus::from_raw(libc::SIGSEGV);
        assert_eq!(classify(signalled, "").0, "crash-SIGSEGV");
        let aborted = ExitStatus::from_raw(libc::SIGABRT);
        let overflow = "thread 'x' has overflowed its stack\nfatal runtime error: stack overflow\n";
        assert_eq!(classify(aborted, overflow).0, "stack-overflow");
        let exited = ExitStatus::from_raw(3 << 8);
        assert_eq!(classify(exited, "bye\n").0, "exit-3");
        assert!(classify(exited, "bye\n").1.contains("bye"));
    }
}
