//! Configuration of one SMPP bind.

use std::fmt;
use std::time::Duration;

/// Exponential back-off bounds. The n-th consecutive wait (n starting at 1) is drawn uniformly
/// from `[d/2, d]` where `d = min(max, min * 2^(n-1))` ("equal jitter"), so two clients that lost
/// the same SMSC at the same moment do not reconnect in lock-step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// First (smallest) delay.
    pub min: Duration,
    /// Largest delay; the delay stops growing here.
    pub max: Duration,
}

impl Backoff {
    /// Back-off between `min` and `max`.
    pub const fn new(min: Duration, max: Duration) -> Self {
        Self { min, max }
    }

    /// The un-jittered ceiling of the `attempt`-th wait (1-based; 0 is treated as 1).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let shift = attempt.saturating_sub(1).min(30);
        let factor = 1u32 << shift;
        let max = self.max.max(self.min);
        self.min.checked_mul(factor).map_or(max, |d| d.min(max))
    }

    /// The jittered delay of the `attempt`-th wait (1-based), in `[ceiling/2, ceiling]`.
    pub fn delay(&self, attempt: u32) -> Duration {
        use rand::Rng;
        let ceiling = self.ceiling(attempt);
        let half = ceiling / 2;
        let spread = ceiling.saturating_sub(half);
        let nanos = u64::try_from(spread.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return ceiling;
        }
        half + Duration::from_nanos(rand::rng().random_range(0..=nanos))
    }
}

/// Everything needed to bind as a transceiver to one SMSC and keep the bind up.
///
/// `password` is never printed by `Debug`.
#[derive(Clone)]
pub struct SmppConfig {
    /// SMSC host name or address.
    pub host: String,
    /// SMSC TCP port (2775 by convention).
    pub port: u16,
    /// `system_id` of the bind (at most 15 ASCII characters).
    pub system_id: String,
    /// Bind password (at most 8 ASCII characters, an SMPP 3.4 limit).
    pub password: String,
    /// `system_type` of the bind (at most 12 ASCII characters, often empty).
    pub system_type: String,
    /// Largest number of submit_sm awaiting their submit_sm_resp at any time (at least 1).
    pub window: usize,
    /// How often an enquire_link is sent while the link is up.
    pub enquire_link_interval: Duration,
    /// How long to wait for any response (bind_transceiver_resp, submit_sm_resp,
    /// enquire_link_resp, unbind_resp), and for one TCP connect, before giving up on it.
    pub response_timeout: Duration,
    /// How long a submission may wait in the client's queue (link down, window full, throttled)
    /// before it is given up as [`crate::NotSentReason::QueueTimeout`]. Never applies once the
    /// submit_sm has been written.
    pub queue_timeout: Duration,
    /// Back-off between reconnection attempts after the link drops or a re-bind fails.
    pub reconnect_backoff: Backoff,
    /// Pause of all submits after an `ESME_RTHROTTLED` answer (grows with consecutive throttles,
    /// resets after an accepted submit).
    pub throttle_backoff: Backoff,
    /// How many times one submit_sm is re-sent after `ESME_RTHROTTLED` before the throttle is
    /// handed back to the caller as [`crate::SubmitError::Rejected`].
    pub max_throttle_retries: u32,
    /// How long an incomplete concatenated inbound message waits for its missing parts before it
    /// is surfaced with `complete == false`.
    pub reassembly_timeout: Duration,
    /// Capacity of the inbound event channel. When it is full, deliver_sm is answered with
    /// `ESME_RMSGQFUL` so the SMSC delivers it again later (nothing is dropped).
    pub inbound_capacity: usize,
}

impl SmppConfig {
    /// A configuration with sensible defaults: window 10, enquire_link every 30 s, responses
    /// within 10 s, reconnect back-off 1 s..60 s, throttle back-off 200 ms..10 s.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        system_id: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        Self {
            host: host.into(),
            port,
            system_id: system_id.into(),
            password: password.into(),
            system_type: String::new(),
            window: 10,
            enquire_link_interval: Duration::from_secs(30),
            response_timeout: Duration::from_secs(10),
            queue_timeout: Duration::from_secs(30),
            reconnect_backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(60)),
            throttle_backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(10)),
            max_throttle_retries: 10,
            reassembly_timeout: Duration::from_secs(300),
            inbound_capacity: 1024,
        }
    }
}

impl fmt::Debug for SmppConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmppConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("system_id", &self.system_id)
            .field("password", &"<redacted>")
            .field("system_type", &self.system_type)
            .field("window", &self.window)
            .field("enquire_link_interval", &self.enquire_link_interval)
            .field("response_timeout", &self.response_timeout)
            .field("queue_timeout", &self.queue_timeout)
            .field("reconnect_backoff", &self.reconnect_backoff)
            .field("throttle_backoff", &self.throttle_backoff)
            .field("max_throttle_retries", &self.max_throttle_retries)
            .field("reassembly_timeout", &self.reassembly_timeout)
            .field("inbound_capacity", &self.inbound_capacity)
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_password() {
        let cfg = SmppConfig::new("localhost", 2775, "parley", "s3cr3t!");
        let printed = format!("{cfg:?}");
        assert!(!printed.contains("s3cr3t!"));
        assert!(printed.contains("<redacted>"));
    }

    #[test]
    fn backoff_grows_and_is_bounded() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        assert_eq!(b.ceiling(0), Duration::from_millis(100));
        assert_eq!(b.ceiling(1), Duration::from_millis(100));
        assert_eq!(b.ceiling(2), Duration::from_millis(200));
        assert_eq!(b.ceiling(5), Duration::from_millis(1600));
        assert_eq!(b.ceiling(6), Duration::from_secs(2));
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(2));
        for attempt in 1..40 {
            let d = b.delay(attempt);
            let c = b.ceiling(attempt);
            assert!(d <= c && d >= c / 2, "{d:?} outside [{:?}, {c:?}]", c / 2);
        }
    }
}
