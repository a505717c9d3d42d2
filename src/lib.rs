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
//! - [`lifeline`]: child processes that die with this process (used by `campaign` and
//!   `check::crosscheck`; imports nothing);
//! - [`stderr`]: the one way anything is written to standard error ([`errln!`]), which never
//!   panics (imports nothing).
//!
//! The `switchyard` binary (`src/main.rs`, `src/cli/`) is a thin layer of argument parsing and
//! printing over these.

pub mod campaign;
pub mod check;
pub mod gen;
pub mod interp;
pub mod lang;
pub mod lifeline;
pub mod minimize;
pub mod stderr;
