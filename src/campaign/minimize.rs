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
//! A hang costs its whole deadline, and most candidates of a hanging program still hang. So
//! the candidates of a `timeout` finding are judged with much tighter deadlines
//! ([`Timeouts::for_candidates`]: a small multiple of the oracle's time on the candidate plus
//! a floor of milliseconds), and the minimized program is confirmed at the normal deadlines
//! before it is reported; when the confirmation fails, the minimizer falls back to the last
//! accepted candidate that is confirmed and goes on from it with looser deadlines
//! (`minimize_in_rounds`). A backend that is only slower than the tight deadline is
//! therefore never reported as hanging.
//!
//! Contract: a candidate never runs in the parent, so a candidate that crashes its worker is
//! just another answer.

use super::isolate::Reproducer;
use super::protocol::{Failure, FailureKind, Timeouts};
use super::worker::Worker;
use crate::lang::ast::Program;
use crate::minimize::{self, Budget, Minimized};
use std::io;
use std::time::Instant;

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

/// Runs candidates of one finding in workers and says whether each fails that way again.
struct Judge<'a> {
    worker: &'a mut Worker,
    /// Fresh fixed-layout workers for a crash's candidates.
    template: Worker,
    reproducer: &'a Reproducer,
    sensitive: bool,
    /// Whether the original program has failed in a fresh worker (until then every run is in
    /// a fresh worker).
    verified: bool,
    /// The first error of a run (no worker could be started, or the campaign was stopped).
    error: Option<io::Error>,
}

impl Judge<'_> {
    /// One run of `p` within `timeouts`: the failure, if it showed again.
    fn replay(&mut self, p: &Program, timeouts: Timeouts) -> Option<Failure> {
        if self.error.is_some() {
            return None;
        }
        let job = self.reproducer.job_for(p);
        let outcome = if self.sensitive || !self.verified {
            self.template.fresh().run(&job, timeouts)
        } else {
            self.worker.run(&job, timeouts)
        };
        match outcome {
            Ok(outcome) => self.reproducer.failure_in(&outcome),
            Err(e) => {
                self.error = Some(e);
                None
            }
        }
    }

    /// The failure, when `p` fails that way within `timeouts` (a crash: in every one of
    /// [`CRASH_CONFIRMATIONS`] runs; the last run's failure).
    fn fails(&mut self, p: &Program, timeouts: Timeouts) -> Option<Failure> {
        let confirmations = if self.sensitive {
            CRASH_CONFIRMATIONS
        } else {
            1
        };
        let mut failure = None;
        for _ in 0..confirmations {
            failure = Some(self.replay(p, timeouts)?);
        }
        failure
    }
}

