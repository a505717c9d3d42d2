//! The `switchyard` command: run greenlet programs on every backend and compare their traces,
//! list backends, generate programs, and cross-check the oracle against real greenlet.

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::process::ExitCode;
use switchyard::ast::Program;
use switchyard::crosscheck::{self, GreenletRunner};
use switchyard::gen::{self, GenConfig};
use switchyard::parse::parse;
use switchyard::print::print;
use switchyard::registry::{self, Backend};
use switchyard::trace::diff;

/// Exit status: everything agreed.
const AGREED: u8 = 0;
/// Exit status: a backend diverged, crashed or corrupted its stack.
const DIVERGED: u8 = 1;
/// Exit status: invalid input (a malformed program, an unknown backend, a missing tool).
const INVALID: u8 = 2;

#[derive(Parser)]
#[command(
    name = "switchyard",
    version,
    about = "Differential testing and benchmarking of greenlet stack-switching backends",
    long_about = "switchyard runs programs in a small greenlet language (see shared/program-language.md) \
on several stack-switching backends and checks that each gives the same trace as the thread \
oracle, which is itself checked against CPython's real greenlet.\n\n\
Exit status: 0 when everything agreed, 1 when a backend diverged or crashed, 2 on invalid input."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run program files on backends and compare every trace with the oracle's.
    ///
    /// Every file is parsed first; a malformed one is reported as FILE:LINE:COL: message and
    /// nothing runs (exit 2). The oracle's trace is printed on stdout (after a `== FILE` line
    /// when there are several files); each divergence is reported on stderr with the first
    /// differing line, its number, and the expected and actual lines.
    Run {
        /// Backend to run and compare with the oracle (repeatable). Default: every registered
        /// backend. See `switchyard backends`.
        #[arg(long = "backend", short = 'b', value_name = "NAME")]
        backends: Vec<String>,
        /// Program files (.gp).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// List the registered backends, one name a line (the oracle, `thread`, first).
    Backends {
        /// Also print a one-line summary of how each backend switches.
        #[arg(long, short = 'v')]
        verbose: bool,
    },
    /// Print seeded random programs (program I of seed S is always the same program).
    Gen {
        /// Seed of the generator.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// How many programs.
        #[arg(long, default_value_t = 1)]
        count: u64,
        /// Index of the first program.
        #[arg(long, default_value_t = 0)]
        start: u64,
        /// Write each program to DIR/seed-S-I.gp instead of printing them.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Run seeded random programs through real CPython greenlet and the thread oracle; fail
    /// (exit 1) on any difference, printing the first differing program.
    Crosscheck {
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
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    ExitCode::from(match cli.command {
        Command::Run { backends, files } => run(&backends, &files),
        Command::Backends { verbose } => {
            for b in registry::BACKENDS {
                if verbose {
                    println!("{:<12} {}", b.name, b.summary);
                } else {
                    println!("{}", b.name);
                }
            }
            AGREED
        }
        Command::Gen {
            seed,
            count,
            start,
            out,
        } => generate(seed, start, count, out),
        Command::Crosscheck {
            seed,
            programs,
            start,
            python,
            runner,
            files,
        } => cross_check(seed, start, programs, python, runner, &files),
    })
}

/// Parses every file, reporting every malformed one.
fn parse_files(files: &[PathBuf]) -> Result<Vec<(String, Program)>, u8> {
    let mut parsed = Vec::new();
    let mut bad = false;
    for file in files {
        let name = file.display().to_string();
        match std::fs::read(file) {
            Ok(bytes) => match parse(&name, &bytes) {
                Ok(p) => parsed.push((name, p)),
                Err(e) => {
                    eprintln!("{e}");
                    bad = true;
                }
            },
            Err(e) => {
                eprintln!("{name}: cannot read: {e}");
                bad = true;
            }
        }
    }
    if bad {
        Err(INVALID)
    } else {
        Ok(parsed)
    }
}

fn select_backends(names: &[String]) -> Result<Vec<&'static Backend>, u8> {
    if names.is_empty() {
        return Ok(registry::real().collect());
    }
    let mut chosen = Vec::new();
    for name in names {
        match registry::find(name) {
            Some(b) => chosen.push(b),
            None => {
                eprintln!(
                    "switchyard: unknown backend '{name}' (registered: {})",
                    registry::names()
                );
                return Err(INVALID);
            }
        }
    }
    Ok(chosen)
}

fn run(backend_names: &[String], files: &[PathBuf]) -> u8 {
    let backends = match select_backends(backend_names) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let programs = match parse_files(files) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let mut status = AGREED;
    for (name, program) in &programs {
        if programs.len() > 1 {
            println!("== {name}");
        }
        let expected = match registry::oracle().run(program) {
            Ok(t) => t,
            Err(fatal) => {
                eprintln!("{name}: oracle: {fatal}");
                status = DIVERGED;
                continue;
            }
        };
        print!("{expected}");
        for backend in backends.iter().filter(|b| b.name != registry::ORACLE) {
            match backend.run(program) {
                Ok(actual) => {
                    if let Some(d) = diff(&expected, &actual) {
                        eprintln!(
                            "{name}: backend {} diverges from {}: {d}",
                            backend.name,
                            registry::ORACLE
                        );
                        status = DIVERGED;
                    }
                }
                Err(fatal) => {
                    eprintln!("{name}: {fatal}");
                    status = DIVERGED;
                }
            }
        }
    }
    status
}

fn generate(seed: u64, start: u64, count: u64, out: Option<PathBuf>) -> u8 {
    let config = GenConfig::default();
    if let Some(dir) = &out {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("switchyard: cannot create {}: {e}", dir.display());
            return INVALID;
        }
    }
    for index in start..start + count {
        let text = print(&gen::program(seed, index, &config));
        let header = format!("# generated: switchyard gen --seed {seed} --start {index}\n");
        match &out {
            Some(dir) => {
                let path = dir.join(format!("seed-{seed}-{index}.gp"));
                if let Err(e) = std::fs::write(&path, format!("{header}{text}")) {
                    eprintln!("switchyard: cannot write {}: {e}", path.display());
                    return INVALID;
                }
            }
            None => println!("{header}{text}"),
        }
    }
    AGREED
}

fn cross_check(
    seed: u64,
    start: u64,
    programs: u64,
    python: Option<PathBuf>,
    runner: Option<PathBuf>,
    files: &[PathBuf],
) -> u8 {
    let parsed = match parse_files(files) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let python = python.unwrap_or_else(crosscheck::default_python);
    let runner_path = runner.unwrap_or_else(crosscheck::default_runner);
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
