//! The engine's jobs as they are queued: their kinds and queues, and the constructors of every job
//! the pipelines enqueue. This module sits below the pipelines so that one pipeline can queue
//! another's work (the inbound pipeline queues sends, timers and media fetches; agents queue sends
//! and timers) without the pipelines importing each other.
//!
//! Kinds and queues are stored as text in the job table; the wire names below are what rows
//! written by every earlier version carry, so they never change.

use std::fmt;

use parley_core::consent::SendPurpose;
use parley_core::model::{Actor, Direction, EntryStatus};
use parley_core::session::Deadline;
use parley_core::{Timestamp, new_id};
use parley_store::{Entry, Job, Media, NewJob};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The queues the engine's runners claim from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Queue {
    Inbound,
    Outbound,
    Timers,
    Media,
    /// Campaign messages, a chunk per job: runners of their own, so a campaign's sends never
    /// stand between a customer and the reply they wait for.
    Campaign,
    /// Flow events (a run started, a reply to a bot, an ask's timeout): their own runners, so a
    /// webhook a flow calls never holds up inbound messages or sends.
    Flows,
    /// Calls Parley makes to programs' URLs (the Twilio-compatible API's status callbacks): a
    /// slow receiver never holds up messages.
    Callbacks,
    /// Notifications that events send ([`crate::notify_triggers`]).
    Notifications,
    /// Erasure requests (issue 16): one job per request, resumed after a restart.
    Privacy,
}

impl Queue {
    pub const ALL: [Self; 9] = [
        Self::Inbound,
        Self::Outbound,
        Self::Timers,
        Self::Media,
        Self::Campaign,
        Self::Flows,
        Self::Callbacks,
        Self::Notifications,
        Self::Privacy,
    ];

    /// The queue's name in the job table.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
            Self::Timers => "timers",
            Self::Media => "media",
            Self::Campaign => "campaign",
            Self::Flows => "flows",
            Self::Callbacks => "callbacks",
            Self::Notifications => "notifications",
            Self::Privacy => "privacy",
        }
    }
}

impl fmt::Display for Queue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a job is, which says which handler runs it. The job table keeps the kind as text and a
/// row may carry a kind this build does not define (a benchmark's, a test's, or one written by a
/// newer node): that is [`JobKind::Other`], which a runner without a handler for it dead-letters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// A customer's message, through the inbound pipeline.
    InboundMessage,
    /// An entry to hand to its provider, through the dispatcher.
    OutboundSend,
    /// A session's clock ran out (reply window, inactivity).
    SessionTimer,
    /// An inbound entry's files to download.
    MediaFetch,
    /// A chunk of a campaign's entries to hand to one sender, through the dispatcher.
    CampaignSend,
    /// Something happened to a flow run (see [`FlowJob`]).
    FlowEvent,
    /// A status callback of the Twilio-compatible API ([`crate::twilio_callbacks`]).
    TwilioCallback,
    /// A notification a channel's trigger sends ([`crate::notify_triggers`]).
    NotificationTrigger,
    /// An erasure request to carry out ([`crate::service::privacy`]).
    PrivacyErase,
    Other(String),
}

impl JobKind {
    /// The kinds the engine defines.
    pub const KNOWN: [Self; 9] = [
        Self::InboundMessage,
        Self::OutboundSend,
        Self::SessionTimer,
        Self::MediaFetch,
        Self::CampaignSend,
        Self::FlowEvent,
        Self::TwilioCallback,
        Self::NotificationTrigger,
        Self::PrivacyErase,
    ];

    /// The kind's name in the job table.
    pub const fn as_str(&self) -> &str {
        match self {
            Self::InboundMessage => "inbound.message",
            Self::OutboundSend => "outbound.send",
            Self::SessionTimer => "session.timer",
            Self::MediaFetch => "media.fetch",
            Self::CampaignSend => "campaign.send",
            Self::FlowEvent => "flow.event",
            Self::TwilioCallback => "twilio.callback",
            Self::NotificationTrigger => "notification.trigger",
            Self::PrivacyErase => "privacy.erase",
            Self::Other(name) => name.as_str(),
        }
    }

