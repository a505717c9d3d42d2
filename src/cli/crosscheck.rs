//! `switchyard crosscheck`: the oracle against real CPython greenlet, on seeded programs and
//! program files.

use super::{bad_argument, parse_files, AGREED, DIVERGED, INVALID};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use switchyard::check::crosscheck::{self, GreenletRunner};
use switchyard::gen::GenConfig;
use switchyard::lang::print::print;

#[derive(clap::Args)]
pub struct Args {
    /// Seed of the generator.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// How many programs.
    #[arg(long, default_value_t = 1000)]
    programs: u64,
    /// Index of the first program (to replay one: --start I --programs 1).
    #[arg(long, default_value_t = 0)]
    start: u64,
    /// Python with greenlet installed. Default: the project's venv (made by ci/venv.sh).
    #[arg(long, value_name = "PATH")]
    python: Option<PathBuf>,
    /// The runner script. Default: tools/greenlet_runner.py of this repository.
    #[arg(long, value_name = "PATH")]
    runner: Option<PathBuf>,
    /// Also run these program files through both (for corpus checks).
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
}

pub fn run(args: &Args) -> u8 {
    let (seed, start, programs) = (args.seed, args.start, args.programs);
    if start.checked_add(programs).is_none() {
        return bad_argument(&format!(
            "--start {start} --programs {programs} goes past the last program index, {}",
            u64::MAX
        ));
    }
    let parsed = match parse_files(&args.files) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let python = args
        .python
        .clone()
        .unwrap_or_else(crosscheck::default_python);
    let runner_path = args
        .runner
        .clone()
        .unwrap_or_else(crosscheck::default_runner);
    let mut runner = match GreenletRunner::start(&python, &runner_path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("switchyard: cannot start the greenlet runner: {e}");
            return INVALID;
        }
    };
    let mut status = AGREED;
    for (name, program) in &parsed {
        match crosscheck::check_program(&mut runner, program) {
            Ok(None) => eprintln!("{name}: oracle agrees with greenlet"),
            Ok(Some((problem, _, _))) => {
                eprintln!("{name}: oracle differs from greenlet: {problem}");
                status = DIVERGED;
            }
            Err(e) => {
                eprintln!("{name}: greenlet runner failed: {e}");
                return DIVERGED;
            }
        }
    }
    if programs == 0 {
        return status;
    }
    let bar = ProgressBar::new(programs).with_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} programs, {per_sec}, {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let report = crosscheck::crosscheck(
        &mut runner,
        seed,
        start,
        programs,
        &GenConfig::default(),
        |done, bad| {
            bar.set_position(done);
            bar.set_message(format!("{bad} mismatches"));
        },
    );
    bar.finish();
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("switchyard: greenlet runner failed: {e}");
            return DIVERGED;
        }
    };
    eprintln!(
        "checked {} programs of seed {seed}: {} mismatches",
        report.checked,
        report.mismatches.len()
    );
    if let Some(first) = report.mismatches.first() {
        eprintln!(
            "first mismatch: program {} of seed {seed} ({}):\n{}",
            first.index,
            first.problem,
            print(&first.program)
        );
        eprintln!("greenlet's trace:\n{}", first.greenlet);
        if let Some(t) = &first.oracle {
            eprintln!("oracle's trace:\n{t}");
        }
        status = DIVERGED;
    }
    status
}
