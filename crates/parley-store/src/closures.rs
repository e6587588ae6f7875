//! Closed conversations (SE-20): which conversation a customer's next session may not continue,
//! and the sessions a close ends.

use parley_core::Timestamp;
use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

use crate::records::Session;
use crate::{Result, Store, on_backend};

/// A conversation closed by an agent or an API token, with the reason they gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow)]
pub struct ConversationClosure {
    pub conversation_id: Uuid,
    pub channel_id: Uuid,
    pub messaging_user_id: Uuid,
    pub reason: String,
    pub closed_by_agent: Option<Uuid>,
    pub closed_by_token: Option<Uuid>,
    #[sqlx(try_from = "i64")]
    pub closed_at: Timestamp,
}

/// Inserts the closure inside a console commit; a second close of the same conversation inserts
/// nothing, and the caller turns that into a conflict.
pub(crate) const INSERT_CLOSURE: &str = "INSERT INTO conversation_closures (conversation_id, \
    channel_id, messaging_user_id, reason, closed_by_agent, closed_by_token, closed_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (conversation_id) DO NOTHING";

impl Store {
    /// Every session of a conversation, oldest first (index `sessions_conversation`).
    pub async fn sessions_of_conversation(&self, conversation_id: Uuid) -> Result<Vec<Session>> {
        Ok(on_backend!(self, read c => sqlx::query_as::<_, Session>(
            "SELECT * FROM sessions WHERE conversation_id = $1 ORDER BY id")
            .bind(conversation_id).fetch_all(c).await)?)
    }

    /// The closure of a conversation, if it was closed.
    pub async fn conversation_closure(
        &self,
        conversation_id: Uuid,
    ) -> Result<Option<ConversationClosure>> {
        Ok(
            on_backend!(self, read c => sqlx::query_as::<_, ConversationClosure>(
            "SELECT * FROM conversation_closures WHERE conversation_id = $1")
            .bind(conversation_id).fetch_optional(c).await)?,
        )
    }
}
