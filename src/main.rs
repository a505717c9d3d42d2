//! The `switchyard` command: run greenlet programs on every backend and compare their traces,
//! list backends, generate programs, cross-check the oracle against real greenlet, run
//! differential fuzzing campaigns, minimize failing programs, and show the generator's
//! distribution.

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use switchyard::campaign::{self, Job, Limit, Mode, Outcome, Provenance, Worker};
use switchyard::check::crosscheck::{self, GreenletRunner};
use switchyard::check::registry::{self, Backend};
use switchyard::gen;
use switchyard::gen::Profile;
use switchyard::lang::ast::Program;
use switchyard::lang::parse::parse;
use switchyard::lang::print::print;
use switchyard::lang::trace::diff;
use switchyard::minimize::Budget;

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
    long_about = "switchyard runs programs in a small greenlet language (see docs/language.md) \
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
        /// Generator settings.
        #[arg(long, value_enum, default_value_t = ProfileArg::Default)]
        profile: ProfileArg,
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
    /// Differential fuzzing campaign: seeded random programs on the chosen backends, each
    /// trace compared with the thread oracle's, every program run in a worker process so that
    /// a backend crash (signal, abort, stack overflow, hang) is a finding, not the end.
    ///
    /// Each finding is minimized and written to DIR as BACKEND-KIND-HASH.gp (atomically; a
    /// finding already there is not written again). Progress goes to stderr; a summary line
    /// ends the run. Exit status: 0 when nothing was found, 1 when anything was, 2 on bad
    /// arguments.
    Fuzz {
        /// Backend to compare with the oracle (repeatable). Default: every registered backend
        /// except the oracle (which always runs) and the `mutant-*` / `crash-*` ones.
        #[arg(long = "backend", short = 'b', value_name = "NAME")]
        backends: Vec<String>,
        /// Run for this many seconds (default: 60 unless --programs is given).
        #[arg(long, value_name = "N", conflicts_with = "programs")]
        seconds: Option<f64>,
        /// Run programs 0 .. N of the seed, then stop.
        #[arg(long, value_name = "N")]
        programs: Option<u64>,
        /// Seed of the generator. Default: random (printed at the start, to replay the run).
        #[arg(long, value_name = "S")]
        seed: Option<u64>,
        /// Worker processes. Default: the number of cores.
        #[arg(long, value_name = "J")]
        jobs: Option<usize>,
        /// Where finding files go.
        #[arg(long, value_name = "DIR", default_value = "corpus/findings")]
        out: PathBuf,
        /// A worker that takes longer than this on one program is killed (a `timeout`
        /// finding).
        #[arg(long, value_name = "T", default_value_t = 10_000)]
        timeout_ms: u64,
        /// Generator settings.
        #[arg(long, value_enum, default_value_t = ProfileArg::Default)]
        profile: ProfileArg,
        /// Most test runs to minimize one finding.
        #[arg(long, value_name = "N", default_value_t = 2000)]
        minimize_runs: usize,
        /// Most seconds to minimize one finding.
        #[arg(long, value_name = "S", default_value_t = 60.0)]
        minimize_seconds: f64,
        /// Most findings minimized (and written) per backend and failure kind; later ones are
        /// only counted.
        #[arg(long, value_name = "N", default_value_t = 5)]
        max_per_kind: usize,
        /// End the campaign as soon as N findings have been written (or found already
        /// written), instead of at the time or program limit.
        #[arg(long, value_name = "N")]
        stop_after: Option<u64>,
    },
    /// Minimize a failing program: find how it fails (the first failing backend, in a worker
    /// process), then delta-debug it keeping that failure, and print the smallest program
    /// found with a header saying the failure. Exit status: 0 when minimized, 2 when the
    /// program does not fail (or on bad arguments).
    Minimize {
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
        /// A run that takes longer than this is killed (a `timeout` failure).
        #[arg(long, value_name = "T", default_value_t = 10_000)]
        timeout_ms: u64,
        /// Most test runs.
        #[arg(long, value_name = "N", default_value_t = 2000)]
        minimize_runs: usize,
        /// Most seconds.
        #[arg(long, value_name = "S", default_value_t = 60.0)]
        minimize_seconds: f64,
    },
    /// Show what the generator tests: statement kinds, trace lengths, greenlets suspended at
    /// once, recursion depth at switches, switch targets, fuel exhaustion and teardown, measured
    /// by running seeded programs on the thread oracle.
    Stats {
        /// Seed of the generator.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// How many programs.
        #[arg(long, default_value_t = 1000)]
        programs: u64,
        /// Generator settings.
        #[arg(long, value_enum, default_value_t = ProfileArg::Default)]
        profile: ProfileArg,
        /// Threads. Default: the number of cores.
        #[arg(long, value_name = "J")]
        jobs: Option<usize>,
    },
    /// Convert a cargo-fuzz input (a crash artifact or a corpus entry) to a readable .gp
    /// program, decoded exactly as the fuzz targets decode it.
    Artifact {
        /// The fuzz input file (e.g. fuzz/artifacts/differential/crash-...).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Internal: a campaign worker process (reads jobs on stdin, answers on stdout).
    #[command(name = "__worker", hide = true)]
    Worker,
}

