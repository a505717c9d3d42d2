//! The worker wire protocol and the names of failures: what the campaign (the parent) and a
//! worker process (the child, [`super::serve`]) say to each other, and [`FailureKind`], the
//! one list of ways a backend can fail, with the text each kind has in replies, finding
//! files and file names.
//!
//! # Requests, parent to worker
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
//! from).
//!
//! # Replies, worker to parent
//!
//! As it goes, for each backend it runs (the oracle first in `check` mode):
//!
//! ```text
//! running BACKEND\n          just before BACKEND runs (flushed at once)
//! ran BACKEND NANOS\n        BACKEND's run took NANOS nanoseconds
//! ```
//!
//! so that the parent knows which backend a hang or a crash happened in, and can give each
//! backend a deadline relative to the oracle's own time on the same program ([`Timeouts`]).
//! Then zero or more lines
//!
//! ```text
//! failure BACKEND KIND DETAIL\n
//! ```
//!
//! then `done\n`; a request the worker cannot understand gets `error MESSAGE\n`. Any other
//! line is a protocol error. The worker exits 0 at the end of its stdin.
//!
//! # Failure kinds
//!
//! `divergence`, or a fatal finding's kind (`stack-corruption`, `panic`, `backend`,
//! `register-corruption`, `hub-leak`), reported by a live worker; and, for a dead one, `stack-overflow`
//! (its stderr says so), `crash-SIGSEGV` / `crash-SIGABRT` / ... (killed by that signal),
//! `exit-N` (exited by itself), `timeout`, `worker-error` (it answered `error`) and
//! `protocol-error` (it answered something that is not the protocol).

use super::fault::FAULT_PREFIX;
use crate::gen::{seeded, Profile};
use crate::interp::Fatal;
use crate::lang::ast::Program;
use crate::lang::parse::parse;
use std::fmt;
use std::io::BufRead;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

pub use super::timeouts::Timeouts;

/// The hidden subcommand that runs a worker.
pub const WORKER_COMMAND: &str = "__worker";

/// How a backend failed on a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// Its trace differs from the oracle's.
    Divergence,
    /// [`Fatal::StackCorruption`].
    StackCorruption,
    /// [`Fatal::Panic`].
    Panic,
    /// [`Fatal::Backend`].
    Backend,
    /// [`Fatal::RegisterCorruption`].
    RegisterCorruption,
    /// [`Fatal::HubLeak`]: the program left a live hub on the worker's program thread (the
    /// worker's program thread is replaced, and the campaign restarts the worker).
    HubLeak,
    /// The worker died and its stderr says "stack overflow".
    StackOverflow,
    /// The worker was killed by this signal.
    Signal(i32),
    /// The worker exited by itself with this status (-1: no status).
    Exit(i32),
    /// The worker did not answer within the timeout and was killed.
    Timeout,
    /// The worker answered `error MESSAGE`.
    WorkerError,
    /// The worker answered something that is not the protocol.
    ProtocolError,
}

/// Signals with a name in kind texts; others are `crash-SIGN`.
const SIGNALS: [(i32, &str); 9] = [
    (libc::SIGSEGV, "SIGSEGV"),
    (libc::SIGABRT, "SIGABRT"),
    (libc::SIGKILL, "SIGKILL"),
    (libc::SIGBUS, "SIGBUS"),
    (libc::SIGILL, "SIGILL"),
    (libc::SIGFPE, "SIGFPE"),
    (libc::SIGTRAP, "SIGTRAP"),
    (libc::SIGTERM, "SIGTERM"),
    (libc::SIGSYS, "SIGSYS"),
];

fn signal_name(signal: i32) -> String {
    SIGNALS
        .iter()
        .find(|(n, _)| *n == signal)
        .map_or_else(|| format!("SIG{signal}"), |(_, name)| name.to_string())
}

impl FailureKind {
    /// The kind of a fatal finding.
    pub fn of_fatal(fatal: &Fatal) -> FailureKind {
        match fatal {
            Fatal::StackCorruption { .. } => FailureKind::StackCorruption,
            Fatal::Panic { .. } => FailureKind::Panic,
            Fatal::Backend { .. } => FailureKind::Backend,
            Fatal::RegisterCorruption { .. } => FailureKind::RegisterCorruption,
            Fatal::HubLeak { .. } => FailureKind::HubLeak,
        }
    }

