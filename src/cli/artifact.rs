//! `switchyard artifact FILE`: a cargo-fuzz input as a readable `.gp` program.

use super::{shown, AGREED, INVALID};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The fuzz input file (e.g. fuzz/artifacts/differential/crash-...).
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

pub fn run(args: &Args) -> u8 {
    match std::fs::read(&args.file) {
        Ok(bytes) => {
            out!("{}", crate::gen::bytes::artifact_to_program_text(&bytes));
            AGREED
        }
        Err(e) => {
            errln!("switchyard: cannot read {}: {e}", shown(&args.file));
            INVALID
        }
    }
}
