//! How long a worker may take on one job ([`Timeouts`]): the oracle (and worker start-up)
//! within a fixed bound, every other backend within a multiple of the oracle's own time on the
//! same program plus a floor, each counted from the worker's `running BACKEND` line
//! ([`super::protocol`]), so that a hang costs a fraction of a second and a correct but slow
//! backend is not a finding. While a `timeout` finding is minimized, its candidates are
//! judged with tighter deadlines ([`Timeouts::for_candidates`]); what is reported is always
//! confirmed at the normal ones ([`super::minimize`]).

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

/// The factor of the tightest deadline a `timeout` finding's candidates are judged with
/// ([`Timeouts::for_candidates`]).
pub const CANDIDATE_FACTOR: u32 = 2;
/// The floor of that deadline.
pub const CANDIDATE_FLOOR: Duration = Duration::from_millis(15);
/// How much each round of loosening multiplies the candidates' factor and floor by.
pub const LOOSENING: u32 = 2;

impl Timeouts {
    /// The deadlines the candidates of a `timeout` finding are judged with in minimization
    /// round `round` (0, 1, ...): [`CANDIDATE_FACTOR`] times the oracle's time on the candidate
    /// plus [`CANDIDATE_FLOOR`], both multiplied by [`LOOSENING`] once per earlier round, and
    /// never looser than `self` (from some round on they are `self`). A hang is killed at
    /// tens of milliseconds instead of hundreds; a candidate that is only slow may be judged
    /// to hang, which is why the minimized program is confirmed at `self` before it is
    /// reported.
    pub fn for_candidates(&self, round: u32) -> Timeouts {
        let scale = LOOSENING.saturating_pow(round);
        Timeouts {
            oracle: self.oracle,
            factor: CANDIDATE_FACTOR.saturating_mul(scale).min(self.factor),
            floor: CANDIDATE_FLOOR.saturating_mul(scale).min(self.floor),
        }
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

    #[test]
    fn candidates_get_tighter_deadlines_that_loosen_to_the_normal_ones() {
        let normal = Timeouts::default();
        let first = normal.for_candidates(0);
        assert_eq!(first.oracle, normal.oracle);
        assert_eq!(first.factor, CANDIDATE_FACTOR);
        assert_eq!(first.floor, CANDIDATE_FLOOR);
        let oracle_time = Duration::from_millis(1);
        assert!(first.backend(oracle_time) < normal.backend(oracle_time) / 5);
        // Each round looser than the one before, until they are the normal deadlines.
        let mut round = 0;
        while normal.for_candidates(round) != normal {
            let (this, next) = (
                normal.for_candidates(round),
                normal.for_candidates(round + 1),
            );
            assert!(next.backend(oracle_time) > this.backend(oracle_time));
            round += 1;
            assert!(round < 10, "never reaches the normal deadlines");
        }
        assert_eq!(normal.for_candidates(round + 5), normal);
        // Never looser than the normal ones, even when those are tight already.
        let tight = Timeouts::fixed(Duration::from_millis(5));
        assert_eq!(tight.for_candidates(0), tight);
    }
}
