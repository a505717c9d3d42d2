//! Reproducing a failure: a [`Reproducer`] is a failure plus the smallest job that shows it
//! again; [`isolate`] finds which backend crashed a worker by re-running the program in fresh
//! workers, the oracle first.
//!
//! Contract: every run here happens in a worker process ([`super::worker`]); a reproducer's
//! job names only the backends needed to see its failure.

use super::protocol::{Failure, FailureKind, Job, Mode};
use super::worker::{Outcome, Worker};
use crate::check::registry;
use crate::lang::ast::Program;
use crate::lang::print::print;
use std::io;
use std::time::Duration;

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
    let mode = if failure.kind == FailureKind::Divergence {
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
/// oracle and each backend in turn, each in a fresh process of `worker` (restarted before
/// each run, so that its cancel flag stops the isolation too). When none crashes alone, the whole
/// job is run again in a fresh worker; a crash then is pinned on the backends together (names joined by `+`).
/// Empty: the crash did not happen again.
pub fn isolate(worker: &mut Worker, job: &Job, timeout: Duration) -> io::Result<Vec<Reproducer>> {
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
        worker.restart();
        if let Outcome::Crashed { kind, detail } = worker.run(&alone, timeout)? {
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
        worker.restart();
        if let Outcome::Crashed { kind, detail } = worker.run(job, timeout)? {
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
