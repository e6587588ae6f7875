//! The Twilio-compatible Messages API's rows: the accounts Parley issues, their messaging
//! services and which entries were sent through the API (with their status callback).

use parley_core::Timestamp;
use uuid::Uuid;

use crate::{Result, Store, StoreError, on_backend};

/// An account a program authenticates as (HTTP Basic: sid and auth token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioAccount {
    pub sid: String,
    pub name: String,
    /// In clear: status callbacks are signed with it.
    pub auth_token: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// A message sent through the API: its entry and what Twilio's resource adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioMessage {
    pub entry_id: Uuid,
    pub account_sid: String,
    pub messaging_service_sid: Option<String>,
    pub status_callback: Option<String>,
    pub created_at: Timestamp,
}

type AccountRow = (String, String, String, i64, Option<i64>);
type MessageRow = (Uuid, String, Option<String>, Option<String>, i64);

fn account(row: AccountRow) -> TwilioAccount {
    TwilioAccount {
        sid: row.0,
        name: row.1,
        auth_token: row.2,
        created_at: Timestamp::from_millis(row.3),
        revoked_at: row.4.map(Timestamp::from_millis),
    }
}

fn message(row: MessageRow) -> TwilioMessage {
    TwilioMessage {
        entry_id: row.0,
        account_sid: row.1,
        messaging_service_sid: row.2,
        status_callback: row.3,
        created_at: Timestamp::from_millis(row.4),
    }
}

impl Store {
    pub async fn create_twilio_account(
        &self,
        sid: &str,
        name: &str,
        auth_token: &str,
        now: Timestamp,
    ) -> Result<TwilioAccount> {
        on_backend!(self, write c => sqlx::query(
            "INSERT INTO twilio_accounts (sid, name, auth_token, created_at) VALUES ($1, $2, $3, $4)")
            .bind(sid).bind(name).bind(auth_token).bind(now.millis())
            .execute(c).await.map(|r| r.rows_affected()))?;
        self.twilio_account(sid)
            .await?
            .ok_or(StoreError::not_found("twilio account"))
    }

    /// The account `sid`, revoked or not.
    pub async fn twilio_account(&self, sid: &str) -> Result<Option<TwilioAccount>> {
        let row: Option<AccountRow> = on_backend!(self, read c => sqlx::query_as(
            "SELECT sid, name, auth_token, created_at, revoked_at FROM twilio_accounts WHERE sid = $1")
            .bind(sid).fetch_optional(c).await)?;
        Ok(row.map(account))
    }

    pub async fn list_twilio_accounts(&self) -> Result<Vec<TwilioAccount>> {
        let rows: Vec<AccountRow> = on_backend!(self, read c => sqlx::query_as(
            "SELECT sid, name, auth_token, created_at, revoked_at FROM twilio_accounts ORDER BY created_at, sid")
            .fetch_all(c).await)?;
        Ok(rows.into_iter().map(account).collect())
    }

    pub async fn revoke_twilio_account(&self, sid: &str, now: Timestamp) -> Result<()> {
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE twilio_accounts SET revoked_at = $2 WHERE sid = $1 AND revoked_at IS NULL")
            .bind(sid).bind(now.millis()).execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("twilio account"));
        }
        Ok(())
    }

    /// Records that `entry_id` was sent through the API. Written right after the send (the seam
    /// owns its transaction); a crash between the two loses only the API's view of the message.
    pub async fn write_twilio_message(&self, m: &TwilioMessage) -> Result<()> {
        on_backend!(self, write c => sqlx::query(
            "INSERT INTO twilio_messages (entry_id, account_sid, messaging_service_sid, status_callback, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (entry_id) DO NOTHING")
            .bind(m.entry_id).bind(&m.account_sid).bind(&m.messaging_service_sid)
            .bind(&m.status_callback).bind(m.created_at.millis())
            .execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The API's row of `entry_id`, if it was sent through the API (by primary key: the status
    /// callback path reads it for every status change).
    pub async fn twilio_message(&self, entry_id: Uuid) -> Result<Option<TwilioMessage>> {
        let row: Option<MessageRow> = on_backend!(self, read c => sqlx::query_as(
            "SELECT entry_id, account_sid, messaging_service_sid, status_callback, created_at \
             FROM twilio_messages WHERE entry_id = $1")
            .bind(entry_id).fetch_optional(c).await)?;
        Ok(row.map(message))
    }

    /// A page of the account's messages, newest first, after the keyset `(created_at, entry_id)`.
    pub async fn twilio_messages_page(
        &self,
        account_sid: &str,
        before: Option<(i64, Uuid)>,
        limit: i64,
    ) -> Result<Vec<TwilioMessage>> {
        let (at, id) = before.unwrap_or((i64::MAX, Uuid::max()));
        let rows: Vec<MessageRow> = on_backend!(self, read c => sqlx::query_as(
            "SELECT entry_id, account_sid, messaging_service_sid, status_callback, created_at \
             FROM twilio_messages WHERE account_sid = $1 \
             AND (created_at < $2 OR (created_at = $2 AND entry_id < $3)) \
             ORDER BY created_at DESC, entry_id DESC LIMIT $4")
            .bind(account_sid).bind(at).bind(id).bind(limit).fetch_all(c).await)?;
        Ok(rows.into_iter().map(message).collect())
    }
}

impl Store {
    /// The id of the channel of `kind` whose address is `address` (a Twilio `From`), if any.
    pub async fn channel_id_by_address(&self, kind: &str, address: &str) -> Result<Option<Uuid>> {
        Ok(on_backend!(self, read c => sqlx::query_scalar(
            "SELECT id FROM channels WHERE kind = $1 AND address = $2 ORDER BY created_at LIMIT 1")
            .bind(kind).bind(address).fetch_optional(c).await)?)
    }
}
