//! Differential checking: THE one place that runs a program on the oracle and then on each
//! backend, comparing each trace with the oracle's ([`compare`]). The campaign's workers,
//! `switchyard run`, [`check`] (tests, seeded batches) and the fuzz targets
//! ([`check_or_panic`]) all go through it; they differ only in what they watch
//! ([`Observer`]) and how they report the [`Verdict`]s.
//!
//! Contract: the oracle always runs first and is never compared with itself; a fatal finding
//! of the oracle ends the comparison before any backend runs.

use crate::check::registry::{self, Backend};
use crate::gen::{self, GenConfig};
use crate::interp::Fatal;
use crate::lang::ast::Program;
use crate::lang::trace::{diff, Divergence, Trace};
use std::fmt;
use std::sync::Arc;
use switchyard_impls::greenlet::HubConfig;

/// How one backend did on a program, against the oracle's trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The same trace as the oracle's.
    Agrees,
    /// A different trace: its first differing line.
    Diverges(Divergence),
    /// No trace: a fatal finding (stack or register corruption, a panic, a backend error).
    Fatal(Fatal),
}

impl Verdict {
    /// One line for a person, `None` when the backend agreed: `trace diverges from thread at
    /// ...` or the fatal finding.
    pub fn failure(&self) -> Option<String> {
        match self {
            Verdict::Agrees => None,
            Verdict::Diverges(d) => {
                Some(format!("trace diverges from {} at {d}", registry::ORACLE))
            }
            Verdict::Fatal(f) => Some(f.to_string()),
        }
    }
}

/// What [`compare`] found.
#[derive(Clone)]
pub enum Comparison {
    /// The oracle itself made a fatal finding; no backend ran.
    OracleFatal(Fatal),
    /// The oracle's trace and every backend's verdict, in the order the backends were given
    /// (the oracle left out).
    Compared {
        expected: Trace,
        verdicts: Vec<(&'static Backend, Verdict)>,
    },
}

/// Watches a [`compare`] as it goes (every method does nothing by default): for work that
/// must happen between runs, such as printing the oracle's trace before a backend can crash
/// the process, or the campaign's test-only crash injection.
pub trait Observer {
    /// Just before `backend` runs (the oracle first).
    fn before_run(&mut self, _backend: &'static Backend) {}
    /// The oracle's trace, before any backend runs.
    fn oracle_trace(&mut self, _trace: &Trace) {}
    /// A backend's verdict, as soon as it has one.
    fn verdict(&mut self, _backend: &'static Backend, _verdict: &Verdict) {}
}

/// Watches nothing.
impl Observer for () {}

/// Runs `program` on the oracle, then on each of `backends` (the oracle itself is skipped),
/// and compares each trace with the oracle's.
pub fn compare(
    program: &Program,
    backends: &[&'static Backend],
    observer: &mut impl Observer,
) -> Comparison {
    // One copy of the program, shared by every run (each run's greenlets refer to it).
    compare_shared(&Arc::new(program.clone()), backends, observer)
}

/// [`compare`] on a program already shared (no copy of it is made).
pub fn compare_shared(
    program: &Arc<Program>,
    backends: &[&'static Backend],
    observer: &mut impl Observer,
) -> Comparison {
    let oracle = registry::oracle();
    let config = HubConfig::default();
    observer.before_run(oracle);
    let expected = match oracle.run_shared(program, &config) {
        Ok(t) => t,
        Err(fatal) => return Comparison::OracleFatal(fatal),
    };
    observer.oracle_trace(&expected);
    let mut verdicts = Vec::new();
    for &backend in backends.iter().filter(|b| b.name != oracle.name) {
        observer.before_run(backend);
        let verdict = match backend.run_shared(program, &config) {
            Ok(actual) => diff(&expected, &actual).map_or(Verdict::Agrees, Verdict::Diverges),
            Err(fatal) => Verdict::Fatal(fatal),
        };
        observer.verdict(backend, &verdict);
        verdicts.push((backend, verdict));
    }
    Comparison::Compared { expected, verdicts }
}

/// How a backend failed on a program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The backend that failed (the oracle's own fatal findings name `thread`).
    pub backend: String,
    /// One line: the first differing trace line, or the fatal finding.
    pub failure: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.backend, self.failure)
    }
}

/// Runs `program` on the oracle and on each of `backends` (the oracle itself is skipped) and
/// returns every backend's failure.
pub fn check(program: &Program, backends: &[&'static Backend]) -> Vec<Finding> {
    match compare(program, backends, &mut ()) {
        Comparison::OracleFatal(fatal) => vec![Finding {
            backend: registry::ORACLE.to_string(),
            failure: fatal.to_string(),
        }],
        Comparison::Compared { verdicts, .. } => verdicts
            .into_iter()
            .filter_map(|(backend, verdict)| {
                Some(Finding {
                    backend: backend.name.to_string(),
                    failure: verdict.failure()?,
                })
            })
            .collect(),
    }
}

/// A generated program on which some backend failed.
#[derive(Clone, Debug)]
pub struct Failed {
    pub seed: u64,
    pub index: u64,
    pub program: Program,
    pub findings: Vec<Finding>,
}

/// Checks programs `0 .. count` of `seed` on `backends`, spread over `threads` OS threads
/// running at once (program `i` goes to thread `i % threads`). Returns the failures sorted by
/// index.
pub fn check_seeded(
    seed: u64,
    count: u64,
    config: &GenConfig,
    backends: &[&'static Backend],
    threads: usize,
) -> Vec<Failed> {
    let threads = threads.max(1) as u64;
    let mut failed: Vec<Failed> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let mut failed = Vec::new();
                    for index in (t..count).step_by(threads as usize) {
                        let program = gen::seeded::program(seed, index, config);
                        let findings = check(&program, backends);
                        if !findings.is_empty() {
                            failed.push(Failed {
                                seed,
                                index,
                                program,
                                findings,
                            });
                        }
                    }
                    failed
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("checker thread"))
            .collect()
    });
    failed.sort_by_key(|f| f.index);
    failed
}

/// Runs the program `bytes` decode to ([`crate::gen::bytes::decode`]) on the oracle and on
/// `backends`, and panics with the findings and the program's text when any backend fails:
/// the body of every fuzz target in `fuzz/`.
pub fn check_or_panic(bytes: &[u8], backends: &[&'static Backend]) {
    let program = crate::gen::bytes::decode(bytes);
    let findings = check(&program, backends);
    if !findings.is_empty() {
        let list: Vec<String> = findings.iter().map(|f| format!("  {f}")).collect();
        panic!(
            "switchyard: {} finding(s):\n{}\nprogram:\n{}",
            findings.len(),
            list.join("\n"),
            crate::lang::print::print(&program)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::bytes::decode;
    use crate::lang::parse::parse;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn decoded_programs_agree_on_every_backend() {
        let backends = registry::all();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..200 {
            let len = rng.random_range(0..800);
            let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            check_or_panic(&bytes, backends);
        }
    }

    #[test]
    fn corpus_files_decode_to_themselves() {
        let files = crate::check::corpus::files(&crate::check::corpus::default_dir());
        assert!(!files.is_empty());
        for path in files {
            let bytes = std::fs::read(&path).unwrap();
            let expected = parse("t", &bytes).unwrap();
            assert_eq!(decode(&bytes), expected, "{}", path.display());
        }
    }
}
