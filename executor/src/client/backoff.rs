//! How the executor paces re-subscribing to a lost agent; the [`Backoff`] itself is
//! `cartrack-runtime`'s.
//!
//! The bound starts at [`INITIAL`], doubles after each failed attempt and is capped by
//! `MESOS_SUBSCRIPTION_BACKOFF_MAX`; each wait is drawn uniformly from `[0, bound]` (full
//! jitter, as the Mesos executor library does) so many executors on a restarted agent do not
//! reconnect in lockstep. A successful SUBSCRIBED resets it.

use std::time::Duration;

pub use cartrack_runtime::backoff::Backoff;
use cartrack_runtime::backoff::{Jitter, Schedule};

/// The first bound: short, because an agent restart is usually quick.
pub const INITIAL: Duration = Duration::from_millis(50);

/// The re-subscription schedule, capped at `max` (which wins if below [`INITIAL`]).
pub fn resubscribe(max: Duration) -> Schedule {
    Schedule::doubling(INITIAL, max).jitter(Jitter::Full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_doubles_up_to_the_cap_and_waits_stay_below_it() {
        let mut backoff = Backoff::seeded(resubscribe(Duration::from_millis(300)), 7);
        let mut bounds = Vec::new();
        for _ in 0..6 {
            let bound = backoff.bound();
            bounds.push(bound);
            assert!(backoff.next_delay() <= bound);
        }
        assert_eq!(
            bounds,
            [50, 100, 200, 300, 300, 300].map(Duration::from_millis)
        );
        backoff.reset();
        assert_eq!(backoff.bound(), INITIAL);
    }

    #[test]
    fn a_cap_below_the_initial_bound_wins() {
        let backoff = Backoff::new(resubscribe(Duration::from_millis(10)));
        assert_eq!(backoff.bound(), Duration::from_millis(10));
    }
}
