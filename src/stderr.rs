//! Standard error for the whole program: every message (the CLI's and the campaign's) goes
//! through [`write`] (the [`errln!`](crate::errln) macro), which never panics. `eprintln!`
//! panics when stderr is closed (`2>&-`) or full (`2>/dev/full`); here a failed write is
//! dropped, since there is nowhere left to report it, and the command goes on to its own exit
//! status. Imports nothing.

use std::fmt;
use std::io::{self, Write};

/// Writes `args` to stderr and flushes it, ignoring any error.
pub fn write(args: fmt::Arguments<'_>) {
    let mut stderr = io::stderr().lock();
    let _ = stderr.write_fmt(args).and_then(|()| stderr.flush());
}

/// `eprintln!` that never panics: see [`write`].
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::stderr::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}
