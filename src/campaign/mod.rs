//! The differential fuzzing campaign: seeded random programs run on several backends in child
//! processes, each trace compared with the thread oracle's; crashes isolated to the backend
//! that crashed; findings minimized, deduplicated and written atomically.
//!
//! # Processes
//!
//! The campaign (the parent) never runs a program itself. It starts `--jobs` long-lived worker
//! processes (the same binary, hidden subcommand [`WORKER_COMMAND`]) and hands each one job at
//! a time over its stdin; the worker answers on its stdout, announcing each backend just
//! before it runs it. A worker that dies (a signal, an abort, a stack overflow message, an
//! exit) or does not answer within the running backend's deadline ([`Timeouts`]: a multiple
//! of the oracle's own time on the program plus a floor; it is killed) is a crash of the
//! program it was running: the parent re-runs that program in a fresh worker on each backend
//! separately (the oracle first, then the backend that was running) to find which backend
//! crashed, starts a new worker and goes on. When the campaign stops (its time is up, or
//! `--stop-after` findings are written) the workers still running are killed at once.
//!
//! # Findings first
//!
//! A finding is written to `--out` unminimized the moment it is seen ([`ledger`]), before its
//! crash is isolated or it is minimized; its minimized form replaces it afterwards. A write
//! that fails stops the campaign at once ([`Stop::Write`]), as does `SIGINT`, `SIGTERM` or
//! `SIGHUP` ([`interrupt`], [`Stop::Signal`]): no more programs are handed out, the workers
//! are killed, findings not yet minimized stay as written, and the summary says where every
//! finding is ([`Summary::findings`]).
//!
//! # Modules
//!
//! - [`protocol`]: the worker wire protocol and [`FailureKind`]; [`timeouts`]: how long a
//!   worker may take, backend by backend; [`fault`]: the worker's fault-address reporter;
//! - [`serve`]: the worker process (child side); [`worker`]: a worker as the parent drives it;
//! - [`isolate`]: which backend crashed; [`minimize`]: minimizing a finding in workers;
//! - [`findings`]: finding files (header written and parsed, atomic, deduplicated);
//! - [`history`]: the programs each worker process ran, for a failure that does not happen
//!   again in a fresh worker;
//! - [`ledger`]: the campaign's findings as they happen (written as found, then minimized);
//! - [`interrupt`]: the signals that stop a campaign;
//! - [`summary`]: what a campaign reports ([`Stop`], [`Summary`]) and its counters;
//! - [`inject`]: test-only crash injection;
//! - this module: the campaign itself (its threads, counters and progress line).
//!
//! Contract: the campaign runs no program in its own process, and it depends on the layers
//! below it ([`crate::check`], [`crate::gen`], [`crate::minimize`], [`crate::lang`]), never on
//! the CLI.

pub mod fault;
pub mod findings;
pub mod history;
pub mod inject;
pub mod interrupt;
pub mod isolate;
pub mod ledger;
pub mod minimize;
pub mod protocol;
pub mod serve;
pub mod summary;
pub mod timeouts;
pub mod worker;

pub use findings::{FindingDir, Origin, Provenance, WriteError};
pub use inject::CRASH_ENV;
pub use isolate::{isolate, Reproducer};
pub use ledger::{Located, Place};
pub use protocol::{Failure, FailureKind, Job, Mode, Timeouts, WORKER_COMMAND};
pub use summary::{Stop, Summary};
pub use worker::{Outcome, Worker};

use crate::check::registry::{self, Backend};
use crate::gen::{seeded, Profile};
use crate::lang::ast::Program;
use crate::minimize::Budget;
use indicatif::{ProgressBar, ProgressStyle};
use ledger::{Ledger, Seen, Ticket};
use std::fmt::Write as _;
use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};
use summary::Counters;

/// Backends a campaign runs by default: every registered one but the oracle (it always runs),
/// the deliberately broken or test-only ones (`mutant-*`, `crash-*`) and the adapters over
/// third-party crates ([`OPT_IN`]).
pub fn default_backends() -> Vec<&'static Backend> {
    all_backends()
        .into_iter()
        .filter(|b| !OPT_IN.contains(&b.name))
        .collect()
}

