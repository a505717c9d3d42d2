//! A worker process as the campaign (the parent) drives it: started on first use, one job at a
//! time over its stdin ([`super::protocol`]), the answer read from its stdout within a
//! timeout. A worker that dies, hangs or talks nonsense gives [`Outcome::Crashed`] with its
//! [`FailureKind`] and is replaced on the next job.
//!
//! Contract: nothing a worker does (any signal, any bytes on stdout or stderr, closing its
//! stdout, never answering) ends or blocks the parent for longer than the stage's deadline
//! ([`Timeouts`]) plus a short grace period; worker start-up never counts against a backend.
//! A worker process never outlives the thread that started it ([`crate::lifeline`]), and a
//! worker given an interrupt flag ([`Worker::cancelled_by`]) or a cancel flag
//! ([`Worker::cancel_on`]) is killed within a few tens of milliseconds of the flag being set.

use super::protocol::{printable, Failure, FailureKind, Job, ReplyLine, Timeouts, WORKER_COMMAND};
use crate::check::registry;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::ChildStdout;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What a worker gave for one job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The worker answered: every backend that failed (none: all agreed).
    Done(Vec<Failure>),
    /// The worker died, timed out or broke the protocol while running the job; `backend` is
    /// the one it had announced (`running BACKEND`) and not finished, if any.
    Crashed {
        kind: FailureKind,
        backend: Option<String>,
        detail: String,
    },
    /// The worker's cancel flag was raised while it ran the job; it was killed.
    Cancelled,
}

/// A worker process as the parent drives it, started on first use and restarted after it
/// dies.
pub struct Worker {
    exe: PathBuf,
    env: Vec<(String, String)>,
    cancel: Option<Arc<AtomicBool>>,
    /// Raised: `run` kills the worker and returns `Err(Interrupted)` (a signal, a failed write).
    interrupt: Option<Arc<AtomicBool>>,
    fixed_layout: bool,
    live: Option<Live>,
}

struct Live {
    child: Child,
    stdin: ChildStdin,
    lines: Lines,
    stderr_tail: Arc<Mutex<VecDeque<u8>>>,
    stderr_reader: Option<JoinHandle<()>>,
}

const STDERR_TAIL: usize = 16384;

/// How often a waiting [`Worker::run`] looks at its interrupt and cancel flags.
const CANCEL_POLL: Duration = Duration::from_millis(20);

impl Worker {
    /// A worker that runs `exe __worker`.
    pub fn new(exe: &Path) -> Worker {
        Worker {
            exe: exe.to_path_buf(),
            env: Vec::new(),
            cancel: None,
            interrupt: None,
            fixed_layout: false,
            live: None,
        }
    }

    /// A worker with the same settings (executable, environment, interrupt and cancel flags,
    /// layout) that will start its own process.
    pub fn fresh(&self) -> Worker {
        Worker {
            exe: self.exe.clone(),
            env: self.env.clone(),
            cancel: self.cancel.clone(),
            interrupt: self.interrupt.clone(),
            fixed_layout: self.fixed_layout,
            live: None,
        }
    }

    /// Makes [`Worker::run`] give up as soon as `flag` is set: the worker process is killed
    /// and `run` returns an [`io::ErrorKind::Interrupted`] error (the campaign sets it when
    /// interrupted or when it cannot write a finding).
    pub fn cancelled_by(mut self, flag: Arc<AtomicBool>) -> Worker {
        self.interrupt = Some(flag);
        self
    }

    /// Makes [`Worker::run`] kill the worker and return [`Outcome::Cancelled`] as soon as
    /// `flag` is raised (within a few tens of milliseconds): the campaign's time is up, or
    /// `--stop-after` findings are written.
    pub fn cancel_on(mut self, flag: Arc<AtomicBool>) -> Worker {
        self.cancel = Some(flag);
        self
    }

