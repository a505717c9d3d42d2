//! The `switchyard` command line ([`main_with`]; `src/main.rs` is `main_with(vec![])`, and a
//! crate with backends of its own builds the same command over them): one module per subcommand, each owning its
//! `#[derive(clap::Args)]` struct (every flag stated once, with its help text) and its `run`
//! function; this module holds the subcommand list, the exit statuses and the helpers several
//! subcommands share.
//!
//! Contract: argument parsing, messages and exit statuses only; the work is done by the
//! library (`switchyard::check`, `switchyard::campaign`, `switchyard::gen`, ...). Standard
//! output is written only through `out!` / `outln!` and standard error only through `errln!`
//! ([`output`]); file names in messages go through [`shown`] (control characters escaped).

/// `print!` that never panics: see [`output::print`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::print(format_args!($($arg)*))
    };
}

/// `println!` that never panics: see [`output::print`].
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::output::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` that never panics: see [`output::error`].
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::output::error(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod artifact;
mod backends;
mod bench;
mod crosscheck;
mod fuzz;
mod gen;
mod minimize;
mod output;
mod run;
mod stats;

use crate::campaign::Timeouts;
use crate::check::registry::{self, Backend};
use crate::gen::Profile;
use crate::lang::ast::Program;
use crate::lang::parse::parse;
use crate::minimize::Budget;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Exit status: everything agreed.
const AGREED: u8 = 0;
/// Exit status: a backend diverged, crashed or corrupted its stack.
const DIVERGED: u8 = 1;
/// Exit status: invalid input (a malformed program, an unknown backend, a missing tool).
const INVALID: u8 = 2;
/// Exit status: output could not be written (stdout, `--out`, a finding file), or a worker
/// process could not be started.
const OUTPUT_ERROR: u8 = 3;

/// The exit statuses, in every command's `--help` (and in the README).
const EXIT_STATUS: &str = "\
Exit status (the same for every command):
  0        success: everything agreed, nothing found
  1        a backend diverged, crashed or corrupted its stack (run, crosscheck, fuzz)
  2        invalid input: bad arguments, a malformed or unreadable program, an unknown
           backend, a missing tool; minimize: the program does not fail
  3        output error: stdout, --out or a finding file could not be written (a full disk,
           a read-only directory, ...; the message names the file), or a worker process
           could not be started; fuzz then lists where every finding so far is
  129 130 143  fuzz stopped by SIGHUP, SIGINT or SIGTERM: no more programs, workers killed,
           findings not yet minimized kept as written (*-unminimized.gp), summary printed
           (a second signal ends it at once); other commands just die by the signal
  141      stdout was closed (a broken pipe, e.g. `| head`): the command stops quietly";

#[derive(Parser)]
#[command(
    name = "switchyard",
    version,
    after_help = EXIT_STATUS,
    about = "Differential testing and benchmarking of greenlet stack-switching backends",
    long_about = "switchyard runs programs in a small greenlet language (see docs/language.md) \
on several stack-switching backends and checks that each gives the same trace as the thread \
oracle, which is itself checked against CPython's real greenlet."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Also register the switching library PATH.so as a backend, `lib:NAME` (NAME: the file
    /// name without `lib` and extensions): a shared library exporting the C interface of
    /// include/switchyard.h, run under the generic runtime and the register probe like the
    /// built-in backends. One library per process; worker processes load the same file (the
    /// environment variable SWITCHYARD_BACKEND_LIB, which does the same as this flag). A file
    /// that is not such a library is an error (exit 2).
    #[arg(long, global = true, value_name = "PATH.so")]
    backend_lib: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run program files on backends and compare every trace with the oracle's.
    ///
    /// Every file is parsed first; a malformed one is reported as FILE:LINE:COL: message and
    /// nothing runs (exit 2). The oracle's trace is printed on stdout (after a `== FILE` line
    /// when there are several files). Each other backend runs in a worker process of its own,
    /// so that a crash or a hang is reported, not suffered: every failure goes to stderr as
    /// `FILE: BACKEND: KIND: detail` (a divergence with the first differing line, its number,
    /// and the expected and actual lines; a crash as `crash-SIGSEGV` with the faulting
    /// address; a hang as `timeout`), and the exit status is 1.
    Run(run::Args),
    /// List the registered backends, one name a line (the oracle, `thread`, first).
    Backends(backends::Args),
    /// Print seeded random programs (program I of seed S is always the same program).
    Gen(gen::Args),
    /// Run seeded random programs through real CPython greenlet and the thread oracle; fail
    /// (exit 1) on any difference, minimizing the first differing program (the kind of
    /// difference kept) and printing it with both traces.
    Crosscheck(crosscheck::Args),
    /// Differential fuzzing campaign: seeded random programs on the chosen backends, each
    /// trace compared with the thread oracle's, every program run in a worker process so that
    /// a backend crash (signal, abort, stack overflow, hang) is a finding, not the end.
    ///
    /// Each finding is written to DIR the moment it is seen, as
    /// BACKEND-KIND-HASH-unminimized.gp, then minimized and written as BACKEND-KIND-HASH.gp,
    /// which replaces it (atomically and synced; a finding already there is not written
    /// again). Progress goes to stderr; a summary line ends the run. Exit status: 0 when
    /// nothing was found, 1 when anything was, 2 on bad arguments, 3 when DIR cannot be
    /// written (the campaign stops at once), 130/143/129 on SIGINT/SIGTERM/SIGHUP.
    Fuzz(fuzz::Args),
    /// Minimize a failing program: find how it fails (the first failing backend, in a worker
    /// process), then delta-debug it keeping that failure, and print the smallest program
    /// found with a header saying the failure and where the program came from (the seed and
    /// index of a finding file's header, else the file). Exit status: 0 when minimized, 2
    /// when the program does not fail (or on bad arguments), 3 when --out cannot be written.
    Minimize(minimize::Args),
    /// Show what the generator tests: statement kinds, trace lengths, greenlets suspended at
    /// once, recursion depth at switches, switch targets, fuel exhaustion and teardown, measured
    /// by running seeded programs on the thread oracle.
    Stats(stats::Args),
    /// Convert a cargo-fuzz input (a crash artifact or a corpus entry) to a readable .gp
    /// program, decoded exactly as the fuzz targets decode it.
    Artifact(artifact::Args),
    /// Measure backends through the greenlet trait beside their peers: round trip at a sweep
    /// of depths, spawn to finish, bytes copied per switch (stack-copy), memory per suspended
    /// greenlet; corosensei, raw swapcontext and raw thread ping-pong in the same run. Prints
    /// a table with issue 12's goals as ratios; --json, --svg for CI and the README. Progress
    /// goes to stderr. A default run takes about a minute, --quick a few seconds.
    Bench(bench::Args),
    /// Internal: a campaign worker process (reads jobs on stdin, answers on stdout).
    #[command(name = "__worker", hide = true)]
    Worker,
}

/// The `switchyard` command with `extra_backends` registered after the built-in ones: `fuzz`,
/// `run`, `minimize`, `stats`, `crosscheck` and `backends` take them like any built-in
/// backend, with the same flags and output. Campaign workers are this same binary
/// re-executed (`__worker`), so they come through here and register the same extras.
///
/// ```no_run
/// // src/main.rs of a crate with its own `StackSwitch` (here `MySwitch`):
/// # #[cfg(all(target_arch = "x86_64", target_os = "linux"))] {
/// # use switchyard_impls::mmap::Mmap as MySwitch;
/// use switchyard::check::registry::Backend;
///
/// fn main() -> std::process::ExitCode {
///     switchyard::cli::main_with(vec![Backend::native::<MySwitch>("my-switch", "what it does")
///         .from_crate(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))])
/// }
/// # }
/// ```
///
/// A backend that cannot be registered (a taken or malformed name, no provenance) is a
/// message and exit status 2 before anything runs.
pub fn main_with(extra_backends: Vec<Backend>) -> std::process::ExitCode {
    // Replay lines name this binary: an out-of-tree one has backends `switchyard` lacks.
    if let Some(name) = std::env::args_os()
        .next()
        .as_deref()
        .map(std::path::Path::new)
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
    {
        crate::campaign::findings::set_command(name);
    }
    for backend in extra_backends {
        let name = backend.name;
        if let Err(e) = registry::register(backend) {
            errln!("switchyard: cannot register backend {name:?}: {e}");
            return std::process::ExitCode::from(INVALID);
        }
    }
    std::process::ExitCode::from(main())
}