    /// The kind a stored name stands for.
    pub fn parse(name: &str) -> Self {
        Self::KNOWN
            .into_iter()
            .find(|k| k.as_str() == name)
            .unwrap_or_else(|| Self::Other(name.to_owned()))
    }

    /// The queue the engine puts jobs of this kind on (`None` for a kind it does not define).
    pub const fn queue(&self) -> Option<Queue> {
        match self {
            Self::InboundMessage => Some(Queue::Inbound),
            Self::OutboundSend => Some(Queue::Outbound),
            Self::SessionTimer => Some(Queue::Timers),
            Self::MediaFetch => Some(Queue::Media),
            Self::CampaignSend => Some(Queue::Campaign),
            Self::FlowEvent => Some(Queue::Flows),
            Self::TwilioCallback => Some(Queue::Callbacks),
            Self::NotificationTrigger => Some(Queue::Notifications),
            Self::PrivacyErase => Some(Queue::Privacy),
            Self::Other(_) => None,
        }
    }

    /// A new job of this kind on its queue.
    fn job(&self, queue: Queue, payload: String, run_at: Timestamp) -> NewJob {
        NewJob::new(queue.as_str(), self.as_str(), payload, run_at)
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for JobKind {
    fn from(name: &str) -> Self {
        Self::parse(name)
    }
}

impl From<String> for JobKind {
    fn from(name: String) -> Self {
        Self::parse(&name)
    }
}

/// What a flow job carries: the session whose run it concerns and what happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowJob {
    pub session_id: Uuid,
    pub event: FlowJobEvent,
}

/// The event of a [`FlowJob`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FlowJobEvent {
    /// Run `run_id` from its first step.
    Start { run_id: Uuid },
    /// The customer wrote (entry `entry_id`) in a session a flow holds.
    Reply {
        entry_id: Uuid,
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        choice: Option<String>,
    },
    /// The wait of run `run_id` at write `seq` timed out.
    Timeout { run_id: Uuid, seq: i64 },
    /// Run `run_id` has waited at write `seq` for a reply, with no timeout of its own, as long
    /// as a flow waits ([`crate::flows::IDLE`]): the customer left.
    Abandon { run_id: Uuid, seq: i64 },
}

/// A job for a flow event, due at `due` (now, or an ask's timeout). The flow worker applies a
/// session's jobs in the order they were made.
pub fn flow_job(job: &FlowJob, due: Timestamp) -> NewJob {
    let payload = serde_json::to_string(job).unwrap_or_default();
    let mut new = JobKind::FlowEvent.job(Queue::Flows, payload, due);
    new.priority = REPLY_PRIORITY;
    new.dedupe_key = Some(match &job.event {
        FlowJobEvent::Start { run_id } => format!("flow-start:{run_id}"),
        FlowJobEvent::Reply { entry_id, .. } => format!("flow-reply:{entry_id}"),
        FlowJobEvent::Timeout { run_id, seq } => format!("flow-timeout:{run_id}:{seq}"),
        FlowJobEvent::Abandon { run_id, seq } => format!("flow-abandon:{run_id}:{seq}"),
    });
    new
}

/// Answers to a customer who is waiting go first.
pub const REPLY_PRIORITY: i64 = 100;
/// Campaigns and broadcasts wait behind replies.
pub const BULK_PRIORITY: i64 = 0;

/// What a send job carries: the entry to send and why, for the consent gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendRequest {
    pub entry_id: Uuid,
    pub purpose: SendPurpose,
    /// The campaign the message belongs to: the dispatcher holds it while the campaign is paused
    /// and withdraws it once cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<Uuid>,
    /// An admin released it from a sender limit's hold: it goes whatever the limit.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub released: bool,
}