/// Minimizes the program of `reproducer`, every candidate run in `worker` (or, for a crash,
/// in fresh workers like it). Returns `None` when the original program does not fail that
/// way again in a fresh worker.
///
/// A `timeout` finding's candidates are judged with the tighter deadlines of
/// [`Timeouts::for_candidates`], so that each candidate that still hangs costs tens of
/// milliseconds, not the whole deadline. The minimized program is then replayed at the
/// normal deadlines; when it does not time out there (it was only slow), the candidates the
/// round accepted are replayed from the last one back, and the first that times out at the
/// normal deadlines is minimized again in a round with looser deadlines, until a round's
/// result is confirmed or its deadlines are the normal ones. A program is reported as a
/// timeout only when a run at the normal deadlines timed out.
pub fn minimize_in_worker(
    worker: &mut Worker,
    reproducer: &Reproducer,
    program: &Program,
    budget: &Budget,
    timeouts: impl Into<Timeouts>,
) -> io::Result<Option<MinimizedFinding>> {
    let timeouts = timeouts.into();
    let mut judge = Judge {
        template: worker.fresh().fixed_layout(),
        worker,
        reproducer,
        sensitive: layout_sensitive(reproducer.failure.kind),
        verified: false,
        error: None,
    };
    // The original program is first checked in a fresh worker: a failure that shows only in
    // a worker that ran other programs before is not this program's alone, and minimizing it
    // would keep whatever candidate the worker's state makes fail (down to nothing).
    let reproduced = judge.fails(program, timeouts).is_some();
    judge.verified = true;
    if !reproduced {
        return match judge.error {
            Some(e) => Err(e),
            None => Ok(None),
        };
    }
    // A timeout's candidates are judged with tighter deadlines, round by round looser, until
    // they are the normal ones.
    let rounds = if reproducer.failure.kind == FailureKind::Timeout {
        (0..)
            .find(|&r| timeouts.for_candidates(r) == timeouts)
            .expect("for_candidates reaches the normal deadlines")
    } else {
        0
    };
    let (minimized, failure) = minimize_in_rounds(program, budget, rounds, |p, check| {
        let within = match check {
            Check::Candidate(round) => timeouts.for_candidates(round),
            Check::Confirm => timeouts,
        };
        judge.fails(p, within)
    });
    if let Some(e) = judge.error {
        return Err(e);
    }
    let failure = failure.unwrap_or_else(|| Failure {
        detail: format!(
            "{} (as first seen; a replay of the minimized program did not show it again)",
            reproducer.failure.detail
        ),
        ..reproducer.failure.clone()
    });
    Ok(Some(MinimizedFinding { minimized, failure }))
}

/// How [`minimize_in_rounds`] asks whether a program fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Check {
    /// The cheaper, less exact check of candidates in round `n` (from 0; later rounds are
    /// looser): it may say a program fails when it does not, never the other way round.
    Candidate(u32),
    /// The check that counts.
    Confirm,
}

