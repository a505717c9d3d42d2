//! How long a worker may take on one job ([`Timeouts`]): the oracle (and worker start-up)
//! within a fixed bound, every other backend within a multiple of the oracle's own time on the
//! same program plus a floor, each counted from the worker's `running BACKEND` line
//! ([`super::protocol`]), so that a hang costs a fraction of a second and a correct but slow
//! backend is not a finding.

use std::time::Duration;

/// How long a worker may take on one job, stage by stage. Start-up is never counted against
/// a backend: the worker announces each backend just before it runs it (`running BACKEND`),
/// and each backend's deadline starts there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// The bound on the worker's start-up, on the oracle's own run, and on a backend whose
    /// oracle time is not known (a `run` job): only a hang this long is the oracle's.
    pub oracle: Duration,
    /// A backend times out when it takes longer than `factor` times the oracle's time on the
    /// same program plus `floor`.
    pub factor: u32,
    pub floor: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        // A correct stack-copy switch copies the stacks the two greenlets share, so its time
        // grows with their depth while the oracle's does not: a ping-pong 4,000 frames deep
        // measured stack-copy at 44-122 times the oracle's time. 200 leaves room for that.
        Timeouts {
            oracle: Duration::from_secs(10),
            factor: 200,
            floor: Duration::from_millis(250),
        }
    }
}

impl Timeouts {
    /// One fixed bound for every stage (no relative deadline).
    pub fn fixed(limit: Duration) -> Timeouts {
        Timeouts {
            oracle: limit,
            factor: 0,
            floor: limit,
        }
    }

    /// How long a backend may take on a program the oracle ran in `oracle_time`.
    pub fn backend(&self, oracle_time: Duration) -> Duration {
        self.floor
            .saturating_add(oracle_time.saturating_mul(self.factor))
            .min(self.oracle.max(self.floor))
    }
}

impl From<Duration> for Timeouts {
    fn from(limit: Duration) -> Timeouts {
        Timeouts::fixed(limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backend_may_take_a_multiple_of_the_oracle_time_plus_the_floor() {
        let t = Timeouts {
            oracle: Duration::from_secs(10),
            factor: 20,
            floor: Duration::from_millis(100),
        };
        assert_eq!(t.backend(Duration::ZERO), Duration::from_millis(100));
        assert_eq!(
            t.backend(Duration::from_millis(5)),
            Duration::from_millis(200)
        );
        // Never longer than the oracle's own bound.
        assert_eq!(t.backend(Duration::from_secs(5)), Duration::from_secs(10));
        let fixed = Timeouts::from(Duration::from_millis(300));
        assert_eq!(
            fixed.backend(Duration::from_secs(1)),
            Duration::from_millis(300)
        );
    }
}
