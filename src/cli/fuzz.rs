//! `switchyard fuzz`: the differential campaign ([`crate::campaign::run`]) with its
//! settings from the command line, a start line naming the replay command and a summary line;
//! `SIGINT`, `SIGTERM` and `SIGHUP` stop it cleanly ([`crate::campaign::interrupt`]).
//! When it stops early, it lists where every finding is before the summary line.

use super::{
    backend_names, bad_argument, cores, shown, worker_settings, ProfileArg, AGREED, DIVERGED,
    OUTPUT_ERROR,
};
use crate::campaign::{self, findings, interrupt, Limit, Located, Origin, Place, Stop};
use crate::check::registry;
use crate::gen::Profile;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Backend to compare with the oracle (repeatable). Default: every registered backend
    /// except the oracle (which always runs), the `mutant-*` / `crash-*` ones and the adapters
    /// over other crates (`corosensei`, `fcontext`: name them, or `--backend all` for every
    /// real backend).
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
    #[command(flatten)]
    timeouts: super::TimeoutArgs,
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
}

pub fn run(args: &Args) -> u8 {
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
    let (timeouts, minimize, exe) =
        match worker_settings(&args.timeouts, args.minimize_runs, args.minimize_seconds) {
            Ok(settings) => settings,
            Err(code) => return code,
        };
    let profile = Profile::from(args.profile);
    let seed = args.seed.unwrap_or_else(random_seed);
    let backend_flags: String = backends
        .iter()
        .map(|b| {
            let lib = crate::campaign::findings::backend_lib_flag(b);
            format!(" {lib}--backend {b}")
        })
        .collect();
    let replay = format!(
        "{} fuzz --seed {seed} --profile {}{backend_flags}",
        crate::campaign::findings::command(),
        profile.name()
    );
    errln!(
        "switchyard fuzz: seed {seed}, profile {}, backends {} (against the {} oracle), {jobs} workers, findings in {} (replay: {replay})",
        profile.name(),
        backends.join(", "),
        registry::ORACLE,
        shown(&args.out),
    );
    if let Err(e) = interrupt::install() {
        errln!("switchyard fuzz: cannot catch signals: {e}");
        return OUTPUT_ERROR;
    }
    let options = campaign::Options {
        backends,
        limit,
        seed,
        jobs,
        out: args.out.clone(),
        timeouts,
        profile,
        exe,
        minimize,
        max_per_kind: args.max_per_kind,
        command_line: replay,
        stop_after: args.stop_after,
    };
    let summary = match campaign::run(&options) {
        Ok(s) => s,
        Err(Stop::Write(e)) => {
            errln!("switchyard fuzz: --out: {e}");
            return OUTPUT_ERROR;
        }
        Err(e) => {
            errln!("switchyard fuzz: {e}");
            return stop_status(&e);
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
    if summary.unminimized > 0 {
        extra.push_str(&format!(
            ", {} findings left unminimized (the campaign stopped first)",
            summary.unminimized
        ));
    }
    if let Some(stop) = &summary.stopped {
        errln!("switchyard fuzz: stopped early: {stop}");
        print_findings(&summary.findings, &args.out);
        extra.push_str(&format!("; {}", stop_summary(stop)));
    }
    errln!(
        "switchyard fuzz: {} programs in {:.1} s ({:.1} programs/s), {} divergences, {} fatal, {} crashes, {} findings written{extra}; seed {seed}",
        summary.programs,
        summary.elapsed.as_secs_f64(),
        summary.rate(),
        summary.divergences,
        summary.fatal,
        summary.crashes,
        summary.written,
    );
    match &summary.stopped {
        Some(stop) => stop_status(stop),
        None if summary.found_anything() => DIVERGED,
        None => AGREED,
    }
}

/// The exit status of a campaign stopped early.
fn stop_status(stop: &Stop) -> u8 {
    match stop {
        Stop::Signal(s) => u8::try_from(128 + s).unwrap_or(OUTPUT_ERROR),
        Stop::Write(_) | Stop::Worker(_) => OUTPUT_ERROR,
    }
}

/// How the summary line ends for a campaign stopped early.
fn stop_summary(stop: &Stop) -> String {
    match stop {
        Stop::Signal(s) => format!("interrupted by {}", interrupt::name(*s)),
        Stop::Write(e) => format!("stopped: cannot write {}", shown(&e.path)),
        Stop::Worker(_) => "stopped: a worker could not be started".to_string(),
    }
}

/// Where every finding is, one a line on stderr.
fn print_findings(located: &[Located], out: &std::path::Path) {
    let listed: Vec<&Located> = located
        .iter()
        .filter(|l| l.place != Place::Superseded)
        .collect();
    if listed.is_empty() {
        errln!("switchyard fuzz: no findings so far");
        return;
    }
    errln!("switchyard fuzz: findings so far ({}):", listed.len());
    for l in listed {
        let from = match &l.origin {
            Origin::Seeded {
                seed,
                index,
                profile,
            } => format!(
                "program {index} of seed {seed}: switchyard gen --seed {seed} --start {index} --profile {}",
                profile.name()
            ),
            Origin::File(file) => format!("the file {}", shown(std::path::Path::new(file))),
        };
        let place = match &l.place {
            Place::Minimized(path) => format!("{} (minimized)", shown(path)),
            Place::Unminimized(path) => format!("{} (not minimized)", shown(path)),
            Place::Duplicate => format!("already in {} (minimized)", shown(out)),
            Place::NotWritten => "NOT WRITTEN".to_string(),
            Place::Superseded => continue,
        };
        errln!("  {place}: {} from {from}", l.what);
    }
}

fn random_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    findings::fnv1a(
        &[
            nanos.to_le_bytes(),
            u64::from(std::process::id()).to_le_bytes(),
        ]
        .concat(),
    )
}