    /// Whether this is a crash: found by a worker dying or timing out (or talking nonsense),
    /// not reported by a live worker.
    pub fn is_crash(self) -> bool {
        matches!(
            self,
            FailureKind::StackOverflow
                | FailureKind::Signal(_)
                | FailureKind::Exit(_)
                | FailureKind::Timeout
                | FailureKind::WorkerError
                | FailureKind::ProtocolError
        )
    }

    /// Names a dead worker's failure from its exit status and the end of its stderr, with a
    /// one-line detail: the signal, the faulting address when the worker's fault reporter
    /// ([`super::fault`]) wrote one, and the backend's own last message (Rust's `note:` lines
    /// and backtrace lines left out).
    pub fn of_dead_worker(status: ExitStatus, stderr: &str) -> (FailureKind, String) {
        let fault = stderr
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix(FAULT_PREFIX))
            .map(one_line);
        let noise = |l: &str| {
            let t = l.trim();
            t.is_empty()
                || l.starts_with(FAULT_PREFIX)
                || t.starts_with("note:")
                || t.starts_with("stack backtrace:")
                || t.starts_with("at ")
                || t.split_once(':')
                    .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        };
        // A sanitizer's report ends with `==PID==ABORTING`; its headline names the error.
        let sanitizer = stderr
            .lines()
            .find(|l| l.contains("ERROR: AddressSanitizer:"))
            .map(|l| one_line(l.trim_start_matches(|c: char| c == '=' || c.is_ascii_digit())));
        let message = sanitizer.or_else(|| stderr.lines().rev().find(|l| !noise(l)).map(one_line));
        let mut detail = Vec::new();
        let kind = if let Some(line) = stderr.lines().find(|l| l.contains("stack overflow")) {
            detail.push(one_line(line));
            detail.extend(fault);
            FailureKind::StackOverflow
        } else if let Some(signal) = status.signal() {
            let name = signal_name(signal);
            match fault.filter(|f| f.starts_with(&name)) {
                Some(f) => detail.push(format!("killed by {f}")),
                None => detail.push(format!("killed by {name}")),
            }
            detail.extend(message.map(|m| format!("message: {m}")));
            FailureKind::Signal(signal)
        } else {
            let code = status.code().unwrap_or(-1);
            detail.push(format!("exited with status {code}"));
            detail.extend(message.map(|m| format!("message: {m}")));
            FailureKind::Exit(code)
        };
        (kind, printable(&detail.join("; ")))
    }

    /// The kind a text names (what [`fmt::Display`] writes), `None` for any other text.
    pub fn parse(text: &str) -> Option<FailureKind> {
        let fixed = match text {
            "divergence" => Some(FailureKind::Divergence),
            "stack-corruption" => Some(FailureKind::StackCorruption),
            "panic" => Some(FailureKind::Panic),
            "backend" => Some(FailureKind::Backend),
            "register-corruption" => Some(FailureKind::RegisterCorruption),
            "hub-leak" => Some(FailureKind::HubLeak),
            "stack-overflow" => Some(FailureKind::StackOverflow),
            "timeout" => Some(FailureKind::Timeout),
            "worker-error" => Some(FailureKind::WorkerError),
            "protocol-error" => Some(FailureKind::ProtocolError),
            _ => None,
        };
        if fixed.is_some() {
            return fixed;
        }
        if let Some(signal) = text.strip_prefix("crash-SIG") {
            return SIGNALS
                .iter()
                .find(|(_, name)| name[3..] == *signal)
                .map(|(n, _)| *n)
                .or_else(|| {
                    signal
                        .parse()
                        .ok()
                        .filter(|n| signal_name(*n)[3..] == *signal)
                })
                .map(FailureKind::Signal);
        }
        let code = text.strip_prefix("exit-")?;
        code.parse()
            .ok()
            .filter(|c: &i32| c.to_string() == code)
            .map(FailureKind::Exit)
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureKind::Divergence => f.write_str("divergence"),
            FailureKind::StackCorruption => f.write_str("stack-corruption"),
            FailureKind::Panic => f.write_str("panic"),
            FailureKind::Backend => f.write_str("backend"),
            FailureKind::RegisterCorruption => f.write_str("register-corruption"),
            FailureKind::HubLeak => f.write_str("hub-leak"),
            FailureKind::StackOverflow => f.write_str("stack-overflow"),
            FailureKind::Signal(signal) => write!(f, "crash-{}", signal_name(*signal)),
            FailureKind::Exit(code) => write!(f, "exit-{code}"),
            FailureKind::Timeout => f.write_str("timeout"),
            FailureKind::WorkerError => f.write_str("worker-error"),
            FailureKind::ProtocolError => f.write_str("protocol-error"),
        }
    }
}

