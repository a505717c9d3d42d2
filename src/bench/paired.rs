//! The goals measured in pairs. Each goal compares figures (a backend's round trip with a
//! peer's, say) that the table measures tens of seconds apart, each on a thread of its own;
//! on a shared machine the neighbours' load can change in between, and a ratio of two such
//! medians moved from 1.1× to 1.9× between runs of one binary. Here every figure of a goal
//! is kept alive on a thread of its own ([`Remote`]: its hub, greenlet, coroutine or buffers
//! made there once, calibrated once), and each round asks every figure for one sample, back
//! to back (the order reversed every other round), so that one round's figures share the
//! machine's conditions. A ratio goal's value is the median of the rounds' ratios; the
//! page-offset spread's is the spread of the figures' medians (see [`value_of`]); the lowest
//! and highest round are shown beside it.

use super::goals::{Fig, Goal, Judge, Rounds, Spec};
use super::{hub, peers, sampling, Plan, Report, OFFSET_DEPTH};
use crate::check::registry::{Backend, PROGRAM_THREAD_STACK};
use std::cell::RefCell;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

/// A paired goal takes `ROUNDS_PER_SAMPLE` rounds per sample of the plan and one more (an odd
/// number, so that the median is one round's own), each sample `SHORTER` times shorter than
/// the plan's: the figures of one round close together, and the pairs about two thirds of the
/// table's time per figure.
const ROUNDS_PER_SAMPLE: usize = 2;
const SHORTER: u32 = 3;

/// One figure, alive on the thread that made it: `sample(n)` runs `n` operations.
pub type Sample = Box<dyn FnMut(u64) -> Result<(), String>>;

/// A backend's figure that can be sampled on request (see [`super::BenchFns::sampler`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Figure {
    /// The round trip at a depth in bytes, as the table measures it.
    RoundTrip { depth: usize },
    /// Spawn to finish.
    Spawn,
}

/// A figure on a thread of its own, sampled on request.
struct Remote {
    requests: Option<Sender<()>>,
    answers: Receiver<Result<f64, String>>,
    thread: Option<JoinHandle<()>>,
}