    fn interrupted(&self) -> bool {
        self.interrupt
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::SeqCst))
    }

    /// Ends the running worker process, if any: the next job starts a fresh one.
    pub fn restart(&mut self) {
        if let Some(mut live) = self.live.take() {
            let _ = live.child.kill();
            let _ = live.child.wait();
        }
    }

    /// Starts worker processes with address-space layout randomization off
    /// (`personality(ADDR_NO_RANDOMIZE)`), so that a crash that depends on where stacks and
    /// heap blocks lie happens the same way in every fresh worker. Where the system refuses,
    /// the worker runs randomized as usual.
    pub fn fixed_layout(mut self) -> Worker {
        self.fixed_layout = true;
        self
    }

    /// Sets an environment variable of the worker processes (tests use it for
    /// [`super::inject::CRASH_ENV`]).
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
            let mut command = Command::new(&self.exe);
            crate::lifeline::bind_to_parent(&mut command)
                .arg(WORKER_COMMAND)
                .envs(self.env.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            if self.fixed_layout {
                // SAFETY: the closure runs in the forked child before exec and makes only
                // personality(2) system calls (async-signal-safe, no allocation, no locks).
                unsafe {
                    command.pre_exec(|| {
                        let current = libc::personality(0xffff_ffff);
                        if current != -1 {
                            let wanted =
                                current as libc::c_ulong | libc::ADDR_NO_RANDOMIZE as libc::c_ulong;
                            // Refused (a seccomp policy): the worker runs randomized.
                            libc::personality(wanted);
                        }
                        Ok(())
                    });
                }
            }
            let mut child = command.spawn()?;
            let stdin = child.stdin.take().expect("piped");
            let stdout = child.stdout.take().expect("piped");
            let mut stderr = child.stderr.take().expect("piped");
            let lines = Lines::new(stdout);
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

    /// Runs `job` within `timeouts` ([`Timeouts`]: start-up and the oracle within
    /// `timeouts.oracle`; each other backend within `timeouts.factor` times the oracle's time
    /// on this program plus `timeouts.floor`, counted from the worker's `running BACKEND`
    /// line). A worker that dies or times out gives [`Outcome::Crashed`] naming the backend it
    /// was running, and is replaced on the next call; a worker whose cancel flag is raised is
    /// killed at once ([`Outcome::Cancelled`]). `Err` when no worker can be started, or
    /// ([`io::ErrorKind::Interrupted`]) when the interrupt flag is set (the worker is killed).
    pub fn run(&mut self, job: &Job, timeouts: impl Into<Timeouts>) -> io::Result<Outcome> {
        let timeouts = timeouts.into();
        if self.interrupted() {
            self.restart();
            return Err(cancelled());
        }
        let cancel = self.cancel.clone();
        let interrupt = self.interrupt.clone();
        let raised = |flag: &Option<Arc<AtomicBool>>| {
            flag.as_ref().is_some_and(|f| f.load(Ordering::SeqCst))
        };
        let live = self.start()?;
        let mut deadline = Instant::now() + timeouts.oracle;
        let mut limit = timeouts.oracle;
        let mut running: Option<String> = None;
        let mut oracle_time: Option<Duration> = None;
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
                let left = deadline.saturating_duration_since(Instant::now());
                live.lines.recv_timeout(left.min(CANCEL_POLL))
            };
            let crashed = |kind, detail: String, running: Option<String>| Outcome::Crashed {
                kind,
                backend: running,
                detail: detail.chars().take(300).collect(),
            };
            match received {
                Ok(line) => {
                    let (kind, detail) = match ReplyLine::decode(&line) {
                        ReplyLine::Done => return Ok(Outcome::Done(failures)),
                        ReplyLine::Running(backend) => {
                            limit = match oracle_time {
                                Some(t) if backend != registry::ORACLE => timeouts.backend(t),
                                _ => timeouts.oracle,
                            };
                            deadline = Instant::now() + limit;
                            running = Some(backend);
                            continue;
                        }
                        ReplyLine::Ran(backend, took) => {
                            if backend == registry::ORACLE {
                                oracle_time = Some(took);
                            }
                            continue;
                        }
                        ReplyLine::Failure(f) if well_formed(&f, job) => {
                            failures.push(f);
                            continue;
                        }
                        ReplyLine::Failure(_) => (FailureKind::ProtocolError, printable(&line)),
                        ReplyLine::Garbage(text) => (FailureKind::ProtocolError, text),
                        ReplyLine::Error(message) => (FailureKind::WorkerError, message),
                    };
                    self.restart();
                    return Ok(crashed(kind, detail, running));
                }
                Err(RecvTimeoutError::Timeout) => {
                    if raised(&interrupt) {
                        self.restart();
                        return Err(cancelled());
                    }
                    if raised(&cancel) {
                        self.restart();
                        return Ok(Outcome::Cancelled);
                    }
                    if Instant::now() < deadline {
                        continue;
                    }
                    self.restart();
                    let detail = timeout_detail(running.as_deref(), limit, oracle_time, &timeouts);
                    return Ok(crashed(FailureKind::Timeout, detail, running));
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
                        return Ok(crashed(
                            FailureKind::ProtocolError,
                            "the worker closed its stdout without exiting".to_string(),
                            running,
                        ));
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
                    let (kind, detail) =
                        FailureKind::of_dead_worker(status, &String::from_utf8_lossy(&tail));
                    return Ok(crashed(kind, detail, running));
                }
            }
        }
    }
}

