//! `switchyard run [--backend NAME]... FILE...`: every file on the oracle and the chosen
//! backends through THE differential comparison, the oracle's trace on stdout and every
//! divergence or fatal finding on stderr.

use super::{parse_files, select_backends, AGREED, DIVERGED};
use std::path::PathBuf;
use switchyard::check::differential::{self, Comparison, Observer, Verdict};
use switchyard::check::registry::{self, Backend};
use switchyard::lang::trace::Trace;

#[derive(clap::Args)]
pub struct Args {
    /// Backend to run and compare with the oracle (repeatable). Default: every registered
    /// backend. See `switchyard backends`.
    #[arg(long = "backend", short = 'b', value_name = "NAME")]
    backends: Vec<String>,
    /// Program files (.gp).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// Prints as the comparison goes, so that what was found before a backend crashes this
/// process is out already.
struct Report<'a> {
    name: &'a str,
    status: u8,
}

impl Observer for Report<'_> {
    fn oracle_trace(&mut self, trace: &Trace) {
        out!("{trace}");
    }

    fn verdict(&mut self, backend: &'static Backend, verdict: &Verdict) {
        let name = self.name;
        match verdict {
            Verdict::Agrees => return,
            Verdict::Diverges(d) => eprintln!(
                "{name}: backend {} diverges from {}: {d}",
                backend.name,
                registry::ORACLE
            ),
            Verdict::Fatal(fatal) => eprintln!("{name}: {fatal}"),
        }
        self.status = DIVERGED;
    }
}

pub fn run(args: &Args) -> u8 {
    let backends = match select_backends(&args.backends) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let programs = match parse_files(&args.files) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let mut status = AGREED;
    for (name, program) in &programs {
        if programs.len() > 1 {
            outln!("== {name}");
        }
        let mut report = Report { name, status };
        if let Comparison::OracleFatal(fatal) =
            differential::compare(program, &backends, &mut report)
        {
            eprintln!("{name}: oracle: {fatal}");
            report.status = DIVERGED;
        }
        status = report.status;
    }
    status
}
