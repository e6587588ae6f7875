//! An operator's answers to a message whose delivery went wrong: resend it, or mark an unknown
//! outcome failed (see `docs/delivery.md`). Both are for outbound entries only.

use parley_core::Timestamp;
use parley_core::consent::SendPurpose;
use parley_core::model::{Direction, EntryStatus};
use parley_store::outbox::Requeue;
use parley_store::{Entry, Store, StoreError};
use uuid::Uuid;

use super::ServiceError;
use crate::events::{DomainEvent, EventBus};
use crate::jobs::{REPLY_PRIORITY, SendRequest, send_job};
use crate::outbound::unknown::EXPIRED_CODE;

fn conflict(entry: &Entry, action: &str) -> ServiceError {
    ServiceError::Store(StoreError::Conflict(format!(
        "only an outbound message whose outcome is unknown{} can be {action}; this one is {}",
        if action == "resent" { " or failed" } else { "" },
        entry.status
    )))
}

/// Resends an `unknown` or `failed` outbound entry: back to `queued` with a new send job, with
/// the same consent purpose as its first send (a conversation message's when that job is gone).
/// `who` names the operator in the entry's note. 409 for any other entry.
pub async fn resend(
    store: &Store,
    events: &EventBus,
    entry_id: Uuid,
    who: &str,
    now: Timestamp,
) -> Result<Entry, ServiceError> {
    let entry = store.entry(entry_id).await?;
    if entry.direction != Direction::Outbound
        || !matches!(entry.status, EntryStatus::Unknown | EntryStatus::Failed)
    {
        return Err(conflict(&entry, "resent"));
    }
    let purpose = store
        .job_payload(&format!("send:{entry_id}"))
        .await?
        .and_then(|p| serde_json::from_str::<SendRequest>(&p).ok())
        .map_or(
            SendPurpose::Conversation {
                session_opt_in: false,
            },
            |r| r.purpose,
        );
    let mut job = send_job(entry_id, purpose, REPLY_PRIORITY, now);
    // The first job's key stays taken (it keeps a crash from sending twice); each resend has
    // its own.
    job.dedupe_key = Some(format!("send:{entry_id}:resend:{}", now.millis()));
    let requeue = Requeue {
        entry_id,
        note: format!("resent by {who} (it was {})", entry.status),
        job,
    };
    if !store.requeue_entry(&requeue, now).await? {
        let now_entry = store.entry(entry_id).await?;
        return Err(conflict(&now_entry, "resent"));
    }
    events.publish(DomainEvent::MessageStatusChanged {
        session_id: entry.session_id,
        entry_id,
    });
    Ok(store.entry(entry_id).await?)
}

/// Marks an `unknown` outbound entry failed (catalogue code 0002), naming the operator in
/// `provider_error`. 409 for any other entry.
pub async fn mark_failed(
    store: &Store,
    events: &EventBus,
    entry_id: Uuid,
    who: &str,
    now: Timestamp,
) -> Result<Entry, ServiceError> {
    let entry = store.entry(entry_id).await?;
    let note = format!("marked failed by {who}: the provider's answer never came");
    if entry.direction != Direction::Outbound
        || !store
            .fail_unknown(entry_id, EXPIRED_CODE.code(), &note, now)
            .await?
    {
        let now_entry = store.entry(entry_id).await?;
        return Err(conflict(&now_entry, "marked failed"));
    }
    events.publish(DomainEvent::MessageStatusChanged {
        session_id: entry.session_id,
        entry_id,
    });
    Ok(store.entry(entry_id).await?)
}
