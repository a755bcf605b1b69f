//! The wall clock, for timestamps that leave the process (status updates, tokens, API views).
//!
//! Durations and deadlines use `Instant`, not this: the wall clock may jump.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Time since the Unix epoch; zero if the clock is set before 1970.
pub fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    u64::try_from(since_epoch().as_millis()).unwrap_or(u64::MAX)
}

/// Whole seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    since_epoch().as_secs()
}

/// Seconds since the Unix epoch with a fraction, as Mesos' `TaskStatus.timestamp` has them.
pub fn now_secs_f64() -> f64 {
    since_epoch().as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_units_agree() {
        let (secs, ms, fractional) = (now_secs(), now_ms(), now_secs_f64());
        // 2020-01-01: any real clock is past it.
        assert!(secs > 1_577_836_800, "{secs}");
        assert!(ms / 1000 >= secs && ms / 1000 - secs <= 1, "{ms} vs {secs}");
        assert!(fractional >= secs as f64 && fractional - (secs as f64) < 2.0);
    }
}
