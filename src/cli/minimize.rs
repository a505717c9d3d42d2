//! `switchyard minimize FILE`: how the program fails (in a worker, isolated when it crashes),
//! then minimized in a worker keeping that failure, printed (and with `--out` written) as a
//! finding file. The backends, seed, program and profile default to the finding header's
//! ([`crate::campaign::findings::Header`]); the header written says where the program
//! came from: the seed and index of the header read, else the file itself.
//!
//! Signals keep their default action here: `minimize` dies by them, and its worker processes
//! die with it ([`crate::lifeline`]).

use super::{backend_names, parse_files, shown, worker_settings, AGREED, INVALID, OUTPUT_ERROR};
use crate::campaign::findings::{self, Header, Origin, Provenance};
use crate::campaign::{isolate, minimize, Job, Mode, Outcome, Worker};
use crate::check::registry;
use crate::gen::Profile;
use crate::lang::print::print;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The failing program.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Backend to run (repeatable). Default: the `# backend:` line of a finding file, else
    /// the backends `fuzz` runs by default.
    #[arg(long = "backend", short = 'b', value_name = "NAME")]
    backends: Vec<String>,
    /// Also write the minimized program (with its header) to this file, atomically.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    timeouts: super::TimeoutArgs,
    /// Most test runs.
    #[arg(long, value_name = "N", default_value_t = 2000)]
    minimize_runs: usize,
    /// Most seconds.
    #[arg(long, value_name = "S", default_value_t = 60.0)]
    minimize_seconds: f64,
}

pub fn run(args: &Args) -> u8 {
    let file = &args.file;
    let name = shown(file);
    let (_, program) = match parse_files(std::slice::from_ref(file)) {
        Ok(mut p) => p.remove(0),
        Err(code) => return code,
    };
    let source = String::from_utf8_lossy(&std::fs::read(file).unwrap_or_default()).into_owned();
    let header = Header::parse(&source);
    let from_header = header
        .backend
        .as_ref()
        .map(|b| b.split('+').map(str::to_string).collect::<Vec<_>>())
        .filter(|bs| bs.iter().all(|b| registry::find(b).is_some()));
    let backends = match (args.backends.is_empty(), from_header) {
        (true, Some(bs)) => bs,
        _ => match backend_names(&args.backends) {
            Ok(b) => b,
            Err(code) => return code,
        },
    };
    let (timeouts, budget, exe) =
        match worker_settings(&args.timeouts, args.minimize_runs, args.minimize_seconds) {
            Ok(settings) => settings,
            Err(code) => return code,
        };
    // A hand-written file comes from no seed: it is its own origin (its jobs say seed 0,
    // program 0, which only names them on the wire).
    let origin = header
        .origin()
        .unwrap_or_else(|| Origin::File(file.display().to_string()));
    let (seed, index, profile) = match origin {
        Origin::Seeded {
            seed,
            index,
            profile,
        } => (seed, index, profile),
        Origin::File(_) => (0, 0, Profile::Default),
    };
    let job = Job {
        mode: Mode::Check,
        backends: backends.clone(),
        seed,
        index,
        profile,
        text: Some(print(&program)),
    };
    let mut worker = Worker::new(&exe);
    let failed = |e: std::io::Error| {
        errln!("switchyard minimize: cannot run a worker: {e}");
        OUTPUT_ERROR
    };
    let reproducer = match worker.run(&job, timeouts) {
        Err(e) => return failed(e),
        Ok(Outcome::Done(failures)) => match failures.into_iter().next() {
            Some(f) => isolate::reproducer_for(&job, f),
            None => {
                errln!(
                    "{name}: does not fail: every backend ({}) agrees with the {} oracle",
                    backends.join(", "),
                    registry::ORACLE
                );
                return INVALID;
            }
        },
        Ok(Outcome::Cancelled) => unreachable!("this worker has no cancel flag"),
        Ok(Outcome::Crashed { kind, backend, .. }) => {
            match isolate::isolate(&worker, &job, backend.as_deref(), timeouts)
                .map(|r| r.into_iter().next())
            {
                Err(e) => return failed(e),
                Ok(Some(r)) => r,
                Ok(None) => {
                    errln!("{name}: crashed once ({kind}) but not again: nothing to minimize");
                    return INVALID;
                }
            }
        }
    };
    errln!(
        "{name}: fails on {}: {}: {}; minimizing",
        reproducer.failure.backend,
        reproducer.failure.kind,
        reproducer.failure.detail
    );
    let found =
        match minimize::minimize_in_worker(&mut worker, &reproducer, &program, &budget, timeouts) {
            Err(e) => return failed(e),
            Ok(None) => {
                errln!("{name}: does not fail that way again: nothing to minimize");
                return INVALID;
            }
            Ok(Some(m)) => m,
        };
    let provenance = Provenance {
        origin,
        found_by: header
            .found_by
            .unwrap_or_else(|| format!("{} minimize {name}", findings::command())),
        minimized: findings::minimized_note(&found.minimized),
    };
    let text = print(&found.minimized.program);
    let target = args.out.as_deref().unwrap_or(file);
    let contents = findings::render(target, &found.failure, &provenance, &text);
    drop(worker);
    if let Some(out) = &args.out {
        if let Err(e) = findings::write_atomically(out, contents.as_bytes()) {
            errln!("switchyard minimize: cannot write {}: {e}", shown(out));
            return OUTPUT_ERROR;
        }
    }
    out!("{contents}");
    errln!("{name}: {}", provenance.minimized);
    AGREED
}