/// Parses the command line and runs the subcommand; returns the exit status.
fn main() -> u8 {
    // SAFETY: ignoring SIGXFSZ is a plain disposition change with no memory involved: a
    // file-size limit (RLIMIT_FSIZE) then fails the write with EFBIG, which is reported like
    // any other write error, instead of killing the process.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let command = Cli::command().mut_subcommands(|c| {
        if c.get_name() == "bench" {
            c.after_help(format!("{}\n\n{EXIT_STATUS}", bench::READING))
        } else {
            c.after_help(EXIT_STATUS)
        }
    });
    let parsed = command
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            let _ = e.print();
            return e.exit_code().try_into().unwrap_or(INVALID);
        }
        // --help, --version: stdout.
        Err(e) => {
            out!("{}", e.render());
            return AGREED;
        }
    };
    if let Err(status) = register_backend_lib(cli.backend_lib.as_deref()) {
        return status;
    }
    match cli.command {
        Command::Run(args) => run::run(&args),
        Command::Backends(args) => backends::run(&args),
        Command::Gen(args) => gen::run(&args),
        Command::Crosscheck(args) => crosscheck::run(&args),
        Command::Fuzz(args) => fuzz::run(&args),
        Command::Minimize(args) => minimize::run(&args),
        Command::Stats(args) => stats::run(&args),
        Command::Artifact(args) => artifact::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Worker => crate::campaign::serve::worker_main(),
    }
}

