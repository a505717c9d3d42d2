//! `switchyard gen`: seeded programs, printed or written to files.

use super::{bad_argument, shown, ProfileArg, AGREED, OUTPUT_ERROR};
use crate::gen::{seeded, Profile};
use crate::lang::print::print;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Seed of the generator.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// How many programs (the last, --start + --count - 1, must be at most 2^64 - 1).
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
}

pub fn run(args: &Args) -> u8 {
    let (seed, profile) = (args.seed, Profile::from(args.profile));
    let config = profile.config();
    // Indices are u64: the last program is 2^64 - 1; a range past it would wrap to nothing.
    let last = match args.count {
        0 => None,
        n => args.start.checked_add(n - 1),
    };
    if args.count > 0 && last.is_none() {
        return bad_argument(&format!(
            "--start {} --count {} goes past the last program index, {}",
            args.start,
            args.count,
            u64::MAX
        ));
    }
    if let Some(dir) = &args.out {
        if let Err(e) = std::fs::create_dir_all(dir) {
            errln!("switchyard: cannot create {}: {e}", shown(dir));
            return OUTPUT_ERROR;
        }
    }
    for index in last.into_iter().flat_map(|last| args.start..=last) {
        let text = print(&seeded::program(seed, index, &config));
        let header = match profile {
            Profile::Default => {
                format!("# generated: switchyard gen --seed {seed} --start {index}\n")
            }
            _ => format!(
                "# generated: switchyard gen --seed {seed} --start {index} --profile {}\n",
                profile.name()
            ),
        };
        match &args.out {
            Some(dir) => {
                let path = dir.join(format!("seed-{seed}-{index}.gp"));
                if let Err(e) = std::fs::write(&path, format!("{header}{text}")) {
                    errln!("switchyard: cannot write {}: {e}", shown(&path));
                    return OUTPUT_ERROR;
                }
            }
            None => outln!("{header}{text}"),
        }
    }
    AGREED
}
