//! When a failed job runs again: exponential backoff with full jitter, capped, and a dead-letter
//! state once attempts run out.

use std::time::Duration;

/// Retry policy for one kind of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub cap: Duration,
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(15 * 60),
            max_attempts: 10,
        }
    }
}

/// What to do with a job whose attempt number `attempt` (1-based) just failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    RetryAfter(Duration),
    DeadLetter,
}

impl RetryPolicy {
    /// The ceiling of the backoff for the given attempt: base * 2^(attempt-1), capped.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        self.base.saturating_mul(1u32 << exp).min(self.cap)
    }

    /// Decides the next step. `unit` is a uniform random number in [0, 1) supplied by the caller so
    /// the rule stays deterministic under test; the delay is half the ceiling plus jitter over the
    /// other half, which spreads retries without ever retrying immediately.
    pub fn decide(&self, attempt: u32, unit: f64) -> RetryDecision {
        if attempt >= self.max_attempts {
            return RetryDecision::DeadLetter;
        }
        let ceiling = self.ceiling(attempt);
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let half = ceiling / 2;
        RetryDecision::RetryAfter(half + half.mul_f64(unit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn grows_then_caps_then_dead_letters() {
        let p = RetryPolicy {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
            max_attempts: 10,
        };
        assert_eq!(p.ceiling(1), Duration::from_secs(1));
        assert_eq!(p.ceiling(4), Duration::from_secs(8));
        assert_eq!(p.ceiling(9), Duration::from_secs(60));
        assert_eq!(p.decide(10, 0.5), RetryDecision::DeadLetter);
    }

    proptest! {
        #[test]
        fn delay_within_half_and_full_ceiling(attempt in 1u32..9, unit in 0.0f64..1.0) {
            let p = RetryPolicy::default();
            match p.decide(attempt, unit) {
                RetryDecision::RetryAfter(d) => {
                    prop_assert!(d >= p.ceiling(attempt) / 2);
                    prop_assert!(d <= p.ceiling(attempt));
                }
                RetryDecision::DeadLetter => prop_assert!(false, "dead-lettered early"),
            }
        }
    }
}