/// The outbox job for an entry. The entry id is the idempotency key: one job per entry.
pub fn send_job(entry_id: Uuid, purpose: SendPurpose, priority: i64, now: Timestamp) -> NewJob {
    let request = SendRequest {
        entry_id,
        purpose,
        campaign: None,
        released: false,
    };
    send_request_job(&request, priority, now)
}

/// The group key of a campaign's send jobs: what a pause holds and a cancel withdraws.
pub fn group_key(campaign_id: Uuid) -> String {
    format!("campaign:{campaign_id}")
}

/// What a campaign chunk job carries: entries of one campaign on one sender, due together.
/// The store reads `entries` of running chunks when a campaign is cancelled (the messages on
/// their way are not withdrawn), so the field's name is part of the job table's format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignChunk {
    pub campaign: Uuid,
    pub purpose: SendPurpose,
    pub entries: Vec<Uuid>,
}

/// A chunk of a campaign's entries, due at `due` (a recipient's local window may put it later
/// than now). One job for many messages: the job table's insert, claim and settlement are paid
/// once per chunk, not per message. The first entry names the chunk (entries are new ids, so a
/// chunk written twice by a repeated batch is written once).
pub fn campaign_chunk_job(chunk: &CampaignChunk, priority: i64, due: Timestamp) -> NewJob {
    let first = chunk.entries.first().copied().unwrap_or_default();
    let payload = serde_json::to_string(chunk).unwrap_or_default();
    let mut job = JobKind::CampaignSend.job(Queue::Campaign, payload, due);
    job.priority = priority;
    job.dedupe_key = Some(format!("campaign-send:{first}"));
    job
}

/// The send job of one campaign entry whose send failed in its chunk for a reason that should
/// pass: tried again on its own, at `due`, in the campaign's group (so a pause holds it and a
/// cancel withdraws it).
pub fn campaign_send_job(
    entry_id: Uuid,
    purpose: SendPurpose,
    campaign: Uuid,
    group: String,
    due: Timestamp,
) -> NewJob {
    let request = SendRequest {
        entry_id,
        purpose,
        campaign: Some(campaign),
        released: false,
    };
    let mut job = send_request_job(&request, BULK_PRIORITY, due);
    job.group_key = Some(group);
    job
}

fn send_request_job(request: &SendRequest, priority: i64, due: Timestamp) -> NewJob {
    let entry_id = request.entry_id;
    let payload = serde_json::to_string(request)
        .unwrap_or_else(|_| format!("{{\"entry_id\":\"{entry_id}\"}}"));
    let mut job = JobKind::OutboundSend.job(Queue::Outbound, payload, due);
    job.priority = priority;
    job.dedupe_key = Some(format!("send:{entry_id}"));
    job
}

/// An automatic answer (consent confirmation, help, hand-off reply) as a queued entry, to go out
/// with a [`send_job`].
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
        component: None,
    }
}

/// Whether this attempt is the job's last one, so a transient failure fails the entry instead.
pub fn is_last_attempt(job: &Job) -> bool {
    job.attempts
        >= job.max_attempts.min(i64::from(
            parley_core::retry::RetryPolicy::default().max_attempts,
        ))
}

/// What a timer job carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimerPayload {
    pub session_id: Uuid,
}

/// A timer job due at the deadline. One per session and deadline time.
pub fn timer_job(session_id: Uuid, deadline: Deadline) -> NewJob {
    let payload = serde_json::to_string(&TimerPayload { session_id })
        .unwrap_or_else(|_| format!("{{\"session_id\":\"{session_id}\"}}"));
    let mut job = JobKind::SessionTimer.job(Queue::Timers, payload, deadline.at);
    job.dedupe_key = Some(format!(
        "timer:{session_id}:{}:{}",
        deadline.event,
        deadline.at.millis()
    ));
    job
}

