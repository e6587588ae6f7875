//! Retention (issue 16 part 4): the policies, and the small deletes the retention worker makes.
//!
//! Every delete takes at most `limit` rows and reads its rows by time through an index of its own
//! (migration 0028), so one call holds the writer briefly and the worker yields between calls.
//! Sessions are touched only when Ended or Error: every statement on them names
//! `status IN ('ended', 'error')`, the predicate of the partial indexes they read.

use parley_core::privacy::retention::{DataKind, Scope};
use parley_core::{Timestamp, new_id};
use sqlx::FromRow;
use uuid::Uuid;

use crate::{Result, Store, StoreError, on_backend};

/// A stored policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicyRow {
    pub id: Uuid,
    pub channel_id: Option<Uuid>,
    pub kind: DataKind,
    pub days: u32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(FromRow)]
struct Row {
    id: Uuid,
    channel_id: Option<Uuid>,
    kind: String,
    days: i64,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<Row> for RetentionPolicyRow {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self> {
        Ok(Self {
            id: r.id,
            channel_id: r.channel_id,
            kind: DataKind::parse(&r.kind).ok_or_else(|| {
                StoreError::Corrupt(format!("retention policy kind {:?}", r.kind))
            })?,
            days: u32::try_from(r.days).unwrap_or(u32::MAX),
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
        })
    }
}

/// A media file whose row retention removed; the caller deletes the file when `last` (no other
/// row holds the same content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionRemoved {
    pub sha256: String,
    pub last: bool,
}

