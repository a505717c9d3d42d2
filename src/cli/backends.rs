//! `switchyard backends [-v]`: the registered backends, one name a line; with `-v`, each
//! with its summary, where it comes from and what the checks hold it to.

use super::AGREED;
use crate::check::registry;

#[derive(clap::Args)]
pub struct Args {
    /// Also print, under each name, how it switches, where it comes from (built-in, a crate
    /// and its version, a shared library) and what it guarantees (what the register probe
    /// checks, or what applies to a Hub-level backend).
    #[arg(long, short = 'v')]
    verbose: bool,
}

pub fn run(args: &Args) -> u8 {
    for b in registry::all() {
        outln!("{}", b.name);
        if args.verbose {
            outln!("  summary:    {}", b.summary);
            outln!("  from:       {}", b.provenance);
            outln!("  guarantees: {}", b.checked());
        }
    }
    AGREED
}
