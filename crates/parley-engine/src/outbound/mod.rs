//! The outbound pipeline's way out: every message is an entry row and an outbox job before any
//! provider sees it. The dispatcher claims send jobs, checks consent again at send time (it may
//! have changed since the message was queued: CO-22), applies the length rule and the messaging
//! window, waits for its sender's rate limit, hands the message to its provider, and records the
//! status. Replies to customers carry a higher priority than bulk traffic.
//!
//! Providers: the simulator (in-process), Twilio (REST), Meta WhatsApp Cloud API and Messenger
//! Send API, and SMPP binds for SMS channels with provider `smpp` ([`crate::outbound::smpp_link`], which
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
//! | ambiguous (timeout after the request was written, 2xx without an id) | `unknown`, `provider_error` says the fate is unknown | done, never resent automatically |
//! | the entry's session, user or channel is gone | `failed` 0005 | dead-lettered |
//!
//! Ambiguous sends are not failed because the message may well have reached the customer, and
//! not retried because no HTTP provider we use honours an idempotency key, so a retry could text
//! the customer twice. `unknown` is a state of its own (counted in
//! `parley_outbound_unknown_total` by provider): a later receipt or status callback settles it,
//! an operator may resend it or mark it failed (`service::deliveries`), and after
//! `EngineConfig::unknown_expiry` without news the sweep ([`crate::outbound::unknown`]) fails it
//! with 0002. See `docs/delivery.md`.
//!
//! Batches: the engine's runner hands the dispatcher a whole claim of send jobs
//! ([`crate::outbound::dispatch`]): their entries, sessions and messaging users are read in a few queries,
//! the provider calls run concurrently (bounded), and their status changes are committed as the
//! sends finish, in groups, each group's transaction also settling its jobs (so a crash resends
//! only what was in flight). Each sender is driven by one node at a time,
//! the holder of its lease (see [`crate::outbound::dispatch`]).
//!
//! Rate limits: one GCRA limiter per sender (channel) in the [`Outbound`] value, at the channel's
//! `throughput_mps` or the default for its number type or kind, charged one permit per SMS
//! segment (one per message elsewhere). A job waits for its own sender's permits; the runner runs
//! a batch's jobs concurrently, so other senders' jobs go on meanwhile. No lock is held across a
//! wait or a provider call. A throttled answer with `Retry-After` pauses the whole sender for that
//! long (at most [`MAX_PAUSE`]); the throttled job itself goes back to the runner, whose backoff
//! decides when it runs again.

pub mod dispatch;
pub mod leases;
pub mod limits;
pub mod rate;
pub mod smpp_binds;
pub mod smpp_link;
pub mod status;
pub mod unknown;
pub mod verdict;

use std::sync::Arc;
use std::time::Duration;

use parley_channels::adapter::{Outgoing, OutgoingFile, OutgoingTemplate, SendPath, StatusUpdate};
use parley_channels::http::{ProviderFailure, SendOutcome};
use parley_channels::simulator::{FaultKind, SimulatorSettings};
use parley_core::consent::{SendRefused, may_send};
use parley_core::model::{Direction, EntryStatus};
use parley_core::{Clock, ErrorCode, Timestamp};
use parley_store::outbox::{EntryChange, OptOut, OutboxSession, OutboxTarget};
use parley_store::{Channel, Entry, Job, MessagingUser, NewSimulatorMessage, Store, StoreError};
use tracing::Instrument as _;
use uuid::Uuid;

use crate::events::EventBus;
use crate::jobs::Queue;
use crate::outbound::leases::SenderLeases;
use crate::outbound::limits::SenderUsages;
use crate::outbound::rate::SenderRates;
use crate::outbound::smpp_link::SmppLinks;
use crate::outbound::status::StatusRecorder;
use crate::outbound::verdict::{Target, Verdict};
use crate::runner::JobOutcome;
use crate::transport::{HttpTransport, TransportError};

/// Why nothing is sent to a messaging user whose processing is restricted (a privacy request).
pub const RESTRICTED_REASON: &str =
    "not sent: processing of this customer's data is restricted (privacy request)";

pub use crate::jobs::{
    BULK_PRIORITY, REPLY_PRIORITY, SendRequest, auto_response_entry, is_last_attempt, send_job,
};
pub use crate::outbound::rate::{MAX_PAUSE, MAX_RATE_WAIT, rate_permits, sender_rate};

/// No provider call starts this close to the end of its job's lease: the call and the commit of
/// its answer must be done before the lease runs out and another runner may claim the job again
/// (with its entry still `queued`) and send it a second time. A batch that waited this long for
/// its sender's rate or a stalled database gives the rest of its jobs back instead.
pub const CALL_MARGIN: Duration = Duration::from_secs(10);
pub(crate) use crate::outbound::verdict::{ambiguous, dispatched, fail, transient};

