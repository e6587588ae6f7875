//! The send verdict: what one send decided for its entry and its job, and the commit that writes a
//! batch of verdicts. Every provider arm of the dispatcher (HTTP providers, the simulator, SMPP)
//! speaks it, and the single-job and batch paths commit it the same way, so it sits below them.

use std::collections::HashMap;
use std::sync::Arc;

use parley_core::consent::SendPurpose;
use parley_core::model::EntryStatus;
use parley_core::{ErrorCode, Timestamp};
use parley_store::outbox::{
    EntryChange, JobSettlement, OutboxCommitted, OutboxSession, OutboxWrite,
};
use parley_store::{Channel, Entry, MessagingUser, Store, StoreError};
use uuid::Uuid;

use crate::events::{DomainEvent, EventBus};
use crate::outbound::limits::SenderUsages;
use crate::runner::JobOutcome;

/// Everything one send needs, read before the provider call.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) entry: Entry,
    pub(crate) session: OutboxSession,
    pub(crate) user: MessagingUser,
    pub(crate) channel: Arc<Channel>,
    pub(crate) purpose: SendPurpose,
    pub(crate) last_attempt: bool,
    /// The entry's template is approved right now (true for entries without one).
    pub(crate) template_approved: bool,
    /// No provider call may start from this moment: its job's lease ends soon after, and a call
    /// answered later could race another runner that claimed the job again (`None`: no bound).
    pub(crate) call_by: Option<Timestamp>,
    /// An admin released it from a sender limit's hold: no limit stops it again.
    pub(crate) released: bool,
    /// Its customer was reached by a business-initiated message of this sender in the last 24
    /// hours (WhatsApp's messaging tier counts them once).
    pub(crate) already_reached: bool,
}

/// The span of one send: its job, entry, session and channel (debug level, so a busy dispatcher
/// formats nothing for it unless asked).
pub(crate) fn send_span(job_id: Uuid, attempt: i64, target: &Target) -> tracing::Span {
    tracing::debug_span!(
        "outbound.send",
        job_id = %job_id,
        attempt,
        entry_id = %target.entry.id,
        session_id = %target.session.id,
        channel_id = %target.channel.id,
    )
}

/// What one send decided: the entry's change, the job's outcome, and whether the entry's new
/// status is announced after the commit.
#[derive(Debug, Clone)]
pub(crate) struct Verdict {
    pub(crate) session_id: Uuid,
    pub(crate) write: Option<OutboxWrite>,
    pub(crate) outcome: JobOutcome,
    pub(crate) announce: bool,
    /// What it charged its sender's limits (written with it when it went out).
    pub(crate) charge: Option<crate::outbound::limits::Charge>,
    /// Held for review by a sender limit.
    pub(crate) hold: Option<parley_store::sender_limits::NewSenderHold>,
}

impl Verdict {
    pub(crate) fn write(
        entry: &Entry,
        change: EntryChange,
        outcome: JobOutcome,
        announce: bool,
    ) -> Self {
        Self {
            session_id: entry.session_id,
            write: Some(OutboxWrite {
                entry_id: entry.id,
                change,
                opt_out: None,
                retry: None,
            }),
            outcome,
            announce,
            charge: None,
            hold: None,
        }
    }

    pub(crate) fn with_outcome(mut self, outcome: JobOutcome) -> Self {
        self.outcome = outcome;
        self
    }
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

/// The provider may have taken the message (its answer never came): the entry becomes
/// `unknown` with a note and the job is done. It is not resent automatically, which could text
/// the customer twice; a later receipt or status callback settles it, an operator may resend it
/// or mark it failed, and the expiry sweep fails it after a while (see `docs/delivery.md`).
pub(crate) fn ambiguous(entry: &Entry, provider: &'static str, reason: &str) -> Verdict {
    unknown(entry, provider, reason, None)
}

/// [`ambiguous`], with the provider's id when part of the message was accepted (an SMPP
/// message's first segment), so its receipts find the entry.
pub(crate) fn unknown(
    entry: &Entry,
    provider: &'static str,
    reason: &str,
    provider_message_id: Option<String>,
) -> Verdict {
    let note = format!(
        "ambiguous: {provider} may have taken this message ({reason}); not resent \
         automatically"
    );
    metrics::counter!("parley_outbound_unknown_total", "provider" => provider).increment(1);
    Verdict::write(
        entry,
        EntryChange::Unknown {
            provider_message_id,
            provider_error: note,
        },
        JobOutcome::Done,
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

/// Writes verdicts and job settlements in one transaction, then publishes the events.
pub(crate) async fn commit(
    store: &Store,
    usages: &SenderUsages,
    events: &EventBus,
    now: Timestamp,
    verdicts: Vec<Verdict>,
    settlements: &[JobSettlement],
    worker: &str,
) -> Result<OutboxCommitted, StoreError> {
    let writes: Vec<OutboxWrite> = verdicts.iter().filter_map(|v| v.write.clone()).collect();
    let charges = SenderUsages::charges(&verdicts);
    let committed = store
        .commit_outbox_with(&writes, settlements, &charges, worker, now)
        .await?;
    usages.committed(&verdicts);
    let channels: HashMap<Uuid, Uuid> = writes
        .iter()
        .filter_map(|w| match &w.change {
            EntryChange::Simulated { message, .. } => Some((w.entry_id, message.channel_id)),
            _ => None,
        })
        .collect();
    for record in &committed.simulator_messages {
        if let Some(channel_id) = channels.get(&record.entry_id) {
            events.publish(DomainEvent::SimulatorMessage {
                channel_id: *channel_id,
                message_id: record.message_id,
            });
        }
    }
    for v in verdicts.iter().filter(|v| v.announce) {
        if let Some(w) = &v.write {
            events.publish(DomainEvent::MessageStatusChanged {
                session_id: v.session_id,
                entry_id: w.entry_id,
            });
        }
    }
    for user in &committed.opted_out {
        events.publish(DomainEvent::ConsentChanged {
            messaging_user_id: *user,
        });
    }
    Ok(committed)
}