/// Every real backend but the oracle, the adapters included: `--backend all`.
pub fn all_backends() -> Vec<&'static Backend> {
    registry::real()
        .filter(|b| b.name != registry::ORACLE)
        .collect()
}

/// The adapters over third-party switching crates (`switchyard_impls::backend::adapters`):
/// a campaign runs them when named (or with `--backend all`), not by default, because every
/// backend in a campaign runs every program (README, "Route 3: adapters", has the cost).
pub const OPT_IN: &[&str] = &["corosensei", "fcontext"];

/// When a campaign stops.
#[derive(Clone, Copy, Debug)]
pub enum Limit {
    Seconds(f64),
    Programs(u64),
}

/// A campaign's settings.
#[derive(Clone, Debug)]
pub struct Options {
    /// Backends compared with the oracle (names as registered).
    pub backends: Vec<String>,
    pub limit: Limit,
    pub seed: u64,
    pub jobs: usize,
    /// Where finding files go.
    pub out: PathBuf,
    /// How long a worker may take on one program: the oracle, and each backend relative to
    /// the oracle's time.
    pub timeouts: Timeouts,
    pub profile: Profile,
    /// The switchyard binary workers run.
    pub exe: PathBuf,
    /// Budget of each minimization.
    pub minimize: Budget,
    /// Most findings minimized per (backend, failure kind); the rest are counted only.
    pub max_per_kind: usize,
    /// The command line, for finding headers.
    pub command_line: String,
    /// End the campaign once this many findings have been written (or recognised as already
    /// written); findings still waiting for the minimizer then stay as written, unminimized.
    pub stop_after: Option<u64>,
}

/// Prints a line above the progress bar (or plainly when there is none).
#[derive(Clone)]
struct Log(Option<ProgressBar>);

impl Log {
    fn line(&self, text: &str) {
        match &self.0 {
            Some(bar) => bar.println(text),
            None => crate::errln!("{text}"),
        }
    }
}

/// A finding on its way to the minimizer, already written unminimized.
struct Pending {
    reproducer: Reproducer,
    program: Program,
    ticket: Ticket,
    /// The programs its worker process ran before it, in order.
    earlier: Vec<u64>,
}

/// What the campaign's threads share.
struct Shared {
    counters: Counters,
    ledger: Ledger,
    /// No more programs are handed out, and the campaign's workers are cancelled in flight
    /// (the minimizer's are not: findings on their way are still minimized).
    stop: Arc<AtomicBool>,
    /// Work in flight is abandoned too (workers are killed): an interrupt or a write error.
    cancel: Arc<AtomicBool>,
}

