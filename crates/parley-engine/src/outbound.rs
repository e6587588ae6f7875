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

use std::sync::Arc;
use std::time::Duration;

use parley_channels::http::{BuildError, HttpRequest, ProviderFailure, SendOutcome};
use parley_channels::meta::messenger_send::{
    self, MessagingType, MessengerContent, MessengerOutbound,
};
use parley_channels::meta::send::{
    self as whatsapp_send, GraphEndpoint, WhatsAppContent, WhatsAppOutbound, WhatsAppRecipient,
};
use parley_channels::twilio::outbound::{
    self as twilio_send, OutboundMessage, Sender, TwilioAccount, TwilioAuth,
};
use parley_core::consent::{SendRefused, may_send};
use parley_core::model::{ChannelKind, Direction, EntryStatus, Provider};
use parley_core::window::{Composer, MessageForm, WindowQuery};
use parley_core::{Clock, ErrorCode, Timestamp};
use parley_store::outbox::{EntryChange, OptOut};
use parley_store::{
    Channel, Entry, Job, MessagingUser, NewSimulatorMessage, Session, Store, StoreError,
};
use serde::Deserialize;
use serde_json::Value;
use tracing::Instrument as _;
use uuid::Uuid;

use crate::events::EventBus;
use crate::jobs::Queue;
use crate::leases::SenderLeases;
use crate::rate::SenderRates;
use crate::runner::JobOutcome;
use crate::smpp_link::SmppLinks;
use crate::status::StatusRecorder;
use crate::transport::{HttpTransport, TransportError};
use crate::verdict::{Target, Verdict};

pub use crate::jobs::{
    BULK_PRIORITY, REPLY_PRIORITY, SendRequest, auto_response_entry, is_last_attempt, send_job,
};
pub use crate::rate::{MAX_PAUSE, MAX_RATE_WAIT, rate_permits, sender_rate};
pub(crate) use crate::verdict::{ambiguous, dispatched, fail, transient};

pub const QUEUE: &str = Queue::Outbound.as_str();
pub const KIND: &str = crate::jobs::JobKind::OutboundSend.as_str();

/// Failures the simulator injects, from a simulator channel's `settings.simulate`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SimulatorFaults {
    /// Share of sends that fail, 0 to 1.
    #[serde(default)]
    error_rate: f64,
    #[serde(default)]
    error: FaultKind,
    /// Delay before each send.
    #[serde(default)]
    latency_ms: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum FaultKind {
    /// Retried with backoff, as a timeout or a 5xx would be.
    #[default]
    Transient,
    /// Fails the message (error 2001), as an invalid number would.
    Permanent,
}

/// The dispatcher.
#[derive(Clone)]
pub struct Outbound {
    store: Store,
    clock: Arc<dyn Clock>,
    events: EventBus,
    transport: Option<HttpTransport>,
    rates: Arc<SenderRates>,
    statuses: StatusRecorder,
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

/// What the dispatcher decided before (or instead of) calling a provider.
enum Prepared {
    /// A provider request, ready to go.
    Http {
        request: HttpRequest,
        interpret: fn(&parley_channels::http::HttpResponse) -> SendOutcome,
        provider: &'static str,
    },
    /// Refused here, with the catalogue code and a reason a person understands.
    Refused { code: ErrorCode, reason: String },
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
            smpp: Arc::new(SmppLinks::new(statuses.clone())),
            statuses,
            leases: Arc::new(SenderLeases::new(
                store.clone(),
                clock.clone(),
                format!("node-{}", Uuid::now_v7()),
                crate::leases::DEFAULT_SENDER_LEASE,
            )),
            concurrency: crate::rate::DEFAULT_CONCURRENCY,
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

