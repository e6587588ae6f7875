//! The audit log's writer (issue 16, part 6): every admin change, export, erasure, restriction,
//! and an agent opening a conversation they do not own, recorded as who, what, which, when.

use parley_core::Timestamp;
use parley_core::audit::{AuditActor, AuditEntry};
use parley_store::{Store, StoreError};

/// Appends one entry. Callers record after the change committed; a failure to record is
/// returned, never swallowed, so a privacy action is not reported done without its trail.
pub async fn record(store: &Store, entry: AuditEntry) -> Result<(), StoreError> {
    record_at(store, entry, Timestamp::from_millis(now_millis())).await
}

/// [`record`] at a given time (the caller's clock: a worker under a moved test clock).
pub async fn record_at(store: &Store, entry: AuditEntry, now: Timestamp) -> Result<(), StoreError> {
    store.write_audit_entry(&entry, now).await.map(|_| ())
}

/// How long one reading of a transcript stands for the next ones by the same person.
const OPENED_WINDOW_MS: i64 = 3600 * 1000;

/// An agent (or a token) read the transcript of a session (`resource_kind` `session`) or of a
/// person's whole conversation (`messaging_user`) they do not own: recorded once an hour per
/// reader and resource, so a console refreshing the view adds nothing.
pub async fn conversation_opened(
    store: &Store,
    actor: AuditActor,
    resource_kind: &str,
    resource_id: uuid::Uuid,
    detail: serde_json::Value,
    now: Timestamp,
) -> Result<(), StoreError> {
    let resource = resource_id.to_string();
    let since = Timestamp::from_millis(now.millis() - OPENED_WINDOW_MS);
    if store
        .audit_entry_since(&actor, "conversation_opened", &resource, since)
        .await?
    {
        return Ok(());
    }
    record_at(
        store,
        AuditEntry {
            actor,
            action: "conversation_opened".into(),
            resource_kind: resource_kind.into(),
            resource_id: Some(resource),
            detail,
        },
        now,
    )
    .await
}

fn now_millis() -> i64 {
    use parley_core::Clock;
    parley_core::SystemClock.now().millis()
}
