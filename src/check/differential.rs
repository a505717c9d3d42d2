//! Differential checking: one program on several backends, each trace compared with the
//! thread oracle's; and seeded batches of generated programs checked that way, optionally on
//! several OS threads at once.

use crate::check::registry::{self, Backend};
use crate::gen::{self, GenConfig};
use crate::lang::ast::Program;
use crate::lang::trace::diff;
use std::fmt;

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
    let oracle = registry::oracle();
    let expected = match oracle.run(program) {
        Ok(t) => t,
        Err(fatal) => {
            return vec![Finding {
                backend: oracle.name.to_string(),
                failure: fatal.to_string(),
            }]
        }
    };
    backends
        .iter()
        .filter(|b| b.name != oracle.name)
        .filter_map(|backend| {
            let failure = match backend.run(program) {
                Ok(actual) => diff(&expected, &actual)
                    .map(|d| format!("trace diverges from {} at {d}", registry::ORACLE)),
                Err(fatal) => Some(fatal.to_string()),
            }?;
            Some(Finding {
                backend: backend.name.to_string(),
                failure,
            })
        })
        .collect()
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
        let backends: Vec<_> = registry::BACKENDS.iter().collect();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..200 {
            let len = rng.random_range(0..800);
            let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            check_or_panic(&bytes, &backends);
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