/// Runs a campaign; progress goes to stderr. `Err` when it cannot start: `--out` cannot be
/// made or written ([`Stop::Write`], naming the path), or no thread can be started. A
/// campaign stopped early (a signal, a write error, a worker that cannot be started) is
/// still `Ok`, with [`Summary::stopped`] saying why.
pub fn run(options: &Options) -> Result<Summary, Stop> {
    let dir = FindingDir::create(&options.out).map_err(Stop::Write)?;
    let shared = Arc::new(Shared {
        counters: Counters::default(),
        ledger: Ledger::new(dir, &options.command_line, options.max_per_kind),
        stop: Arc::new(AtomicBool::new(false)),
        cancel: Arc::new(AtomicBool::new(false)),
    });
    let counters = &shared.counters;
    let stop = &shared.stop;
    let next = Arc::new(AtomicU64::new(0));
    let tty = io::stderr().is_terminal();
    let bar = tty.then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                .expect("valid template"),
        );
        bar
    });
    let log = Log(bar.clone());
    let started = Instant::now();

    let (found_tx, found_rx) = mpsc::channel::<Pending>();
    let minimizer = {
        let options = options.clone();
        let shared = Arc::clone(&shared);
        let log = log.clone();
        std::thread::Builder::new()
            .name("minimizer".into())
            .spawn(move || minimizer_loop(&options, found_rx, &shared, &log))
            .map_err(Stop::Worker)?
    };

    let mut workers = Vec::new();
    for _ in 0..options.jobs.max(1) {
        let options = options.clone();
        let shared = Arc::clone(&shared);
        let next = Arc::clone(&next);
        let found = found_tx.clone();
        let log = log.clone();
        let spawned = std::thread::Builder::new()
            .name("campaign".into())
            .spawn(move || campaign_loop(&options, &shared, &next, &found, &log));
        match spawned {
            Ok(w) => workers.push(w),
            Err(e) => {
                // Those started stop at their next program.
                stop.store(true, Ordering::SeqCst);
                if workers.is_empty() {
                    drop(found_tx);
                    let _ = minimizer.join();
                    return Err(Stop::Worker(e));
                }
                break;
            }
        }
    }
    drop(found_tx);

    let status = |counters: &Counters, elapsed: Duration| {
        let programs = Counters::get(&counters.programs);
        let mut s = format!(
            "{programs} programs, {:.1}/s, {} divergences, {} fatal, {} crashes, {} findings written",
            programs as f64 / elapsed.as_secs_f64().max(1e-9),
            Counters::get(&counters.divergences),
            Counters::get(&counters.fatal),
            Counters::get(&counters.crashes),
            Counters::get(&counters.written),
        );
        let pending = Counters::get(&counters.pending);
        if pending > 0 {
            let _ = write!(s, ", {pending} minimizing");
        }
        s
    };
    let mut last_plain = Instant::now();
    let mut campaign_elapsed = None;
    let mut signal = None;
    loop {
        std::thread::sleep(Duration::from_millis(50));
        if signal.is_none() {
            signal = interrupt::received();
        }
        if signal.is_some() || shared.ledger.failed() {
            stop.store(true, Ordering::SeqCst);
            shared.cancel.store(true, Ordering::SeqCst);
        }
        let elapsed = started.elapsed();
        if let Limit::Seconds(s) = options.limit {
            if elapsed.as_secs_f64() >= s {
                stop.store(true, Ordering::Relaxed);
            }
        }
        let campaign_done = workers.iter().all(|w| w.is_finished());
        if campaign_done && campaign_elapsed.is_none() {
            campaign_elapsed = Some(elapsed);
        }
        let rate_elapsed = campaign_elapsed.unwrap_or(elapsed);
        match &bar {
            Some(bar) => bar.set_message(status(counters, rate_elapsed)),
            None => {
                if last_plain.elapsed() >= Duration::from_secs(5) {
                    last_plain = Instant::now();
                    crate::errln!(
                        "[{:>6.1} s] {}",
                        elapsed.as_secs_f64(),
                        status(counters, rate_elapsed)
                    );
                }
            }
        }
        if campaign_done && minimizer.is_finished() {
            break;
        }
    }
    let mut error = None;
    for w in workers {
        if let Ok(Err(e)) = w.join() {
            error.get_or_insert(e);
        }
    }
    if let Ok(Err(e)) = minimizer.join() {
        error.get_or_insert(e);
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    // A write error first (it loses findings), then a signal, then a worker error.
    let stopped = match (shared.ledger.take_error(), signal, error) {
        (Some(e), _, _) => Some(Stop::Write(e)),
        (None, Some(s), _) => Some(Stop::Signal(s)),
        (None, None, Some(e)) => Some(Stop::Worker(e)),
        (None, None, None) => None,
    };
    let c = counters;
    Ok(Summary {
        programs: Counters::get(&c.programs),
        elapsed: campaign_elapsed.unwrap_or_else(|| started.elapsed()),
        divergences: Counters::get(&c.divergences),
        fatal: Counters::get(&c.fatal),
        crashes: Counters::get(&c.crashes),
        unreproduced: Counters::get(&c.unreproduced),
        written: Counters::get(&c.written),
        duplicates: Counters::get(&c.duplicates),
        over_cap: Counters::get(&c.over_cap),
        not_reproduced: Counters::get(&c.not_reproduced),
        unminimized: Counters::get(&c.unminimized),
        findings: shared.ledger.located(),
        stopped,
    })
}

