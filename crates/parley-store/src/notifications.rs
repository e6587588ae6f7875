//! Triggered notifications (issue 13, TM-06..11): the record of each one accepted, the error log
//! of the ones that failed (TM-08) and a delivery error per failure, for reports (issue 15).
//! The message itself is written by [`Store::write_outreach`]; these rows only describe it.

use parley_core::{Timestamp, new_id};
use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

use crate::{Result, Store, StoreError, on_backend};

/// A notification as accepted.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct NotificationRecord {
    pub id: Uuid,
    pub channel_id: Uuid,
    pub template_name: String,
    pub template_language: String,
    pub recipient: String,
    pub entry_id: Uuid,
    pub session_id: Uuid,
    pub messaging_user_id: Uuid,
    pub status: String,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
}

/// One failed notification in the error log.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct NotificationError {
    pub id: Uuid,
    #[sqlx(try_from = "i64")]
    pub at: Timestamp,
    pub channel_id: Option<Uuid>,
    pub template: String,
    pub recipient: String,
    /// The request as received, JSON text.
    pub inputs: String,
    /// validation | exclusion | provider
    pub stage: String,
    pub code: String,
    pub reason: String,
    pub notification_id: Option<Uuid>,
    pub entry_id: Option<Uuid>,
}

/// What a failure writes; the store gives it an id.
#[derive(Debug, Clone)]
pub struct NotificationErrorWrite {
    pub channel_id: Option<Uuid>,
    pub template: String,
    pub recipient: String,
    pub inputs: String,
    pub stage: &'static str,
    pub code: String,
    pub reason: String,
    pub notification_id: Option<Uuid>,
    pub entry_id: Option<Uuid>,
    /// The provider's own code, for the delivery error (None outside the provider stage).
    pub provider_code: Option<String>,
}

impl Store {
    /// Records a notification; when one already holds its entry (a concurrent request with the
    /// same idempotency key recorded it first), answers that one instead.
    pub async fn create_notification(&self, n: &NotificationRecord) -> Result<NotificationRecord> {
        on_backend!(self, write c => sqlx::query(
            "INSERT INTO notifications (id, channel_id, template_name, template_language, recipient, \
             entry_id, session_id, messaging_user_id, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (entry_id) DO NOTHING")
            .bind(n.id).bind(n.channel_id).bind(&n.template_name).bind(&n.template_language)
            .bind(self.seal_lookup(&n.recipient)).bind(n.entry_id).bind(n.session_id).bind(n.messaging_user_id)
            .bind(&n.status).bind(n.created_at.millis()).execute(c).await.map(|r| r.rows_affected()))?;
        let stored = on_backend!(self, write c => sqlx::query_as::<_, NotificationRecord>(
            "SELECT * FROM notifications WHERE entry_id = $1")
            .bind(n.entry_id).fetch_optional(c).await)?;
        self.open_notification(stored.ok_or(StoreError::not_found("notification"))?)
    }

    /// The notification that sent `entry_id`, if any (per message: index `notifications_entry`).
    pub async fn notification_by_entry(
        &self,
        entry_id: Uuid,
    ) -> Result<Option<NotificationRecord>> {
        let stored = on_backend!(self, read c => sqlx::query_as::<_, NotificationRecord>(
            "SELECT * FROM notifications WHERE entry_id = $1 LIMIT 1")
            .bind(entry_id).fetch_optional(c).await)?;
        stored.map(|n| self.open_notification(n)).transpose()
    }