impl Store {
    pub async fn list_retention_policies(&self) -> Result<Vec<RetentionPolicyRow>> {
        let rows = on_backend!(self, read c => sqlx::query_as::<_, Row>(
            "SELECT id, channel_id, kind, days, created_at, updated_at FROM retention_policies \
             ORDER BY kind, channel_id")
            .fetch_all(c).await)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    pub async fn retention_policy(&self, id: Uuid) -> Result<RetentionPolicyRow> {
        on_backend!(self, read c => sqlx::query_as::<_, Row>(
            "SELECT id, channel_id, kind, days, created_at, updated_at FROM retention_policies \
             WHERE id = $1")
            .bind(id).fetch_optional(c).await)?
        .ok_or(StoreError::not_found("retention policy"))?
        .try_into()
    }

    /// Sets how long `kind` is kept on `channel_id` (or every channel): the policy for that pair
    /// is created or replaced.
    pub async fn set_retention_policy(
        &self,
        channel_id: Option<Uuid>,
        kind: DataKind,
        days: u32,
        now: Timestamp,
    ) -> Result<RetentionPolicyRow> {
        let id = on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            let existing: Option<Uuid> = sqlx::query_scalar(
                "SELECT id FROM retention_policies WHERE kind = $1 \
                 AND (channel_id = $2 OR ($2 IS NULL AND channel_id IS NULL))")
                .bind(kind.as_str()).bind(channel_id).fetch_optional(&mut *tx).await?;
            let id = match existing {
                Some(id) => {
                    sqlx::query("UPDATE retention_policies SET days = $2, updated_at = $3 WHERE id = $1")
                        .bind(id).bind(i64::from(days)).bind(now.millis())
                        .execute(&mut *tx).await?;
                    id
                }
                None => {
                    let id = new_id();
                    sqlx::query(
                        "INSERT INTO retention_policies (id, channel_id, kind, days, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $5)")
                        .bind(id).bind(channel_id).bind(kind.as_str()).bind(i64::from(days))
                        .bind(now.millis()).execute(&mut *tx).await?;
                    id
                }
            };
            tx.commit().await?;
            Ok::<_, sqlx::Error>(id)
        })?;
        self.retention_policy(id).await
    }

    pub async fn delete_retention_policy(&self, id: Uuid) -> Result<()> {
        crate::config::delete_by_id(self, "retention_policies", "retention policy", id).await
    }

    /// Every channel's id: the retention plan gives each its policy.
    pub async fn retention_channel_ids(&self) -> Result<Vec<Uuid>> {
        Ok(
            on_backend!(self, read c => sqlx::query_scalar("SELECT id FROM channels ORDER BY id")
            .fetch_all(c).await)?,
        )
    }

    /// Deletes up to `limit` notification error log entries of `scope` written before `cutoff`.
    pub async fn delete_error_logs_before(
        &self,
        scope: Scope,
        cutoff: Timestamp,
        limit: i64,
    ) -> Result<u64> {
        Ok(match scope {
            Scope::Channel(ch) => on_backend!(self, write c => sqlx::query(
                "DELETE FROM notification_errors WHERE id IN (SELECT id FROM notification_errors \
                 WHERE channel_id = $1 AND at < $2 LIMIT $3)")
                .bind(ch).bind(cutoff.millis()).bind(limit)
                .execute(c).await.map(|r| r.rows_affected()))?,
            Scope::Unassigned => on_backend!(self, write c => sqlx::query(
                "DELETE FROM notification_errors WHERE id IN (SELECT id FROM notification_errors \
                 WHERE at < $1 AND channel_id IS NULL LIMIT $2)")
                .bind(cutoff.millis()).bind(limit)
                .execute(c).await.map(|r| r.rows_affected()))?,
        })
    }

    /// Deletes up to `limit` dead letters that died before `cutoff`.
    pub async fn delete_dead_letters_before(&self, cutoff: Timestamp, limit: i64) -> Result<u64> {
        Ok(on_backend!(self, write c => sqlx::query(
            "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs \
             WHERE state = 'dead' AND queue = 'inbound' AND updated_at < $1 LIMIT $2)")
            .bind(cutoff.millis()).bind(limit)
            .execute(c).await.map(|r| r.rows_affected()))?)
    }

    /// Forgets up to `limit` campaign messages' link clicks (the per-recipient short code, so the
    /// link no longer tells who followed it, and its counts) for messages sent before `cutoff`.
    pub async fn delete_link_clicks_before(
        &self,
        channel_id: Uuid,
        cutoff: Timestamp,
        limit: i64,
    ) -> Result<u64> {
        Ok(on_backend!(self, write c => sqlx::query(
            "UPDATE campaign_messages SET code = NULL, clicks = 0, first_click_at = NULL \
             WHERE entry_id IN (SELECT entry_id FROM campaign_messages \
             WHERE channel_id = $1 AND created_at < $2 AND code IS NOT NULL LIMIT $3)")
            .bind(channel_id).bind(cutoff.millis()).bind(limit)
            .execute(c).await.map(|r| r.rows_affected()))?)
    }

    /// Up to `limit` media rows of `scope` received before `cutoff`: (id, sha256).
    pub async fn retention_media_due(
        &self,
        scope: Scope,
        cutoff: Timestamp,
        limit: i64,
    ) -> Result<Vec<(Uuid, String)>> {
        Ok(match scope {
            Scope::Channel(ch) => on_backend!(self, read c => sqlx::query_as::<_, (Uuid, String)>(
                "SELECT m.id, m.sha256 FROM media m JOIN entries e ON e.id = m.entry_id \
                 JOIN sessions s ON s.id = e.session_id \
                 WHERE m.created_at < $2 AND s.channel_id = $1 ORDER BY m.created_at LIMIT $3")
                .bind(ch).bind(cutoff.millis()).bind(limit).fetch_all(c).await)?,
            Scope::Unassigned => on_backend!(self, read c => sqlx::query_as::<_, (Uuid, String)>(
                "SELECT id, sha256 FROM media WHERE created_at < $1 AND entry_id IS NULL \
                 ORDER BY created_at LIMIT $2")
                .bind(cutoff.millis()).bind(limit).fetch_all(c).await)?,
        })
    }

    /// The media rows of a session's entries: (id, sha256).
    pub async fn session_media(&self, session_id: Uuid) -> Result<Vec<(Uuid, String)>> {
        Ok(
            on_backend!(self, read c => sqlx::query_as::<_, (Uuid, String)>(
            "SELECT m.id, m.sha256 FROM entries e JOIN media m ON m.entry_id = e.id \
             WHERE e.session_id = $1")
            .bind(session_id).fetch_all(c).await)?,
        )
    }

    /// Deletes these media rows; says for each content whether any other row still holds it (its
    /// file stays then: files are shared by content).
    pub async fn delete_media_rows(
        &self,
        rows: &[(Uuid, String)],
    ) -> Result<Vec<RetentionRemoved>> {
        let mut out: Vec<RetentionRemoved> = Vec::new();
        on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            for (id, _) in rows {
                sqlx::query("DELETE FROM media WHERE id = $1").bind(id).execute(&mut *tx).await?;
            }
            for (_, sha) in rows {
                if out.iter().any(|r| &r.sha256 == sha) {
                    continue;
                }
                let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM media WHERE sha256 = $1")
                    .bind(sha).fetch_one(&mut *tx).await?;
                out.push(RetentionRemoved { sha256: sha.clone(), last: left == 0 });
            }
            tx.commit().await
        })?;
        Ok(out)
    }

    /// Up to `limit` closed sessions of `channel_id`, closed before `cutoff`, whose transcript
    /// retention has not removed yet.
    pub async fn sessions_with_transcript_due(
        &self,
        channel_id: Uuid,
        cutoff: Timestamp,
        limit: i64,
    ) -> Result<Vec<Uuid>> {
        Ok(on_backend!(self, read c => sqlx::query_scalar(
            "SELECT id FROM sessions WHERE status IN ('ended', 'error') AND transcript_removed_at IS NULL \
             AND channel_id = $1 AND status_since < $2 ORDER BY status_since LIMIT $3")
            .bind(channel_id).bind(cutoff.millis()).bind(limit).fetch_all(c).await)?)
    }

    /// Deletes up to `limit` entries of a closed session; when none is left, marks its transcript
    /// removed. Returns how many entries went.
    pub async fn delete_session_transcript(
        &self,
        session_id: Uuid,
        limit: i64,
        now: Timestamp,
    ) -> Result<u64> {
        Ok(on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            let n = sqlx::query(
                "DELETE FROM entries WHERE id IN (SELECT e.id FROM entries e JOIN sessions s \
                 ON s.id = e.session_id WHERE e.session_id = $1 AND s.status IN ('ended', 'error') \
                 LIMIT $2)")
                .bind(session_id).bind(limit).execute(&mut *tx).await?.rows_affected();
            if n < u64::try_from(limit).unwrap_or(0) {
                // Internal notes are part of the transcript people read: they go with it.
                sqlx::query("DELETE FROM session_notes WHERE session_id = $1 AND EXISTS \
                     (SELECT 1 FROM sessions WHERE id = $1 AND status IN ('ended', 'error'))")
                    .bind(session_id).execute(&mut *tx).await?;
                sqlx::query("UPDATE sessions SET transcript_removed_at = $2 WHERE id = $1 \
                     AND status IN ('ended', 'error')")
                    .bind(session_id).bind(now.millis()).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(n)
        })?)
    }

    /// Up to `limit` Ended or Error sessions of `channel_id` closed before `cutoff`.
    pub async fn closed_sessions_due(
        &self,
        channel_id: Uuid,
        cutoff: Timestamp,
        limit: i64,
    ) -> Result<Vec<Uuid>> {
        Ok(on_backend!(self, read c => sqlx::query_scalar(
            "SELECT id FROM sessions WHERE status IN ('ended', 'error') \
             AND channel_id = $1 AND status_since < $2 ORDER BY status_since LIMIT $3")
            .bind(channel_id).bind(cutoff.millis()).bind(limit).fetch_all(c).await)?)
    }

    /// Deletes a closed session with its entries (and what hangs on them by cascade); an open one
    /// is left alone. Returns how many sessions went (0 or 1).
    pub async fn delete_closed_session(&self, session_id: Uuid) -> Result<u64> {
        Ok(on_backend!(self, write c => sqlx::query(
            "DELETE FROM sessions WHERE id = $1 AND status IN ('ended', 'error')")
            .bind(session_id).execute(c).await.map(|r| r.rows_affected()))?)
    }
}
