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
//! # Modules
//!
//! - [`protocol`]: the worker wire protocol and [`FailureKind`]; [`timeouts`]: how long a
//!   worker may take, backend by backend; [`fault`]: the worker's fault-address reporter;
//! - [`serve`]: the worker process (child side); [`worker`]: a worker as the parent drives it;
//! - [`isolate`]: which backend crashed; [`minimize`]: minimizing a finding in workers;
//! - [`findings`]: finding files (header written and parsed, atomic, deduplicated);
//! - [`inject`]: test-only crash injection;
//! - this module: the campaign itself (its threads, counters and progress line).
//!
//! Contract: the campaign runs no program in its own process, and it depends on the layers
//! below it ([`crate::check`], [`crate::gen`], [`crate::minimize`], [`crate::lang`]), never on
//! the CLI.

pub mod fault;
pub mod findings;
pub mod inject;
pub mod isolate;
pub mod minimize;
pub mod protocol;
pub mod serve;
pub mod timeouts;
pub mod worker;

pub use findings::{FindingDir, Provenance};
pub use inject::CRASH_ENV;
pub use isolate::{isolate, Reproducer};
pub use protocol::{Failure, FailureKind, Job, Mode, Timeouts, WORKER_COMMAND};
pub use worker::{Outcome, Worker};

use crate::check::registry::{self, Backend};
use crate::gen::{seeded, Profile};
use crate::lang::ast::Program;
use crate::minimize::Budget;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Backends a campaign runs by default: every registered one but the oracle (it always runs)
/// and the deliberately broken or test-only ones (`mutant-*`, `crash-*`).
pub fn default_backends() -> Vec<&'static Backend> {
    registry::real()
        .filter(|b| b.name != registry::ORACLE)
        .collect()
}

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
    /// written); findings still waiting for the minimizer are then dropped.
    pub stop_after: Option<u64>,
}

/// What a campaign found.
#[derive(Clone, Debug, Default)]
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
}

impl Summary {
    pub fn found_anything(&self) -> bool {
        self.divergences + self.fatal + self.crashes > 0
    }

