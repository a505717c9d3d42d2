//! `switchyard stats`: what the generator really tests, measured on the oracle.

use super::{cores, ProfileArg, AGREED};

#[derive(clap::Args)]
pub struct Args {
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
}

pub fn run(args: &Args) -> u8 {
    let jobs = args.jobs.unwrap_or_else(cores);
    let stats = crate::check::stats::measure(args.seed, args.programs, args.profile.into(), jobs);
    out!("{}", stats.report());
    AGREED
}
