//! Exponential backoff with full jitter: after the n-th failure in a row the delay is uniform
//! between zero and min(cap, base × 2^n). The jitter spreads a fleet of agents that lost the
//! server at the same moment, so they do not all come back at the same moment.

use std::time::Duration;

pub struct Backoff {
    base: Duration,
    cap: Duration,
    failures: u32,
    rng: fastrand::Rng,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration, rng: fastrand::Rng) -> Backoff {
        Backoff {
            base,
            cap,
            failures: 0,
            rng,
        }
    }

    /// The delay before the next attempt, counting one more failure.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.failures = self.failures.saturating_add(1);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.rng.u64(0..=nanos))
    }

    /// The most the next delay can be.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.failures).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// A success: the next failure starts again from `base`.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// The server named a heartbeat interval: retrying less often than that is never useful.
    pub fn set_cap(&mut self, cap: Duration) {
        self.cap = cap;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff(seed: u64) -> Backoff {
        Backoff::new(
            Duration::from_millis(100),
            Duration::from_secs(90),
            fastrand::Rng::with_seed(seed),
        )
    }

    #[test]
    fn ceilings_double_up_to_the_cap_and_never_overflow() {
        let mut backoff = backoff(1);
        let mut ceilings = Vec::new();
        for _ in 0..200 {
            ceilings.push(backoff.ceiling());
            backoff.next_delay();
        }
        assert_eq!(ceilings[0], Duration::from_millis(100));
        assert_eq!(ceilings[1], Duration::from_millis(200));
        assert_eq!(ceilings[2], Duration::from_millis(400));
        assert_eq!(ceilings[10], Duration::from_millis(90_000));
        assert!(ceilings[10..].iter().all(|c| *c == Duration::from_secs(90)));
    }

    #[test]
    fn delays_stay_under_their_ceiling_and_are_spread_over_it() {
        for seed in 0..50 {
            let mut backoff = backoff(seed);
            for _ in 0..40 {
                let ceiling = backoff.ceiling();
                assert!(backoff.next_delay() <= ceiling);
            }
        }
        // At the cap, delays cover the range: not all near zero, not all near the top.
        let mut backoff = backoff(7);
        for _ in 0..20 {
            backoff.next_delay();
        }
        let delays: Vec<f64> = (0..1000)
            .map(|_| backoff.next_delay().as_secs_f64())
            .collect();
        let mean = delays.iter().sum::<f64>() / delays.len() as f64;
        assert!((40.0..50.0).contains(&mean), "mean {mean}");
        assert!(delays.iter().any(|d| *d < 9.0) && delays.iter().any(|d| *d > 81.0));
    }

    #[test]
    fn the_same_seed_gives_the_same_delays() {
        let (mut a, mut b) = (backoff(42), backoff(42));
        for _ in 0..10 {
            assert_eq!(a.next_delay(), b.next_delay());
        }
    }

    #[test]
    fn reset_and_a_new_cap_take_effect_at_once() {
        let mut backoff = backoff(3);
        for _ in 0..8 {
            backoff.next_delay();
        }
        assert_eq!(backoff.ceiling(), Duration::from_millis(25_600));
        backoff.set_cap(Duration::from_secs(1));
        assert_eq!(backoff.ceiling(), Duration::from_secs(1));
        assert!(backoff.next_delay() <= Duration::from_secs(1));
        backoff.reset();
        assert_eq!(backoff.ceiling(), Duration::from_millis(100));
    }
}
