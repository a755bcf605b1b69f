//! Capped exponential backoff with jitter, for every retry loop in cartrack.
//!
//! A [`Schedule`] says how waits grow (first bound, cap, factor, [`Jitter`]); each crate names
//! its schedules as constants beside the loop they pace. A [`Backoff`] walks one schedule: each
//! failure takes [`Backoff::next_delay`] and grows the bound, a success calls
//! [`Backoff::reset`]. When to reset is the caller's decision (for example only after a
//! subscription was answered, not merely connected).
//!
//! Jitter is drawn from the backoff's own random generator, seeded from the OS, or from a fixed
//! seed with [`Backoff::seeded`] so tests see the same waits on every run.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// How much of each bound is randomised, so many clients retrying after one outage do not
/// retry in lockstep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// Wait exactly the bound: for a single client of a local service, where the exact
    /// sequence is easier to reason about.
    None,
    /// Between half of the bound and all of it: spreads clients while keeping a floor.
    Equal,
    /// Anywhere from zero to the bound (what the Mesos executor library does): the widest
    /// spread, for many clients of one restarted server.
    Full,
}

/// How the waits of a [`Backoff`] grow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    initial: Duration,
    max: Duration,
    factor: f64,
    jitter: Jitter,
}

impl Schedule {
    /// Bounds from `initial` doubling up to `max`, without jitter; a `max` below `initial`
    /// wins.
    pub const fn doubling(initial: Duration, max: Duration) -> Schedule {
        Schedule {
            initial,
            max,
            factor: 2.0,
            jitter: Jitter::None,
        }
    }

    /// The same bounds, grown by `factor` (at least 1) instead of 2.
    pub const fn factor(self, factor: f64) -> Schedule {
        Schedule { factor, ..self }
    }

    /// The same bounds, each wait randomised by `jitter`.
    pub const fn jitter(self, jitter: Jitter) -> Schedule {
        Schedule { jitter, ..self }
    }

    /// The first bound: `initial`, or `max` if that is smaller.
    fn first(&self) -> Duration {
        self.initial.min(self.max)
    }

    /// The bound after `bound`.
    fn grow(&self, bound: Duration) -> Duration {
        bound.mul_f64(self.factor.max(1.0)).min(self.max)
    }
}

/// The state of one retry loop walking a [`Schedule`].
#[derive(Debug, Clone)]
pub struct Backoff {
    schedule: Schedule,
    bound: Duration,
    rng: SmallRng,
}

impl Backoff {
    /// A fresh backoff whose jitter is seeded from the operating system.
    pub fn new(schedule: Schedule) -> Backoff {
        Backoff::with_rng(schedule, SmallRng::from_rng(&mut rand::rng()))
    }

    /// A fresh backoff whose jitter repeats for the same `seed` (for tests).
    pub fn seeded(schedule: Schedule, seed: u64) -> Backoff {
        Backoff::with_rng(schedule, SmallRng::seed_from_u64(seed))
    }

    fn with_rng(schedule: Schedule, rng: SmallRng) -> Backoff {
        Backoff {
            bound: schedule.first(),
            schedule,
            rng,
        }
    }

    /// The wait before the next attempt; the bound grows for the attempt after.
    pub fn next_delay(&mut self) -> Duration {
        let bound = self.bound;
        self.bound = self.schedule.grow(bound);
        match self.schedule.jitter {
            Jitter::None => bound,
            Jitter::Equal => bound / 2 + bound.mul_f64(self.rng.random_range(0.0..0.5)),
            Jitter::Full => {
                let nanos = u64::try_from(bound.as_nanos()).unwrap_or(u64::MAX);
                Duration::from_nanos(self.rng.random_range(0..=nanos))
            }
        }
    }

    /// Back to the first bound, after a success.
    pub fn reset(&mut self) {
        self.bound = self.schedule.first();
    }

    /// The bound the next wait is drawn under.
    pub fn bound(&self) -> Duration {
        self.bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    fn bounds_and_delays(backoff: &mut Backoff, n: usize) -> (Vec<Duration>, Vec<Duration>) {
        (0..n)
            .map(|_| (backoff.bound(), backoff.next_delay()))
            .unzip()
    }

    #[test]
    fn without_jitter_the_waits_are_the_bounds() {
        let mut backoff = Backoff::new(Schedule::doubling(ms(100), ms(5000)));
        let (bounds, delays) = bounds_and_delays(&mut backoff, 8);
        assert_eq!(delays, bounds);
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000].map(ms));
    }

    #[test]
    fn equal_jitter_stays_between_half_and_all_of_the_bound() {
        let schedule = Schedule::doubling(ms(100), ms(400)).jitter(Jitter::Equal);
        let mut backoff = Backoff::seeded(schedule, 11);
        let (bounds, delays) = bounds_and_delays(&mut backoff, 50);
        assert_eq!(bounds[..4], [100, 200, 400, 400].map(ms));
        for (bound, delay) in bounds.iter().zip(&delays) {
            assert!(
                *delay >= *bound / 2 && delay <= bound,
                "{delay:?} vs {bound:?}"
            );
        }
        assert!(
            delays.windows(2).any(|w| w[0] != w[1]),
            "no jitter: {delays:?}"
        );
    }

    #[test]
    fn full_jitter_stays_below_the_bound() {
        let schedule = Schedule::doubling(ms(50), ms(300)).jitter(Jitter::Full);
        let mut backoff = Backoff::seeded(schedule, 7);
        let (bounds, delays) = bounds_and_delays(&mut backoff, 50);
        assert_eq!(bounds[..6], [50, 100, 200, 300, 300, 300].map(ms));
        for (bound, delay) in bounds.iter().zip(&delays) {
            assert!(delay <= bound, "{delay:?} vs {bound:?}");
        }
        assert!(
            delays.iter().any(|d| *d < ms(25)),
            "never in the lower half: {delays:?}"
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_waits() {
        let schedule = Schedule::doubling(ms(10), ms(1000)).jitter(Jitter::Full);
        let waits = |seed| bounds_and_delays(&mut Backoff::seeded(schedule, seed), 20).1;
        assert_eq!(waits(3), waits(3));
        assert_ne!(waits(3), waits(4));
    }

    #[test]
    fn reset_returns_to_the_first_bound() {
        let mut backoff = Backoff::seeded(Schedule::doubling(ms(50), ms(2000)), 1);
        for _ in 0..5 {
            backoff.next_delay();
        }
        assert_eq!(backoff.bound(), ms(1600));
        backoff.reset();
        assert_eq!(backoff.next_delay(), ms(50));
    }

    #[test]
    fn a_cap_below_the_first_bound_wins() {
        let mut backoff = Backoff::new(Schedule::doubling(ms(50), ms(10)));
        assert_eq!(backoff.next_delay(), ms(10));
        backoff.reset();
        assert_eq!(backoff.bound(), ms(10));
    }

    #[test]
    fn other_factors_grow_by_that_factor() {
        let mut backoff = Backoff::new(Schedule::doubling(ms(100), ms(1000)).factor(3.0));
        let (_, delays) = bounds_and_delays(&mut backoff, 4);
        assert_eq!(delays, [100, 300, 900, 1000].map(ms));
    }
}
