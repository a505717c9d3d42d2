//! Issue 12's goals, written once: which figures each one compares ([`specs`]), and the
//! verdict from the table's medians ([`from_table`]). The paired verdict (`paired::judge`)
//! measures the same figures again, in alternation.

use super::{DepthRow, Measured, Report};

/// One figure a goal compares.
#[derive(Clone, Debug, PartialEq)]
pub enum Fig {
    /// A backend's round trip at a depth (bytes).
    RoundTrip { backend: String, depth: usize },
    /// A backend's [`super::OFFSET_DEPTH`] round trip with the stack `k * 512` bytes lower.
    Shifted { backend: String, k: usize },
    /// A backend's spawn to finish.
    Spawn { backend: String },
    /// A peer's figure.
    Peer(PeerFig),
}

/// The peers' figures a goal can compare with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PeerFig {
    /// corosensei's resume + suspend.
    CoroRoundTrip,
    /// corosensei's spawn to finish with a new stack.
    CoroSpawnNew,
    /// corosensei's spawn to finish on a reused stack.
    CoroSpawnReused,
    /// A backend's `StackSwitch::switch` alone (`mmap`, `stack-copy`).
    RawSwitch(&'static str),
    /// A raw `swapcontext` ping-pong.
    Swapcontext,
    /// A raw two-thread `Mutex` + `Condvar` ping-pong.
    Threads,
    /// A hot `memcpy` of this many bytes.
    Memcpy(usize),
}

/// How a goal is judged.
#[derive(Clone, Debug)]
pub enum Judge {
    /// The sum of `num`'s figures over the sum of `den`'s.
    Ratio { num: Vec<Fig>, den: Vec<Fig> },
    /// The slowest of the figures over the fastest.
    Spread(Vec<Fig>),
    /// A byte count taken from the table (not timed).
    Bytes(f64),
}

impl Judge {
    /// Every figure it needs, each once, in order.
    pub fn figures(&self) -> Vec<Fig> {
        let mut all: Vec<Fig> = Vec::new();
        let listed: Vec<&Fig> = match self {
            Judge::Ratio { num, den } => num.iter().chain(den).collect(),
            Judge::Spread(figs) => figs.iter().collect(),
            Judge::Bytes(_) => Vec::new(),
        };
        for f in listed {
            if !all.contains(f) {
                all.push(f.clone());
            }
        }
        all
    }

    /// The verdict from one time per figure (`ns` in the order of [`Judge::figures`]).
    pub fn value(&self, ns: &[f64]) -> f64 {
        let figures = self.figures();
        let of = |f: &Fig| {
            figures
                .iter()
                .position(|g| g == f)
                .map_or(f64::NAN, |i| ns[i])
        };
        match self {
            Judge::Ratio { num, den } => {
                num.iter().map(of).sum::<f64>() / den.iter().map(of).sum::<f64>()
            }
            Judge::Spread(_) => spread(ns),
            Judge::Bytes(b) => *b,
        }
    }
}

/// The slowest of `ns` over the fastest (the page-offset figure).
pub fn spread(ns: &[f64]) -> f64 {
    let worst = ns.iter().copied().fold(f64::MIN, f64::max);
    let best = ns.iter().copied().fold(f64::MAX, f64::min);
    worst / best
}

/// One goal: what it says, its limit, how it is judged.
#[derive(Clone, Debug)]
pub struct Spec {
    pub what: String,
    pub limit: f64,
    pub judge: Judge,
}

/// One goal of issue 12, as measured.
#[derive(Clone, Debug)]
pub struct Goal {
    /// What is compared, in words.
    pub what: String,
    /// The measured ratio (or bytes, for the bookkeeping goal): the median over the rounds
    /// when paired.
    pub value: f64,
    /// The limit it must not pass.
    pub limit: f64,
    /// The unit of `value` and `limit`: `×` or `B`.
    pub unit: &'static str,
    /// When measured in pairs: rounds, and the lowest and highest round's value.
    pub rounds: Option<Rounds>,
    /// Why the paired measurement failed (the value is then the table's).
    pub error: Option<String>,
}