    /// Marks a notification failed at its provider. False when it already was, so a status
    /// reported twice logs one provider failure.
    pub async fn update_notification_failed(&self, id: Uuid) -> Result<bool> {
        let n = on_backend!(self, write c => sqlx::query(
            "UPDATE notifications SET status = 'failed' WHERE id = $1 AND status <> 'failed'")
            .bind(id).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Logs a failure and, in the same breath, the delivery error reports count.
    pub async fn write_notification_error(
        &self,
        e: &NotificationErrorWrite,
        now: Timestamp,
    ) -> Result<Uuid> {
        let id = new_id();
        on_backend!(self, write c => sqlx::query(
            "INSERT INTO notification_errors (id, at, channel_id, template, recipient, inputs, stage, \
             code, reason, notification_id, entry_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
            .bind(id).bind(now.millis()).bind(e.channel_id).bind(&e.template).bind(self.seal_text(&e.recipient))
            .bind(self.seal_text(&e.inputs)).bind(e.stage).bind(&e.code).bind(&e.reason).bind(e.notification_id)
            .bind(e.entry_id).execute(c).await.map(|r| r.rows_affected()))?;
        on_backend!(self, write c => sqlx::query(
            "INSERT INTO delivery_errors (id, at, entry_id, channel_id, code, provider_code, source) \
             VALUES ($1, $2, $3, $4, $5, $6, 'notification')")
            .bind(new_id()).bind(now.millis()).bind(e.entry_id).bind(e.channel_id).bind(&e.code)
            .bind(&e.provider_code).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(id)
    }

    /// The error log, newest first, `limit` rows before `before` (a cursor: the last row's time).
    pub async fn notification_errors(
        &self,
        before: Option<Timestamp>,
        limit: i64,
    ) -> Result<Vec<NotificationError>> {
        self.notification_errors_where(before, limit, None, None)
            .await
    }

    /// The error log of one channel or one stage (either may be `None`: any), as
    /// [`Store::notification_errors`].
    pub async fn notification_errors_where(
        &self,
        before: Option<Timestamp>,
        limit: i64,
        channel_id: Option<Uuid>,
        stage: Option<&str>,
    ) -> Result<Vec<NotificationError>> {
        let before = before.map_or(i64::MAX, |t| t.millis());
        let rows = on_backend!(self, read c => sqlx::query_as::<_, NotificationError>(
            "SELECT * FROM notification_errors WHERE at < $1 \
             AND ($3 IS NULL OR channel_id = $3) AND ($4 IS NULL OR stage = $4) \
             ORDER BY at DESC, id DESC LIMIT $2")
            .bind(before).bind(limit).bind(channel_id).bind(stage).fetch_all(c).await)?;
        rows.into_iter()
            .map(|e| self.open_notification_error(e))
            .collect()
    }

    pub async fn notification_error(&self, id: Uuid) -> Result<NotificationError> {
        let e = on_backend!(self, read c => sqlx::query_as::<_, NotificationError>(
            "SELECT * FROM notification_errors WHERE id = $1")
            .bind(id).fetch_optional(c).await)?
        .ok_or(StoreError::not_found("notification error"))?;
        self.open_notification_error(e)
    }

    fn open_notification(&self, mut n: NotificationRecord) -> Result<NotificationRecord> {
        n.recipient = self.open_text(&n.recipient)?;
        Ok(n)
    }

    fn open_notification_error(&self, mut e: NotificationError) -> Result<NotificationError> {
        e.recipient = self.open_text(&e.recipient)?;
        e.inputs = self.open_text(&e.inputs)?;
        Ok(e)
    }

    pub async fn delete_notification_error(&self, id: Uuid) -> Result<()> {
        let done = on_backend!(self, write c => sqlx::query(
            "DELETE FROM notification_errors WHERE id = $1")
            .bind(id).execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("notification error"));
        }
        Ok(())
    }

    /// Deletes up to `limit` log entries written at or before `before` (the retention sweep calls
    /// it until it returns less than `limit`, so one sweep never holds the writer long).
    pub async fn delete_notification_errors_before(
        &self,
        before: Timestamp,
        limit: i64,
    ) -> Result<u64> {
        Ok(on_backend!(self, write c => sqlx::query(
            "DELETE FROM notification_errors WHERE id IN \
             (SELECT id FROM notification_errors WHERE at <= $1 LIMIT $2)")
            .bind(before.millis()).bind(limit).execute(c).await.map(|r| r.rows_affected()))?)
    }

    /// Declares a template's merge fields, one per placeholder in order (`None`: none).
    pub async fn set_template_merge_fields(
        &self,
        template_id: Uuid,
        fields: Option<&[String]>,
    ) -> Result<()> {
        let raw = fields.map(|f| serde_json::Value::from(f.to_vec()).to_string());
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE templates SET merge_fields = $2 WHERE id = $1")
            .bind(template_id).bind(raw).execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("template"));
        }
        Ok(())
    }

    /// A template's merge fields, one per placeholder (empty when none were given).
    pub async fn template_merge_fields(&self, template_id: Uuid) -> Result<Vec<String>> {
        let raw: Option<Option<String>> = on_backend!(self, read c => sqlx::query_scalar(
            "SELECT merge_fields FROM templates WHERE id = $1")
            .bind(template_id).fetch_optional(c).await)?;
        let raw = raw.ok_or(StoreError::not_found("template"))?;
        Ok(raw
            .and_then(|t| serde_json::from_str::<Vec<String>>(&t).ok())
            .unwrap_or_default())
    }
}
