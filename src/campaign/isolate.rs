//! Reproducing a failure: a [`Reproducer`] is a failure plus the smallest job that shows it
//! again; [`isolate`] finds which backend crashed a worker by re-running the program in fresh
//! workers, the oracle first.
//!
//! Contract: every run here happens in a worker process ([`super::worker`]); a reproducer's
//! job names only the backends needed to see its failure.

use super::protocol::{Failure, Job, Mode, Timeouts};
use super::worker::{Outcome, Worker};
use crate::check::registry;
use crate::lang::ast::Program;
use crate::lang::print::print;
use std::io;

/// A failure and how to reproduce it in a worker.
#[derive(Clone, Debug)]
pub struct Reproducer {
    pub failure: Failure,
    /// The job that shows it (its text is replaced by each candidate while minimizing).
    pub job: Job,
}

impl Reproducer {
    /// Whether `outcome` is this failure again: the same backend and kind (for a divergence,
    /// any divergence on that backend; for a crash, one while this failure's backend was
    /// running, or anywhere when the worker had announced none).
    pub fn matches(&self, outcome: &Outcome) -> bool {
        self.failure_in(outcome).is_some()
    }

    /// This failure as `outcome` shows it again (its detail is the new run's), if it does.
    pub fn failure_in(&self, outcome: &Outcome) -> Option<Failure> {
        match outcome {
            Outcome::Done(failures) => failures
                .iter()
                .find(|f| f.backend == self.failure.backend && f.kind == self.failure.kind)
                .cloned(),
            Outcome::Crashed {
                kind,
                backend,
                detail,
            } => {
                let ours = backend
                    .as_ref()
                    .is_none_or(|b| self.failure.backend.split('+').any(|x| x == b));
                (*kind == self.failure.kind && ours).then(|| Failure {
                    backend: self.failure.backend.clone(),
                    kind: *kind,
                    detail: detail.clone(),
                })
            }
            Outcome::Cancelled => None,
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

/// The reproducer of a failure a live worker reported in `job` (a check job): the oracle and
/// that backend (the oracle runs first so that the backend's deadline is relative to it), or
/// the oracle alone for the oracle's own fatal finding.
pub fn reproducer_for(job: &Job, failure: Failure) -> Reproducer {
    let mode = if failure.backend == registry::ORACLE {
        Mode::Run
    } else {
        Mode::Check
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

/// Finds which backend crashed on `job` (which crashed a worker while running `suspect`, if
/// it had said): the oracle alone, then the oracle and each backend in turn (`suspect` first),
/// each in a fresh worker like `template`. When none crashes alone, the whole job is run
/// again in a fresh worker; a crash then is pinned on the backends together (names joined by
/// `+`). Empty: the crash did not happen again (or the template's cancel flag was raised). Each fresh worker
/// has the template's interrupt flag: when it is set, `Err(Interrupted)`.
pub fn isolate(
    template: &Worker,
    job: &Job,
    suspect: Option<&str>,
    timeouts: impl Into<Timeouts>,
) -> io::Result<Vec<Reproducer>> {
    let timeouts = timeouts.into();
    let mut names = vec![registry::ORACLE.to_string()];
    if let Some(s) = suspect.filter(|s| job.backends.iter().any(|b| b == s)) {
        names.push(s.to_string());
    }
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
        match template.fresh().run(&alone, timeouts)? {
            Outcome::Cancelled => return Ok(Vec::new()),
            Outcome::Crashed {
                kind,
                backend,
                detail,
            } if backend.as_ref().is_none_or(|b| *b == name) => {
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
            _ => {}
        }
    }
    if found.is_empty() {
        if let Outcome::Crashed { kind, detail, .. } = template.fresh().run(job, timeouts)? {
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
