//! The outbound pipeline's way out: every message is an entry row and an outbox job before any
//! provider sees it. The dispatcher claims send jobs, checks consent again at send time (it may
//! have changed since the message was queued: CO-22), applies the length rule and the messaging
//! window, waits for its sender's rate limit, hands the message to its provider, and records the
//! status. Replies to customers carry a higher priority than bulk traffic.
//!
//! Providers: the simulator (in-process), Twilio (REST), Meta WhatsApp Cloud API and Messenger
//! Send API, and SMPP binds for SMS channels with provider `smpp` ([`crate::smpp_link`], which
//! documents how segment results map to the entry). Requests and answers are the pure functions of `parley-channels`; the HTTP call is
//! [`crate::transport`]. Each channel's provider base URL is its `settings.base_url` (the
//! provider's production API when absent), so tests point it at a local server.
//!
//! What each answer does to the entry and the job:
//!
//! | provider answer | entry | job |
//! |---|---|---|
//! | accepted | provider id and initial status (`queued`/`sent`) | done |
//! | rejected | `failed`, catalogue code, provider code in `provider_error`; Twilio 21610 also opts the user out | done |
//! | transient (429, 5xx, connect failure) | stays `queued`, last failure in `provider_error` | retried with the runner's backoff; on the last attempt the entry fails with the carried code |
//! | ambiguous (timeout after the request was written, 2xx without an id) | stays `queued`, `provider_error` says the fate is unknown | dead-lettered (`Permanent`), never resent automatically |
//!
//! Ambiguous sends are not failed because the message may well have reached the customer (and a
//! later status callback may still find it); they are not retried because no provider we use
//! deduplicates sends, so a retry could text the customer twice. The dead job is the operator's
//! signal to look.
//!
//! Batches: the engine's runner hands the dispatcher a whole claim of send jobs
//! ([`crate::dispatch`]): their entries, sessions and messaging users are read in a few queries,
//! the provider calls run concurrently (bounded), and every status change of the batch is written
//! in one transaction that also settles the jobs. Each sender is driven by one node at a time,
//! the holder of its lease (see [`crate::dispatch`]).
//!
//! Rate limits: one GCRA limiter per sender (channel) in the [`Outbound`] value, at the channel's
//! `throughput_mps` or the default for its number type or kind, charged one permit per SMS
//! segment (one per message elsewhere). A job waits for its own sender's permits; the runner runs
//! a batch's jobs concurrently, so other senders' jobs go on meanwhile. No lock is held across a
//! wait or a provider call. A throttled answer with `Retry-After` pauses the whole sender for that
//! long (at most [`MAX_PAUSE`]); the throttled job itself goes back to the runner, whose backoff
//! decides when it runs again.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::Clock as _;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use parley_channels::adapter::{Outgoing, OutgoingFile, OutgoingTemplate, SendPath};
use parley_channels::http::{ProviderFailure, SendOutcome};
use parley_channels::simulator::{FaultKind, SimulatorSettings};
use parley_core::consent::{SendPurpose, SendRefused, may_send};
use parley_core::model::{Actor, ChannelKind, Direction, EntryStatus};
use parley_core::{Clock, ErrorCode, Timestamp, new_id};
use parley_store::outbox::{EntryChange, OptOut};
use parley_store::{
    Channel, Entry, Job, MessagingUser, NewJob, NewSimulatorMessage, Session, Store, StoreError,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::dispatch::{SenderLeases, Target, Verdict};
use crate::events::{DomainEvent, EventBus};
use crate::runner::JobOutcome;
use crate::smpp_link::SmppLinks;
use crate::transport::{HttpTransport, TransportError};

pub const QUEUE: &str = "outbound";
pub const KIND: &str = "outbound.send";
/// Answers to a customer who is waiting go first.
pub const REPLY_PRIORITY: i64 = 100;
/// Campaigns and broadcasts wait behind replies.
pub const BULK_PRIORITY: i64 = 0;

/// What a send job carries: the entry to send and why, for the consent gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendRequest {
    pub entry_id: Uuid,
    pub purpose: SendPurpose,
}