/// Minimizes `program` (which fails the [`Check::Confirm`] check) in rounds: round `n <
/// rounds` judges its candidates with `Check::Candidate(n)`, then confirms its result; a
/// round whose result is not confirmed ends at the last candidate it accepted that is (its
/// accepted candidates replayed from the last one back), and the next round minimizes that
/// one. The round after the last one (`rounds`) judges with `Check::Confirm` itself. Returns
/// the minimized program, which the confirm check accepted, and its failure as that check
/// showed it (`None` when the last replay did not show it again).
fn minimize_in_rounds<F: Clone>(
    program: &Program,
    budget: &Budget,
    rounds: u32,
    mut fails: impl FnMut(&Program, Check) -> Option<F>,
) -> (Minimized, Option<F>) {
    let started = Instant::now();
    // The last program confirmed, and its failure when known.
    let mut confirmed: (Program, Option<F>) = (program.clone(), None);
    let mut runs = 0;
    let mut round = 0;
    let (minimized, failure) = loop {
        let check = if round < rounds {
            Check::Candidate(round)
        } else {
            Check::Confirm
        };
        let left = Budget {
            max_runs: budget.max_runs.saturating_sub(runs),
            max_time: budget.max_time.saturating_sub(started.elapsed()),
        };
        let mut accepted = Vec::new();
        let m = minimize::minimize(&confirmed.0, &left, |p: &Program| {
            let failing = fails(p, check).is_some();
            if failing && check != Check::Confirm {
                accepted.push(p.clone());
            }
            failing
        });
        runs += m.runs;
        if check == Check::Confirm {
            // Judged by the check that counts throughout: its replay is the confirmation.
            let failure = fails(&m.program, Check::Confirm);
            break (m, failure);
        }
        // Nothing accepted (the round's result is the program it started from), or its last
        // acceptance confirmed.
        let mut result_confirmed = m.program == confirmed.0;
        while let Some(p) = accepted.pop() {
            if let Some(f) = fails(&p, Check::Confirm) {
                result_confirmed = p == m.program;
                confirmed = (p, Some(f));
                break;
            }
        }
        if result_confirmed || m.exhausted {
            let failure = match confirmed.1.take() {
                Some(f) => Some(f),
                None => fails(&confirmed.0, Check::Confirm),
            };
            break (
                Minimized {
                    program: confirmed.0,
                    ..m
                },
                failure,
            );
        }
        round += 1;
    };
    let minimized = Minimized {
        runs,
        statements_before: minimize::program_size(program),
        statements_after: minimize::program_size(&minimized.program),
        ..minimized
    };
    (minimized, failure)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::parse::parse;
    use crate::lang::print::print;

    fn program(text: &str) -> Program {
        parse("t.gp", text.as_bytes()).unwrap()
    }

    /// A program whose main has `n` statements `switch main 1` .. `switch main n`.
    fn switches(n: usize) -> Program {
        let body: String = (1..=n).map(|i| format!("  switch main {i}\n")).collect();
        program(&format!("main {{\n{body}}}\n"))
    }

    fn mentions(p: &Program, value: usize) -> bool {
        print(p).contains(&format!("switch main {value}\n"))
    }

    #[test]
    fn without_candidate_rounds_every_candidate_is_confirmed() {
        let mut checks = Vec::new();
        let (m, failure) = minimize_in_rounds(&switches(8), &Budget::default(), 0, |p, check| {
            checks.push(check);
            mentions(p, 5).then_some("fails")
        });
        assert_eq!(
            print(&m.program),
            print(&program("main {\n  switch main 5\n}\n"))
        );
        assert_eq!(failure, Some("fails"));
        assert!(checks.iter().all(|c| *c == Check::Confirm));
    }

    /// The candidate check also accepts programs that only look like failing (it says any
    /// program with `switch main 7` fails, the confirm check wants `switch main 3` too): the
    /// result is never a program the confirm check rejects, and the next, looser round
    /// finishes the job.
    #[test]
    fn a_result_the_confirmation_rejects_falls_back_and_a_looser_round_goes_on() {
        let start = switches(8);
        let mut candidate_rounds = Vec::new();
        let mut confirmed = Vec::new();
        let (m, failure) = minimize_in_rounds(&start, &Budget::default(), 3, |p, check| {
            let fails = match check {
                // Round 0 is too lax; round 1 is exact.
                Check::Candidate(0) => mentions(p, 7),
                Check::Candidate(_) | Check::Confirm => mentions(p, 7) && mentions(p, 3),
            };
            match check {
                Check::Candidate(r) => candidate_rounds.push(r),
                Check::Confirm if fails => confirmed.push(print(p)),
                Check::Confirm => {}
            }
            fails.then_some(print(p))
        });
        let want = program("main {\n  switch main 3\n  switch main 7\n}\n");
        assert_eq!(print(&m.program), print(&want));
        // The failure reported is the confirm check's, of that very program.
        assert_eq!(failure, Some(print(&want)));
        assert_eq!(confirmed.last(), Some(&print(&want)));
        assert!(candidate_rounds.contains(&0) && candidate_rounds.contains(&1));
        assert!(!candidate_rounds.contains(&2), "round 1 was confirmed");
        assert_eq!(m.statements_before, 8);
        assert_eq!(m.statements_after, 2);
    }

    /// When no candidate the lax check accepted is confirmed, the result is the original
    /// program (confirmed by the caller) or what a later round finds from it; never a program
    /// the confirm check rejects.
    #[test]
    fn only_confirmed_programs_come_out() {
        let start = switches(6);
        let (m, failure) = minimize_in_rounds(&start, &Budget::default(), 2, |p, check| {
            let fails = match check {
                Check::Candidate(_) => true,
                Check::Confirm => mentions(p, 1) && mentions(p, 6),
            };
            fails.then_some(())
        });
        assert!(
            mentions(&m.program, 1) && mentions(&m.program, 6),
            "{}",
            print(&m.program)
        );
        assert_eq!(failure, Some(()));
    }
}