impl Remote {
    /// Starts the thread, which makes the figure with `make` and then serves samples of about
    /// `sample_time` each, from `shift * 512` bytes lower on its stack when `shift` is given.
    fn start(
        label: &str,
        shift: Option<usize>,
        sample_time: Duration,
        make: impl FnOnce() -> Result<Sample, String> + Send + 'static,
    ) -> Result<Remote, String> {
        let (requests, wanted) = channel::<()>();
        let (answer, answers) = channel();
        let thread = std::thread::Builder::new()
            .name(format!("bench-pair-{label}"))
            .stack_size(PROGRAM_THREAD_STACK)
            .spawn(move || {
                let sample = match make() {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = answer.send(Err(e));
                        return;
                    }
                };
                let go = || serve(sample, sample_time, &wanted, &answer);
                match shift {
                    Some(k) => hub::below_shift(k, go),
                    None => go(),
                }
            })
            .map_err(|e| format!("cannot start a thread: {e}"))?;
        let remote = Remote {
            requests: Some(requests),
            answers,
            thread: Some(thread),
        };
        remote.answer(label)?;
        Ok(remote)
    }

    fn answer(&self, label: &str) -> Result<f64, String> {
        self.answers
            .recv()
            .map_err(|_| format!("{label}: the figure's thread stopped (it panicked)"))?
            .map_err(|e| format!("{label}: {e}"))
    }

    /// One sample: nanoseconds per operation.
    fn sample(&self, label: &str) -> Result<f64, String> {
        let sent = self.requests.as_ref().map(|r| r.send(()).is_ok());
        if sent != Some(true) {
            return Err(format!("{label}: the figure's thread stopped"));
        }
        self.answer(label)
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        drop(self.requests.take()); // the thread's loop ends
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The figure's thread: calibrates (see [`sampling`]: every run from one frame), says it is
/// ready, then takes one sample per request. It is ready only once calibrated, so that no
/// figure's calibration runs beside another's samples.
fn serve(
    mut sample: Sample,
    sample_time: Duration,
    wanted: &Receiver<()>,
    answer: &Sender<Result<f64, String>>,
) {
    let failure = RefCell::new(None);
    let mut run = |n: u64| {
        if failure.borrow().is_none() {
            if let Err(e) = sample(n) {
                *failure.borrow_mut() = Some(e);
            }
        }
    };
    let mut ready = false;
    let mut next = || {
        if !ready {
            ready = true;
            if answer.send(Ok(0.0)).is_err() {
                return false;
            }
        }
        wanted.recv().is_ok()
    };
    let mut record = |ns: f64, _n: u64| {
        let reply = match &*failure.borrow() {
            Some(e) => Err(e.clone()),
            None => Ok(ns),
        };
        let _ = answer.send(reply);
    };
    // A sample that fails is answered with the failure (calibration's, too: it shows in the
    // first sample's answer).
    sampling(sample_time, None, &mut run, &mut next, &mut record);
}

/// What makes a figure on the thread that will sample it.
type Maker = Box<dyn FnOnce() -> Result<Sample, String> + Send>;

/// How to make `fig` on a thread of its own, and the stack shift it is sampled at.
fn maker(fig: &Fig, backends: &[&'static Backend]) -> Result<(Maker, Option<usize>), String> {
    let backend = |name: &str| {
        backends
            .iter()
            .copied()
            .find(|b| b.name == name)
            .ok_or_else(|| format!("backend {name} is not measured in this run"))
    };
    Ok(match fig {
        Fig::RoundTrip {
            backend: name,
            depth,
        } => {
            let (b, depth) = (backend(name)?, *depth);
            (
                Box::new(move || b.sampler_here(Figure::RoundTrip { depth })),
                None,
            )
        }
        Fig::Shifted { backend: name, k } => {
            let b = backend(name)?;
            (
                Box::new(move || {
                    b.sampler_here(Figure::RoundTrip {
                        depth: OFFSET_DEPTH,
                    })
                }),
                Some(*k),
            )
        }
        Fig::Spawn { backend: name } => {
            let b = backend(name)?;
            (Box::new(move || b.sampler_here(Figure::Spawn)), None)
        }
        Fig::Peer(p) => {
            let p = *p;
            (Box::new(move || peers::sampler(p)), None)
        }
    })
}

fn label(fig: &Fig) -> String {
    match fig {
        Fig::RoundTrip { backend, depth } => format!("{backend} round trip at {} KiB", depth >> 10),
        Fig::Shifted { backend, k } => format!("{backend} 4 KiB round trip {} B lower", k * 512),
        Fig::Spawn { backend } => format!("{backend} spawn to finish"),
        Fig::Peer(p) => format!("{p:?}"),
    }
}

/// `spec`'s rounds: every figure sampled once per round, back to back; per round, the time of
/// each figure in the order of [`Judge::figures`].
fn rounds(
    spec: &Spec,
    backends: &[&'static Backend],
    plan: &Plan,
) -> Result<Vec<Vec<f64>>, String> {
    let figures = spec.judge.figures();
    let labels: Vec<String> = figures.iter().map(label).collect();
    let mut remotes = Vec::new();
    for (fig, label) in figures.iter().zip(&labels) {
        let (make, shift) = maker(fig, backends)?;
        remotes.push(Remote::start(
            label,
            shift,
            plan.sample_time / SHORTER,
            make,
        )?);
    }
    let mut times = Vec::new();
    for round in 0..plan.samples.max(1) * ROUNDS_PER_SAMPLE + 1 {
        let mut ns = vec![0.0; remotes.len()];
        let order: Vec<usize> = if round % 2 == 0 {
            (0..remotes.len()).collect()
        } else {
            (0..remotes.len()).rev().collect()
        };
        for i in order {
            ns[i] = remotes[i].sample(&labels[i])?;
        }
        times.push(ns);
    }
    Ok(times)
}

/// The median of `v` (not empty), sorting it.
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The goal's value from its rounds, and the lowest and highest round's own value. A ratio's
/// value is the median of the rounds' ratios: each round's figures shared the machine's
/// conditions. A spread's is the spread of each figure's median time: one round's spread,
/// the slowest of several noisy samples over the fastest, is biased upwards by the noise
/// alone (it is shown as the rounds' range all the same).
fn value_of(judge: &Judge, times: &[Vec<f64>]) -> (f64, Rounds) {
    let values: Vec<f64> = times.iter().map(|ns| judge.value(ns)).collect();
    let mut per_round = values.clone();
    let value = match judge {
        Judge::Spread(_) => {
            let medians: Vec<f64> = (0..times[0].len())
                .map(|i| median(&mut times.iter().map(|ns| ns[i]).collect::<Vec<_>>()))
                .collect();
            judge.value(&medians)
        }
        _ => median(&mut per_round),
    };
    per_round.sort_by(f64::total_cmp);
    let rounds = Rounds {
        count: per_round.len(),
        low: per_round[0],
        high: per_round[per_round.len() - 1],
        values,
    };
    (value, rounds)
}

/// Every goal: the timed ones measured in pairs, the byte count from the table. A goal whose
/// paired measurement fails keeps the table's value and says why.
pub fn judge(
    specs: &[Spec],
    report: &Report,
    backends: &[&'static Backend],
    plan: &Plan,
) -> Vec<Goal> {
    specs
        .iter()
        .map(|spec| {
            if matches!(spec.judge, Judge::Bytes(_)) {
                return spec.by_table(report);
            }
            let goal = match rounds(spec, backends, plan) {
                Ok(times) => {
                    let (value, rounds) = value_of(&spec.judge, &times);
                    spec.goal(value, Some(rounds), None)
                }
                Err(e) => {
                    let mut g = spec.by_table(report);
                    g.error = Some(e);
                    g
                }
            };
            if plan.progress {
                crate::errln!(
                    "bench: goal, paired: {}: {:.2}×{}",
                    goal.what,
                    goal.value,
                    goal.rounds.as_ref().map_or(String::new(), |r| format!(
                        " ({} rounds, {:.2}-{:.2})",
                        r.count, r.low, r.high
                    ))
                );
            }
            goal
        })
        .collect()
}