    /// The SMPP arm of [`Outbound::decide`] (see [`crate::smpp_link`]).
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
                return JobOutcome::Permanent(format!(
                    "{entity} of entry {} no longer exists",
                    request.entry_id
                ));
            }
            Err(e) => return JobOutcome::Retry(e.to_string()),
        };
        let lease = SenderLeases::name(target.channel.id);
        match self.leases.hold(&lease).await {
            Ok(true) => {}
            Ok(false) => return JobOutcome::Retry(format!("{lease} is held by another node")),
            Err(e) => return JobOutcome::Retry(e.to_string()),
        }
        let span = crate::verdict::send_span(job.id, job.attempts, &target);
        let verdict = self.decide(&target).instrument(span).await;
        let outcome = verdict.outcome.clone();
        let now = self.clock.now();
        let committed =
            crate::verdict::commit(&self.store, &self.events, now, vec![verdict], &[], "");
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

        let prepared = match channel.provider {
            Provider::Simulator => {
                return self
                    .send_simulated(entry, channel, user, last_attempt)
                    .await;
            }
            Provider::Twilio => prepare_twilio(channel, user, entry),
            Provider::Meta => prepare_meta(channel, session, user, entry, now),
            Provider::Smpp => {
                return self.send_smpp(entry, channel, user, last_attempt).await;
            }
            other => Prepared::Refused {
                code: ErrorCode::ChannelUnavailable,
                reason: format!("sending through {other} is not available on this server yet"),
            },
        };
        let (request_http, interpret, provider) = match prepared {
            Prepared::Http {
                request,
                interpret,
                provider,
            } => (request, interpret, provider),
            // A provider this server cannot drive yet dead-letters the job too, so operators
            // see it; every other refusal is fully recorded on the entry.
            Prepared::Refused {
                code: ErrorCode::ChannelUnavailable,
                reason,
            } => {
                return fail(entry, ErrorCode::ChannelUnavailable, &reason)
                    .with_outcome(JobOutcome::Permanent(reason));
            }
            Prepared::Refused { code, reason } => return fail(entry, code, &reason),
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
        let faults: SimulatorFaults = channel
            .settings
            .get("simulate")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
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

    /// Records a provider's status report for a message it took (see
    /// [`StatusRecorder::record`]).
    pub async fn record_status(
        &self,
        channel_id: Uuid,
        provider_message_id: &str,
        status: EntryStatus,
        error_code: Option<ErrorCode>,
        provider_error: Option<&str>,
        recipient_opted_out: bool,
    ) -> Result<(), StoreError> {
        self.statuses
            .record(
                channel_id,
                provider_message_id,
                status,
                error_code,
                provider_error,
                recipient_opted_out,
            )
            .await
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

fn setting<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn refused_build(e: BuildError) -> Prepared {
    Prepared::Refused {
        code: e.code,
        reason: format!("not sent: {e}"),
    }
}

fn missing(what: &str) -> Prepared {
    Prepared::Refused {
        code: ErrorCode::ServiceMisconfigured,
        reason: format!("not sent: the channel has no {what}"),
    }
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
    if !crate::compose::provider_carries_files(channel.provider) {
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

/// Twilio: `secrets.account_sid` and `secrets.auth_token`; `From` is the channel's address unless
/// `settings.messaging_service_sid` names a Messaging Service; status callbacks go to
/// `{settings.public_url}/status` (the webhook the server verifies).
fn prepare_twilio(channel: &Channel, user: &MessagingUser, entry: &Entry) -> Prepared {
    let (Some(sid), Some(token)) = (
        setting(&channel.secrets, "account_sid"),
        setting(&channel.secrets, "auth_token"),
    ) else {
        return missing("Twilio credentials (secrets.account_sid and secrets.auth_token)");
    };
    let account = TwilioAccount {
        base_url: setting(&channel.settings, "base_url")
            .unwrap_or(twilio_send::DEFAULT_BASE_URL)
            .to_owned(),
        account_sid: sid.to_owned(),
        auth: TwilioAuth::AuthToken(token.to_owned()),
    };
    let sender = match setting(&channel.settings, "messaging_service_sid") {
        Some(service) => Sender::MessagingService(service.to_owned()),
        None => Sender::From(channel.address.clone()),
    };
    let mut message = OutboundMessage::text(user.platform_key.clone(), sender, entry.body.clone());
    message.media_urls = entry.media.iter().map(|m| m.url.clone()).collect();
    message.status_callback = setting(&channel.settings, "public_url")
        .map(|u| format!("{}/status", u.trim_end_matches('/')));
    match twilio_send::build_request(&account, &message) {
        Ok(request) => Prepared::Http {
            request,
            interpret: twilio_send::interpret_response,
            provider: "twilio",
        },
        Err(e) => refused_build(e),
    }
}

/// Meta: WhatsApp Cloud API (`settings.phone_number_id`) or Messenger Send API (the page id is
/// the channel's address), both with `secrets.access_token` and `settings.api_version`. Free-form
/// messages only inside the window (`parley_core::window`). A WhatsApp entry that carries a
/// template ([`parley_store::EntryTemplate`], chosen on the compose path) goes as a template
/// message with its values as body parameters, inside or outside the window; a template that
/// stops being approved fails its queued entries before they get here (the templates API). A
/// file goes as media by link (its caption the body), on Messenger as an attachment.
fn prepare_meta(
    channel: &Channel,
    session: &Session,
    user: &MessagingUser,
    entry: &Entry,
    now: Timestamp,
) -> Prepared {
    let decision = match parley_core::window::decide(WindowQuery {
        kind: channel.kind,
        last_customer_message_at: session.last_customer_at,
        now,
        composer: Composer::from_actor(entry.actor),
        form: if channel.kind == ChannelKind::Whatsapp && entry.template.is_some() {
            MessageForm::ApprovedTemplate
        } else {
            MessageForm::FreeForm
        },
    }) {
        Ok(d) => d,
        Err(closed) => {
            return Prepared::Refused {
                code: closed.error_code(),
                reason: format!("not sent: {closed}"),
            };
        }
    };
    let Some(token) = setting(&channel.secrets, "access_token") else {
        return missing("Meta access token (secrets.access_token)");
    };
    let Some(version) = setting(&channel.settings, "api_version") else {
        return missing("Graph API version (settings.api_version)");
    };
    let endpoint = GraphEndpoint {
        base_url: setting(&channel.settings, "base_url")
            .unwrap_or(whatsapp_send::DEFAULT_BASE_URL)
            .to_owned(),
        api_version: version.to_owned(),
        access_token: token.to_owned(),
    };
    match channel.kind {
        ChannelKind::Whatsapp => {
            let Some(phone_number_id) = setting(&channel.settings, "phone_number_id") else {
                return missing("WhatsApp phone number id (settings.phone_number_id)");
            };
            // A business-scoped user id has a dot; anything else is a phone number (wa_id).
            let recipient = if user.platform_key.contains('.') {
                WhatsAppRecipient::UserId(user.platform_key.clone())
            } else {
                WhatsAppRecipient::Phone(user.platform_key.clone())
            };
            let content = match (&entry.template, entry.media.first()) {
                (Some(t), _) => WhatsAppContent::Template(whatsapp_send::Template {
                    name: t.name.clone(),
                    language: t.language.clone(),
                    components: if t.parameters.is_empty() {
                        Vec::new()
                    } else {
                        vec![whatsapp_send::TemplateComponent::Body(
                            t.parameters
                                .iter()
                                .map(whatsapp_send::TemplateParameter::text)
                                .collect(),
                        )]
                    },
                }),
                (None, Some(file)) => {
                    use parley_core::media::MediaClass;
                    use whatsapp_send::OutboundMediaKind as K;
                    let kind = match parley_core::media::class_of(&file.content_type) {
                        Some(MediaClass::Image) => K::Image,
                        Some(MediaClass::Audio) => K::Audio,
                        Some(MediaClass::Video) => K::Video,
                        Some(MediaClass::Document) | None => K::Document,
                    };
                    WhatsAppContent::Media {
                        kind,
                        link: file.url.clone(),
                        caption: (!entry.body.trim().is_empty()).then(|| entry.body.clone()),
                        filename: None,
                    }
                }
                (None, None) => WhatsAppContent::text(entry.body.clone()),
            };
            let message = WhatsAppOutbound::new(recipient, content);
            match whatsapp_send::build_request(&endpoint, phone_number_id, &message) {
                Ok(request) => Prepared::Http {
                    request,
                    interpret: whatsapp_send::interpret_response,
                    provider: "whatsapp",
                },
                Err(e) => refused_build(e),
            }
        }
        ChannelKind::Messenger => {
            let Some(messaging_type) = MessagingType::from_decision(decision) else {
                return Prepared::Refused {
                    code: ErrorCode::WindowClosed,
                    reason: "not sent: Messenger allows no free-form message now".to_owned(),
                };
            };
            let message = MessengerOutbound {
                psid: user.platform_key.clone(),
                messaging_type,
                content: match entry.media.first() {
                    Some(file) => {
                        use messenger_send::AttachmentKind as K;
                        use parley_core::media::MediaClass;
                        MessengerContent::Attachment {
                            kind: match parley_core::media::class_of(&file.content_type) {
                                Some(MediaClass::Image) => K::Image,
                                Some(MediaClass::Audio) => K::Audio,
                                Some(MediaClass::Video) => K::Video,
                                Some(MediaClass::Document) | None => K::File,
                            },
                            url: file.url.clone(),
                            is_reusable: false,
                        }
                    }
                    None => MessengerContent::Text(entry.body.clone()),
                },
                metadata: None,
            };
            match messenger_send::build_request(&endpoint, &channel.address, &message) {
                Ok(request) => Prepared::Http {
                    request,
                    interpret: messenger_send::interpret_response,
                    provider: "messenger",
                },
                Err(e) => refused_build(e),
            }
        }
        ChannelKind::Sms | ChannelKind::Web => Prepared::Refused {
            code: ErrorCode::ServiceMisconfigured,
            reason: format!("not sent: a {} channel cannot use Meta", channel.kind),
        },
    }
}
