//! `switchyard run [--backend NAME]... FILE...`: every file on the oracle (in this process,
//! its trace on stdout) and on each chosen native backend in a worker process of its own
//! ([`crate::campaign::Worker`], the same differential comparison as the campaign), so
//! that a backend that crashes or hangs is reported as `FILE: BACKEND: crash-SIGSEGV: detail`
//! (exit 1) instead of taking this process down with it. Divergences and fatal findings go to
//! stderr the same way.

use super::{parse_files, select_backends, AGREED, DIVERGED, OUTPUT_ERROR};
use crate::campaign::{Job, Mode, Outcome, Timeouts, Worker};
use crate::check::registry;
use crate::gen::Profile;
use crate::lang::print::print;
use std::collections::HashMap;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Backend to run and compare with the oracle (repeatable). Default: every registered
    /// backend. See `switchyard backends`.
    #[arg(long = "backend", short = 'b', value_name = "NAME")]
    backends: Vec<String>,
    /// Program files (.gp).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

pub fn run(args: &Args) -> u8 {
    let backends = match select_backends(&args.backends) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let programs = match parse_files(&args.files) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            errln!("switchyard: cannot find my own executable: {e}");
            return OUTPUT_ERROR;
        }
    };
    let natives: Vec<&str> = backends
        .iter()
        .map(|b| b.name)
        .filter(|b| *b != registry::ORACLE)
        .collect();
    // One worker per backend, kept across files (a crashed one is restarted).
    let mut workers: HashMap<&str, Worker> = natives
        .iter()
        .map(|b| (*b, Worker::new(&exe).fixed_layout()))
        .collect();
    let mut status = AGREED;
    for (name, program) in &programs {
        if programs.len() > 1 {
            outln!("== {name}");
        }
        match registry::oracle().run(program) {
            Ok(trace) => out!("{trace}"),
            Err(fatal) => {
                errln!("{name}: oracle: {fatal}");
                status = DIVERGED;
                continue;
            }
        }
        for backend in &natives {
            let job = Job {
                mode: Mode::Check,
                backends: vec![backend.to_string()],
                seed: 0,
                index: 0,
                profile: Profile::Default,
                text: Some(print(program)),
            };
            let worker = workers.get_mut(backend).expect("a worker per backend");
            match worker.run(&job, Timeouts::default()) {
                Err(e) => {
                    errln!("switchyard: cannot start a worker for {backend}: {e}");
                    return OUTPUT_ERROR;
                }
                Ok(Outcome::Done(failures)) => {
                    for f in failures {
                        errln!("{name}: {}: {}: {}", f.backend, f.kind, f.detail);
                        status = DIVERGED;
                    }
                }
                Ok(Outcome::Crashed {
                    kind,
                    backend: running,
                    detail,
                }) => {
                    let who = running.as_deref().unwrap_or(backend);
                    errln!("{name}: {who}: {kind}: {detail}");
                    status = DIVERGED;
                }
                Ok(Outcome::Cancelled) => unreachable!("these workers have no cancel flag"),
            }
        }
    }
    status
}