/// Generator settings on the command line.
#[derive(Clone, Copy, ValueEnum)]
enum ProfileArg {
    Default,
    Deep,
}

impl From<ProfileArg> for Profile {
    fn from(p: ProfileArg) -> Profile {
        match p {
            ProfileArg::Default => Profile::Default,
            ProfileArg::Deep => Profile::Deep,
        }
    }
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
            profile,
        } => generate(seed, start, count, out, profile.into()),
        Command::Crosscheck {
            seed,
            programs,
            start,
            python,
            runner,
            files,
        } => cross_check(seed, start, programs, python, runner, &files),
        Command::Fuzz {
            backends,
            seconds,
            programs,
            seed,
            jobs,
            out,
            timeout_ms,
            profile,
            minimize_runs,
            minimize_seconds,
            max_per_kind,
            stop_after,
        } => fuzz(FuzzArgs {
            backends,
            seconds,
            programs,
            seed,
            jobs,
            out,
            timeout_ms,
            profile: profile.into(),
            minimize_runs,
            minimize_seconds,
            max_per_kind,
            stop_after,
        }),
        Command::Minimize {
            file,
            backends,
            out,
            timeout_ms,
            minimize_runs,
            minimize_seconds,
        } => minimize(
            &file,
            &backends,
            out.as_deref(),
            timeout_ms,
            minimize_runs,
            minimize_seconds,
        ),
        Command::Stats {
            seed,
            programs,
            profile,
            jobs,
        } => {
            let jobs = jobs.unwrap_or_else(cores);
            print!(
                "{}",
                switchyard::check::stats::measure(seed, programs, profile.into(), jobs).report()
            );
            AGREED
        }
        Command::Artifact { file } => match std::fs::read(&file) {
            Ok(bytes) => {
                print!(
                    "{}",
                    switchyard::gen::bytes::artifact_to_program_text(&bytes)
                );
                AGREED
            }
            Err(e) => {
                eprintln!("switchyard: cannot read {}: {e}", file.display());
                INVALID
            }
        },
        Command::Worker => campaign::worker_main(),
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

