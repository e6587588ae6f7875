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
    /// `To` and `From` as the API shows them (`whatsapp:` prefix included): the list's filters
    /// and the messaging services' sticky sender.
    pub to_address: String,
    pub from_address: String,
}

/// A pool of SMS or WhatsApp channels an account sends from with `MessagingServiceSid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioMessagingService {
    /// "MG" and 32 hex digits.
    pub sid: String,
    pub account_sid: String,
    pub name: String,
    /// The pool, in its order (the last resort of the sender choice).
    pub channel_ids: Vec<Uuid>,
    pub created_at: Timestamp,
}

/// Which messages a list page holds, besides the account's keyset position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TwilioMessageFilter {
    pub to: Option<String>,
    pub from: Option<String>,
    /// `created_at >= since` (milliseconds).
    pub since: Option<i64>,
    /// `created_at < until` (milliseconds).
    pub until: Option<i64>,
}

/// Where a page starts: strictly older than the keyset (the next page) or strictly newer
/// (the previous page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwilioPageCursor {
    First,
    Older(i64, Uuid),
    Newer(i64, Uuid),
}

type AccountRow = (String, String, String, i64, Option<i64>);
type MessageRow = (
    Uuid,
    String,
    Option<String>,
    Option<String>,
    i64,
    Option<String>,
    Option<String>,
);
type ServiceRow = (String, String, String, String, i64);

const MESSAGE_COLS: &str = "entry_id, account_sid, messaging_service_sid, status_callback, created_at, to_address, from_address";

