//! A key's rate limit: a token bucket, one token per position, refilled at the key's rate up
//! to its burst. Pure: time comes in as milliseconds.

/// A key's rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Positions per second, sustained.
    pub per_second: f64,
    /// Positions that may come at once after a quiet spell.
    pub burst: f64,
}

/// Tokens left and when they were counted.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    tokens: f64,
    at_ms: i64,
}

impl Bucket {
    /// A full bucket.
    pub fn full(rate: Rate, now_ms: i64) -> Bucket {
        Bucket {
            tokens: rate.burst,
            at_ms: now_ms,
        }
    }

    /// Takes up to `wanted` tokens; returns how many it took.
    pub fn take(&mut self, rate: Rate, wanted: u32, now_ms: i64) -> u32 {
        self.refill(rate, now_ms);
        let taken = self.tokens.floor().min(f64::from(wanted)).max(0.0);
        self.tokens -= taken;
        taken as u32
    }

    /// Returns tokens taken but not used (a request that ended early).
    pub fn give_back(&mut self, rate: Rate, count: u32) {
        self.tokens = (self.tokens + f64::from(count)).min(rate.burst);
    }

    /// Whole seconds until a token is there again (at least 1), for `Retry-After`.
    pub fn retry_after_s(&self, rate: Rate) -> u64 {
        let missing = (1.0 - self.tokens).max(0.0);
        (missing / rate.per_second).ceil().max(1.0) as u64
    }

    fn refill(&mut self, rate: Rate, now_ms: i64) {
        // A clock stepped back refills nothing rather than draining.
        let elapsed_s = (now_ms - self.at_ms).max(0) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed_s * rate.per_second).min(rate.burst);
        self.at_ms = self.at_ms.max(now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: Rate = Rate {
        per_second: 10.0,
        burst: 20.0,
    };

    #[test]
    fn a_burst_then_the_rate() {
        let mut bucket = Bucket::full(RATE, 0);
        assert_eq!(bucket.take(RATE, 15, 0), 15);
        assert_eq!(bucket.take(RATE, 15, 0), 5);
        assert_eq!(bucket.take(RATE, 15, 0), 0);
        assert_eq!(bucket.retry_after_s(RATE), 1);
        // Half a second: 5 tokens.
        assert_eq!(bucket.take(RATE, 15, 500), 5);
        // Long idle refills to the burst only.
        assert_eq!(bucket.take(RATE, 100, 60_000), 20);
    }

    #[test]
    fn retry_after_covers_a_slow_rate_and_given_back_tokens_count() {
        let slow = Rate {
            per_second: 0.1,
            burst: 1.0,
        };
        let mut bucket = Bucket::full(slow, 0);
        assert_eq!(bucket.take(slow, 5, 0), 1);
        assert_eq!(bucket.retry_after_s(slow), 10);
        bucket.give_back(slow, 1);
        assert_eq!(bucket.take(slow, 5, 0), 1);
    }

    #[test]
    fn a_clock_stepping_back_neither_refills_nor_drains() {
        let mut bucket = Bucket::full(RATE, 10_000);
        assert_eq!(bucket.take(RATE, 20, 10_000), 20);
        assert_eq!(bucket.take(RATE, 20, 5_000), 0);
        assert_eq!(bucket.take(RATE, 20, 10_500), 5);
    }
}