fn generate(seed: u64, start: u64, count: u64, out: Option<PathBuf>, profile: Profile) -> u8 {
    let config = profile.config();
    if let Some(dir) = &out {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("switchyard: cannot create {}: {e}", dir.display());
            return INVALID;
        }
    }
    for index in start..start + count {
        let text = print(&gen::seeded::program(seed, index, &config));
        let header = match profile {
            Profile::Default => {
                format!("# generated: switchyard gen --seed {seed} --start {index}\n")
            }
            _ => format!(
                "# generated: switchyard gen --seed {seed} --start {index} --profile {}\n",
                profile.name()
            ),
        };
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
        &gen::GenConfig::default(),
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

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn bad_argument(message: &str) -> u8 {
    eprintln!("switchyard: {message}");
    INVALID
}

/// Names of the chosen backends, checked; default: the campaign's default backends.
fn backend_names(names: &[String]) -> Result<Vec<String>, u8> {
    if names.is_empty() {
        return Ok(campaign::default_backends()
            .iter()
            .map(|b| b.name.to_string())
            .collect());
    }
    select_backends(names).map(|bs| bs.iter().map(|b| b.name.to_string()).collect())
}

struct FuzzArgs {
    backends: Vec<String>,
    seconds: Option<f64>,
    programs: Option<u64>,
    seed: Option<u64>,
    jobs: Option<usize>,
    out: PathBuf,
    timeout_ms: u64,
    profile: Profile,
    minimize_runs: usize,
    minimize_seconds: f64,
    max_per_kind: usize,
    stop_after: Option<u64>,
}

fn budget(runs: usize, seconds: f64) -> Result<Budget, u8> {
    if !(seconds.is_finite() && seconds >= 0.0) {
        return Err(bad_argument(
            "--minimize-seconds must be a number of seconds",
        ));
    }
    Ok(Budget {
        max_runs: runs,
        max_time: Duration::from_secs_f64(seconds),
    })
}

fn fuzz(args: FuzzArgs) -> u8 {
    let backends = match backend_names(&args.backends) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let limit = match (args.seconds, args.programs) {
        (Some(s), _) if !(s.is_finite() && s > 0.0) => {
            return bad_argument("--seconds must be a positive number")
        }
        (Some(s), _) => Limit::Seconds(s),
        (None, Some(n)) => Limit::Programs(n),
        (None, None) => Limit::Seconds(60.0),
    };
    let jobs = args.jobs.unwrap_or_else(cores);
    if jobs == 0 {
        return bad_argument("--jobs must be at least 1");
    }
    if args.timeout_ms == 0 {
        return bad_argument("--timeout-ms must be at least 1");
    }
    let minimize = match budget(args.minimize_runs, args.minimize_seconds) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return bad_argument(&format!("cannot find my own executable: {e}")),
    };
    let seed = args.seed.unwrap_or_else(random_seed);
    let backend_flags: String = backends.iter().map(|b| format!(" --backend {b}")).collect();
    let replay = format!(
        "switchyard fuzz --seed {seed} --profile {}{backend_flags}",
        args.profile.name()
    );
    eprintln!(
        "switchyard fuzz: seed {seed}, profile {}, backends {} (against the {} oracle), {jobs} workers, findings in {} (replay: {replay})",
        args.profile.name(),
        backends.join(", "),
        registry::ORACLE,
        args.out.display(),
    );
    let options = campaign::Options {
        backends,
        limit,
        seed,
        jobs,
        out: args.out,
        timeout: Duration::from_millis(args.timeout_ms),
        profile: args.profile,
        exe,
        minimize,
        max_per_kind: args.max_per_kind,
        command_line: replay,
        stop_after: args.stop_after,
    };
    let summary = match campaign::run(&options) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("switchyard fuzz: {e}");
            return INVALID;
        }
    };
    let mut extra = String::new();
    if summary.duplicates > 0 {
        extra.push_str(&format!(", {} duplicates not written", summary.duplicates));
    }
    if summary.over_cap > 0 {
        extra.push_str(&format!(
            ", {} not minimized (over --max-per-kind)",
            summary.over_cap
        ));
    }
    if summary.unreproduced > 0 {
        extra.push_str(&format!(
            ", {} crashes did not happen again",
            summary.unreproduced
        ));
    }
    if summary.not_reproduced > 0 {
        extra.push_str(&format!(
            ", {} findings written unminimized (did not fail again)",
            summary.not_reproduced
        ));
    }
    eprintln!(
        "switchyard fuzz: {} programs in {:.1} s ({:.1} programs/s), {} divergences, {} fatal, {} crashes, {} findings written{extra}; seed {seed}",
        summary.programs,
        summary.elapsed.as_secs_f64(),
        summary.rate(),
        summary.divergences,
        summary.fatal,
        summary.crashes,
        summary.written,
    );
    if summary.found_anything() {
        DIVERGED
    } else {
        AGREED
    }
}

fn random_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    campaign::fnv1a(
        &[
            nanos.to_le_bytes(),
            u64::from(std::process::id()).to_le_bytes(),
        ]
        .concat(),
    )
}

/// A `# NAME: value` header line of a finding file.
fn header_value(source: &str, name: &str) -> Option<String> {
    source
        .lines()
        .find_map(|l| l.strip_prefix(&format!("# {name}: ")))
        .map(|v| v.trim().to_string())
}