/// The outbox job for an entry. The entry id is the idempotency key: one job per entry.
pub fn send_job(entry_id: Uuid, purpose: SendPurpose, priority: i64, now: Timestamp) -> NewJob {
    let payload = serde_json::to_string(&SendRequest { entry_id, purpose })
        .unwrap_or_else(|_| format!("{{\"entry_id\":\"{entry_id}\"}}"));
    let mut job = NewJob::new(QUEUE, KIND, payload, now);
    job.priority = priority;
    job.dedupe_key = Some(format!("send:{entry_id}"));
    job
}

/// An automatic answer (consent confirmation, help, hand-off reply) as a queued entry.
pub fn auto_response_entry(session_id: Uuid, text: String, now: Timestamp) -> Entry {
    Entry {
        id: new_id(),
        session_id,
        direction: Direction::Outbound,
        actor: Actor::System,
        actor_id: None,
        body: text,
        media: Vec::new(),
        provider_message_id: None,
        status: EntryStatus::Queued,
        error_code: None,
        provider_error: None,
        created_at: now,
        updated_at: now,
        template: None,
    }
}

/// The longest a send waits for its sender's rate limit before giving the job back to the
/// runner (which retries it later): well inside the runner's 60-second lease.
pub const MAX_RATE_WAIT: Duration = Duration::from_secs(20);

/// The longest a provider's `Retry-After` holds a sender back; a longer one is the runner's
/// backoff's business.
pub const MAX_PAUSE: Duration = Duration::from_secs(60);

/// The dispatcher.
#[derive(Clone)]
pub struct Outbound {
    store: Store,
    clock: Arc<dyn Clock>,
    events: EventBus,
    transport: Option<HttpTransport>,
    limiters: Arc<Mutex<HashMap<Uuid, Arc<SenderLimiter>>>>,
    /// The SMPP binds of SMS channels with provider `smpp` (see [`crate::smpp_link`]).
    smpp: Arc<SmppLinks>,
    /// The senders this node may drive (see [`crate::dispatch`]).
    pub(crate) leases: Arc<SenderLeases>,
    /// Provider calls in flight at once within a batch.
    pub(crate) concurrency: usize,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound").finish_non_exhaustive()
    }
}

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

