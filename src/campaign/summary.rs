//! What a campaign reports: why it stopped early ([`Stop`]), what it found ([`Summary`]), and
//! the counters its threads keep while it runs.
//!
//! Contract: plain data; the campaign ([`super::run`]) fills it in.

use super::findings::WriteError;
use super::interrupt;
use super::ledger::Located;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Why a campaign stopped early, or could not start.
#[derive(Debug)]
pub enum Stop {
    /// `SIGINT`, `SIGTERM` or `SIGHUP` ([`interrupt`]).
    Signal(i32),
    /// A finding file (or the probe of `--out`) could not be written.
    Write(WriteError),
    /// A worker process or a thread could not be started.
    Worker(io::Error),
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Signal(s) => write!(f, "interrupted by {}", interrupt::name(*s)),
            Stop::Write(e) => write!(f, "{e}"),
            Stop::Worker(e) => write!(f, "cannot start a worker: {e}"),
        }
    }
}

/// What a campaign found.
#[derive(Debug, Default)]
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
    /// Findings left unminimized because the campaign stopped early.
    pub unminimized: u64,
    /// Every finding seen (over the cap or not), in order, with where it is.
    pub findings: Vec<Located>,
    /// Why the campaign stopped early (`None`: at its time or program limit, or at
    /// `--stop-after`).
    pub stopped: Option<Stop>,
}

impl Summary {
    pub fn found_anything(&self) -> bool {
        self.divergences + self.fatal + self.crashes > 0
    }

    pub fn rate(&self) -> f64 {
        self.programs as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The campaign's running counts, shared by its threads (the [`Summary`] is made from them).
#[derive(Default)]
pub(super) struct Counters {
    pub(super) programs: AtomicU64,
    pub(super) divergences: AtomicU64,
    pub(super) fatal: AtomicU64,
    pub(super) crashes: AtomicU64,
    pub(super) unreproduced: AtomicU64,
    pub(super) written: AtomicU64,
    pub(super) duplicates: AtomicU64,
    pub(super) over_cap: AtomicU64,
    pub(super) not_reproduced: AtomicU64,
    pub(super) unminimized: AtomicU64,
    pub(super) pending: AtomicU64,
}

impl Counters {
    pub(super) fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
    pub(super) fn add(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}