/// How one backend failed on one program.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Failure {
    /// The backend (for a crash seen only when several backends run in one process, their
    /// names joined with `+`).
    pub backend: String,
    pub kind: FailureKind,
    /// One line for a person.
    pub detail: String,
}

impl Failure {
    /// The failure a live worker reports for a fatal finding of `backend`.
    pub fn fatal(backend: &str, fatal: &Fatal) -> Failure {
        Failure {
            backend: backend.to_string(),
            kind: FailureKind::of_fatal(fatal),
            detail: one_line(&fatal.to_string()),
        }
    }
}

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
            None => Ok(seeded::program(
                self.seed,
                self.index,
                &self.profile.config(),
            )),
            Some(text) => parse("job.gp", text.as_bytes()).map_err(|e| e.to_string()),
        }
    }
}

/// One line of a worker's reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplyLine {
    /// `running BACKEND`: BACKEND is about to run.
    Running(String),
    /// `ran BACKEND NANOS`: BACKEND ran for that long.
    Ran(String, Duration),
    /// `failure BACKEND KIND DETAIL`.
    Failure(Failure),
    /// `done`: the reply is complete.
    Done,
    /// `error MESSAGE`: the worker could not run the request.
    Error(String),
    /// A `failure` line with no known kind, or a line outside the protocol.
    Garbage(String),
}

impl ReplyLine {
    /// The reply to a request: a `failure` line for each failure and `done`, or one `error`
    /// line.
    pub fn encode_reply(result: &Result<Vec<Failure>, String>) -> String {
        match result {
            Ok(failures) => {
                let mut reply: String = failures
                    .iter()
                    .map(|f| format!("failure {} {} {}\n", f.backend, f.kind, one_line(&f.detail)))
                    .collect();
                reply.push_str("done\n");
                reply
            }
            Err(e) => format!("error {}\n", one_line(e)),
        }
    }

    /// The progress line `running BACKEND`.
    pub fn encode_running(backend: &str) -> String {
        format!("running {backend}\n")
    }

    /// The progress line `ran BACKEND NANOS`.
    pub fn encode_ran(backend: &str, took: Duration) -> String {
        format!("ran {backend} {}\n", took.as_nanos())
    }

    /// Reads one line (without its line end; a damaged worker may write anything, so control
    /// characters in a detail or message are made printable).
    pub fn decode(line: &str) -> ReplyLine {
        if line == "done" {
            return ReplyLine::Done;
        }
        if let Some(backend) = line.strip_prefix("running ") {
            if !backend.is_empty() && !backend.contains(' ') {
                return ReplyLine::Running(printable(backend));
            }
        }
        if let Some((backend, nanos)) = line.strip_prefix("ran ").and_then(|r| r.split_once(' ')) {
            if let Ok(nanos) = nanos.parse::<u64>() {
                return ReplyLine::Ran(printable(backend), Duration::from_nanos(nanos));
            }
        }
        if let Some(message) = line.strip_prefix("error ") {
            return ReplyLine::Error(printable(message));
        }
        let Some(rest) = line.strip_prefix("failure ") else {
            return ReplyLine::Garbage(printable(line));
        };
        let mut parts = rest.splitn(3, ' ');
        let backend = parts.next().unwrap_or("").to_string();
        match FailureKind::parse(parts.next().unwrap_or("")) {
            Some(kind) => ReplyLine::Failure(Failure {
                backend,
                kind,
                detail: printable(parts.next().unwrap_or("")),
            }),
            None => ReplyLine::Garbage(printable(line)),
        }
    }
}