/// What a media fetch job carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchRequest {
    pub entry_id: Uuid,
}

/// The job that fetches the files of an inbound entry; one per entry.
pub fn fetch_job(entry_id: Uuid, now: Timestamp) -> NewJob {
    let payload = serde_json::to_string(&FetchRequest { entry_id })
        .unwrap_or_else(|_| format!("{{\"entry_id\":\"{entry_id}\"}}"));
    let mut job = JobKind::MediaFetch.job(Queue::Media, payload, now);
    job.dedupe_key = Some(format!("media:{entry_id}"));
    job.max_attempts = 8;
    job
}

/// A customer's message as a provider delivered it, persisted (as an inbound job) before anything
/// else happens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundEvent {
    pub channel_id: Uuid,
    /// The provider's id for the message; the dedupe key.
    pub provider_message_id: String,
    /// The customer's address: E.164 for phone channels, the platform's user id otherwise.
    pub from: String,
    pub to: String,
    pub text: String,
    #[serde(default)]
    pub media: Vec<Media>,
    #[serde(default)]
    pub profile_name: Option<String>,
    pub received_at: Timestamp,
    /// The id of the option the customer tapped (a button, a list row, a quick reply), when
    /// they tapped one; `text` is its title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice: Option<String>,
    /// What the web chat widget tells about the visitor, on web channels only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web: Option<WebInbound>,
}

/// The widget's context of a web message: written as the session's `web_session_data` when the
/// message opens a session; its pre-chat values reach routing rules (`prechat.<name>`) and flows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebInbound {
    pub deployment_id: Uuid,
    pub visitor_id: Uuid,
    #[serde(default)]
    pub prechat: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub page_url: Option<String>,
    #[serde(default)]
    pub identity: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
}

impl InboundEvent {
    /// Whether [`InboundEvent::storable`] would leave the event as it is (the usual case, checked
    /// without copying it).
    pub fn is_storable(&self) -> bool {
        use parley_core::dead_letter::storable_text;
        [&self.provider_message_id, &self.from, &self.to, &self.text]
            .into_iter()
            .chain(&self.profile_name)
            .chain(self.media.iter().flat_map(|m| [&m.url, &m.content_type]))
            .all(|s| matches!(storable_text(s), std::borrow::Cow::Borrowed(_)))
    }

    /// The event with every text field as Parley stores it
    /// ([`parley_core::dead_letter::storable_text`]: NUL becomes U+FFFD), so SQLite and
    /// PostgreSQL keep the same message. Applied where events enter the pipeline ([`crate::ingest`])
    /// and again when a job is read, for events queued before this rule.
    pub fn storable(self) -> Self {
        use parley_core::dead_letter::storable_text;
        let clean = |s: String| match storable_text(&s) {
            std::borrow::Cow::Borrowed(_) => s,
            std::borrow::Cow::Owned(o) => o,
        };
        Self {
            provider_message_id: clean(self.provider_message_id),
            from: clean(self.from),
            to: clean(self.to),
            text: clean(self.text),
            profile_name: self.profile_name.map(clean),
            media: self
                .media
                .into_iter()
                .map(|mut m| {
                    m.url = clean(m.url);
                    m.content_type = clean(m.content_type);
                    m
                })
                .collect(),
            ..self
        }
    }

    /// The job that carries this event. Its dedupe key makes a provider's retry a no-op.
    pub fn job(&self) -> Result<NewJob, serde_json::Error> {
        let mut job = JobKind::InboundMessage.job(
            Queue::Inbound,
            serde_json::to_string(self)?,
            self.received_at,
        );
        job.dedupe_key = Some(format!(
            "in:{}:{}",
            self.channel_id, self.provider_message_id
        ));
        job.max_attempts = 20;
        Ok(job)
    }
}

