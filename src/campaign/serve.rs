//! The worker process (the child side of [`super::protocol`]): answers requests on stdin
//! until it ends, running each program in this process. A `check` request goes through THE
//! differential comparison ([`crate::check::differential::compare`]); a `run` request runs
//! each backend alone (no oracle) to pin a crash on one backend.
//!
//! Contract: a worker never decides anything: it runs, reports on stdout and exits 0 at the
//! end of its input. If a backend kills it, the parent ([`super::worker`]) names the crash.

use super::inject::Injection;
use super::protocol::{one_line, Failure, FailureKind, Job, Mode, ReplyLine};
use crate::check::differential::{self, Comparison, Observer, Verdict};
use crate::check::program_thread;
use crate::check::registry::{self, Backend};
use std::io::{self, Write};
use std::time::Instant;

/// Calls a closure just before each backend runs.
struct BeforeRun<F: FnMut(&str)>(F);

impl<F: FnMut(&str)> Observer for BeforeRun<F> {
    fn before_run(&mut self, backend: &'static Backend) {
        (self.0)(backend.name);
    }
}

/// Runs one job in this process. `before_run` is called with each backend's name just
/// before it runs.
pub fn execute(job: &Job, mut before_run: impl FnMut(&str)) -> Result<Vec<Failure>, String> {
    let program = std::sync::Arc::new(job.program()?);
    let mut backends = Vec::new();
    for name in &job.backends {
        backends.push(registry::find(name).ok_or_else(|| format!("unknown backend '{name}'"))?);
    }
    match job.mode {
        Mode::Run => {
            let config = switchyard_impls::greenlet::HubConfig::default();
            let mut failures = Vec::new();
            for b in backends {
                before_run(b.name);
                if let Err(f) = b.run_shared(&program, &config) {
                    failures.push(Failure::fatal(b.name, &f));
                }
            }
            Ok(failures)
        }
        Mode::Check => {
            match differential::compare_shared(&program, &backends, &mut BeforeRun(before_run)) {
                Comparison::OracleFatal(f) => Ok(vec![Failure::fatal(registry::ORACLE, &f)]),
                Comparison::Compared { verdicts, .. } => Ok(verdicts
                    .into_iter()
                    .filter_map(|(b, verdict)| match verdict {
                        Verdict::Agrees => None,
                        Verdict::Fatal(f) => Some(Failure::fatal(b.name, &f)),
                        Verdict::Diverges(_) => Some(Failure {
                            backend: b.name.to_string(),
                            kind: FailureKind::Divergence,
                            detail: one_line(&verdict.failure().unwrap_or_default()),
                        }),
                    })
                    .collect()),
            }
        }
    }
}

/// The worker's main loop: answers requests on stdin until it ends. Returns the exit status.
/// Before each backend runs it writes (and flushes) `running BACKEND`, and after it
/// `ran BACKEND NANOS`, so that the parent can time each backend and knows which one a crash
/// or a hang happened in. The loop runs on a program thread ([`program_thread::host`]), so
/// that each backend's run happens on it without a hand-over to another thread.
pub fn worker_main() -> u8 {
    super::fault::install();
    match program_thread::host("switchyard-worker", serve) {
        Ok(status) => status,
        Err(e) => {
            let reply = ReplyLine::encode_reply(&Err(format!("cannot start a thread: {e}")));
            let _ = io::stdout().write_all(reply.as_bytes());
            let _ = io::stdout().flush();
            2
        }
    }
}

fn serve() -> u8 {
    let injection = Injection::from_env();
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    loop {
        let reply = match Job::decode(&mut input) {
            Ok(None) => return 0,
            Ok(Some(job)) => {
                let mut running: Option<(String, Instant)> = None;
                let mut progress = |out: &mut io::BufWriter<_>, next: Option<&str>| {
                    let mut lines = String::new();
                    if let Some((backend, started)) = running.take() {
                        lines.push_str(&ReplyLine::encode_ran(&backend, started.elapsed()));
                    }
                    if let Some(backend) = next {
                        lines.push_str(&ReplyLine::encode_running(backend));
                    }
                    // `running` must reach the parent before the backend runs (it may hang or
                    // crash); the last `ran` goes out with the reply.
                    let _ = out.write_all(lines.as_bytes());
                    if next.is_some() {
                        let _ = out.flush();
                    }
                    running = next.map(|b| (b.to_string(), Instant::now()));
                };
                let mut stale = Vec::new();
                injection.next_job();
                let result = execute(&job, |b| {
                    progress(&mut out, Some(b));
                    injection.before_run(b, job.index);
                    stale.extend(injection.stale(b).map(|detail| Failure {
                        backend: b.to_string(),
                        kind: FailureKind::Backend,
                        detail,
                    }));
                });
                let result = result.map(|mut failures| {
                    failures.extend(stale);
                    failures
                });
                progress(&mut out, None);
                ReplyLine::encode_reply(&result)
            }
            Err(e) => {
                let _ = out.write_all(ReplyLine::encode_reply(&Err(e)).as_bytes());
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
