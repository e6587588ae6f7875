//! Outgoing webhook subscriptions: the event names other systems subscribe to, and when a failed
//! delivery is tried again.

use std::time::Duration;

/// The event types a subscription may name. These are the API's names: they never change.
pub const EVENT_TYPES: [&str; 8] = [
    "message.received",
    "message.status",
    "consent.changed",
    "session.opened",
    "session.ended",
    "case.opened",
    "case.updated",
    "case.closed",
];

/// The event a test call sends; not subscribable.
pub const PING: &str = "ping";

/// Attempts after which a delivery is given up (`failed`).
pub const MAX_ATTEMPTS: i64 = 8;

/// The shortest secret a caller may choose.
pub const MIN_SECRET_LEN: usize = 16;

/// Waits after the 1st, 2nd, ... failed attempt; the last one repeats.
const SCHEDULE: [Duration; 7] = [
    Duration::from_secs(10),
    Duration::from_secs(60),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(6 * 3600),
    Duration::from_secs(6 * 3600),
];

pub fn is_event_type(name: &str) -> bool {
    EVENT_TYPES.contains(&name)
}

/// What follows failed attempt number `attempt` (1-based): the wait before the next one, or
/// `None` to give up. `unit` in [0, 1) adds up to a fifth of the wait as jitter, so receivers
/// coming back from an outage are not hit by every delivery at the same instant.
pub fn retry_after(attempt: i64, unit: f64) -> Option<Duration> {
    if attempt >= MAX_ATTEMPTS {
        return None;
    }
    let index = usize::try_from(attempt.max(1) - 1).unwrap_or(0);
    let base = SCHEDULE
        .get(index)
        .or(SCHEDULE.last())
        .copied()
        .unwrap_or(Duration::from_secs(60));
    let unit = if unit.is_finite() {
        unit.clamp(0.0, 1.0)
    } else {
        0.0
    };
    Some(base + base.mul_f64(unit / 5.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn waits_grow_then_give_up() {
        assert_eq!(retry_after(1, 0.0), Some(Duration::from_secs(10)));
        assert_eq!(retry_after(2, 0.0), Some(Duration::from_secs(60)));
        assert_eq!(retry_after(6, 0.0), Some(Duration::from_secs(6 * 3600)));
        assert_eq!(retry_after(MAX_ATTEMPTS, 0.0), None);
    }

    proptest! {
        #[test]
        fn jitter_stays_within_a_fifth(attempt in 1i64..MAX_ATTEMPTS, unit in 0.0f64..1.0) {
            let base = retry_after(attempt, 0.0).unwrap();
            let got = retry_after(attempt, unit).unwrap();
            prop_assert!(got >= base && got <= base + base / 5);
        }
    }
}
