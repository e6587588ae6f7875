//! Each sender's rate: one GCRA limiter per sender (channel) at the channel's `throughput_mps` or
//! the default for its number type or kind, charged one permit per SMS segment (one per message
//! elsewhere), and the pause a provider's `Retry-After` puts on the whole sender. The dispatcher's
//! HTTP arm and its SMPP arm wait here the same way ([`SenderRates::admit`]). No lock is held
//! across a wait.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use governor::clock::Clock as _;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use parley_core::model::ChannelKind;
use parley_core::{Clock, ErrorCode};
use parley_store::{Channel, Entry};
use uuid::Uuid;

use crate::outbound::verdict::{Verdict, transient};

/// Provider calls in flight at once within a batch, by default.
pub const DEFAULT_CONCURRENCY: usize = 64;

/// The longest a send waits for its sender's rate limit before giving the job back to the
/// runner (which retries it later): well inside the runner's 60-second lease.
pub const MAX_RATE_WAIT: Duration = Duration::from_secs(20);

/// The longest a provider's `Retry-After` holds a sender back; a longer one is the runner's
/// backoff's business.
pub const MAX_PAUSE: Duration = Duration::from_secs(60);

/// The engine's clock as governor sees it: milliseconds since the epoch as a `Duration`. A
/// manual clock in tests makes the limiter's decisions exact.
#[derive(Debug, Clone)]
struct LimiterClock(Arc<dyn Clock>);

impl governor::clock::Clock for LimiterClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.0.now().millis()).unwrap_or(0))
    }
}

/// One sender's rate: a GCRA limiter with a burst of one second's worth of messages.
struct SenderLimiter {
    mps: u32,
    limiter: RateLimiter<NotKeyed, InMemoryState, LimiterClock, NoOpMiddleware<Duration>>,
    clock: LimiterClock,
    /// Permits taken so far, for metrics and tests.
    charged: AtomicU64,
    /// The provider asked this sender to wait (`Retry-After` on a throttled send) until this
    /// instant of the limiter's clock, in milliseconds: no permit before it.
    paused_until: AtomicU64,
}

impl SenderLimiter {
    fn new(mps: u32, clock: LimiterClock) -> Self {
        let rate = NonZeroU32::new(mps).unwrap_or(NonZeroU32::MIN);
        Self {
            mps,
            limiter: RateLimiter::direct_with_clock(Quota::per_second(rate), clock.clone()),
            clock,
            charged: AtomicU64::new(0),
            paused_until: AtomicU64::new(0),
        }
    }

    /// Takes one permit now, or says how long until one is free.
    fn try_take(&self) -> Result<(), Duration> {
        let now = u64::try_from(self.clock.now().as_millis()).unwrap_or(u64::MAX);
        let paused = self.paused_until.load(Ordering::Relaxed);
        if now < paused {
            return Err(Duration::from_millis(paused - now));
        }
        match self.limiter.check() {
            Ok(()) => {
                self.charged.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            // Rounded up to whole milliseconds, the unit of the clock the limiter reads.
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                let millis = u64::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(u64::MAX);
                Err(Duration::from_millis(millis.max(1)))
            }
        }
    }
}

/// The permits a message costs its sender: one per SMS segment, one per message elsewhere.
pub fn rate_permits(kind: ChannelKind, text: &str) -> u32 {
    match kind {
        ChannelKind::Sms => {
            u32::try_from(parley_core::sms::analyze(text).segments.max(1)).unwrap_or(u32::MAX)
        }
        ChannelKind::Whatsapp | ChannelKind::Messenger | ChannelKind::Web => 1,
    }
}

/// The messages per second a channel may send: its `throughput_mps`, or its default.
pub fn sender_rate(channel: &Channel) -> u32 {
    let configured = channel
        .throughput_mps
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    parley_core::channel::effective_throughput(channel.kind, channel.number_type, configured)
        .unwrap_or_else(|_| {
            channel
                .number_type
                .map_or(channel.kind.default_throughput(), |t| {
                    t.default_throughput()
                })
        })
}

