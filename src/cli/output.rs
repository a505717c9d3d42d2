//! Everything the commands print on standard output goes through [`print`] (the `out!` and
//! `outln!` macros of [`super`]), which flushes and turns a failed write into an exit status
//! instead of a panic: a closed pipe (`switchyard gen | head -1`) ends the process quietly
//! with [`BROKEN_PIPE`]; any other error (a full disk, `> /dev/full`) prints one message on
//! stderr and ends it with [`super::OUTPUT_ERROR`].
//!
//! Standard error goes through [`error`] (the `errln!` macro), the library's one stderr path
//! ([`crate::stderr`]): a closed or full stderr (`2>&-`, `2>/dev/full`) loses the
//! message and nothing else; the command ends with its usual status.
//!
//! Contract: writing stdout or stderr never panics. The process ends inside [`print`] on an error,
//! without running destructors; worker processes die with it ([`crate::lifeline`]).

use std::fmt;
use std::io::{self, Write};

/// Exit status when stdout is a closed pipe: 128 + SIGPIPE, as the shell shows a tool killed
/// by SIGPIPE.
pub const BROKEN_PIPE: u8 = 141;

/// Writes `args` to stdout and flushes it; ends the process on an error (see the module
/// documentation).
pub fn print(args: fmt::Arguments<'_>) {
    let mut stdout = io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        failed(&e);
    }
}

/// Ends the process after a failed write to stdout.
fn failed(cause: &io::Error) -> ! {
    if cause.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(BROKEN_PIPE.into());
    }
    error(format_args!(
        "switchyard: cannot write to stdout: {cause}\n"
    ));
    std::process::exit(super::OUTPUT_ERROR.into());
}

/// Writes `args` to stderr; a failed write is ignored (see the module documentation).
pub fn error(args: fmt::Arguments<'_>) {
    crate::stderr::write(args);
}
