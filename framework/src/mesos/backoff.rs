//! Capped exponential backoff with jitter (kube's `DefaultBackoff` shape): grows by `factor`
//! after each failure up to `max`, is reset after a success.

use std::time::Duration;

use rand::Rng;

/// A backoff sequence.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    factor: f64,
    next: Duration,
}

impl Backoff {
    /// Starts at `initial`, multiplies by `factor`, never above `max`.
    pub fn new(initial: Duration, max: Duration, factor: f64) -> Backoff {
        Backoff {
            initial,
            max,
            factor,
            next: initial,
        }
    }

    /// Re-subscription backoff of the protocol notes: 500 ms doubling up to 15 s.
    pub fn resubscribe() -> Backoff {
        Backoff::new(Duration::from_millis(500), Duration::from_secs(15), 2.0)
    }

    /// While a live master answers that no leader is elected: 250 ms doubling up to 1 s, so
    /// the new leader is subscribed to within a second of its election.
    pub fn election() -> Backoff {
        Backoff::new(Duration::from_millis(250), Duration::from_secs(1), 2.0)
    }

    /// The next delay: the current step with "equal jitter" (between half and all of it), so
    /// many schedulers reconnecting after one master failover do not stampede.
    pub fn next_delay(&mut self) -> Duration {
        let step = self.next;
        self.next = self.next.mul_f64(self.factor).min(self.max);
        let half = step / 2;
        half + step.mul_f64(rand::rng().random_range(0.0..0.5))
    }

    /// Back to `initial` after a success.
    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_with_jitter_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(400), 2.0);
        let delays: Vec<Duration> = (0..5).map(|_| b.next_delay()).collect();
        let caps = [100, 200, 400, 400, 400];
        for (d, cap) in delays.iter().zip(caps) {
            assert!(
                *d >= Duration::from_millis(cap / 2) && *d <= Duration::from_millis(cap),
                "{d:?} vs {cap}"
            );
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
