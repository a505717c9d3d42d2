//! A worker process as the campaign (the parent) drives it: started on first use, one job at a
//! time over its stdin ([`super::protocol`]), the answer read from its stdout within a
//! timeout. A worker that dies, hangs or talks nonsense gives [`Outcome::Crashed`] with its
//! [`FailureKind`] and is replaced on the next job.
//!
//! Contract: nothing a worker does (any signal, any bytes on stdout or stderr, closing its
//! stdout, never answering) ends or blocks the parent for longer than the timeout plus a
//! short grace period. A worker process never outlives the thread that started it
//! ([`crate::lifeline`]), and a worker given a cancel flag ([`Worker::cancelled_by`]) is
//! killed within a few milliseconds of the flag being set.

use super::protocol::{printable, Failure, FailureKind, Job, ReplyLine, WORKER_COMMAND};
use crate::check::registry;
use std::collections::VecDeque;
use std::io::{self, BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What a worker gave for one job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The worker answered: every backend that failed (none: all agreed).
    Done(Vec<Failure>),
    /// The worker died, timed out or broke the protocol while running the job.
    Crashed { kind: FailureKind, detail: String },
}

/// A worker process as the parent drives it, started on first use and restarted after it
/// dies.
pub struct Worker {
    exe: PathBuf,
    env: Vec<(String, String)>,
    cancel: Option<Arc<AtomicBool>>,
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

/// How often a waiting [`Worker::run`] looks at its cancel flag.
const CANCEL_POLL: Duration = Duration::from_millis(20);

impl Worker {
    /// A worker that runs `exe __worker`.
    pub fn new(exe: &Path) -> Worker {
        Worker {
            exe: exe.to_path_buf(),
            env: Vec::new(),
            cancel: None,
            live: None,
        }
    }

    /// Makes [`Worker::run`] give up as soon as `flag` is set: the worker process is killed
    /// and `run` returns an [`io::ErrorKind::Interrupted`] error (the campaign sets it when
    /// interrupted or when it cannot write a finding).
    pub fn cancelled_by(mut self, flag: Arc<AtomicBool>) -> Worker {
        self.cancel = Some(flag);
        self
    }

    fn cancelled(&self) -> bool {
        self.cancel
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
            let mut child = crate::lifeline::bind_to_parent(&mut Command::new(&self.exe))
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
    /// gives [`Outcome::Crashed`] and is replaced on the next call. `Err` when no worker
    /// can be started, or ([`io::ErrorKind::Interrupted`]) when the cancel flag is set.
    pub fn run(&mut self, job: &Job, timeout: Duration) -> io::Result<Outcome> {
        if self.cancelled() {
            self.restart();
            return Err(cancelled());
        }
        let cancel = self.cancel.clone();
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
                let left = deadline.saturating_duration_since(Instant::now());
                let slice = if cancel.is_some() {
                    left.min(CANCEL_POLL)
                } else {
                    left
                };
                match live.lines.recv_timeout(slice) {
                    Err(RecvTimeoutError::Timeout) if !left.is_zero() && slice < left => {
                        if cancel
                            .as_ref()
                            .is_some_and(|flag| flag.load(Ordering::SeqCst))
                        {
                            self.restart();
                            return Err(cancelled());
                        }
                        continue;
                    }
                    received => received,
                }
            };
            match received {
                Ok(line) => {
                    let (kind, detail) = match ReplyLine::decode(&line) {
                        ReplyLine::Done => return Ok(Outcome::Done(failures)),
                        ReplyLine::Failure(f) if well_formed(&f, job) => {
                            failures.push(f);
                            continue;
                        }
                        ReplyLine::Failure(_) => (FailureKind::ProtocolError, printable(&line)),
                        ReplyLine::Garbage(text) => (FailureKind::ProtocolError, text),
                        ReplyLine::Error(message) => (FailureKind::WorkerError, message),
                    };
                    let _ = live.child.kill();
                    let _ = live.child.wait();
                    self.live = None;
                    return Ok(Outcome::Crashed {
                        kind,
                        detail: detail.chars().take(200).collect(),
                    });
                }
                Err(RecvTimeoutError::Timeout) => {
                    let _ = live.child.kill();
                    let _ = live.child.wait();
                    self.live = None;
                    return Ok(Outcome::Crashed {
                        kind: FailureKind::Timeout,
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
                            kind: FailureKind::ProtocolError,
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
                    let (kind, detail) =
                        FailureKind::of_dead_worker(status, &String::from_utf8_lossy(&tail));
                    return Ok(Outcome::Crashed { kind, detail });
                }
            }
        }
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
