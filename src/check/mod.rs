//! Checking programs: the backend registry ([`registry`]), the program threads runs happen on
//! ([`program_thread`]), the one oracle-versus-backends
//! comparison ([`differential`]) that the campaign's workers, `switchyard run`, the tests and
//! the fuzz targets all use, the cross-check of the oracle against real greenlet
//! ([`crosscheck`]), the regression corpus ([`corpus`]) and the generator's measured
//! distribution ([`stats`]).
//!
//! Contract: everything here runs programs in this process (no worker processes, no files
//! written); it depends on [`crate::lang`], [`crate::interp`] and, for seeded batches,
//! [`crate::gen`], never on the campaign or the CLI.

pub mod corpus;
pub mod crosscheck;
pub mod differential;
pub mod library;
pub mod program_thread;
pub mod registry;
pub mod stats;
