//! `switchyard bench`: what a backend costs, measured through the greenlet trait, beside its
//! peers in the same run.
//!
//! This module owns the measurement plan ([`Plan`]), the timing loop ([`time`]), the results
//! ([`Measured`], [`Report`]) and running everything in order ([`run`]). The pieces:
//! - `hub`: [`measure`], the figures of any [`Hub`](switchyard_impls::greenlet::Hub) (round
//!   trip at a sweep of depths, the page-offset sweep, spawn-to-finish, memory per suspended
//!   greenlet), which the registry entry of every backend points to;
//! - `peers`: the reference figures: corosensei, the backends' switch alone (no runtime), a
//!   raw `swapcontext` ping-pong, a raw two-thread `Mutex` + `Condvar` ping-pong, a hot
//!   `memcpy`;
//! - `goals`: issue 12's goals, each a ratio of figures, judged from the table's medians or
//!   measured again in pairs (`paired`);
//! - `paired`: figures kept alive on threads of their own and sampled on request, so that the
//!   figures of one goal are measured in alternation, each round within a fraction of a
//!   second;
//! - `report`: the table (with the goals) and the JSON;
//! - `plot`: the SVG plot of round trip against depth.
//!
//! Every timed figure is the median of `samples` samples of `iterations` operations each,
//! after a calibration that sizes a sample to `sample_time`; the fastest sample is kept too.
//! A fixed `--iterations N` skips calibration and runs exactly one sample of N operations
//! (for counting instructions under callgrind, which is repeatable on a loaded machine).

mod goals;
mod hub;
mod paired;
mod peers;
mod plot;
mod report;

pub use goals::Goal;
pub use hub::{measure, sampler};
pub use paired::{Figure, Sample};
pub use plot::svg;
pub use report::{json, table};

use crate::check::registry::{Backend, PROGRAM_THREAD_STACK};
use std::time::{Duration, Instant};

/// How a backend is measured: every figure of the table ([`measure`] of its hub type; the
/// name is the backend's, for progress lines) and one figure kept alive to be sampled on
/// request ([`sampler`], for the paired goals). The registry keeps one per backend.
#[derive(Clone, Copy)]
pub struct BenchFns {
    /// The table's figures.
    pub measure: fn(&Plan, &str) -> Measured,
    /// One figure, sampled on request on the calling thread.
    pub sampler: fn(Figure) -> Result<Sample, String>,
}

impl BenchFns {
    /// Both, for hub type `H`.
    pub const fn of<H: switchyard_impls::greenlet::Hub<crate::interp::RtValue> + 'static>(
    ) -> BenchFns {
        BenchFns {
            measure: measure::<H>,
            sampler: sampler::<H>,
        }
    }
}

/// The depths a round trip can be measured at, in bytes of extra frames below the greenlet's
/// start (each one frame of exactly that many bytes of locals).
pub const DEPTHS: &[usize] = &[
    0,
    1 << 10,
    2 << 10,
    4 << 10,
    8 << 10,
    16 << 10,
    32 << 10,
    64 << 10,
    128 << 10,
];

/// The depths of a default run.
pub const DEFAULT_DEPTHS: &[usize] = &[0, 1 << 10, 4 << 10, 16 << 10, 64 << 10];

/// The depth of the page-offset sweep (issue 12's 4K-aliasing goal).
pub const OFFSET_DEPTH: usize = 4 << 10;

/// What to measure and for how long.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Depths of the round-trip sweep, from [`DEPTHS`].
    pub depths: Vec<usize>,
    /// Timed samples per figure.
    pub samples: usize,
    /// Target length of one sample.
    pub sample_time: Duration,
    /// Exactly this many operations in one sample, no calibration (callgrind runs).
    pub iterations: Option<u64>,
    /// Greenlets held suspended for the memory figure (0: skip it).
    pub memory_greenlets: usize,
    /// Measure the 4 KiB round trip at 8 positions within a page.
    pub page_offsets: bool,
    /// Measure the peers' reference figures.
    pub peers: bool,
    /// Measure each goal's figures again in alternation and judge the goal from that (see
    /// `paired`); otherwise from the table's medians.
    pub paired: bool,
    /// Print a line on stderr per figure.
    pub progress: bool,
}