impl Outbound {
    pub fn new(store: Store, clock: Arc<dyn Clock>, events: EventBus) -> Self {
        let transport = match HttpTransport::new() {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::error!(error = %e, "no HTTP client: provider sends will fail");
                None
            }
        };
        Self {
            events,
            transport,
            limiters: Arc::new(Mutex::new(HashMap::new())),
            smpp: Arc::new(SmppLinks::default()),
            leases: Arc::new(SenderLeases::new(
                store.clone(),
                clock.clone(),
                format!("node-{}", Uuid::now_v7()),
                crate::dispatch::DEFAULT_SENDER_LEASE,
            )),
            concurrency: crate::dispatch::DEFAULT_CONCURRENCY,
            store,
            clock,
        }
    }

    /// Holds sender leases as `owner` for `ttl` (one owner name per node).
    pub fn with_sender_leases(mut self, owner: impl Into<String>, ttl: Duration) -> Self {
        self.leases = Arc::new(SenderLeases::new(
            self.store.clone(),
            self.clock.clone(),
            owner.into(),
            ttl,
        ));
        self
    }

    /// Lets `n` provider calls of a batch be in flight at once (at least one).
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The sender leases this dispatcher holds or seeks.
    pub fn sender_leases(&self) -> &Arc<SenderLeases> {
        &self.leases
    }

    /// Feeds messages received over SMPP binds into the inbound pipeline.
    pub fn with_ingest(self, ingest: crate::ingest::Ingest) -> Self {
        self.smpp.set_ingest(ingest);
        self
    }

    /// The SMPP binds (made on each SMPP channel's first send).
    pub fn smpp_links(&self) -> &SmppLinks {
        &self.smpp
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub(crate) fn events(&self) -> &EventBus {
        &self.events
    }

    /// Uses `transport` for provider calls (a shorter timeout in tests, for instance).
    pub fn with_transport(mut self, transport: HttpTransport) -> Self {
        self.transport = Some(transport);
        self
    }

    /// The limiter of a channel, created at its current rate (and replaced when the rate changed).
    /// The map's lock is held only for the lookup.
    fn limiter(&self, channel: &Channel) -> Arc<SenderLimiter> {
        let mps = sender_rate(channel);
        let mut map = self
            .limiters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
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

    /// Holds the channel's sends back for `delay` (at most [`MAX_PAUSE`]): the provider throttled
    /// it and said when to come back, which holds for every message of the sender, not only the
    /// one that was refused.
    pub fn pause_sender(&self, channel: &Channel, delay: Duration) {
        let limiter = self.limiter(channel);
        let now = u64::try_from(limiter.clock.now().as_millis()).unwrap_or(u64::MAX);
        let delay = u64::try_from(delay.min(MAX_PAUSE).as_millis()).unwrap_or(u64::MAX);
        limiter
            .paused_until
            .fetch_max(now.saturating_add(delay), Ordering::Relaxed);
    }

    /// Permits the channel's limiter has handed out since it was created at its current rate.
    pub fn permits_charged(&self, channel_id: Uuid) -> u64 {
        let map = self
            .limiters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(&channel_id)
            .map_or(0, |l| l.charged.load(Ordering::Relaxed))
    }

    /// Waits until the sender may send `permits` more segments, one permit at a time so a
    /// message longer than the burst still goes. Gives up (false) after [`MAX_RATE_WAIT`].
    pub(crate) async fn wait_for_rate(&self, channel: &Channel, permits: u32) -> bool {
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

    /// Sends one queued entry on its own: the same decisions as a batch
    /// ([`Outbound::send_batch`]), with its writes in a transaction of their own. The caller (a
    /// runner's per-job handler, a test) records the job's outcome.
    pub async fn send(&self, job: Job) -> JobOutcome {
        let request: SendRequest = match serde_json::from_str(&job.payload) {
            Ok(r) => r,
            Err(e) => return JobOutcome::Permanent(format!("malformed send request: {e}")),
        };
        let last_attempt = is_last_attempt(&job);
        let target = match self.target_of(&request, last_attempt).await {
            Ok(Some(t)) => t,
            // Sent already (a retry after a crash between the provider and the status write).
            Ok(None) => return JobOutcome::Done,
            Err(StoreError::NotFound { entity }) => {
                return JobOutcome::Permanent(format!(
                    "{entity} of entry {} no longer exists",
                    request.entry_id
                ));
            }
            Err(e) => return JobOutcome::Retry(e.to_string()),
        };
        let lease = crate::dispatch::SenderLeases::name(target.channel.id);
        match self.leases.hold(&lease).await {
            Ok(true) => {}
            Ok(false) => return JobOutcome::Retry(format!("{lease} is held by another node")),
            Err(e) => return JobOutcome::Retry(e.to_string()),
        }
        let verdict = self.decide(&target).await;
        let outcome = verdict.outcome.clone();
        match self.commit_verdicts(vec![verdict], &[], "").await {
            Ok(_) => outcome,
            Err(e) => JobOutcome::Retry(e.to_string()),
        }
    }

    /// What a send needs, read from the store one row at a time (`None`: the entry is no longer
    /// `queued`, so there is nothing to send).
    async fn target_of(
        &self,
        request: &SendRequest,
        last_attempt: bool,
    ) -> Result<Option<Target>, StoreError> {
        let entry = self.store.entry(request.entry_id).await?;
        if entry.status != EntryStatus::Queued {
            return Ok(None);
        }
        let session = self.store.session(entry.session_id).await?;
        let user = self.store.messaging_user(session.messaging_user_id).await?;
        let channel = Arc::new(self.store.channel(session.channel_id).await?);
        let template_approved = template_approved(&self.store, channel.id, &entry).await?;
        Ok(Some(Target {
            entry,
            session,
            user,
            channel,
            purpose: request.purpose,
            last_attempt,
            template_approved,
        }))
    }

    /// Authorize, fit, prepare, wait for the sender's rate, call the provider, and say what that
    /// means for the entry and the job. Writes nothing: the caller commits the verdict (alone or
    /// with its batch). No lock is held here, and no transaction is open.
    pub(crate) async fn decide(&self, target: &Target) -> Verdict {
        let Target {
            entry,
            session,
            user,
            channel,
            purpose,
            last_attempt,
            template_approved,
        } = target;
        let (channel, last_attempt) = (channel.as_ref(), *last_attempt);
        let now = self.clock.now();

        // Authorize at send time, with the consent as it is now.
        if let Err(refused) = may_send(user.consent_status, channel.consent_level, *purpose) {
            return fail(
                entry,
                ErrorCode::RecipientBlockedUs,
                &consent_reason(&refused),
            );
        }
        // A template must still be approved when it leaves (it may have been paused or rejected
        // since the message was queued).
        if !template_approved {
            return fail(
                entry,
                ErrorCode::ContentRejected,
                "not sent: its template is no longer approved",
            );
        }
        // Fit: what the channel can carry.
        if let Err((code, reason)) = fit(channel, entry) {
            return fail(entry, code, &reason);
        }

        let Some(adapter) = crate::channel_rules::adapter_of(channel) else {
            let reason = format!(
                "not sent: the channel's provider '{}' is not known to this server",
                channel.provider
            );
            return fail(entry, ErrorCode::ChannelUnavailable, &reason)
                .with_outcome(JobOutcome::Permanent(reason));
        };
        let config = crate::channel_rules::adapter_view(channel);
        let prepared = match adapter.send_path() {
            SendPath::Simulated => {
                return self
                    .send_simulated(entry, channel, user, last_attempt)
                    .await;
            }
            SendPath::SmppLink => {
                return self.send_smpp(entry, channel, user, last_attempt).await;
            }
            SendPath::Http | SendPath::Unavailable => {
                adapter.prepare_send(&config, &outgoing(entry, session, user, now))
            }
        };
        let (request_http, interpret, provider) = match prepared {
            Ok(p) => (p.request, p.interpret, p.label),
            // A provider this server cannot drive yet dead-letters the job too, so operators
            // see it; every other refusal is fully recorded on the entry.
            Err(refusal) if refusal.code == ErrorCode::ChannelUnavailable => {
                return fail(entry, ErrorCode::ChannelUnavailable, &refusal.reason)
                    .with_outcome(JobOutcome::Permanent(refusal.reason));
            }
            Err(refusal) => return fail(entry, refusal.code, &refusal.reason),
        };
        let Some(transport) = &self.transport else {
            let reason = "this server has no HTTP client for provider sends".to_owned();
            return fail(entry, ErrorCode::ChannelUnavailable, &reason)
                .with_outcome(JobOutcome::Permanent(reason));
        };

        // Dispatch: the sender's rate, then the provider. Nothing is locked meanwhile.
        let permits = rate_permits(channel.kind, &entry.body);
        if !self.wait_for_rate(channel, permits).await {
            // Nothing was sent: back to the queue like any transient failure (and failed with
            // 0001 rather than left queued silently if this was the last attempt).
            let detail = format!(
                "the sender is at its rate of {} messages per second",
                sender_rate(channel)
            );
            return transient(entry, ErrorCode::ServiceUnavailable, &detail, last_attempt);
        }
        let answer = transport.execute(&request_http).await;
        let outcome = match answer {
            Ok(response) => interpret(&response),
            Err(TransportError::NotSent(reason)) => {
                metrics::counter!("parley_outbound_transient_total", "provider" => provider)
                    .increment(1);
                return transient(entry, ErrorCode::ServiceUnavailable, &reason, last_attempt);
            }
            Err(TransportError::Ambiguous(reason)) => {
                return ambiguous(entry, provider, &reason);
            }
            Err(TransportError::Invalid(reason)) => {
                return fail(entry, ErrorCode::ServiceMisconfigured, &reason);
            }
        };
        match outcome {
            SendOutcome::Accepted(accepted) => {
                metrics::counter!("parley_outbound_sent_total", "provider" => provider)
                    .increment(1);
                dispatched(entry, accepted.status, accepted.provider_message_id)
            }
            SendOutcome::Rejected(failure) => {
                metrics::counter!("parley_outbound_rejected_total", "provider" => provider)
                    .increment(1);
                let detail = failure_text(&failure);
                let mut verdict = fail(entry, failure.code, &detail);
                if failure.recipient_opted_out
                    && let Some(write) = verdict.write.as_mut()
                {
                    write.opt_out = Some(OptOut {
                        messaging_user_id: user.id,
                        entry_id: entry.id,
                        reason: format!(
                            "the carrier reports the recipient unsubscribed ({})",
                            failure.provider_code
                        ),
                    });
                }
                verdict
            }
            SendOutcome::Transient {
                failure,
                retry_after,
            } => {
                metrics::counter!("parley_outbound_transient_total", "provider" => provider)
                    .increment(1);
                let mut detail = failure_text(&failure);
                if let Some(after) = retry_after {
                    let delay = after.delay_from(self.clock.now());
                    self.pause_sender(channel, delay);
                    detail.push_str(&format!(
                        " (the provider asked to retry in {} s)",
                        delay.as_secs()
                    ));
                }
                transient(entry, failure.code, &detail, last_attempt)
            }
            SendOutcome::Ambiguous { reason, .. } => ambiguous(entry, provider, &reason),
        }
    }

    /// The simulator "sends" by recording the message, keyed by entry so a retry records it once.
    /// Its channel's `settings.simulate` injects what real networks do, for tests and demos:
    /// `{"error_rate": 0.2, "error": "transient" | "permanent", "latency_ms": 50}`.
    async fn send_simulated(
        &self,
        entry: &Entry,
        channel: &Channel,
        user: &MessagingUser,
        last_attempt: bool,
    ) -> Verdict {
        let faults = SimulatorSettings::faults(&crate::channel_rules::adapter_view(channel));
        if faults.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(faults.latency_ms.min(10_000))).await;
        }
        if faults.error_rate > 0.0 && rand::random::<f64>() < faults.error_rate {
            return match faults.error {
                FaultKind::Transient => transient(
                    entry,
                    ErrorCode::ServiceUnavailable,
                    "simulated network failure",
                    last_attempt,
                ),
                FaultKind::Permanent => fail(
                    entry,
                    ErrorCode::DestinationInvalid,
                    "simulated: the number does not exist",
                ),
            };
        }
        metrics::counter!("parley_outbound_sent_total", "provider" => "simulator").increment(1);
        Verdict::write(
            entry,
            EntryChange::Simulated {
                message: NewSimulatorMessage {
                    channel_id: channel.id,
                    direction: Direction::Outbound,
                    from_addr: channel.address.clone(),
                    to_addr: user.platform_key.clone(),
                    body: entry.body.clone(),
                    status: "delivered".to_owned(),
                    entry_id: Some(entry.id),
                },
                status: EntryStatus::Delivered,
            },
            JobOutcome::Done,
            true,
        )
    }

    /// Records a provider's status report for a message it took. Reports arrive in any order;
    /// only a step forward is kept. A report that the recipient unsubscribed at the carrier
    /// (Twilio 21610) opts the messaging user out.
    pub async fn record_status(
        &self,
        channel_id: Uuid,
        provider_message_id: &str,
        status: EntryStatus,
        error_code: Option<ErrorCode>,
        provider_error: Option<&str>,
        recipient_opted_out: bool,
    ) -> Result<(), StoreError> {
        let Some(entry) = self
            .store
            .entry_by_provider_id(channel_id, provider_message_id)
            .await?
        else {
            tracing::debug!(provider_message_id, "status for a message we do not know");
            return Ok(());
        };
        let now = self.clock.now();
        if entry.status.may_become(status) {
            self.store
                .set_entry_status(
                    entry.id,
                    status,
                    error_code.map(|c| c.code()),
                    provider_error,
                    now,
                )
                .await?;
            self.events.publish(DomainEvent::MessageStatusChanged {
                session_id: entry.session_id,
                entry_id: entry.id,
            });
        }
        if recipient_opted_out {
            self.opt_out_recipient(&entry, provider_error, now).await?;
        }
        Ok(())
    }

    /// The carrier says the recipient unsubscribed from this sender (Twilio 21610): opt the
    /// messaging user out, with the entry and the provider's code in the consent history. Once.
    async fn opt_out_recipient(
        &self,
        entry: &Entry,
        provider_error: Option<&str>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        use parley_core::model::{ConsentSource, ConsentStatus};
        let session = self.store.session(entry.session_id).await?;
        let user = self.store.messaging_user(session.messaging_user_id).await?;
        if user.consent_status == Some(ConsentStatus::OptedOut) {
            return Ok(());
        }
        self.store
            .set_consent(
                user.id,
                ConsentStatus::OptedOut,
                &parley_store::ConsentOrigin {
                    source: ConsentSource::Provider,
                    reason: format!(
                        "the carrier reports the recipient unsubscribed ({})",
                        provider_error.unwrap_or("provider")
                    ),
                    entry_id: Some(entry.id),
                },
                now,
            )
            .await?;
        self.events.publish(DomainEvent::ConsentChanged {
            messaging_user_id: user.id,
        });
        Ok(())
    }
}