/// Registers the `--backend-lib` library, else the one the environment names (a worker
/// process's), as a backend (`crate::check::library`).
fn register_backend_lib(path: Option<&Path>) -> Result<(), u8> {
    use crate::check::library;
    let registered = match path {
        Some(path) => library::register(path).map(Some),
        None => library::register_from_env(),
    };
    registered.map(|_| ()).map_err(|e| bad_argument(&e))
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

/// Parses every file, reporting every malformed one.
fn parse_files(files: &[PathBuf]) -> Result<Vec<(String, Program)>, u8> {
    let mut parsed = Vec::new();
    let mut bad = false;
    for file in files {
        let name = shown(file);
        match std::fs::read(file) {
            Ok(bytes) => match parse(&name, &bytes) {
                Ok(p) => parsed.push((name, p)),
                Err(e) => {
                    errln!("{e}");
                    bad = true;
                }
            },
            Err(e) => {
                errln!("{name}: cannot read: {e}");
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

/// The backends called `names`, checked; default: every real backend.
fn select_backends(names: &[String]) -> Result<Vec<&'static Backend>, u8> {
    if names.is_empty() {
        return Ok(registry::real().collect());
    }
    let mut chosen = Vec::new();
    for name in names {
        match registry::find(name) {
            Some(b) => chosen.push(b),
            None => {
                errln!(
                    "switchyard: unknown backend '{name}' (registered: {})",
                    registry::names()
                );
                return Err(INVALID);
            }
        }
    }
    Ok(chosen)
}

/// Names of the chosen backends, checked; default: the campaign's default backends.
fn backend_names(names: &[String]) -> Result<Vec<String>, u8> {
    if names.is_empty() {
        return Ok(crate::campaign::default_backends()
            .iter()
            .map(|b| b.name.to_string())
            .collect());
    }
    if names.len() == 1 && names[0] == "all" {
        return Ok(crate::campaign::all_backends()
            .iter()
            .map(|b| b.name.to_string())
            .collect());
    }
    select_backends(names).map(|bs| bs.iter().map(|b| b.name.to_string()).collect())
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A file name as messages show it (control characters escaped, see
/// [`crate::campaign::findings::shown`]).
fn shown(path: &Path) -> String {
    crate::campaign::findings::shown(path)
}

fn bad_argument(message: &str) -> u8 {
    errln!("switchyard: {message}");
    INVALID
}

/// How long a worker may take, as `fuzz` and `minimize` take it on the command line.
#[derive(clap::Args)]
struct TimeoutArgs {
    /// The floor of a backend's deadline: a backend is killed (a `timeout` finding) when it
    /// runs longer than --timeout-factor times the oracle's time on the same program plus
    /// this. Worker start-up is never counted.
    #[arg(long, value_name = "T", default_value_t = 250)]
    timeout_ms: u64,
    /// A backend may take this many times the oracle's time on the same program (plus
    /// --timeout-ms).
    #[arg(long, value_name = "K", default_value_t = 200)]
    timeout_factor: u32,
    /// The bound on a worker's start-up and on the oracle's own run (a hang this long is the
    /// oracle's).
    #[arg(long, value_name = "T", default_value_t = 10_000)]
    oracle_timeout_ms: u64,
}

/// What `fuzz` and `minimize` need to run workers: the timeouts, the budget of
/// `--minimize-runs` and `--minimize-seconds`, and this executable (which workers run);
/// each checked in that order.
fn worker_settings(
    timeouts: &TimeoutArgs,
    minimize_runs: usize,
    minimize_seconds: f64,
) -> Result<(Timeouts, Budget, PathBuf), u8> {
    if timeouts.timeout_ms == 0 || timeouts.oracle_timeout_ms == 0 {
        return Err(bad_argument(
            "--timeout-ms and --oracle-timeout-ms must be at least 1",
        ));
    }
    if !(minimize_seconds.is_finite() && minimize_seconds >= 0.0) {
        return Err(bad_argument(
            "--minimize-seconds must be a number of seconds",
        ));
    }
    let budget = Budget {
        max_runs: minimize_runs,
        max_time: Duration::from_secs_f64(minimize_seconds),
    };
    let exe = std::env::current_exe().map_err(|e| {
        errln!("switchyard: cannot find my own executable: {e}");
        OUTPUT_ERROR
    })?;
    let timeouts = Timeouts {
        oracle: Duration::from_millis(timeouts.oracle_timeout_ms),
        factor: timeouts.timeout_factor,
        floor: Duration::from_millis(timeouts.timeout_ms),
    };
    Ok((timeouts, budget, exe))
}