impl Plan {
    /// The default run: about a minute for the four built-in backends and the peers.
    pub fn default_run() -> Plan {
        Plan {
            depths: DEFAULT_DEPTHS.to_vec(),
            samples: 7,
            sample_time: Duration::from_millis(60),
            iterations: None,
            memory_greenlets: 4000,
            page_offsets: true,
            peers: true,
            paired: true,
            progress: true,
        }
    }

    /// A few seconds: fewer and shorter samples, fewer greenlets held.
    pub fn quick() -> Plan {
        Plan {
            samples: 3,
            sample_time: Duration::from_millis(15),
            memory_greenlets: 500,
            ..Plan::default_run()
        }
    }

    fn note(&self, who: &str, what: &str, t: &Timing) {
        if self.progress {
            crate::errln!("bench: {who}: {what}: {}", t.show());
        }
    }
}

/// One timed figure: nanoseconds per operation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    /// Median over the samples.
    pub median_ns: f64,
    /// The fastest sample.
    pub min_ns: f64,
    /// Operations per sample.
    pub iterations: u64,
    /// Samples taken.
    pub samples: usize,
}

impl Timing {
    /// `31.2 ns` (or µs), for tables.
    pub fn show(&self) -> String {
        show_ns(self.median_ns)
    }
}

/// Nanoseconds for people: `5.41 ns`, `271 ns`, `41.6 µs`.
pub fn show_ns(ns: f64) -> String {
    if ns >= 10_000.0 {
        format!("{:.1} µs", ns / 1000.0)
    } else if ns >= 100.0 {
        format!("{ns:.0} ns")
    } else if ns >= 10.0 {
        format!("{ns:.1} ns")
    } else {
        format!("{ns:.2} ns")
    }
}

/// Times `run(n)`, which performs `n` operations, per [`Plan`]; returns ns per operation.
pub fn time(plan: &Plan, mut run: impl FnMut(u64)) -> Timing {
    let mut left = if plan.iterations.is_some() {
        1
    } else {
        plan.samples.max(1)
    };
    let mut per = Vec::with_capacity(left);
    let mut iterations = 0;
    sampling(
        plan.sample_time,
        plan.iterations,
        &mut run,
        &mut || {
            if left == 0 {
                return false;
            }
            left -= 1;
            true
        },
        &mut |ns, n| {
            per.push(ns);
            iterations = n;
        },
    );
    per.sort_by(f64::total_cmp);
    Timing {
        median_ns: per.get(per.len() / 2).copied().unwrap_or(f64::NAN),
        min_ns: per.first().copied().unwrap_or(f64::NAN),
        iterations,
        samples: per.len(),
    }
}