/// `text` on one line: every run of whitespace one space.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Control characters replaced, so that a line from a damaged worker prints safely.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn fatal_kinds_are_named() {
        let s = |x: &str| x.to_string();
        let kind = |f: Fatal| FailureKind::of_fatal(&f).to_string();
        assert_eq!(
            kind(Fatal::StackCorruption {
                backend: s("b"),
                detail: s("d")
            }),
            "stack-corruption"
        );
        assert_eq!(
            kind(Fatal::Panic {
                backend: s("b"),
                message: s("m")
            }),
            "panic"
        );
        assert_eq!(
            kind(Fatal::Backend {
                backend: s("b"),
                error: s("e")
            }),
            "backend"
        );
        assert_eq!(
            kind(Fatal::RegisterCorruption {
                backend: s("b"),
                detail: s("d")
            }),
            "register-corruption"
        );
        assert_eq!(
            kind(Fatal::HubLeak {
                backend: s("b"),
                detail: s("d")
            }),
            "hub-leak"
        );
        assert!(!FailureKind::StackCorruption.is_crash());
        assert!(FailureKind::Signal(libc::SIGSEGV).is_crash());
    }

    #[test]
    fn kinds_round_trip_through_their_text() {
        let kinds = [
            FailureKind::Divergence,
            FailureKind::StackCorruption,
            FailureKind::Panic,
            FailureKind::Backend,
            FailureKind::RegisterCorruption,
            FailureKind::HubLeak,
            FailureKind::StackOverflow,
            FailureKind::Signal(libc::SIGSEGV),
            FailureKind::Signal(libc::SIGILL),
            FailureKind::Signal(40),
            FailureKind::Exit(3),
            FailureKind::Exit(-1),
            FailureKind::Timeout,
            FailureKind::WorkerError,
            FailureKind::ProtocolError,
        ];
        for kind in kinds {
            assert_eq!(FailureKind::parse(&kind.to_string()), Some(kind), "{kind}");
        }
        assert_eq!(
            FailureKind::Signal(libc::SIGSEGV).to_string(),
            "crash-SIGSEGV"
        );
        for bad in ["", "crash-", "crash-SIGFOO", "exit-", "exit-03", "diverge"] {
            assert_eq!(FailureKind::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn replies_round_trip() {
        let failure = Failure {
            backend: "mmap".into(),
            kind: FailureKind::Divergence,
            detail: "trace diverges at line 3".into(),
        };
        let reply = ReplyLine::encode_reply(&Ok(vec![failure.clone()]));
        let lines: Vec<ReplyLine> = reply.lines().map(ReplyLine::decode).collect();
        assert_eq!(lines, [ReplyLine::Failure(failure), ReplyLine::Done]);
        let error = ReplyLine::encode_reply(&Err("no\nway".into()));
        assert_eq!(
            ReplyLine::decode(error.trim_end()),
            ReplyLine::Error("no way".into())
        );
        assert_eq!(
            ReplyLine::decode(ReplyLine::encode_running("mmap").trim_end()),
            ReplyLine::Running("mmap".into())
        );
        assert_eq!(
            ReplyLine::decode(
                ReplyLine::encode_ran("thread", Duration::from_micros(1500)).trim_end()
            ),
            ReplyLine::Ran("thread".into(), Duration::from_micros(1500))
        );
        assert!(matches!(
            ReplyLine::decode("ran thread soon"),
            ReplyLine::Garbage(_)
        ));
        assert!(matches!(
            ReplyLine::decode("failure b weird d"),
            ReplyLine::Garbage(_)
        ));
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
        let classify = |status, stderr| {
            let (kind, detail) = FailureKind::of_dead_worker(status, stderr);
            (kind.to_string(), detail)
        };
        let signalled = ExitStatus::from_raw(libc::SIGSEGV);
        assert_eq!(classify(signalled, "").0, "crash-SIGSEGV");
        let aborted = ExitStatus::from_raw(libc::SIGABRT);
        let overflow = "thread 'x' has overflowed its stack\nfatal runtime error: stack overflow\n";
        assert_eq!(classify(aborted, overflow).0, "stack-overflow");
        let exited = ExitStatus::from_raw(3 << 8);
        assert_eq!(classify(exited, "bye\n").0, "exit-3");
        assert!(classify(exited, "bye\n").1.contains("bye"));
        // The fault address and the backend's own message; not Rust's note lines.
        let stderr = "switchyard: backend says what went wrong\n\
            switchyard worker: SIGSEGV at address 0x00007f0000001000\n\
            note: Some details are omitted, run with `RUST_BACKTRACE=full`\n";
        assert_eq!(
            classify(signalled, stderr).1,
            "killed by SIGSEGV at address 0x00007f0000001000; \
             message: switchyard: backend says what went wrong"
        );
        assert_eq!(classify(signalled, "").1, "killed by SIGSEGV");
        // An AddressSanitizer report: its headline, not the `ABORTING` line that ends it.
        let asan = "=================================================================\n\
            ==42==ERROR: AddressSanitizer: stack-buffer-overflow on address 0x7f00 at pc 0x5 \
            bp 0x6 sp 0x7\n\
            WRITE of size 1 at 0x7f00 thread T1\n\
            ==42==ABORTING\n";
        assert_eq!(
            classify(ExitStatus::from_raw(1 << 8), asan).1,
            "exited with status 1; message: ERROR: AddressSanitizer: stack-buffer-overflow on \
             address 0x7f00 at pc 0x5 bp 0x6 sp 0x7"
        );
    }
}
