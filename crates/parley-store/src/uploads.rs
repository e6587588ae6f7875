//! Files agents upload from the console's composer (issue 15, AG-06): who uploaded them for which
//! session, the token of the public link a provider fetches them from, and the entry they went
//! out with. The bytes and their media row are written by the engine's media store.

use uuid::Uuid;

use crate::{Result, Store, StoreError, on_backend};

/// An agent's upload, before or after it was sent.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AgentUpload {
    pub media_id: Uuid,
    pub session_id: Uuid,
    /// The signed-in agent; none for an API token.
    pub agent_id: Option<Uuid>,
    /// The secret part of the public link `/media/o/{token}`.
    pub token: String,
    /// The message it went out with, once sent.
    pub entry_id: Option<Uuid>,
    pub created_at: i64,
}

impl Store {
    pub async fn create_agent_upload(&self, u: &AgentUpload) -> Result<()> {
        on_backend!(self, write c => sqlx::query(
            "INSERT INTO agent_uploads (media_id, session_id, agent_id, token, entry_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(u.media_id).bind(u.session_id).bind(u.agent_id).bind(&u.token).bind(u.entry_id)
            .bind(u.created_at).execute(c).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn agent_upload(&self, media_id: Uuid) -> Result<AgentUpload> {
        on_backend!(self, read c => sqlx::query_as::<_, AgentUpload>(
            "SELECT * FROM agent_uploads WHERE media_id = $1").bind(media_id).fetch_optional(c).await)?
        .ok_or(StoreError::not_found("upload"))
    }

    /// The upload behind a public link, once it was sent (an unsent upload has no public face).
    pub async fn sent_upload_by_token(&self, token: &str) -> Result<AgentUpload> {
        on_backend!(self, read c => sqlx::query_as::<_, AgentUpload>(
            "SELECT * FROM agent_uploads WHERE token = $1 AND entry_id IS NOT NULL")
            .bind(token).fetch_optional(c).await)?
        .ok_or(StoreError::not_found("media"))
    }

    /// Records that the upload went out with `entry_id`, on the upload and on its media row (so
    /// reads and erasure follow the entry). False when it was already sent.
    pub async fn set_upload_sent(&self, media_id: Uuid, entry_id: Uuid) -> Result<bool> {
        let done = on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            let n = sqlx::query(
                "UPDATE agent_uploads SET entry_id = $2 WHERE media_id = $1 AND entry_id IS NULL")
                .bind(media_id).bind(entry_id).execute(&mut *tx).await?.rows_affected();
            if n == 1 {
                sqlx::query("UPDATE media SET entry_id = $2 WHERE id = $1")
                    .bind(media_id).bind(entry_id).execute(&mut *tx).await?;
            }
            tx.commit().await.map(|_| n)
        })?;
        Ok(done == 1)
    }

    /// The provider's id of the customer's latest message in the session (what WhatsApp's read
    /// receipt and typing indicator name). Index `entries (session_id, id)`.
    pub async fn last_inbound_provider_id(&self, session_id: Uuid) -> Result<Option<String>> {
        let id: Option<Option<String>> = on_backend!(self, read c => sqlx::query_scalar(
            "SELECT provider_message_id FROM entries WHERE session_id = $1 AND direction = 'inbound' \
             ORDER BY id DESC LIMIT 1")
            .bind(session_id).fetch_optional(c).await)?;
        Ok(id.flatten())
    }
}