fn minimize(
    file: &Path,
    backend_args: &[String],
    out: Option<&Path>,
    timeout_ms: u64,
    minimize_runs: usize,
    minimize_seconds: f64,
) -> u8 {
    let name = file.display().to_string();
    let (_, program) = match parse_files(&[file.to_path_buf()]) {
        Ok(mut p) => p.remove(0),
        Err(code) => return code,
    };
    let source = String::from_utf8_lossy(&std::fs::read(file).unwrap_or_default()).into_owned();
    let from_header = header_value(&source, "backend")
        .map(|b| b.split('+').map(str::to_string).collect::<Vec<_>>())
        .filter(|bs| bs.iter().all(|b| registry::find(b).is_some()));
    let backends = match (backend_args.is_empty(), from_header) {
        (true, Some(bs)) => bs,
        _ => match backend_names(backend_args) {
            Ok(b) => b,
            Err(code) => return code,
        },
    };
    if timeout_ms == 0 {
        return bad_argument("--timeout-ms must be at least 1");
    }
    let budget = match budget(minimize_runs, minimize_seconds) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return bad_argument(&format!("cannot find my own executable: {e}")),
    };
    let timeout = Duration::from_millis(timeout_ms);
    let number = |n: &str| header_value(&source, n).and_then(|v| v.parse::<u64>().ok());
    let profile = header_value(&source, "profile")
        .and_then(|p| Profile::from_name(&p))
        .unwrap_or(Profile::Default);
    let job = Job {
        mode: Mode::Check,
        backends: backends.clone(),
        seed: number("seed").unwrap_or(0),
        index: number("program").unwrap_or(0),
        profile,
        text: Some(print(&program)),
    };
    let mut worker = Worker::new(&exe);
    let failed = |e: std::io::Error| {
        eprintln!("switchyard minimize: cannot run a worker: {e}");
        INVALID
    };
    let reproducer = match worker.run(&job, timeout) {
        Err(e) => return failed(e),
        Ok(Outcome::Done(failures)) => match failures.into_iter().next() {
            Some(f) => campaign::reproducer_for(&job, f),
            None => {
                eprintln!(
                    "{name}: does not fail: every backend ({}) agrees with the {} oracle",
                    backends.join(", "),
                    registry::ORACLE
                );
                return INVALID;
            }
        },
        Ok(Outcome::Crashed { kind, .. }) => {
            match campaign::isolate(&exe, &job, timeout).map(|r| r.into_iter().next()) {
                Err(e) => return failed(e),
                Ok(Some(r)) => r,
                Ok(None) => {
                    eprintln!("{name}: crashed once ({kind}) but not again: nothing to minimize");
                    return INVALID;
                }
            }
        }
    };
    eprintln!(
        "{name}: fails on {}: {}: {}; minimizing",
        reproducer.failure.backend, reproducer.failure.kind, reproducer.failure.detail
    );
    let minimized =
        match campaign::minimize_in_worker(&mut worker, &reproducer, &program, &budget, timeout) {
            Err(e) => return failed(e),
            Ok(None) => {
                eprintln!("{name}: does not fail that way again: nothing to minimize");
                return INVALID;
            }
            Ok(Some(m)) => m,
        };
    let provenance = Provenance {
        seed: job.seed,
        index: job.index,
        profile,
        found_by: header_value(&source, "found by")
            .unwrap_or_else(|| format!("switchyard minimize {name}")),
        minimized: format!(
            "minimized from {} to {} statements in {} runs{}",
            minimized.statements_before,
            minimized.statements_after,
            minimized.runs,
            if minimized.exhausted {
                " (budget spent)"
            } else {
                ""
            }
        ),
    };
    let text = print(&minimized.program);
    let target = out.unwrap_or(file);
    let contents = campaign::finding_file(target, &reproducer.failure, &provenance, &text);
    print!("{contents}");
    if let Some(out) = out {
        if let Err(e) = campaign::write_atomically(out, contents.as_bytes()) {
            eprintln!("switchyard minimize: cannot write {}: {e}", out.display());
            return INVALID;
        }
    }
    eprintln!("{name}: {}", provenance.minimized);
    AGREED
}