/// A paired goal's rounds: each measured every figure once, back to back.
#[derive(Clone, Debug, PartialEq)]
pub struct Rounds {
    pub count: usize,
    pub low: f64,
    pub high: f64,
    /// Each round's own value, in the order the rounds ran.
    pub values: Vec<f64>,
}

impl Goal {
    /// Whether it is met.
    pub fn met(&self) -> bool {
        self.value <= self.limit
    }
}

fn row(m: &Measured, depth: usize) -> Option<&DepthRow> {
    m.round_trip
        .as_ref()
        .ok()?
        .iter()
        .find(|r| r.depth == depth)
}

/// A figure's median in the table.
pub fn table_ns(report: &Report, fig: &Fig) -> Option<f64> {
    match fig {
        Fig::RoundTrip { backend, depth } => {
            Some(row(report.backend(backend)?, *depth)?.time.median_ns)
        }
        Fig::Shifted { backend, k } => match &report.backend(backend)?.page_offsets {
            Some(Ok(v)) => v.get(*k).copied(),
            _ => None,
        },
        Fig::Spawn { backend } => report
            .backend(backend)?
            .spawn_to_finish
            .as_ref()
            .ok()
            .map(|t| t.median_ns),
        Fig::Peer(p) => {
            let peers = report.peers.as_ref()?;
            match p {
                PeerFig::CoroRoundTrip => peers.corosensei_round_trip.map(|t| t.median_ns),
                PeerFig::CoroSpawnNew => peers.corosensei_spawn_new_stack.map(|t| t.median_ns),
                PeerFig::CoroSpawnReused => {
                    peers.corosensei_spawn_reused_stack.map(|t| t.median_ns)
                }
                PeerFig::RawSwitch(name) => peers
                    .raw_switch
                    .iter()
                    .find(|(n, _)| n == name)
                    .and_then(|(_, t)| t.as_ref().ok())
                    .map(|t| t.median_ns),
                PeerFig::Swapcontext => match &peers.swapcontext_round_trip {
                    Some(Ok(t)) => Some(t.median_ns),
                    _ => None,
                },
                PeerFig::Threads => peers.thread_round_trip.map(|t| t.median_ns),
                PeerFig::Memcpy(n) => peers
                    .memcpy
                    .iter()
                    .find(|(b, _)| b == n)
                    .map(|(_, t)| t.median_ns),
            }
        }
    }
}