/// The limiters of every sender this node has sent for.
pub struct SenderRates {
    clock: Arc<dyn Clock>,
    limiters: Mutex<HashMap<Uuid, Arc<SenderLimiter>>>,
}

impl std::fmt::Debug for SenderRates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SenderRates").finish_non_exhaustive()
    }
}

impl SenderRates {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            limiters: Mutex::new(HashMap::new()),
        }
    }

    /// The limiter of a channel, created at its current rate (and replaced when the rate
    /// changed). The map's lock is held only for the lookup.
    fn limiter(&self, channel: &Channel) -> Arc<SenderLimiter> {
        let mps = sender_rate(channel);
        let mut map = self.limiters.lock().unwrap_or_else(PoisonError::into_inner);
        match map.get(&channel.id) {
            Some(l) if l.mps == mps => l.clone(),
            _ => {
                let l = Arc::new(SenderLimiter::new(mps, LimiterClock(self.clock.clone())));
                map.insert(channel.id, l.clone());
                l
            }
        }
    }

    /// Takes `permits` from the channel's limiter if they are all free now; otherwise takes as
    /// many as are free and says how long until the next one. Never waits.
    pub fn try_acquire(&self, channel: &Channel, permits: u32) -> Result<(), Duration> {
        let limiter = self.limiter(channel);
        for _ in 0..permits {
            limiter.try_take()?;
        }
        Ok(())
    }

    /// Holds the channel's sends back for `delay` (at most [`MAX_PAUSE`]): the provider
    /// throttled it and said when to come back, which holds for every message of the sender,
    /// not only the one that was refused.
    pub fn pause(&self, channel: &Channel, delay: Duration) {
        let limiter = self.limiter(channel);
        let now = u64::try_from(limiter.clock.now().as_millis()).unwrap_or(u64::MAX);
        let delay = u64::try_from(delay.min(MAX_PAUSE).as_millis()).unwrap_or(u64::MAX);
        limiter
            .paused_until
            .fetch_max(now.saturating_add(delay), Ordering::Relaxed);
    }

    /// Permits the channel's limiter has handed out since it was created at its current rate.
    pub fn charged(&self, channel_id: Uuid) -> u64 {
        let map = self.limiters.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(&channel_id)
            .map_or(0, |l| l.charged.load(Ordering::Relaxed))
    }

    /// Waits until the sender may send `permits` more segments, one permit at a time so a
    /// message longer than the burst still goes. Gives up (false) after [`MAX_RATE_WAIT`].
    pub async fn wait(&self, channel: &Channel, permits: u32) -> bool {
        let limiter = self.limiter(channel);
        let mut waited = Duration::ZERO;
        for _ in 0..permits {
            loop {
                match limiter.try_take() {
                    Ok(()) => break,
                    Err(wait) => {
                        waited = waited.saturating_add(wait);
                        if waited > MAX_RATE_WAIT {
                            return false;
                        }
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
        true
    }

    /// Waits for the sender's turn to send `entry` as `permits` permits; when it does not come
    /// within [`MAX_RATE_WAIT`], the verdict that gives the job back: nothing was sent, so it is
    /// retried like any transient failure (and failed with 0001 rather than left queued
    /// silently on the last attempt).
    pub(crate) async fn admit(
        &self,
        entry: &Entry,
        channel: &Channel,
        permits: u32,
        last_attempt: bool,
    ) -> Result<(), Verdict> {
        if self.wait(channel, permits).await {
            return Ok(());
        }
        let detail = format!(
            "the sender is at its rate of {} messages per second",
            sender_rate(channel)
        );
        Err(transient(
            entry,
            ErrorCode::ServiceUnavailable,
            &detail,
            last_attempt,
        ))
    }
}
