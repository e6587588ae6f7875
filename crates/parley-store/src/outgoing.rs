//! Writes of the compose path and of media storage: an agent's or program's message as an entry
//! (with its send job, or failed with the reason it was refused), and Parley's copies of inbound
//! files.

use parley_core::Timestamp;
use parley_core::model::{Actor, Direction};
use sqlx::types::Json;
use uuid::Uuid;

use crate::records::{Entry, EntryTemplate, Media, NewJob};
use crate::{Result, Store, StoreError, on_backend};

/// A stored file: the row behind `GET /api/v1/media/{id}`. The bytes are on disk under their
/// SHA-256 (the engine's media store); the row says what they are.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredMedia {
    pub id: Uuid,
    pub sha256: String,
    pub content_type: String,
    pub size: i64,
    pub entry_id: Option<Uuid>,
    pub created_at: i64,
}

impl Store {
    /// Writes an outbound entry composed by an agent, bot or program, and its send job when it
    /// has one (a refused message has none: it is written already failed), in one transaction.
    /// An agent's message counts toward the session's agent messages and `last_agent_at`.
    pub async fn record_outgoing(
        &self,
        entry: &Entry,
        job: Option<&NewJob>,
        now: Timestamp,
    ) -> Result<Entry> {
        let at = now.millis();
        let by_agent =
            i64::from(entry.direction == Direction::Outbound && entry.actor == Actor::Agent);
        let search_key = self.search_key().await?;
        on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            sqlx::query(
                "INSERT INTO entries (id, session_id, direction, actor, actor_id, body, media, \
                 provider_message_id, status, error_code, provider_error, created_at, updated_at, template, \
                 component) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14)")
                .bind(entry.id).bind(entry.session_id).bind(entry.direction.as_str())
                .bind(entry.actor.as_str()).bind(entry.actor_id).bind(self.seal_text(&entry.body))
                .bind(Json::<&Vec<Media>>(&entry.media)).bind(&entry.provider_message_id)
                .bind(entry.status.as_str()).bind(&entry.error_code).bind(&entry.provider_error)
                .bind(at).bind(entry.template.as_ref().map(Json::<&EntryTemplate>))
                .bind(entry.component.as_ref().map(Json::<&parley_core::component::Component>))
                .execute(&mut *tx).await?;
            crate::search::index_entry!(tx, &search_key, entry.id, entry.session_id, entry.direction, &entry.body, at);
            if by_agent > 0 {
                sqlx::query(
                    "UPDATE sessions SET agent_messages = agent_messages + 1, last_agent_at = $2, \
                     updated_at = $2 WHERE id = $1")
                    .bind(entry.session_id).bind(at).execute(&mut *tx).await?;
            }
            if let Some(j) = job {
                sqlx::query(crate::jobs::INSERT_JOB)
                    .bind(parley_core::new_id()).bind(&j.queue).bind(&j.kind).bind(self.seal_text(&j.payload))
                    .bind(j.priority).bind(j.due_at.millis()).bind(j.max_attempts).bind(&j.dedupe_key)
                    .bind(at).bind(&j.group_key)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await
        })?;
        self.entry(entry.id).await
    }

    /// Replaces an entry's attachments (Parley's copy of a file was stored, or gave up).
    pub async fn set_entry_media(&self, id: Uuid, media: &[Media], now: Timestamp) -> Result<()> {
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE entries SET media = $2, updated_at = $3 WHERE id = $1")
            .bind(id).bind(Json(media)).bind(now.millis())
            .execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("entry"));
        }
        Ok(())
    }

    /// Records a stored file.
    pub async fn insert_media(&self, m: &StoredMedia) -> Result<()> {
        on_backend!(self, write c => sqlx::query(
            "INSERT INTO media (id, sha256, content_type, size, entry_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(m.id).bind(&m.sha256).bind(&m.content_type).bind(m.size).bind(m.entry_id)
            .bind(m.created_at).execute(c).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn media(&self, id: Uuid) -> Result<StoredMedia> {
        on_backend!(self, read c => sqlx::query_as::<_, StoredMedia>(
            "SELECT * FROM media WHERE id = $1").bind(id).fetch_optional(c).await)?
        .ok_or(StoreError::not_found("media"))
    }
}
