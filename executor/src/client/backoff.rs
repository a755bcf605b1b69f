//! Exponential backoff with full jitter for re-subscribing to a lost agent.
//!
//! The bound starts at [`INITIAL`], doubles after each failed attempt and is capped by
//! `MESOS_SUBSCRIPTION_BACKOFF_MAX`; each wait is drawn uniformly from `[0, bound]` (as the
//! Mesos executor library does) so many executors on a restarted agent do not reconnect in
//! lockstep. A successful SUBSCRIBED resets it.

use std::time::Duration;

use rand::Rng;

/// The first bound: short, because an agent restart is usually quick.
pub const INITIAL: Duration = Duration::from_millis(50);

/// The backoff state of one connection.
#[derive(Debug, Clone)]
pub struct Backoff {
    bound: Duration,
    max: Duration,
}

impl Backoff {
    /// A fresh backoff capped at `max`.
    pub fn new(max: Duration) -> Self {
        Backoff {
            bound: INITIAL.min(max),
            max,
        }
    }

    /// The next wait, drawn with `rng`; the bound doubles for the attempt after.
    pub fn next_delay(&mut self, rng: &mut impl Rng) -> Duration {
        let bound = self.bound;
        self.bound = (self.bound * 2).min(self.max);
        let nanos = u64::try_from(bound.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rng.random_range(0..=nanos))
    }

    /// Back to the first bound after a successful subscription.
    pub fn reset(&mut self) {
        self.bound = INITIAL.min(self.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn bound_doubles_up_to_the_cap_and_waits_stay_below_it() {
        let mut rng = StdRng::seed_from_u64(7);
        let max = Duration::from_millis(300);
        let mut backoff = Backoff::new(max);
        let mut bounds = Vec::new();
        for _ in 0..6 {
            bounds.push(backoff.bound);
            let delay = backoff.next_delay(&mut rng);
            assert!(delay <= *bounds.last().unwrap());
        }
        assert_eq!(
            bounds,
            [50, 100, 200, 300, 300, 300].map(Duration::from_millis)
        );
    }

    #[test]
    fn reset_returns_to_the_initial_bound() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut backoff = Backoff::new(Duration::from_secs(2));
        for _ in 0..5 {
            backoff.next_delay(&mut rng);
        }
        backoff.reset();
        assert_eq!(backoff.bound, INITIAL);
    }

    #[test]
    fn a_cap_below_the_initial_bound_wins() {
        let backoff = Backoff::new(Duration::from_millis(10));
        assert_eq!(backoff.bound, Duration::from_millis(10));
    }
}