pub const QUEUE: &str = Queue::Outbound.as_str();
pub const KIND: &str = crate::jobs::JobKind::OutboundSend.as_str();

/// The dispatcher.
#[derive(Clone)]
pub struct Outbound {
    store: Store,
    clock: Arc<dyn Clock>,
    events: EventBus,
    transport: Option<HttpTransport>,
    rates: Arc<SenderRates>,
    /// Each sender's usage of its limits as this node sees it (see [`crate::outbound::limits`]).
    usages: Arc<SenderUsages>,
    statuses: StatusRecorder,
    /// The SMPP binds of SMS channels with provider `smpp` (see [`crate::outbound::smpp_link`]).
    smpp: Arc<SmppLinks>,
    /// The senders this node may drive (see [`crate::outbound::dispatch`]).
    pub(crate) leases: Arc<SenderLeases>,
    /// Provider calls in flight at once within a batch.
    pub(crate) concurrency: usize,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound").finish_non_exhaustive()
    }
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
        let statuses = StatusRecorder::new(store.clone(), clock.clone(), events.clone());
        Self {
            events,
            transport,
            rates: Arc::new(SenderRates::new(clock.clone())),
            usages: Arc::new(SenderUsages::new(store.clone())),
            smpp: Arc::new(SmppLinks::new(statuses.clone())),
            statuses,
            leases: Arc::new(SenderLeases::new(
                store.clone(),
                clock.clone(),
                format!("node-{}", Uuid::now_v7()),
                crate::outbound::leases::DEFAULT_SENDER_LEASE,
            )),
            concurrency: crate::outbound::rate::DEFAULT_CONCURRENCY,
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

    /// The SMPP binds (kept up by [`Outbound::keep_smpp_bound`], or made on a channel's first send).
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

    /// Each sender's usage of its limits as this node sees it.
    pub fn sender_usages(&self) -> &Arc<SenderUsages> {
        &self.usages
    }

    /// Uses `transport` for provider calls (a shorter timeout in tests, for instance).
    pub fn with_transport(mut self, transport: HttpTransport) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Takes `permits` from the channel's limiter if they are all free now; otherwise takes as
    /// many as are free and says how long until the next one. Never waits.
    pub fn try_acquire(&self, channel: &Channel, permits: u32) -> Result<(), Duration> {
        self.rates.try_acquire(channel, permits)
    }

    /// Holds the channel's sends back for `delay` (at most [`MAX_PAUSE`]): the provider throttled
    /// it and said when to come back, which holds for every message of the sender, not only the
    /// one that was refused.
    pub fn pause_sender(&self, channel: &Channel, delay: Duration) {
        self.rates.pause(channel, delay);
    }

    /// Permits the channel's limiter has handed out since it was created at its current rate.
    pub fn permits_charged(&self, channel_id: Uuid) -> u64 {
        self.rates.charged(channel_id)
    }

    /// The SMPP arm of [`Outbound::decide`] (see [`crate::outbound::smpp_link`]).
    async fn send_smpp(
        &self,
        entry: &Entry,
        channel: &Channel,
        user: &MessagingUser,
        last_attempt: bool,
    ) -> Verdict {
        self.smpp
            .send(&self.rates, entry, channel, user, last_attempt)
            .await
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
                let reason = format!("{entity} of entry {} no longer exists", request.entry_id);
                // The entry fails rather than stay `queued` behind a dead job.
                if entity != "entry"
                    && let Ok(entry) = self.store.entry(request.entry_id).await
                {
                    let note = format!("not sent: the {entity} of this message no longer exists");
                    let verdict = fail(&entry, ErrorCode::ChannelUnavailable, &note)
                        .with_outcome(JobOutcome::Permanent(reason.clone()));
                    let now = self.clock.now();
                    let committed = crate::outbound::verdict::commit(
                        &self.store,
                        &self.usages,
                        &self.events,
                        now,
                        vec![verdict],
                        &[],
                        "",
                    );
                    if let Err(e) = committed.await {
                        return JobOutcome::Retry(e.to_string());
                    }
                }
                return JobOutcome::Permanent(reason);
            }
            Err(e) => return JobOutcome::Retry(e.to_string()),
        };
        let lease = SenderLeases::name(target.channel.id);
        match self.leases.hold(&lease).await {
            Ok(true) => {}
            Ok(false) => return JobOutcome::Retry(format!("{lease} is held by another node")),
            Err(e) => return JobOutcome::Retry(e.to_string()),
        }
        let mut target = target;
        target.call_by = job
            .lease_until
            .map(|until| Timestamp(until).minus(CALL_MARGIN));
        let span = crate::outbound::verdict::send_span(job.id, job.attempts, &target);
        let verdict = self.decide(&target).instrument(span).await;
        let outcome = verdict.outcome.clone();
        let now = self.clock.now();
        let committed = crate::outbound::verdict::commit(
            &self.store,
            &self.usages,
            &self.events,
            now,
            vec![verdict],
            &[],
            "",
        );
        match committed.await {
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
        let found = self.store.outbox_targets(&[request.entry_id]).await?;
        let Some(OutboxTarget {
            entry,
            session,
            user,
        }) = found.into_iter().next()
        else {
            return Err(StoreError::NotFound { entity: "entry" });
        };
        if entry.status != EntryStatus::Queued {
            return Ok(None);
        }
        let Some(session) = session else {
            return Err(StoreError::NotFound { entity: "session" });
        };
        let Some(user) = user else {
            return Err(StoreError::NotFound {
                entity: "messaging user",
            });
        };
        let channel = Arc::new(self.store.channel(session.channel_id).await?);
        let template_approved = template_approved(&self.store, channel.id, &entry).await?;
        let now = self.clock.now();
        self.usages.refresh(&channel, now).await?;
        let already_reached = self
            .usages
            .reached(&channel, &[user.id], now)
            .await?
            .contains(&user.id);
        Ok(Some(Target {
            entry,
            session,
            user,
            channel,
            purpose: request.purpose,
            last_attempt,
            template_approved,
            call_by: None,
            released: request.released,
            already_reached,
        }))
    }

    /// Whether the provider may be called for `target` now, after the wait for its sender's rate:
    /// only while this node still holds the sender's lease and the job's own lease has time left.
    /// Otherwise (the verdict answered) nothing is sent and the job comes back (to the sender's
    /// node) like any transient failure: the lease may be another node's by now, or the job
    /// another runner's.
    fn no_call(&self, target: &Target) -> Option<Verdict> {
        let now = self.clock.now();
        let lease = SenderLeases::name(target.channel.id);
        let why = if target.call_by.is_some_and(|by| now >= by) {
            "its job's lease runs out before the provider could answer"
        } else if !self.leases.holds(&lease) {
            "this node's lease on the sender ran out before the call"
        } else {
            return None;
        };
        metrics::counter!("parley_outbound_not_called_total").increment(1);
        Some(crate::outbound::verdict::transient(
            &target.entry,
            ErrorCode::ServiceUnavailable,
            &format!("not sent: {why}"),
            target.last_attempt,
        ))
    }

    /// Authorize, fit, prepare, wait for the sender's rate, call the provider, and say what that
    /// means for the entry and the job. Writes nothing: the caller commits the verdict (alone or
    /// with its batch). No lock is held here, and no transaction is open.
    pub(crate) async fn decide(&self, target: &Target) -> Verdict {
        let now = self.clock.now();
        let charge = match self.usages.gate(target, now) {
            Ok(charge) => charge,
            Err(stopped) => return *stopped,
        };
        let mut verdict = self.decide_send(target).await;
        if let Some(charge) = charge {
            if crate::outbound::limits::went_out(&verdict) {
                verdict.charge = Some(charge);
            } else {
                self.usages.refund(&charge);
            }
        }
        verdict
    }

    /// [`Outbound::decide`] once the sender's limits let the send go.
    async fn decide_send(&self, target: &Target) -> Verdict {
        let Target {
            entry,
            session,
            user,
            channel,
            purpose,
            last_attempt,
            template_approved,
            call_by: _,
            released: _,
            already_reached: _,
        } = target;
        let (channel, last_attempt) = (channel.as_ref(), *last_attempt);
        let now = self.clock.now();

        // Restriction of processing (PRIV-02): nothing at all goes to a restricted person.
        if user.restricted_at.is_some() {
            return fail(entry, ErrorCode::RecipientBlockedUs, RESTRICTED_REASON);
        }
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
            SendPath::Native => {
                // Committing the entry is the delivery: the web chat's stream hub hears the status
                // change and hands it to the visitor (a widget offline replays it on return).
                metrics::counter!("parley_outbound_sent_total", "provider" => "web").increment(1);
                return dispatched(entry, EntryStatus::Delivered, format!("web:{}", entry.id));
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
        if let Err(verdict) = self
            .rates
            .admit(entry, channel, permits, last_attempt)
            .await
        {
            return verdict;
        }
        if let Some(verdict) = self.no_call(target) {
            return verdict;
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
    /// `{"error_rate": 0.2, "error": "transient" | "permanent" | "unknown", "latency_ms": 50}`.
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
                FaultKind::Unknown => ambiguous(
                    entry,
                    "simulator",
                    "simulated: the connection dropped before the answer",
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

    /// Records a provider's status report for a message it took (see
    /// [`StatusRecorder::record`]).
    pub async fn record_status(
        &self,
        channel_id: Uuid,
        report: &StatusUpdate,
    ) -> Result<(), StoreError> {
        self.statuses.record(channel_id, report).await
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
    session: &OutboxSession,
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
        component: entry.component.as_ref(),
        actor: entry.actor,
        last_customer_at: session.last_customer_at,
        now,
    }
}
