//! Dead letters: inbound messages the pipeline could not process (see
//! [`parley_core::dead_letter`]), listed, replayed once their cause is fixed, or discarded.
//!
//! Why the dead inbound job is the dead letter rather than a table of its own: the job already
//! holds the raw event as the webhook persisted it and the last error, and it dies in the same
//! statement that records why (the pipeline writes its reason kind beside it). A copy elsewhere
//! would be a second write that could fail between the two. Replaying is the same row going back
//! to `ready` with fresh attempts: its dedupe key stays taken throughout, so a provider's late
//! retry of the message still cannot queue it twice. A replay whose cause persists dies again
//! with the new reason. The list reads a partial index of dead inbound jobs (migration 0007),
//! never the job table.
//!
//! Every write is logged at info with who made it, so a discard can be traced to a person.

use parley_core::Timestamp;
use parley_core::dead_letter::DeadLetterReason;
use parley_store::{DeadLetter, PageRequest, Paged, Store};
use uuid::Uuid;

use super::ServiceError;
use crate::jobs::InboundEvent;

/// A dead letter with its event read from the payload (`None` when the payload cannot be read:
/// the raw text is still there).
#[derive(Debug, Clone)]
pub struct Letter {
    pub stored: DeadLetter,
    pub event: Option<InboundEvent>,
}

impl From<DeadLetter> for Letter {
    fn from(stored: DeadLetter) -> Self {
        let event = serde_json::from_str(&stored.payload).ok();
        Self { stored, event }
    }
}

/// The reason a filter names; an unknown name is refused so a typo does not list nothing.
pub fn reason(name: &str) -> Result<DeadLetterReason, ServiceError> {
    DeadLetterReason::ALL
        .into_iter()
        .find(|r| r.as_str() == name)
        .ok_or_else(|| {
            let known: Vec<&str> = DeadLetterReason::ALL.iter().map(|r| r.as_str()).collect();
            ServiceError::Invalid(format!(
                "reason '{name}' is not one of {}",
                known.join(", ")
            ))
        })
}

pub async fn list(
    store: &Store,
    reason: Option<DeadLetterReason>,
    page: PageRequest,
) -> Result<Paged<Letter>, ServiceError> {
    let page = store.list_dead_letters(reason, page).await?;
    Ok(Paged {
        items: page.items.into_iter().map(Letter::from).collect(),
        next: page.next,
    })
}

pub async fn get(store: &Store, id: Uuid) -> Result<Letter, ServiceError> {
    Ok(store.dead_letter(id).await?.into())
}

/// Puts one dead letter back in the inbound queue. `NotFound` when it is not (any more) a dead
/// letter.
pub async fn replay(
    store: &Store,
    id: Uuid,
    who: &str,
    now: Timestamp,
) -> Result<(), ServiceError> {
    let replayed = store.replay_dead_letters(Some(&[id]), None, now).await?;
    if replayed.is_empty() {
        return Err(parley_store::StoreError::NotFound {
            entity: "dead letter",
        }
        .into());
    }
    tracing::info!(dead_letter = %id, by = who, "dead letter replayed");
    Ok(())
}

/// Puts every dead letter of `reason` (every one, without) back in the inbound queue; answers
/// the ids replayed.
pub async fn replay_all(
    store: &Store,
    reason: Option<DeadLetterReason>,
    who: &str,
    now: Timestamp,
) -> Result<Vec<Uuid>, ServiceError> {
    let replayed = store.replay_dead_letters(None, reason, now).await?;
    tracing::info!(
        n = replayed.len(),
        reason = reason.map(DeadLetterReason::as_str),
        by = who,
        "dead letters replayed"
    );
    Ok(replayed)
}

/// Gives a dead letter up: its job is finished with who discarded it and when, and leaves the
/// list. The message is not processed.
pub async fn discard(
    store: &Store,
    id: Uuid,
    who: &str,
    now: Timestamp,
) -> Result<(), ServiceError> {
    let note = format!("discarded by {who} at {}", now.to_rfc3339());
    store.discard_dead_letter(id, &note, now).await?;
    tracing::warn!(dead_letter = %id, by = who, "dead letter discarded");
    Ok(())
}
