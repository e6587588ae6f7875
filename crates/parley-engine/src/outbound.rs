//! The outbound pipeline's way out: every message is an entry row and an outbox job before any
//! provider sees it. The dispatcher claims send jobs, checks consent again at send time (it may
//! have changed since the message was queued: CO-22), hands the message to its provider, and
//! records the status. Replies to customers carry a higher priority than bulk traffic.

use std::sync::Arc;

use parley_core::consent::{SendPurpose, SendRefused, may_send};
use parley_core::model::{Actor, Direction, EntryStatus, Provider};
use parley_core::{Clock, ErrorCode, Timestamp, new_id};
use parley_store::{Entry, Job, NewJob, NewSimulatorMessage, Store, StoreError};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::events::{DomainEvent, EventBus};
use crate::runner::JobOutcome;

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
    }
}

/// The dispatcher.
#[derive(Clone)]
pub struct Outbound {
    store: Store,
    clock: Arc<dyn Clock>,
    events: EventBus,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound").finish_non_exhaustive()
    }
}

impl Outbound {
    pub fn new(store: Store, clock: Arc<dyn Clock>, events: EventBus) -> Self {
        Self {
            store,
            clock,
            events,
        }
    }

    /// Sends one queued entry.
    pub async fn send(&self, job: Job) -> JobOutcome {
        let request: SendRequest = match serde_json::from_str(&job.payload) {
            Ok(r) => r,
            Err(e) => return JobOutcome::Permanent(format!("malformed send request: {e}")),
        };
        match self.try_send(&request).await {
            Ok(outcome) => outcome,
            Err(StoreError::NotFound { entity }) => JobOutcome::Permanent(format!(
                "{entity} of entry {} no longer exists",
                request.entry_id
            )),
            Err(e) => JobOutcome::Retry(e.to_string()),
        }
    }

    async fn try_send(&self, request: &SendRequest) -> Result<JobOutcome, StoreError> {
        let entry = self.store.entry(request.entry_id).await?;
        if entry.status != EntryStatus::Queued {
            // Sent already (a retry after a crash between the provider and the status write).
            return Ok(JobOutcome::Done);
        }
        let session = self.store.session(entry.session_id).await?;
        let user = self.store.messaging_user(session.messaging_user_id).await?;
        let channel = self.store.channel(session.channel_id).await?;
        let now = self.clock.now();

        // Authorize at send time, with the consent as it is now.
        if let Err(refused) = may_send(user.consent_status, channel.consent_level, request.purpose)
        {
            self.fail(
                &entry,
                ErrorCode::RecipientBlockedUs,
                &consent_reason(&refused),
                now,
            )
            .await?;
            return Ok(JobOutcome::Done);
        }

        match channel.provider {
            Provider::Simulator => {
                let m = self
                    .store
                    .record_simulator_message(
                        &NewSimulatorMessage {
                            channel_id: channel.id,
                            direction: Direction::Outbound,
                            from_addr: channel.address.clone(),
                            to_addr: user.platform_key.clone(),
                            body: entry.body.clone(),
                            status: "delivered".to_owned(),
                        },
                        now,
                    )
                    .await?;
                self.store
                    .mark_entry_dispatched(entry.id, EntryStatus::Delivered, &m.id.to_string(), now)
                    .await?;
                self.events.publish(DomainEvent::SimulatorMessage {
                    channel_id: channel.id,
                    message_id: m.id,
                });
                self.events.publish(DomainEvent::MessageStatusChanged {
                    session_id: entry.session_id,
                    entry_id: entry.id,
                });
                metrics::counter!("parley_outbound_sent_total", "provider" => "simulator")
                    .increment(1);
                Ok(JobOutcome::Done)
            }
            other => {
                let reason = format!("sending through {other} is not available on this server yet");
                self.fail(&entry, ErrorCode::ChannelUnavailable, &reason, now)
                    .await?;
                Ok(JobOutcome::Permanent(reason))
            }
        }
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
            let session = self.store.session(entry.session_id).await?;
            let user = self.store.messaging_user(session.messaging_user_id).await?;
            if user.consent_status != Some(parley_core::model::ConsentStatus::OptedOut) {
                self.store
                    .set_consent(
                        user.id,
                        parley_core::model::ConsentStatus::OptedOut,
                        &parley_store::ConsentOrigin {
                            source: parley_core::model::ConsentSource::Provider,
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
            }
        }
        Ok(())
    }

    async fn fail(
        &self,
        entry: &Entry,
        code: ErrorCode,
        reason: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.store
            .set_entry_status(
                entry.id,
                EntryStatus::Failed,
                Some(code.code()),
                Some(reason),
                now,
            )
            .await?;
        self.events.publish(DomainEvent::MessageStatusChanged {
            session_id: entry.session_id,
            entry_id: entry.id,
        });
        Ok(())
    }
}

fn consent_reason(refused: &SendRefused) -> String {
    format!("not sent: {refused}")
}
