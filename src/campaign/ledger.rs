//! A campaign's findings as they happen, shared by its threads: each finding is written
//! unminimized the moment it is seen ([`Ledger::seen`]), then replaced by its minimized form
//! ([`Ledger::minimized`]) or left as it is; the cap of `--max-per-kind`; the first write
//! error; and, at the end, where every finding is ([`Ledger::located`]).
//!
//! Contract: a finding the campaign has seen is on disk before anything else is done with it
//! (isolation, minimization), or, when it could not be written, listed with the error and the
//! command that regenerates its program. After the first write error nothing more is written.

use super::findings::{FindingDir, Origin, Provenance, WriteError};
use super::protocol::{Failure, FailureKind};
use crate::lang::ast::Program;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

/// The note in the header of a finding written as found.
pub const AS_FOUND: &str =
    "not minimized: written the moment it was found; its minimized form replaces this file";

/// What became of a finding the campaign saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// Written as found (not minimized).
    Unminimized(PathBuf),
    /// Minimized and written.
    Minimized(PathBuf),
    /// Minimized to a finding the directory already had.
    Duplicate,
    /// Stood for by other findings (an unisolated crash, once isolated).
    Superseded,
    /// Never written: the directory could not be written.
    NotWritten,
}

/// A finding and where it is.
#[derive(Clone, Debug)]
pub struct Located {
    /// The backend and failure kind.
    pub what: String,
    pub origin: Origin,
    pub place: Place,
}

/// A finding written as found, waiting for what comes next.
#[derive(Clone, Debug)]
pub struct Ticket {
    entry: usize,
    /// Its unminimized file.
    pub path: PathBuf,
}

/// What [`Ledger::seen`] did.
#[derive(Debug)]
pub enum Seen {
    /// Written unminimized.
    Written(Ticket),
    /// Its (backend, kind) has reached `--max-per-kind`: only counted.
    OverCap,
    /// It could not be written ([`Ledger::failed`] is now true).
    Failed,
}

/// A write failed; the ledger keeps the error ([`Ledger::take_error`]).
#[derive(Debug)]
pub struct Failed;

/// The findings of one campaign.
pub struct Ledger {
    inner: Mutex<Inner>,
    found_by: String,
    max_per_kind: usize,
}

struct Inner {
    dir: FindingDir,
    per_kind: HashMap<(String, FailureKind), usize>,
    entries: Vec<Located>,
    error: Option<WriteError>,
}

impl Ledger {
    /// The ledger of a campaign writing to `dir`; `found_by` is its command line.
    pub fn new(dir: FindingDir, found_by: &str, max_per_kind: usize) -> Ledger {
        Ledger {
            inner: Mutex::new(Inner {
                dir,
                per_kind: HashMap::new(),
                entries: Vec::new(),
                error: None,
            }),
            found_by: found_by.to_string(),
            max_per_kind,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn provenance(&self, origin: &Origin, note: &str) -> Provenance {
        Provenance {
            origin: origin.clone(),
            found_by: self.found_by.clone(),
            minimized: note.to_string(),
        }
    }

    /// Records `failure` of `program`, seen just now, and writes it unminimized. With
    /// `capped`, a finding whose (backend, kind) already has `--max-per-kind` findings is
    /// only counted.
    pub fn seen(&self, failure: &Failure, origin: Origin, program: &Program, capped: bool) -> Seen {
        let mut inner = self.lock();
        if capped {
            let count = inner
                .per_kind
                .entry((failure.backend.clone(), failure.kind))
                .or_default();
            if *count >= self.max_per_kind {
                return Seen::OverCap;
            }
            *count += 1;
        }
        let what = format!("{} {}", failure.backend, failure.kind);
        let entry = inner.entries.len();
        if inner.error.is_some() {
            inner.entries.push(Located {
                what,
                origin,
                place: Place::NotWritten,
            });
            return Seen::Failed;
        }
        let provenance = self.provenance(&origin, AS_FOUND);
        let written = inner
            .dir
            .write_unminimized(failure, &provenance, program, false);
        let place = match &written {
            Ok(path) => Place::Unminimized(path.clone()),
            Err(_) => Place::NotWritten,
        };
        inner.entries.push(Located {
            what,
            origin,
            place,
        });
        match written {
            Ok(path) => Seen::Written(Ticket { entry, path }),
            Err(e) => {
                inner.error = Some(e);
                Seen::Failed
            }
        }
    }

    /// Writes the minimized form of a finding (unless the directory has it already) and
    /// removes its unminimized file. Returns the file written (`None`: a duplicate), or
    /// `Err` when it could not be written (the unminimized file stays).
    pub fn minimized(
        &self,
        ticket: &Ticket,
        failure: &Failure,
        note: &str,
        program: &Program,
    ) -> Result<Option<PathBuf>, Failed> {
        let mut inner = self.lock();
        if inner.error.is_some() {
            return Err(Failed);
        }
        let provenance = self.provenance(&inner.entries[ticket.entry].origin, note);
        match inner.dir.write(failure, &provenance, program) {
            Ok(written) => {
                let _ = inner.dir.remove_unminimized(&ticket.path);
                inner.entries[ticket.entry].place = match &written {
                    Some(path) => Place::Minimized(path.clone()),
                    None => Place::Duplicate,
                };
                Ok(written)
            }
            Err(e) => {
                inner.error = Some(e);
                Err(Failed)
            }
        }
    }

    /// Rewrites the unminimized file of a finding with a new `note` (why it stays so).
    pub fn keep_unminimized(
        &self,
        ticket: &Ticket,
        failure: &Failure,
        note: &str,
        program: &Program,
    ) {
        let mut inner = self.lock();
        if inner.error.is_some() {
            return;
        }
        let provenance = self.provenance(&inner.entries[ticket.entry].origin, note);
        if let Err(e) = inner
            .dir
            .write_unminimized(failure, &provenance, program, true)
        {
            inner.error = Some(e);
        }
    }

    /// Removes the file of a finding that others now stand for (a crash, once isolated).
    pub fn superseded(&self, ticket: &Ticket) {
        let mut inner = self.lock();
        if inner.dir.remove_unminimized(&ticket.path).is_ok() {
            inner.entries[ticket.entry].place = Place::Superseded;
        }
    }

    /// Whether a write has failed (the campaign must stop).
    pub fn failed(&self) -> bool {
        self.lock().error.is_some()
    }

    /// The first write error.
    pub fn take_error(&self) -> Option<WriteError> {
        self.lock().error.take()
    }

    /// Every finding seen, in order, with where it is.
    pub fn located(&self) -> Vec<Located> {
        self.lock().entries.clone()
    }
}
