//! The scheduler's retry schedules; the [`Backoff`] walking them is `cartrack-runtime`'s.
//!
//! All use equal jitter (between half and all of each bound), so many schedulers reconnecting
//! after one master failover do not stampede.

use std::time::Duration;

pub use cartrack_runtime::backoff::Backoff;
use cartrack_runtime::backoff::{Jitter, Schedule};

use crate::auth;

/// Re-subscription backoff of the protocol notes: 500 ms doubling up to 15 s.
pub const RESUBSCRIBE: Schedule =
    Schedule::doubling(Duration::from_millis(500), Duration::from_secs(15)).jitter(Jitter::Equal);

/// While a live master answers that no leader is elected: 250 ms doubling up to 1 s, so the
/// new leader is subscribed to within a second of its election. The subscription resets it
/// only once a SUBSCRIBE is answered.
pub const ELECTION: Schedule =
    Schedule::doubling(Duration::from_millis(250), Duration::from_secs(1)).jitter(Jitter::Equal);

/// After a 401 that refreshing the credentials did not cure.
pub const UNAUTHORIZED: Schedule = Schedule::doubling(
    auth::UNAUTHORIZED_BACKOFF_INITIAL,
    auth::UNAUTHORIZED_BACKOFF_MAX,
)
.jitter(Jitter::Equal);

/// Between the attempts of one call to the master: 100 ms doubling up to 2 s.
pub const CALL: Schedule =
    Schedule::doubling(Duration::from_millis(100), Duration::from_secs(2)).jitter(Jitter::Equal);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_election_backoff_reaches_one_second_and_resets() {
        let mut backoff = Backoff::seeded(ELECTION, 5);
        let mut bounds = Vec::new();
        for _ in 0..5 {
            bounds.push(backoff.bound());
            let delay = backoff.next_delay();
            let bound = bounds[bounds.len() - 1];
            assert!(
                delay >= bound / 2 && delay <= bound,
                "{delay:?} vs {bound:?}"
            );
        }
        assert_eq!(
            bounds,
            [250, 500, 1000, 1000, 1000].map(Duration::from_millis)
        );
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(250));
    }
}
