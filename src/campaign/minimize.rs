//! Minimizing a finding in worker processes: the delta debugger of [`crate::minimize`] with a
//! predicate that runs each candidate in a worker and asks whether it fails the same way
//! ([`Reproducer::matches`]).
//!
//! Contract: a candidate never runs in the parent, so a candidate that crashes its worker is
//! just another answer.

use super::isolate::Reproducer;
use super::worker::Worker;
use crate::lang::ast::Program;
use crate::minimize::{self, Budget};
use std::io;
use std::time::Duration;

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