/// [`time`] for a `run` that can fail: the first failure, if any, instead of the timing (the
/// runs after it do nothing).
pub fn time_fallible(
    plan: &Plan,
    mut run: impl FnMut(u64) -> Result<(), String>,
) -> Result<Timing, String> {
    let mut failure = None;
    let t = time(plan, |n| {
        if failure.is_none() {
            failure = run(n).err();
        }
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(t),
    }
}

/// Calibrates `run` to about `sample_time` per sample (unless `fixed` gives the operations per
/// sample): doubles `n` from 1 until one run of `n` takes an eighth of it, which warms caches
/// and predictors up too. Then takes samples while `next()` says so, handing each one's
/// nanoseconds per operation and its operations to `record`.
///
/// Every call of `run` is made from this one frame (it is not generic and never inlined): a
/// figure whose cost depends on the stack depth it runs at sees the same depth at every
/// call. stack-copy's round trip starts its greenlet on the first call; a later call from a
/// deeper frame would have main's frames below the greenlet's start to copy as well.
#[inline(never)]
pub fn sampling(
    sample_time: Duration,
    fixed: Option<u64>,
    run: &mut dyn FnMut(u64),
    next: &mut dyn FnMut() -> bool,
    record: &mut dyn FnMut(f64, u64),
) {
    let target = sample_time.as_secs_f64();
    let mut n = fixed.unwrap_or(1).max(1);
    let mut calibrating = fixed.is_none();
    loop {
        if !calibrating && !next() {
            return;
        }
        let start = Instant::now();
        run(n);
        let took = start.elapsed().as_secs_f64();
        if !calibrating {
            record(took * 1e9 / n as f64, n);
        } else if took >= target / 8.0 || n >= 1 << 40 {
            n = ((target / (took / n as f64).max(1e-12)) as u64).max(1);
            calibrating = false;
        } else {
            n *= 2;
        }
    }
}

/// A round trip (main → greenlet → main) with the greenlet switching from `depth` bytes of
/// extra frames below its start.
#[derive(Clone, Debug, PartialEq)]
pub struct DepthRow {
    /// Bytes of the extra frame (one of [`DEPTHS`]).
    pub depth: usize,
    /// The round trip.
    pub time: Timing,
    /// Stack bytes saved to the heap per round trip (stack-copy's counter; 0 elsewhere).
    pub saved: f64,
    /// Heap bytes restored onto the stack per round trip.
    pub restored: f64,
}

impl DepthRow {
    /// Bytes copied per round trip, both ways.
    pub fn copied(&self) -> f64 {
        self.saved + self.restored
    }
}

/// Memory held per suspended greenlet.
#[derive(Clone, Debug, PartialEq)]
pub struct Memory {
    /// Greenlets held suspended.
    pub greenlets: usize,
    /// Resident set growth per greenlet (`/proc/self/statm`), bytes.
    pub rss: f64,
    /// Page-table growth per greenlet (`VmPTE`), bytes.
    pub page_tables: f64,
    /// Stack bytes saved on the heap per greenlet (stack-copy's counter; 0 elsewhere).
    pub saved: f64,
    /// Growth of the allocator's in-use bytes per greenlet (glibc's `mallinfo2`: chunk sizes,
    /// headers included; mmap'd chunks too), bytes; `None` where it cannot be read. Exact,
    /// where `rss` can read low: memory the allocator had from earlier figures and reuses
    /// adds nothing to the resident set.
    pub heap: Option<f64>,
}

impl Memory {
    /// What a greenlet costs beyond the stack bytes it keeps on the heap: its records,
    /// contexts, handle and allocator overhead (for stack-copy; elsewhere the stack pages are
    /// in `rss`). The larger of the resident-set and the heap growth, less the saved bytes.
    pub fn bookkeeping(&self) -> f64 {
        self.rss.max(self.heap.unwrap_or(0.0)) - self.saved
    }
}

/// Everything measured of one backend. A figure that could not be taken is an `Err` with
/// the reason.
#[derive(Clone, Debug)]
pub struct Measured {
    /// The backend's registry name.
    pub backend: String,
    /// Round trip by depth, in the plan's order.
    pub round_trip: Result<Vec<DepthRow>, String>,
    /// The [`OFFSET_DEPTH`] round trip at 8 stack positions 512 bytes apart: every median.
    pub page_offsets: Option<Result<Vec<f64>, String>>,
    /// Spawn a greenlet, switch to it, it returns.
    pub spawn_to_finish: Result<Timing, String>,
    /// Memory per suspended greenlet (`None`: not measured).
    pub memory: Option<Result<Memory, String>>,
}

/// The peers' figures (see `peers`).
#[derive(Clone, Debug, Default)]
pub struct Peers {
    /// corosensei `resume` + `suspend` (`None`: built without the `peers` feature).
    pub corosensei_round_trip: Option<Timing>,
    /// corosensei new coroutine (new stack), resumed once, returns.
    pub corosensei_spawn_new_stack: Option<Timing>,
    /// The same on one reused stack (`Coroutine::with_stack`, `into_stack`).
    pub corosensei_spawn_reused_stack: Option<Timing>,
    /// The backends' own switch alone, main → greenlet → main with `StackSwitch::switch` and
    /// no runtime (`switchyard_impls::backend::raw::PingPong`), by backend name (`mmap`,
    /// `stack-copy`): the floor of each backend's round trip, beside corosensei's.
    pub raw_switch: Vec<(&'static str, Result<Timing, String>)>,
    /// Raw `swapcontext` there and back.
    pub swapcontext_round_trip: Option<Result<Timing, String>>,
    /// Raw two-thread `Mutex` + `Condvar` ping-pong there and back.
    pub thread_round_trip: Option<Timing>,
    /// A hot `memcpy` of N bytes, by N.
    pub memcpy: Vec<(usize, Timing)>,
}

/// A whole run.
#[derive(Clone, Debug)]
pub struct Report {
    /// Per backend, in the order asked.
    pub backends: Vec<Measured>,
    /// The reference figures (`None`: not measured).
    pub peers: Option<Peers>,
    /// The plan it ran with.
    pub plan: Plan,
    /// The 1-minute load average before and after, and the cores.
    pub load_before: Option<f64>,
    /// As above, after.
    pub load_after: Option<f64>,
    /// `available_parallelism`.
    pub cores: usize,
    /// Wall-clock length of the run.
    pub seconds: f64,
    /// Issue 12's goals as judged in this run (paired when the plan says so).
    pub goals: Vec<Goal>,
}

impl Report {
    /// The backend called `name`, if measured.
    pub fn backend(&self, name: &str) -> Option<&Measured> {
        self.backends.iter().find(|m| m.backend == name)
    }
}

/// The 1-minute load average (`/proc/loadavg`).
pub fn load_average() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Measures every backend of `backends` (each on a thread of its own with a
/// [`PROGRAM_THREAD_STACK`] stack, so that hubs never meet and stack-copy has room), then the
/// peers, the `memcpy` sizes taken from stack-copy's copy counts when it was measured.
pub fn run(backends: &[&'static Backend], plan: &Plan) -> Result<Report, String> {
    let start = Instant::now();
    let load_before = load_average();
    let mut measured = Vec::new();
    for backend in backends {
        let plan_for = plan.clone();
        let b: &'static Backend = backend;
        let m = std::thread::Builder::new()
            .name(format!("bench-{}", b.name))
            .stack_size(PROGRAM_THREAD_STACK)
            .spawn(move || b.bench_here(&plan_for))
            .map_err(|e| format!("cannot start the bench thread: {e}"))?
            .join()
            .map_err(|p| {
                format!(
                    "{}: the bench panicked: {}",
                    b.name,
                    crate::check::registry::panic_message(&*p)
                )
            })?;
        measured.push(m);
    }
    let peers = if plan.peers {
        let mut sizes: Vec<usize> = measured
            .iter()
            .filter_map(|m| m.round_trip.as_ref().ok())
            .flatten()
            .map(|row| row.copied().round() as usize)
            .filter(|&n| n > 0)
            .collect();
        if sizes.is_empty() {
            sizes = plan
                .depths
                .iter()
                .map(|d| 2 * d)
                .filter(|&n| n > 0)
                .collect();
        }
        sizes.sort_unstable();
        sizes.dedup();
        Some(peers::measure(plan, &sizes))
    } else {
        None
    };
    let mut report = Report {
        backends: measured,
        peers,
        plan: plan.clone(),
        load_before,
        load_after: None,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        seconds: 0.0,
        goals: Vec::new(),
    };
    let specs = goals::specs(&report);
    report.goals = if plan.paired && plan.iterations.is_none() {
        paired::judge(&specs, &report, backends, plan)
    } else {
        goals::from_table(&specs, &report)
    };
    report.load_after = load_average();
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}
