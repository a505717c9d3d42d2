//! What a campaign worker process ran before a finding: the indices of the seeded programs
//! each worker process ran, in order, since it started. A failure that does not happen again
//! in a fresh worker needs them (a program can leave state behind in its worker, as a hub left
//! alive on the program thread did); the campaign then writes them next to the finding
//! instead of minimizing it.
//!
//! Contract: memory stays small over a long campaign: indices are stored as variable-length
//! deltas (one or two bytes each when a few workers share the programs), and a worker that
//! restarts starts a new history.

use super::findings;
use super::protocol::Job;
use std::fmt::Write as _;
use std::path::Path;

/// The header note of a finding (of `job`, `statements` long, its unminimized file at
/// `path`) that did not fail again in a fresh worker: it needs the programs its worker ran
/// before it (`earlier`), which are written next to it (`FILE.sequence`, one index a line, in
/// order) when there are any.
pub fn not_reproduced_note(earlier: &[u64], path: &Path, job: &Job, statements: usize) -> String {
    let head = format!(
        "not minimized: NOT REPRODUCIBLE ALONE: it did not fail that way again in a fresh \
         worker ({statements} statements)"
    );
    let Some(&last) = earlier.last() else {
        return format!("{head}; it was the first program of its worker process");
    };
    let mut sequence = String::new();
    for index in earlier {
        let _ = writeln!(sequence, "{index}");
    }
    let path = path.with_extension("sequence");
    let listed = match findings::write_atomically(&path, sequence.as_bytes()) {
        Ok(()) => format!("listed in order in {}", findings::shown(&path)),
        Err(e) => format!(
            "(the list could not be written to {}: {e})",
            findings::shown(&path)
        ),
    };
    format!(
        "{head}; its worker process had run {} programs of seed {} before it, {listed}; \
         `switchyard fuzz --jobs 1 --seed {} --profile {} --programs {}` runs them in the same \
         order on one worker (with the programs other workers took in between)",
        earlier.len(),
        job.seed,
        job.seed,
        job.profile.name(),
        last.max(job.index) + 1
    )
}

/// The programs one worker process ran, in order.
#[derive(Debug, Default)]
pub struct History {
    pid: Option<u32>,
    /// LEB128 deltas (zig-zag, so any order is kept) from the previous index.
    deltas: Vec<u8>,
    last: u64,
    count: u64,
}

impl History {
    /// Records that worker process `pid` (`None`: it has gone) ran program `index`. Another
    /// process than the last one starts the history afresh; a gone one leaves it empty.
    pub fn ran(&mut self, pid: Option<u32>, index: u64) {
        if pid != self.pid || pid.is_none() {
            *self = History {
                pid,
                ..History::default()
            };
            if pid.is_none() {
                return;
            }
        }
        let delta = index.wrapping_sub(self.last) as i64;
        let mut zigzag = ((delta << 1) ^ (delta >> 63)) as u64;
        loop {
            let byte = (zigzag & 0x7f) as u8;
            zigzag >>= 7;
            if zigzag == 0 {
                self.deltas.push(byte);
                break;
            }
            self.deltas.push(byte | 0x80);
        }
        self.last = index;
        self.count += 1;
    }

    /// Every program index recorded, in order.
    pub fn indices(&self) -> Vec<u64> {
        let mut out = Vec::with_capacity(self.count as usize);
        let (mut value, mut shift, mut last) = (0u64, 0, 0u64);
        for &byte in &self.deltas {
            value |= u64::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                let delta = ((value >> 1) as i64) ^ -((value & 1) as i64);
                last = last.wrapping_add(delta as u64);
                out.push(last);
                value = 0;
                shift = 0;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::History;

    #[test]
    fn indices_come_back_in_order_and_a_new_process_starts_afresh() {
        let mut h = History::default();
        let seq = [0u64, 2, 1, 5, 300, 7, u64::MAX, 3];
        for &i in &seq {
            h.ran(Some(10), i);
        }
        assert_eq!(h.indices(), seq);
        h.ran(Some(11), 42);
        assert_eq!(h.indices(), [42]);
        h.ran(None, 43);
        assert_eq!(h.indices(), Vec::<u64>::new());
    }

    #[test]
    fn interleaved_indices_take_a_byte_each() {
        let mut h = History::default();
        for i in (0..10_000u64).step_by(2) {
            h.ran(Some(1), i);
        }
        assert_eq!(h.deltas.len(), 5_000);
        assert_eq!(h.indices().len(), 5_000);
    }
}