fn campaign_loop(
    options: &Options,
    shared: &Shared,
    next: &AtomicU64,
    found: &mpsc::Sender<Pending>,
    log: &Log,
) -> io::Result<()> {
    let counters = &shared.counters;
    // Interrupted by a signal or a write error (`Err(Interrupted)`); cancelled as soon as the
    // campaign stops (time limit, --stop-after, `Outcome::Cancelled`): a hung or slow program
    // in flight is killed, not waited for.
    let mut worker = Worker::new(&options.exe)
        .cancelled_by(Arc::clone(&shared.cancel))
        .cancel_on(Arc::clone(&shared.stop));
    let config = options.profile.config();
    let mut history = history::History::default();
    // Writes a finding as found, then hands it to the minimizer.
    let record = |reproducer: Reproducer, program: &Program, history: &history::History| {
        let origin = origin_of(&reproducer.job);
        match shared
            .ledger
            .seen(&reproducer.failure, origin, program, true)
        {
            Seen::Written(ticket) => {
                counters.pending.fetch_add(1, Ordering::Relaxed);
                let mut earlier = history.indices();
                earlier.pop(); // its own index
                let _ = found.send(Pending {
                    reproducer,
                    program: program.clone(),
                    ticket,
                    earlier,
                });
            }
            Seen::OverCap => Counters::add(&counters.over_cap),
            Seen::Failed => {}
        }
    };
    // With --stop-after N, findings already on their way to the minimizer that would make N
    // are enough: new programs wait (leaving the cores to the minimizer) until they are
    // written, or turn out not to count.
    let enough_on_the_way = || {
        options.stop_after.is_some_and(|n| {
            Counters::get(&counters.written)
                + Counters::get(&counters.duplicates)
                + Counters::get(&counters.pending)
                >= n
        })
    };
    while !shared.stop.load(Ordering::Relaxed) {
        if enough_on_the_way() {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        let index = next.fetch_add(1, Ordering::Relaxed);
        if let Limit::Programs(n) = options.limit {
            if index >= n {
                break;
            }
        }
        let job = Job {
            mode: Mode::Check,
            backends: options.backends.clone(),
            seed: options.seed,
            index,
            profile: options.profile,
            text: None,
        };
        let outcome = match worker.run(&job, options.timeouts) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => break,
            outcome => outcome?,
        };
        if outcome == Outcome::Cancelled {
            break;
        }
        Counters::add(&counters.programs);
        history.ran(worker.pid(), index);
        match outcome {
            Outcome::Cancelled => break,
            Outcome::Done(failures) => {
                if failures.is_empty() {
                    continue;
                }
                // A program that left a hub alive is reported as such (the worker already
                // runs the next program on a new program thread); the worker is restarted all
                // the same, so that nothing else it left behind reaches later programs.
                let leaked = failures.iter().any(|f| f.kind == FailureKind::HubLeak);
                let program = seeded::program(options.seed, index, &config);
                for f in failures {
                    if f.kind == FailureKind::Divergence {
                        Counters::add(&counters.divergences);
                    } else {
                        Counters::add(&counters.fatal);
                    }
                    log.line(&format!(
                        "program {index}: {} {}: {}",
                        f.backend, f.kind, f.detail
                    ));
                    record(isolate::reproducer_for(&job, f), &program, &history);
                }
                if leaked {
                    worker.restart();
                }
            }
            Outcome::Crashed {
                kind,
                backend,
                detail,
            } => {
                Counters::add(&counters.crashes);
                let during = backend
                    .as_deref()
                    .map_or(String::new(), |b| format!(" while running {b}"));
                log.line(&format!(
                    "program {index}: worker crashed{during} ({kind}: {detail}); isolating"
                ));
                let program = seeded::program(options.seed, index, &config);
                // Written before isolating it, which takes several runs.
                let crash = Failure {
                    backend: job.backends.join("+"),
                    kind,
                    detail: format!("not isolated yet: a worker running all of them: {detail}"),
                };
                let unisolated = match shared.ledger.seen(&crash, origin_of(&job), &program, false)
                {
                    Seen::Written(ticket) => Some(ticket),
                    _ => None,
                };
                let reproducers = match isolate(&worker, &job, backend.as_deref(), options.timeouts)
                {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => break,
                    reproducers => reproducers?,
                };
                if shared.stop.load(Ordering::Relaxed) && reproducers.is_empty() {
                    // Cancelled while isolating: the crash stays as written.
                    break;
                }
                if reproducers.is_empty() {
                    Counters::add(&counters.unreproduced);
                    log.line(&format!(
                        "program {index}: the crash did not happen again (replay: switchyard fuzz --seed {} --programs {} ...)",
                        options.seed,
                        index + 1
                    ));
                    if let Some(ticket) = &unisolated {
                        shared.ledger.keep_unminimized(
                            ticket,
                            &crash,
                            "not minimized: it crashed a worker once, and did not crash again when isolated",
                            &program,
                        );
                    }
                    continue;
                }
                for r in reproducers {
                    log.line(&format!(
                        "program {index}: {} {}: {}",
                        r.failure.backend, r.failure.kind, r.failure.detail
                    ));
                    record(r, &program, &history);
                }
                if let Some(ticket) = &unisolated {
                    if !shared.ledger.failed() {
                        shared.ledger.superseded(ticket);
                    }
                }
            }
        }
    }
    Ok(())
}

