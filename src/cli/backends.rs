//! `switchyard backends [-v]`: the registered backends, one name a line.

use super::AGREED;
use switchyard::check::registry;

#[derive(clap::Args)]
pub struct Args {
    /// Also print a one-line summary of how each backend switches.
    #[arg(long, short = 'v')]
    verbose: bool,
}

pub fn run(args: &Args) -> u8 {
    for b in registry::all() {
        if args.verbose {
            outln!("{:<12} {}", b.name, b.summary);
        } else {
            outln!("{}", b.name);
        }
    }
    AGREED
}