/// Whether an entry's template (if it has one) is approved on the channel now.
pub(crate) async fn template_approved(
    store: &Store,
    channel_id: Uuid,
    entry: &Entry,
) -> Result<bool, StoreError> {
    let Some(t) = &entry.template else {
        return Ok(true);
    };
    Ok(store
        .template(channel_id, &t.name, &t.language)
        .await?
        .is_some_and(|found| found.status == parley_core::model::TemplateStatus::Approved))
}

/// Whether this attempt is the job's last one, so a transient failure fails the entry instead.
pub(crate) fn is_last_attempt(job: &Job) -> bool {
    job.attempts
        >= job.max_attempts.min(i64::from(
            parley_core::retry::RetryPolicy::default().max_attempts,
        ))
}

/// Nothing was sent, for a reason that should pass: the entry stays queued with the reason,
/// and the runner retries; on the last attempt the entry fails with `code`.
pub(crate) fn transient(
    entry: &Entry,
    code: ErrorCode,
    detail: &str,
    last_attempt: bool,
) -> Verdict {
    if last_attempt {
        let reason = format!("gave up after the last attempt: {detail}");
        return fail(entry, code, &reason).with_outcome(JobOutcome::Permanent(reason));
    }
    Verdict::write(
        entry,
        EntryChange::Status {
            status: EntryStatus::Queued,
            error_code: None,
            provider_error: Some(format!("will retry: {detail}")),
        },
        JobOutcome::Retry(detail.to_owned()),
        false,
    )
}