/// Where the program of a campaign job came from.
fn origin_of(job: &Job) -> Origin {
    Origin::Seeded {
        seed: job.seed,
        index: job.index,
        profile: job.profile,
    }
}

fn minimizer_loop(
    options: &Options,
    found: Receiver<Pending>,
    shared: &Shared,
    log: &Log,
) -> io::Result<()> {
    let counters = &shared.counters;
    let mut worker = Worker::new(&options.exe).cancelled_by(Arc::clone(&shared.cancel));
    let enough = |counters: &Counters| {
        options.stop_after.is_some_and(|n| {
            Counters::get(&counters.written) + Counters::get(&counters.duplicates) >= n
        })
    };
    for pending in found {
        if enough(counters) || shared.cancel.load(Ordering::SeqCst) {
            // It stays as written, unminimized.
            Counters::add(&counters.unminimized);
            counters.pending.fetch_sub(1, Ordering::Relaxed);
            continue;
        }
        let result = minimize_finding(options, &pending, &mut worker, shared, log);
        counters.pending.fetch_sub(1, Ordering::Relaxed);
        match result {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                Counters::add(&counters.unminimized);
            }
            result => result?,
        }
        if enough(counters) {
            shared.stop.store(true, Ordering::Relaxed);
        }
    }
    Ok(())
}

fn minimize_finding(
    options: &Options,
    pending: &Pending,
    worker: &mut Worker,
    shared: &Shared,
    log: &Log,
) -> io::Result<()> {
    let counters = &shared.counters;
    let failure = &pending.reproducer.failure;
    let before = crate::minimize::program_size(&pending.program);
    match minimize::minimize_in_worker(
        worker,
        &pending.reproducer,
        &pending.program,
        &options.minimize,
        options.timeouts,
    )? {
        Some(m) => {
            // The failure as a replay of the minimized program shows it (its detail: the
            // signal, fault address or backend message of that run).
            let note = findings::minimized_note(&m.minimized);
            match shared
                .ledger
                .minimized(&pending.ticket, &m.failure, &note, &m.minimized.program)
            {
                Ok(Some(path)) => {
                    Counters::add(&counters.written);
                    log.line(&format!("wrote {}", findings::shown(&path)));
                }
                Ok(None) => Counters::add(&counters.duplicates),
                Err(ledger::Failed) => {} // the campaign stops
            }
        }
        None => {
            Counters::add(&counters.not_reproduced);
            let note = history::not_reproduced_note(
                &pending.earlier,
                &pending.ticket.path,
                &pending.reproducer.job,
                before,
            );
            shared
                .ledger
                .keep_unminimized(&pending.ticket, failure, &note, &pending.program);
        }
    }
    Ok(())
}