/// The worker's stdout, read line by line by the thread that runs the job (no reader thread:
/// each line the worker writes wakes one thread, not two). Bytes, not UTF-8 lines: a worker
/// whose memory a backend corrupted may write anything, and its stdout must still be read to
/// its end.
struct Lines {
    stdout: ChildStdout,
    /// Bytes read and not yet returned as lines.
    buf: Vec<u8>,
    /// Where in `buf` the search for the next line end resumes.
    scanned: usize,
    /// The worker closed its stdout (or reading it failed).
    ended: bool,
}

impl Lines {
    fn new(stdout: ChildStdout) -> Lines {
        Lines {
            stdout,
            buf: Vec::new(),
            scanned: 0,
            ended: false,
        }
    }

    /// The next whole line (line end removed), waiting at most about `timeout` for it:
    /// `Timeout` when none came in time, `Disconnected` once the stdout has ended and every
    /// whole line before the end has been returned (a last line without its line end is
    /// dropped, as a reader stopped at the end would have dropped it).
    fn recv_timeout(&mut self, timeout: Duration) -> Result<String, RecvTimeoutError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(at) = self.buf[self.scanned..].iter().position(|b| *b == b'\n') {
                let end = self.scanned + at;
                let mut line = &self.buf[..end];
                while line.last() == Some(&b'\r') {
                    line = &line[..line.len() - 1];
                }
                let text = String::from_utf8_lossy(line).into_owned();
                self.buf.drain(..=end);
                self.scanned = 0;
                return Ok(text);
            }
            self.scanned = self.buf.len();
            if self.ended {
                return Err(RecvTimeoutError::Disconnected);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if !self.readable(left) {
                return Err(RecvTimeoutError::Timeout);
            }
            let mut chunk = [0u8; 4096];
            match self.stdout.read(&mut chunk) {
                Ok(0) => self.ended = true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => self.ended = true,
            }
        }
    }

    /// Whether the stdout has bytes (or its end) to read within `timeout`.
    fn readable(&self, timeout: Duration) -> bool {
        let mut fd = libc::pollfd {
            fd: self.stdout.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // Whole milliseconds, rounded up: a wait shorter than one is not a busy loop.
        let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
        // SAFETY: poll(2) on one valid pollfd that lives across the call.
        let n = unsafe { libc::poll(&mut fd, 1, ms) };
        // An error (EINTR) counts as nothing yet: the caller looks at its flags and waits again.
        n > 0
    }
}

/// `mmap took more than 312 ms (20 x the oracle's 3.1 ms + 250 ms)`.
fn timeout_detail(
    running: Option<&str>,
    limit: Duration,
    oracle_time: Option<Duration>,
    timeouts: &Timeouts,
) -> String {
    let ms = |d: Duration| {
        let ms = d.as_secs_f64() * 1e3;
        if ms < 10.0 {
            format!("{ms:.2} ms")
        } else {
            format!("{ms:.0} ms")
        }
    };
    match (running, oracle_time) {
        (None, _) => format!(
            "the worker did not start the job within {}",
            ms(timeouts.oracle)
        ),
        (Some(backend), Some(t)) if backend != registry::ORACLE && limit < timeouts.oracle => {
            format!(
                "{backend} took more than {} ({} x the oracle's {} + {})",
                ms(limit),
                timeouts.factor,
                ms(t),
                ms(timeouts.floor)
            )
        }
        (Some(backend), _) => format!("{backend} took more than {}", ms(limit)),
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.restart();
    }
}

fn cancelled() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "the campaign was stopped")
}

/// Whether a failure line from a worker names a backend of the job (a worker whose memory a
/// backend corrupted may write anything; [`ReplyLine::decode`] has checked the kind).
fn well_formed(failure: &Failure, job: &Job) -> bool {
    failure.backend == registry::ORACLE || job.backends.contains(&failure.backend)
}
