//! switchyard: differential testing of greenlet stack-switching backends.
//!
//! Layers, each importing only the ones above it:
//! - [`lang`]: the greenlet language (syntax tree, parser, printer, trace);
//! - [`interp`]: runs a program on any greenlet backend and records its trace;
//! - [`gen`]: random program generators (seeded, from fuzzer bytes, proptest); `lang` only;
//! - [`minimize`]: delta debugging of a program against any predicate; `lang` only;
//! - [`check`]: the backend registry, the one oracle-versus-backends comparison, the
//!   cross-check against real greenlet, the corpus and the generator statistics;
//! - [`campaign`]: the differential fuzzing campaign over worker processes, crash isolation,
//!   minimization in workers and finding files;
//! - [`bench`]: `switchyard bench`, the figures of any registered backend through the greenlet
//!   trait beside its peers' (table, JSON, SVG plot);
//! - [`lifeline`]: child processes that die with this process (used by `campaign` and
//!   `check::crosscheck`; imports nothing);
//! - [`stderr`]: the one way anything is written to standard error ([`errln!`]), which never
//!   panics (imports nothing).
//!
//! The command line, [`cli`], is a thin layer of argument parsing and printing over these;
//! the `switchyard` binary (`src/main.rs`) is `cli::main_with(vec![])`, and a crate with its
//! own backends builds its own binary the same way. [`fuzz_one`] is the body of a cargo-fuzz
//! target over any backends.

pub mod bench;
pub mod campaign;
pub mod check;
pub mod cli;
pub mod gen;
pub mod interp;
pub mod lang;
pub mod lifeline;
pub mod minimize;
pub mod stderr;

use check::registry::Backend;

/// The body of a differential cargo-fuzz target: runs the program `data` decodes to
/// ([`gen::bytes::decode`]: program text as it is, any other bytes through an `Arbitrary`
/// builder of valid programs) on the thread oracle and on each of `backends`, and panics with
/// the findings and the program's text when a backend's trace differs from the oracle's or it
/// fails (register corruption, a panic, a backend error). A crash kills the fuzzer, which
/// libFuzzer reports as such.
///
/// A whole target, `fuzz/fuzz_targets/my_switch.rs` (see `examples/custom-backend/fuzz/`):
///
/// ```ignore
/// #![no_main]
/// libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard::fuzz_one(data, &[&my_crate::MY_BACKEND]));
/// ```
pub fn fuzz_one(data: &[u8], backends: &[&'static Backend]) {
    check::differential::check_or_panic(data, backends);
}