fn service(row: ServiceRow) -> Result<TwilioMessagingService> {
    let channel_ids: Vec<Uuid> = serde_json::from_str(&row.3)
        .map_err(|e| StoreError::Corrupt(format!("twilio_messaging_services.channel_ids: {e}")))?;
    Ok(TwilioMessagingService {
        sid: row.0,
        account_sid: row.1,
        name: row.2,
        channel_ids,
        created_at: Timestamp::from_millis(row.4),
    })
}

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
        to_address: row.5.unwrap_or_default(),
        from_address: row.6.unwrap_or_default(),
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

    /// Records that `entry_id` was sent through the API, for a send whose row is missing (a
    /// replay of a send made before the row was written in the send's transaction, see
    /// [`crate::SendOrigin`]).
    pub async fn write_twilio_message(&self, m: &TwilioMessage) -> Result<()> {
        on_backend!(self, write c => sqlx::query(
            "INSERT INTO twilio_messages (entry_id, account_sid, messaging_service_sid, status_callback, created_at, to_address, from_address) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (entry_id) DO NOTHING")
            .bind(m.entry_id).bind(&m.account_sid).bind(&m.messaging_service_sid)
            .bind(&m.status_callback).bind(m.created_at.millis())
            .bind(&self.address_forms(&m.to_address)[0]).bind(&m.from_address)
            .execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The API's row of `entry_id`, if it was sent through the API (by primary key: the status
    /// callback path reads it for every status change).
    pub async fn twilio_message(&self, entry_id: Uuid) -> Result<Option<TwilioMessage>> {
        let sql = format!("SELECT {MESSAGE_COLS} FROM twilio_messages WHERE entry_id = $1");
        let row: Option<MessageRow> = on_backend!(self, read c => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(entry_id).fetch_optional(c).await)?;
        row.map(|r| self.open_message(message(r))).transpose()
    }

    /// A page of the account's messages matching `filter`, newest first, from `cursor`. Each
    /// filter shape reads its own index: `To` (account, to, created_at, id), `From` (account,
    /// from, ...), neither (account, created_at, id); dates bound the same range.
    pub async fn twilio_messages_page(
        &self,
        account_sid: &str,
        filter: &TwilioMessageFilter,
        cursor: TwilioPageCursor,
        limit: i64,
    ) -> Result<Vec<TwilioMessage>> {
        // Placeholders are numbered in the order they are bound below.
        let mut sql = format!("SELECT {MESSAGE_COLS} FROM twilio_messages WHERE account_sid = $1");
        let mut n = 1;
        let mut next = || {
            n += 1;
            n
        };
        if filter.to.is_some() {
            let (a, b) = (next(), next());
            sql.push_str(&format!(" AND to_address IN (${a}, ${b})"));
        }
        if filter.from.is_some() {
            sql.push_str(&format!(" AND from_address = ${}", next()));
        }
        if filter.since.is_some() {
            sql.push_str(&format!(" AND created_at >= ${}", next()));
        }
        if filter.until.is_some() {
            sql.push_str(&format!(" AND created_at < ${}", next()));
        }
        let newer = matches!(cursor, TwilioPageCursor::Newer(..));
        let keyset = match cursor {
            TwilioPageCursor::First => None,
            TwilioPageCursor::Older(at, id) | TwilioPageCursor::Newer(at, id) => Some((at, id)),
        };
        if keyset.is_some() {
            let (a, b) = (next(), next());
            let op = if newer { ">" } else { "<" };
            sql.push_str(&format!(
                " AND (created_at {op} ${a} OR (created_at = ${a} AND entry_id {op} ${b}))"
            ));
        }
        let order = if newer { "ASC" } else { "DESC" };
        sql.push_str(&format!(
            " ORDER BY created_at {order}, entry_id {order} LIMIT ${}",
            next()
        ));
        let rows: Vec<MessageRow> = on_backend!(self, read c => {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(account_sid);
            if let Some(to) = &filter.to {
                let [a, b] = self.address_forms(to);
                q = q.bind(a).bind(b);
            }
            if let Some(from) = &filter.from {
                q = q.bind(from);
            }
            if let Some(since) = filter.since {
                q = q.bind(since);
            }
            if let Some(until) = filter.until {
                q = q.bind(until);
            }
            if let Some((at, id)) = keyset {
                q = q.bind(at).bind(id);
            }
            q.bind(limit).fetch_all(c).await
        })?;
        let mut page: Vec<TwilioMessage> = rows
            .into_iter()
            .map(|r| self.open_message(message(r)))
            .collect::<Result<_>>()?;
        if newer {
            page.reverse();
        }
        Ok(page)
    }

    /// The sender of the service's last message to `to` (Twilio's sticky sender mapping).
    pub async fn twilio_last_sender(
        &self,
        account_sid: &str,
        service_sid: &str,
        to: &str,
    ) -> Result<Option<String>> {
        let [a, b] = self.address_forms(to);
        Ok(on_backend!(self, read c => sqlx::query_scalar(
            "SELECT from_address FROM twilio_messages \
             WHERE account_sid = $1 AND to_address IN ($2, $4) AND messaging_service_sid = $3 \
             ORDER BY created_at DESC, entry_id DESC LIMIT 1")
            .bind(account_sid).bind(a).bind(service_sid).bind(b).fetch_optional(c).await)?
        .flatten())
    }

    fn open_message(&self, mut m: TwilioMessage) -> Result<TwilioMessage> {
        m.to_address = self.open_address(&m.to_address)?;
        Ok(m)
    }

    pub async fn create_twilio_messaging_service(&self, s: &TwilioMessagingService) -> Result<()> {
        let ids = serde_json::to_string(&s.channel_ids)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        on_backend!(self, write c => sqlx::query(
            "INSERT INTO twilio_messaging_services (sid, account_sid, name, channel_ids, created_at) \
             VALUES ($1, $2, $3, $4, $5)")
            .bind(&s.sid).bind(&s.account_sid).bind(&s.name).bind(ids).bind(s.created_at.millis())
            .execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn twilio_messaging_service(
        &self,
        sid: &str,
    ) -> Result<Option<TwilioMessagingService>> {
        let row: Option<ServiceRow> = on_backend!(self, read c => sqlx::query_as(
            "SELECT sid, account_sid, name, channel_ids, created_at FROM twilio_messaging_services WHERE sid = $1")
            .bind(sid).fetch_optional(c).await)?;
        row.map(service).transpose()
    }

    pub async fn list_twilio_messaging_services(
        &self,
        account_sid: &str,
    ) -> Result<Vec<TwilioMessagingService>> {
        let rows: Vec<ServiceRow> = on_backend!(self, read c => sqlx::query_as(
            "SELECT sid, account_sid, name, channel_ids, created_at FROM twilio_messaging_services \
             WHERE account_sid = $1 ORDER BY created_at, sid")
            .bind(account_sid).fetch_all(c).await)?;
        rows.into_iter().map(service).collect()
    }

    /// Replaces the service's name and pool.
    pub async fn update_twilio_messaging_service(
        &self,
        sid: &str,
        name: &str,
        channel_ids: &[Uuid],
    ) -> Result<()> {
        let ids =
            serde_json::to_string(channel_ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE twilio_messaging_services SET name = $2, channel_ids = $3 WHERE sid = $1")
            .bind(sid).bind(name).bind(ids).execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("messaging service"));
        }
        Ok(())
    }

    pub async fn delete_twilio_messaging_service(&self, sid: &str) -> Result<()> {
        let done = on_backend!(self, write c => sqlx::query(
            "DELETE FROM twilio_messaging_services WHERE sid = $1")
            .bind(sid).execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("messaging service"));
        }
        Ok(())
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