/// The job that carries out erasure request `request_id` (its payload is the id alone: the
/// subject stays in the request's row, which forgets it when done).
pub fn erasure_job(request_id: Uuid, now: Timestamp) -> NewJob {
    let mut job = JobKind::PrivacyErase.job(
        Queue::Privacy,
        serde_json::Value::String(request_id.to_string()).to_string(),
        now,
    );
    job.dedupe_key = Some(format!("privacy.erase:{request_id}"));
    job
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_keep_their_stored_names() {
        let names: Vec<&str> = JobKind::KNOWN.iter().map(JobKind::as_str).collect();
        assert_eq!(
            names,
            [
                "inbound.message",
                "outbound.send",
                "session.timer",
                "media.fetch",
                "campaign.send",
                "flow.event",
                "twilio.callback",
                "notification.trigger",
                "privacy.erase"
            ]
        );
        for kind in JobKind::KNOWN {
            assert_eq!(JobKind::parse(kind.as_str()), kind);
        }
        assert_eq!(
            JobKind::parse("bench.noop"),
            JobKind::Other("bench.noop".to_owned())
        );
        let queues: Vec<&str> = Queue::ALL.iter().map(|q| q.as_str()).collect();
        assert_eq!(
            queues,
            [
                "inbound",
                "outbound",
                "timers",
                "media",
                "campaign",
                "flows",
                "callbacks",
                "notifications",
                "privacy"
            ]
        );
    }

    #[test]
    fn constructors_put_jobs_on_their_kind_s_queue() {
        let now = Timestamp::from_millis(1);
        let id = new_id();
        let jobs = [
            (
                JobKind::OutboundSend,
                send_job(id, SendPurpose::Notification, REPLY_PRIORITY, now),
            ),
            (JobKind::MediaFetch, fetch_job(id, now)),
            (JobKind::PrivacyErase, erasure_job(id, now)),
            (
                JobKind::CampaignSend,
                campaign_chunk_job(
                    &CampaignChunk {
                        campaign: id,
                        purpose: SendPurpose::Campaign,
                        entries: vec![id],
                    },
                    BULK_PRIORITY,
                    now,
                ),
            ),
            (
                JobKind::OutboundSend,
                campaign_send_job(id, SendPurpose::Campaign, id, "g".to_owned(), now),
            ),
        ];
        for (kind, job) in jobs {
            assert_eq!(job.kind, kind.as_str());
            assert_eq!(Some(job.queue.as_str()), kind.queue().map(Queue::as_str));
        }
        let inbound = InboundEvent {
            channel_id: id,
            provider_message_id: "m1".to_owned(),
            from: "+15550100".to_owned(),
            to: "+15550199".to_owned(),
            text: "hi".to_owned(),
            media: Vec::new(),
            profile_name: None,
            received_at: now,
            choice: None,
            web: None,
        }
        .job()
        .unwrap();
        assert_eq!(inbound.kind, "inbound.message");
        assert_eq!(inbound.queue, "inbound");
        assert_eq!(inbound.dedupe_key, Some(format!("in:{id}:m1")));
    }

    #[test]
    fn inbound_text_is_stored_without_nul() {
        let now = Timestamp::from_millis(1);
        let event = InboundEvent {
            channel_id: new_id(),
            provider_message_id: "m\0".to_owned(),
            from: "+15550100".to_owned(),
            to: "+15550199".to_owned(),
            text: "hi\0".to_owned(),
            media: Vec::new(),
            profile_name: Some("A\0nn".to_owned()),
            received_at: now,
            choice: None,
            web: None,
        };
        assert!(!event.is_storable());
        let clean = event.storable();
        assert!(clean.is_storable());
        assert_eq!(
            (
                clean.text.as_str(),
                clean.profile_name.as_deref(),
                clean.provider_message_id.as_str()
            ),
            ("hi\u{FFFD}", Some("A\u{FFFD}nn"), "m\u{FFFD}")
        );
    }
}
