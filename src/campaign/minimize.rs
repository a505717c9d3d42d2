//! Minimizing a finding in worker processes: the delta debugger of [`crate::minimize`] with a
//! predicate that runs each candidate in a worker and asks whether it fails the same way
//! ([`Reproducer::matches`]), then one more run of the minimized program, whose failure (and
//! its detail) is what the finding reports.
//!
//! A crash (a signal, a stack overflow, an exit) may depend on where stacks and heap blocks
//! happen to lie, and on what earlier programs left in a long-lived worker. So each candidate
//! of a crash runs in a fresh worker with address-space randomization off
//! ([`Worker::fixed_layout`]) and must crash [`CRASH_CONFIRMATIONS`] times out of as many to
//! count; other failures are judged by one run in one long-lived worker, once the original
//! program has failed the same way in a fresh worker (a failure that needs the programs a
//! worker ran before is not minimized: the campaign records it as not reproduced alone).
//!
//! Contract: a candidate never runs in the parent, so a candidate that crashes its worker is
//! just another answer.

use super::isolate::Reproducer;
use super::protocol::{Failure, FailureKind, Timeouts};
use super::worker::Worker;
use crate::lang::ast::Program;
use crate::minimize::{self, Budget, Minimized};
use std::io;

/// Runs a crash candidate must crash (each in a fresh worker) to count as failing.
pub const CRASH_CONFIRMATIONS: usize = 2;

/// A minimized finding: the program and its failure as its own replay showed it.
#[derive(Clone, Debug)]
pub struct MinimizedFinding {
    pub minimized: Minimized,
    /// The failure of the minimized program, from a replay of it (the original failure, with
    /// a note saying so, if the replay did not show it).
    pub failure: Failure,
}

/// Whether candidates of a failure of this kind run in fresh fixed-layout workers and must
/// fail every time.
fn layout_sensitive(kind: FailureKind) -> bool {
    matches!(
        kind,
        FailureKind::Signal(_) | FailureKind::StackOverflow | FailureKind::Exit(_)
    )
}

/// Minimizes the program of `reproducer`, every candidate run in `worker` (or, for a crash,
/// in fresh workers like it). Returns `None` when the original program does not fail that
/// way again in a fresh worker.
pub fn minimize_in_worker(
    worker: &mut Worker,
    reproducer: &Reproducer,
    program: &Program,
    budget: &Budget,
    timeouts: impl Into<Timeouts>,
) -> io::Result<Option<MinimizedFinding>> {
    let timeouts = timeouts.into();
    let sensitive = layout_sensitive(reproducer.failure.kind);
    let template = worker.fresh().fixed_layout();
    let mut error = None;
    // The original program is first checked in a fresh worker: a failure that shows only in
    // a worker that ran other programs before is not this program's alone, and minimizing it
    // would keep whatever candidate the worker's state makes fail (down to nothing).
    let verified = std::cell::Cell::new(false);
    let mut replay = |p: &Program| -> Option<Failure> {
        let job = reproducer.job_for(p);
        let outcome = if sensitive || !verified.get() {
            template.fresh().run(&job, timeouts)
        } else {
            worker.run(&job, timeouts)
        };
        match outcome {
            Ok(outcome) => reproducer.failure_in(&outcome),
            Err(e) => {
                error.get_or_insert(e);
                None
            }
        }
    };
    let confirmations = if sensitive { CRASH_CONFIRMATIONS } else { 1 };
    let mut fails = |p: &Program| (0..confirmations).all(|_| replay(p).is_some());
    let reproduced = fails(program);
    verified.set(true);
    if !reproduced {
        return match error {
            Some(e) => Err(e),
            None => Ok(None),
        };
    }
    let minimized = minimize::minimize(program, budget, &mut fails);
    let failure = replay(&minimized.program).unwrap_or_else(|| Failure {
        detail: format!(
            "{} (as first seen; a replay of the minimized program did not show it again)",
            reproducer.failure.detail
        ),
        ..reproducer.failure.clone()
    });
    match error {
        Some(e) => Err(e),
        None => Ok(Some(MinimizedFinding { minimized, failure })),
    }
}
