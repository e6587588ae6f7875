//! Retention policies (issue 16 part 4): how long each kind of data is kept, per channel or on
//! all channels. The rule is `parley_core::privacy::retention`; the worker that applies it is
//! `crate::retention`.

use parley_core::Timestamp;
use parley_core::privacy::retention::Policy;
use parley_store::{RetentionPolicyRow, Store};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ServiceError, referenced};

/// A policy as the API and the console write it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicyInput {
    /// The channel it applies to; absent: every channel without a policy of its own for this kind.
    #[serde(default)]
    pub channel_id: Option<Uuid>,
    /// entries, media, sessions, error_logs, dead_letters or link_clicks.
    pub kind: String,
    /// Days to keep, 1 to 36,500.
    pub days: i64,
}

/// Creates or replaces the policy of this channel (or all channels) and kind.
pub async fn put(
    store: &Store,
    input: &RetentionPolicyInput,
    now: Timestamp,
) -> Result<RetentionPolicyRow, ServiceError> {
    let policy = Policy::new(input.channel_id, input.kind.trim(), input.days)
        .map_err(|e| ServiceError::Invalid(e.to_string()))?;
    if let Some(channel) = policy.channel_id {
        referenced(store.channel(channel).await, "channel_id: the channel")?;
    }
    Ok(store
        .set_retention_policy(policy.channel_id, policy.kind, policy.days, now)
        .await?)
}

/// Removes a policy: that kind is then kept by the all-channels policy, or forever.
pub async fn delete(store: &Store, id: Uuid) -> Result<(), ServiceError> {
    Ok(store.delete_retention_policy(id).await?)
}
