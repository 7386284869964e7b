//! Per-vendor token-bucket quotas (the bucket starts full).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Buckets kept before full ones are forgotten.
const MAX_BUCKETS: usize = 10_000;

/// Token buckets keyed by vendor legal name.
#[derive(Debug)]
pub struct Quota {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Quota {
    /// `rate` tokens per second, `burst` capacity; `rate == 0` disables the quota.
    #[must_use]
    pub fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `vendor` at time `now`; `Err(seconds)` to wait when empty.
    ///
    /// # Errors
    /// The whole number of seconds after which a token will be available (≥ 1).
    pub fn take(&self, vendor: &str, now: Instant) -> Result<(), u64> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let Ok(mut b) = self.buckets.lock() else {
            return Ok(());
        };
        if b.len() >= MAX_BUCKETS && !b.contains_key(vendor) {
            // Forget buckets that have refilled: they are equivalent to a new one.
            let (rate, burst) = (self.rate, self.burst);
            b.retain(|_, (t, last)| {
                *t + now.saturating_duration_since(*last).as_secs_f64() * rate < burst
            });
        }
        let (tokens, last) = b.entry(vendor.to_owned()).or_insert((self.burst, now));
        let elapsed = now.saturating_duration_since(*last).as_secs_f64();
        *tokens = (*tokens + elapsed * self.rate).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - *tokens) / self.rate).ceil().max(1.0);
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Err(wait as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_starts_full_refills_and_is_per_vendor() {
        let q = Quota::new(2.0, 3.0);
        let t = Instant::now();
        for _ in 0..3 {
            assert!(q.take("a", t).is_ok());
        }
        assert_eq!(q.take("a", t), Err(1));
        assert!(q.take("b", t).is_ok());
        assert!(q.take("a", t + Duration::from_millis(600)).is_ok());
        assert!(q.take("a", t + Duration::from_millis(600)).is_err());
        let off = Quota::new(0.0, 0.0);
        for _ in 0..10_000 {
            assert!(off.take("a", t).is_ok());
        }
    }
}