/// The goals this run's table can judge: a goal whose figures were not all measured is left
/// out.
pub fn specs(report: &Report) -> Vec<Spec> {
    let mut specs = Vec::new();
    let rt = |backend: &str, depth: usize| Fig::RoundTrip {
        backend: backend.to_string(),
        depth,
    };
    let ratio = |what: String, num: Vec<Fig>, den: Vec<Fig>, limit: f64| Spec {
        what,
        limit,
        judge: Judge::Ratio { num, den },
    };
    let coro = Fig::Peer(PeerFig::CoroRoundTrip);
    specs.push(ratio(
        "mmap round trip / corosensei resume+suspend".into(),
        vec![rt("mmap", 0)],
        vec![coro.clone()],
        1.5,
    ));
    specs.push(ratio(
        "mmap backend switch alone / corosensei resume+suspend".into(),
        vec![Fig::Peer(PeerFig::RawSwitch("mmap"))],
        vec![coro],
        1.5,
    ));
    if let (Some(sc), Some(m)) = (report.backend("stack-copy"), report.backend("mmap")) {
        for r in sc.round_trip.iter().flatten() {
            let bytes = r.copied().round() as usize;
            // The mmap round trip at the same depth, or at 0 (it does not depend on depth).
            let floor = if row(m, r.depth).is_some() {
                rt("mmap", r.depth)
            } else {
                rt("mmap", 0)
            };
            let mut den = vec![floor];
            if bytes > 0 {
                den.push(Fig::Peer(PeerFig::Memcpy(bytes)));
            }
            specs.push(ratio(
                format!(
                    "stack-copy round trip at {} KiB / (mmap round trip + memcpy of its {bytes} B)",
                    r.depth >> 10
                ),
                vec![rt("stack-copy", r.depth)],
                den,
                1.5,
            ));
        }
    }
    if let Some(Some(Ok(offsets))) = report.backend("stack-copy").map(|m| &m.page_offsets) {
        specs.push(Spec {
            what: "stack-copy 4 KiB round trip, worst / best of 8 page offsets".into(),
            limit: 1.5,
            judge: Judge::Spread(
                (0..offsets.len())
                    .map(|k| Fig::Shifted {
                        backend: "stack-copy".into(),
                        k,
                    })
                    .collect(),
            ),
        });
    }
    specs.push(ratio(
        "thread round trip / raw Mutex+Condvar ping-pong".into(),
        vec![rt("thread", 0)],
        vec![Fig::Peer(PeerFig::Threads)],
        1.5,
    ));
    specs.push(ratio(
        "ucontext round trip / raw swapcontext ping-pong".into(),
        vec![rt("ucontext", 0)],
        vec![Fig::Peer(PeerFig::Swapcontext)],
        1.1,
    ));
    for m in report.backends.iter().filter(|m| m.backend != "thread") {
        specs.push(ratio(
            format!(
                "{} spawn to finish / corosensei's on a reused stack",
                m.backend
            ),
            vec![Fig::Spawn {
                backend: m.backend.clone(),
            }],
            vec![Fig::Peer(PeerFig::CoroSpawnReused)],
            2.0,
        ));
    }
    if let Some(Some(Ok(mem))) = report.backend("stack-copy").map(|m| &m.memory) {
        specs.push(Spec {
            what: "stack-copy bytes per suspended greenlet beyond its saved stack".into(),
            limit: 128.0,
            judge: Judge::Bytes(mem.bookkeeping()),
        });
    }
    specs.retain(|s| {
        s.judge
            .figures()
            .iter()
            .all(|f| table_ns(report, f).is_some())
    });
    specs
}

impl Spec {
    /// This goal with `value` (and the paired measurement's rounds or error).
    pub fn goal(&self, value: f64, rounds: Option<Rounds>, error: Option<String>) -> Goal {
        Goal {
            what: self.what.clone(),
            value,
            limit: self.limit,
            unit: if matches!(self.judge, Judge::Bytes(_)) {
                "B"
            } else {
                "×"
            },
            rounds,
            error,
        }
    }

    /// The verdict from the table's medians.
    pub fn by_table(&self, report: &Report) -> Goal {
        let ns: Vec<f64> = self
            .judge
            .figures()
            .iter()
            .map(|f| table_ns(report, f).unwrap_or(f64::NAN))
            .collect();
        self.goal(self.judge.value(&ns), None, None)
    }
}

/// Every goal judged from the table's medians.
pub fn from_table(specs: &[Spec], report: &Report) -> Vec<Goal> {
    specs.iter().map(|s| s.by_table(report)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(backend: &str, depth: usize) -> Fig {
        Fig::RoundTrip {
            backend: backend.into(),
            depth,
        }
    }

    #[test]
    fn a_ratio_sums_each_side_and_names_a_shared_figure_once() {
        let judge = Judge::Ratio {
            num: vec![rt("stack-copy", 0)],
            den: vec![rt("mmap", 0), Fig::Peer(PeerFig::Memcpy(64))],
        };
        assert_eq!(judge.figures().len(), 3);
        assert_eq!(judge.value(&[60.0, 20.0, 10.0]), 2.0);
        let same = Judge::Ratio {
            num: vec![rt("mmap", 0)],
            den: vec![rt("mmap", 0), Fig::Peer(PeerFig::Threads)],
        };
        assert_eq!(same.figures().len(), 2);
        assert_eq!(same.value(&[30.0, 10.0]), 0.75);
    }

    #[test]
    fn a_spread_is_the_slowest_over_the_fastest() {
        let judge = Judge::Spread(
            (0..3)
                .map(|k| Fig::Shifted {
                    backend: "stack-copy".into(),
                    k,
                })
                .collect(),
        );
        assert_eq!(judge.value(&[12.0, 8.0, 10.0]), 1.5);
        assert_eq!(Judge::Bytes(124.0).value(&[]), 124.0);
    }
}