    pub fn rate(&self) -> f64 {
        self.programs as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

#[derive(Default)]
struct Counters {
    programs: AtomicU64,
    divergences: AtomicU64,
    fatal: AtomicU64,
    crashes: AtomicU64,
    unreproduced: AtomicU64,
    written: AtomicU64,
    duplicates: AtomicU64,
    over_cap: AtomicU64,
    not_reproduced: AtomicU64,
    pending: AtomicU64,
}

impl Counters {
    fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
    fn add(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Prints a line above the progress bar (or plainly when there is none).
#[derive(Clone)]
struct Log(Option<ProgressBar>);

impl Log {
    fn line(&self, text: &str) {
        match &self.0 {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }
}

/// A finding on its way to the minimizer.
struct Pending {
    reproducer: Reproducer,
    program: Program,
}

/// Runs a campaign; progress goes to stderr. `Err` when workers cannot be started or the
/// output directory cannot be made.
pub fn run(options: &Options) -> io::Result<Summary> {
    std::fs::create_dir_all(&options.out)?;
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
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
        let counters = Arc::clone(&counters);
        let log = log.clone();
        std::thread::Builder::new()
            .name("minimizer".into())
            .spawn({
                let stop = Arc::clone(&stop);
                move || minimizer_loop(&options, found_rx, &counters, &stop, &log)
            })?
    };

    let mut workers = Vec::new();
    for _ in 0..options.jobs.max(1) {
        let options = options.clone();
        let counters = Arc::clone(&counters);
        let stop = Arc::clone(&stop);
        let next = Arc::clone(&next);
        let found = found_tx.clone();
        let log = log.clone();
        workers.push(
            std::thread::Builder::new()
                .name("campaign".into())
                .spawn(move || campaign_loop(&options, &counters, &stop, &next, &found, &log))?,
        );
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
    loop {
        std::thread::sleep(Duration::from_millis(100));
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
            Some(bar) => bar.set_message(status(&counters, rate_elapsed)),
            None => {
                if last_plain.elapsed() >= Duration::from_secs(5) {
                    last_plain = Instant::now();
                    eprintln!(
                        "[{:>6.1} s] {}",
                        elapsed.as_secs_f64(),
                        status(&counters, rate_elapsed)
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
    if let Some(e) = error {
        return Err(e);
    }
    let c = &counters;
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
    })
}

fn campaign_loop(
    options: &Options,
    counters: &Counters,
    stop: &Arc<AtomicBool>,
    next: &AtomicU64,
    found: &mpsc::Sender<Pending>,
    log: &Log,
) -> io::Result<()> {
    // Cancelled as soon as the campaign stops (time limit, --stop-after): a hung or slow
    // program in flight is killed, not waited for.
    let mut worker = Worker::new(&options.exe).cancel_on(Arc::clone(stop));
    let config = options.profile.config();
    let send = |reproducer: Reproducer, program: &Program| {
        counters.pending.fetch_add(1, Ordering::Relaxed);
        let _ = found.send(Pending {
            reproducer,
            program: program.clone(),
        });
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
    while !stop.load(Ordering::Relaxed) {
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
        let outcome = worker.run(&job, options.timeouts)?;
        if outcome == Outcome::Cancelled {
            break;
        }
        Counters::add(&counters.programs);
        match outcome {
            Outcome::Cancelled => break,
            Outcome::Done(failures) => {
                if failures.is_empty() {
                    continue;
                }
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
                    send(isolate::reproducer_for(&job, f), &program);
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
                let reproducers = isolate(&worker, &job, backend.as_deref(), options.timeouts)?;
                if stop.load(Ordering::Relaxed) && reproducers.is_empty() {
                    break;
                }
                if reproducers.is_empty() {
                    Counters::add(&counters.unreproduced);
                    log.line(&format!(
                        "program {index}: the crash did not happen again (replay: switchyard fuzz --seed {} --programs {} ...)",
                        options.seed,
                        index + 1
                    ));
                }
                for r in reproducers {
                    log.line(&format!(
                        "program {index}: {} {}: {}",
                        r.failure.backend, r.failure.kind, r.failure.detail
                    ));
                    send(r, &program);
                }
            }
        }
    }
    Ok(())
}

fn minimizer_loop(
    options: &Options,
    found: Receiver<Pending>,
    counters: &Counters,
    stop: &AtomicBool,
    log: &Log,
) -> io::Result<()> {
    let mut findings = FindingDir::open(&options.out);
    let mut per_kind: HashMap<(String, FailureKind), usize> = HashMap::new();
    let mut worker = Worker::new(&options.exe);
    let enough = |counters: &Counters| {
        options.stop_after.is_some_and(|n| {
            Counters::get(&counters.written) + Counters::get(&counters.duplicates) >= n
        })
    };
    for pending in found {
        if enough(counters) {
            counters.pending.fetch_sub(1, Ordering::Relaxed);
            continue;
        }
        let result = minimize_finding(
            options,
            &pending,
            &mut worker,
            &mut findings,
            &mut per_kind,
            counters,
            log,
        );
        counters.pending.fetch_sub(1, Ordering::Relaxed);
        result?;
        if enough(counters) {
            stop.store(true, Ordering::Relaxed);
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn minimize_finding(
    options: &Options,
    pending: &Pending,
    worker: &mut Worker,
    findings: &mut FindingDir,
    per_kind: &mut HashMap<(String, FailureKind), usize>,
    counters: &Counters,
    log: &Log,
) -> io::Result<()> {
    let failure = &pending.reproducer.failure;
    let count = per_kind
        .entry((failure.backend.clone(), failure.kind))
        .or_default();
    if *count >= options.max_per_kind {
        Counters::add(&counters.over_cap);
        return Ok(());
    }
    *count += 1;
    let before = crate::minimize::program_size(&pending.program);
    let (program, note, failure) = match minimize::minimize_in_worker(
        worker,
        &pending.reproducer,
        &pending.program,
        &options.minimize,
        options.timeouts,
    )? {
        Some(m) => {
            let note = findings::minimized_note(&m.minimized);
            (m.minimized.program, note, m.failure)
        }
        None => {
            Counters::add(&counters.not_reproduced);
            (
                pending.program.clone(),
                format!(
                    "not minimized: it did not fail that way again in a fresh worker ({before} statements)"
                ),
                failure.clone(),
            )
        }
    };
    let provenance = Provenance {
        seed: pending.reproducer.job.seed,
        index: pending.reproducer.job.index,
        profile: pending.reproducer.job.profile,
        found_by: options.command_line.clone(),
        minimized: note,
    };
    match findings.write(&failure, &provenance, &program)? {
        Some(path) => {
            Counters::add(&counters.written);
            log.line(&format!("wrote {}", path.display()));
        }
        None => Counters::add(&counters.duplicates),
    }
    Ok(())
}
