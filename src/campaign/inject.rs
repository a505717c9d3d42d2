//! Test-only crash injection: a worker whose environment has [`CRASH_ENV`] set to
//! `WHAT@BACKEND#INDEX[,...]` crashes when it is about to run BACKEND on a program that came
//! from index INDEX (generated or text), where WHAT is `segv`, `kill`, `abort`, `overflow` (a
//! stack overflow message, then abort), `exit` (exit status 3), `hang`, `garbage` (a line that
//! is not UTF-8 nor the protocol, then it runs on) or `close` (closes its stdout and hangs);
//! or `stale`, which crashes nothing: from the next job on, every run of BACKEND in that
//! worker process reports a `backend` failure (a failure that depends on what the worker ran
//! before, as a hub left alive on the program thread once made).
//!
//! Contract: it exists only so that the tests can check that a campaign survives crashing
//! workers; nothing sets the variable otherwise, and without it nothing here does anything.

use std::io::{self, Write};
use std::time::Duration;

/// The environment variable that makes workers crash on chosen programs.
pub const CRASH_ENV: &str = "SWITCHYARD_TEST_CRASH";

/// Crashes injected by [`CRASH_ENV`] (test-only).
pub struct Injection {
    entries: Vec<(String, String, u64)>,
    /// Backends a `stale` entry has spoiled in this process, with the program index and the
    /// job (see [`Injection::stale`]).
    spoiled: std::cell::RefCell<Vec<(String, u64, u64)>>,
    /// Jobs started in this process.
    jobs: std::cell::Cell<u64>,
}

impl Injection {
    /// The crashes [`CRASH_ENV`] asks for (none when it is not set).
    pub fn from_env() -> Injection {
        let spec = std::env::var(CRASH_ENV).unwrap_or_default();
        let entries = spec
            .split(',')
            .filter_map(|entry| {
                let (what, rest) = entry.trim().split_once('@')?;
                let (backend, index) = rest.split_once('#')?;
                Some((what.to_string(), backend.to_string(), index.parse().ok()?))
            })
            .collect();
        Injection {
            entries,
            spoiled: Default::default(),
            jobs: Default::default(),
        }
    }

    /// A new job starts in this worker process.
    pub fn next_job(&self) {
        self.jobs.set(self.jobs.get() + 1);
    }

    /// The failure detail of a `stale` entry for `backend`, if an earlier job of this worker
    /// process ran the program it names.
    pub fn stale(&self, backend: &str) -> Option<String> {
        self.spoiled
            .borrow()
            .iter()
            .find(|(b, _, job)| b == backend && *job < self.jobs.get())
            .map(|(_, i, _)| format!("injected by {CRASH_ENV}: stale after program {i}"))
    }

    /// Crashes now if `backend` is about to run on a program from index `index` that the
    /// variable names.
    pub fn before_run(&self, backend: &str, index: u64) {
        for (what, b, i) in &self.entries {
            if b == backend && *i == index && what == "stale" {
                self.spoiled
                    .borrow_mut()
                    .push((b.clone(), *i, self.jobs.get()));
            } else if b == backend && *i == index {
                crash_now(what);
            }
        }
    }
}

fn crash_now(what: &str) {
    let _ = io::stdout().flush();
    match what {
        "segv" | "kill" => {
            let signal = if what == "segv" {
                libc::SIGSEGV
            } else {
                libc::SIGKILL
            };
            switchyard_impls::process::die_by_signal(signal);
        }
        "overflow" => {
            crate::errln!("switchyard: greenlet stack overflow (injected by {CRASH_ENV})");
            std::process::abort();
        }
        "exit" => std::process::exit(3),
        "garbage" => {
            // A damaged worker's output: not UTF-8, not the protocol. It then runs on.
            let _ = io::stdout().write_all(b"\xff\xfe\x00 garbage\n");
            let _ = io::stdout().flush();
        }
        "close" => {
            // The worker then never answers.
            // SAFETY: the worker process owns its stdout and nothing else in it holds fd 1.
            unsafe { switchyard_impls::process::close_stdout() }.expect("stdout to /dev/null");
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        "hang" => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
        _ => std::process::abort(),
    }
}
