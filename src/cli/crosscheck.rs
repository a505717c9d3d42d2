//! `switchyard crosscheck`: the oracle against real CPython greenlet, on seeded programs and
//! program files; the first program on which they differ is minimized (the kind of
//! difference kept) and shown with both traces.

use super::{bad_argument, parse_files, AGREED, DIVERGED, INVALID};
use crate::check::crosscheck::{self, GreenletRunner};
use crate::gen::GenConfig;
use crate::lang::ast::Program;
use crate::lang::print::print;
use crate::minimize::{program_size, Budget};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;

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
            errln!("switchyard: cannot start the greenlet runner: {e}");
            return INVALID;
        }
    };
    let mut status = AGREED;
    // The first program on which they differ, minimized at the end.
    let mut first_file: Option<(String, Program)> = None;
    for (name, program) in &parsed {
        match crosscheck::check_program(&mut runner, program) {
            Ok(None) => errln!("{name}: oracle agrees with greenlet"),
            Ok(Some((problem, _, _))) => {
                errln!("{name}: oracle differs from greenlet: {problem}");
                first_file.get_or_insert_with(|| (name.clone(), program.clone()));
                status = DIVERGED;
            }
            Err(e) => {
                errln!("{name}: greenlet runner failed: {e}");
                return DIVERGED;
            }
        }
    }
    if programs == 0 {
        if let Some((name, program)) = first_file {
            minimize_and_show(&mut runner, &name, &program);
        }
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
            errln!("switchyard: greenlet runner failed: {e}");
            return DIVERGED;
        }
    };
    errln!(
        "checked {} programs of seed {seed}: {} mismatches",
        report.checked,
        report.mismatches.len()
    );
    if !report.mismatches.is_empty() {
        status = DIVERGED;
    }
    if let Some((name, program)) = first_file {
        minimize_and_show(&mut runner, &name, &program);
    } else if let Some(first) = report.mismatches.first() {
        let name = format!("program {} of seed {seed}", first.index);
        minimize_and_show(&mut runner, &name, &first.program);
    }
    status
}

/// Minimizes a program on which the oracle and greenlet differ (keeping the kind of
/// difference) and prints the minimized program with both traces.
fn minimize_and_show(runner: &mut GreenletRunner, name: &str, program: &Program) {
    errln!(
        "first mismatch: {name} ({} statements); minimizing it, keeping the difference",
        program_size(program)
    );
    let (shown, note) = match crosscheck::minimize_mismatch(runner, program, &Budget::default()) {
        Ok(m) => {
            let note = format!(
                "minimized from {} to {} statements in {} runs{}",
                m.statements_before,
                m.statements_after,
                m.runs,
                if m.exhausted { " (budget spent)" } else { "" }
            );
            (m.program, note)
        }
        Err(e) => (
            program.clone(),
            format!("not minimized: the greenlet runner failed: {e}"),
        ),
    };
    errln!("{note}:\n{}", print(&shown));
    match crosscheck::check_program(runner, &shown) {
        Ok(Some((problem, greenlet, oracle))) => {
            errln!("difference: {problem}");
            errln!("greenlet's trace:\n{greenlet}");
            match oracle {
                Some(t) => errln!("oracle's trace:\n{t}"),
                None => errln!("oracle: no trace (a fatal finding)"),
            }
        }
        Ok(None) => errln!("(a replay of it now agrees: the difference is not stable)"),
        Err(e) => errln!("greenlet runner failed on it: {e}"),
    }
}