/// The provider may have taken the message: keep the entry queued, say so, and dead-letter
/// the job rather than risk texting the customer twice (see the module docs).
pub(crate) fn ambiguous(entry: &Entry, provider: &'static str, reason: &str) -> Verdict {
    let note = format!(
        "ambiguous: {provider} may have taken this message ({reason}); not resent \
         automatically"
    );
    metrics::counter!("parley_outbound_ambiguous_total", "provider" => provider).increment(1);
    Verdict::write(
        entry,
        EntryChange::Status {
            status: EntryStatus::Queued,
            error_code: None,
            provider_error: Some(note.clone()),
        },
        JobOutcome::Permanent(note),
        true,
    )
}

/// Not sent, for good: the entry fails with the catalogue code and the reason.
pub(crate) fn fail(entry: &Entry, code: ErrorCode, reason: &str) -> Verdict {
    Verdict::write(
        entry,
        EntryChange::Status {
            status: EntryStatus::Failed,
            error_code: Some(code.code().to_owned()),
            provider_error: Some(reason.to_owned()),
        },
        JobOutcome::Done,
        true,
    )
}

/// The provider took the message.
pub(crate) fn dispatched(
    entry: &Entry,
    status: EntryStatus,
    provider_message_id: String,
) -> Verdict {
    Verdict::write(
        entry,
        EntryChange::Dispatched {
            status,
            provider_message_id,
        },
        JobOutcome::Done,
        true,
    )
}

