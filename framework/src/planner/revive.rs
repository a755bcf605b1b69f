//! A token bucket for REVIVE: every REVIVE clears all offer filters of the framework and
//! makes the allocator re-offer everything, so a flapping task must not trigger a storm.

/// `capacity` tokens, one more every `refill_ms`; time is passed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBucket {
    capacity: u32,
    refill_ms: u64,
    tokens: u32,
    last_refill_ms: u64,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(capacity: u32, refill_ms: u64) -> TokenBucket {
        TokenBucket {
            capacity: capacity.max(1),
            refill_ms: refill_ms.max(1),
            tokens: capacity.max(1),
            last_refill_ms: 0,
        }
    }

    /// Takes a token if one is there at `now_ms`.
    pub fn try_take(&mut self, now_ms: u64) -> bool {
        let elapsed = now_ms.saturating_sub(self.last_refill_ms);
        let new_tokens = elapsed / self.refill_ms;
        if new_tokens > 0 {
            self.tokens =
                (u64::from(self.tokens) + new_tokens).min(u64::from(self.capacity)) as u32;
            self.last_refill_ms = now_ms;
        }
        if self.tokens > 0 {
            self.tokens -= 1;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_limits_and_refills() {
        let mut b = TokenBucket::new(2, 1000);
        b.try_take(10_000); // refill happens at first use
        assert!(b.try_take(10_000));
        assert!(!b.try_take(10_000), "capacity 2 used up");
        assert!(!b.try_take(10_999));
        assert!(b.try_take(11_000), "one token per second");
        assert!(!b.try_take(11_000));
    }
}