fn consent_reason(refused: &SendRefused) -> String {
    format!("not sent: {refused}")
}

/// The provider's refusal as kept beside the catalogue code: its code, subcode and words.
fn failure_text(f: &ProviderFailure) -> String {
    let mut text = f.provider_code.clone();
    if let Some(sub) = &f.provider_subcode {
        text.push('/');
        text.push_str(sub);
    }
    if let Some(m) = &f.message {
        text.push_str(": ");
        text.push_str(m);
    }
    if let Some(d) = &f.details {
        text.push_str(" (");
        text.push_str(d);
        text.push(')');
    }
    text
}

/// Fit: whether the channel can carry the entry as it is: the length rule (3004) and the media
/// rules of `parley_core::media` (3002 type, 3005 size, 3006 count, 3001 text with a file). A
/// refusal carries the catalogue code and the reason recorded on the entry.
fn fit(channel: &Channel, entry: &Entry) -> Result<(), (ErrorCode, String)> {
    if let Err(e) = parley_core::sms::check_length(channel.kind, &entry.body) {
        return Err((e.error_code(), format!("not sent: {e}")));
    }
    if entry.media.is_empty() {
        return Ok(());
    }
    if !crate::compose::provider_carries_files(&channel.provider) {
        return Err((
            ErrorCode::AttachmentTypeUnsupported,
            format!(
                "not sent: the {} provider carries no files",
                channel.provider
            ),
        ));
    }
    let files: Vec<parley_core::media::OutboundFile<'_>> = entry
        .media
        .iter()
        .map(|m| parley_core::media::OutboundFile {
            content_type: &m.content_type,
            size: m.size,
        })
        .collect();
    parley_core::media::check_outbound(crate::compose::media_channel(channel), &entry.body, &files)
        .map_err(|e| (e.error_code(), format!("not sent: {e}")))
}

/// The message as the provider adapter sees it.
fn outgoing<'a>(
    entry: &'a Entry,
    session: &Session,
    user: &'a MessagingUser,
    now: Timestamp,
) -> Outgoing<'a> {
    Outgoing {
        to: &user.platform_key,
        body: &entry.body,
        files: entry
            .media
            .iter()
            .map(|m| OutgoingFile {
                url: &m.url,
                content_type: &m.content_type,
            })
            .collect(),
        template: entry.template.as_ref().map(|t| OutgoingTemplate {
            name: &t.name,
            language: &t.language,
            parameters: &t.parameters,
        }),
        actor: entry.actor,
        last_customer_at: session.last_customer_at,
        now,
    }
}
