//! The write side of a message a program sends to one person outside a conversation (a
//! notification, a message through the Twilio-compatible API): the messaging user it creates, the
//! session it opens or the open one it joins, the entry and its send job, and the caller's
//! idempotency key, in one transaction.

use parley_core::Timestamp;
use uuid::Uuid;

use crate::inbound::{InboundWrite, write_effects};
use crate::records::{MessagingUser, Session};
use crate::{Result, Store, StoreError, on_backend};

/// A caller's name for one send: the same `(scope, key)` never sends twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// Whose key it is (an API token, a Twilio account): callers do not share keys.
    pub scope: String,
    pub key: String,
    /// A digest of the request, so a key reused for a different request is refused.
    pub fingerprint: String,
}

/// A send an earlier request with the same key already made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlierSend {
    pub entry_id: Uuid,
    pub fingerprint: String,
}

/// The caller's own record of a send, written in the send's transaction so that it exists
/// exactly when the message does. The send path carries it without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOrigin {
    /// A message through the Twilio-compatible API: a `twilio_messages` row. Its `To` and `From`
    /// are read from the entry's session and channel in the same transaction.
    TwilioApi {
        account_sid: String,
        messaging_service_sid: Option<String>,
        status_callback: Option<String>,
    },
    /// A notification (`POST /api/v1/notifications` or a trigger): its `notifications` row, the
    /// recipient, session and user read from the entry in the same transaction.
    Notification {
        id: Uuid,
        template_name: String,
        template_language: String,
    },
}

/// What [`Store::write_outreach`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutreachWritten {
    Written,
    /// The key was taken (by a request running at the same time): nothing was written.
    KeyTaken(EarlierSend),
}

/// How long an idempotency key is remembered (Stripe keeps theirs a day as well).
pub const IDEMPOTENCY_TTL_MILLIS: i64 = 24 * 60 * 60 * 1000;

/// The person as a send outside a conversation needs them: their messaging user, when the
/// customer last wrote on the channel, and their open session, if any.
#[derive(Debug, Clone)]
pub struct OutreachTarget {
    pub user: MessagingUser,
    pub last_inbound_at: Option<Timestamp>,
    pub open_session: Option<Session>,
}

impl Store {
    /// The earlier send named by `(scope, key)` within the last day, if any.
    pub async fn earlier_send(
        &self,
        scope: &str,
        key: &str,
        now: Timestamp,
    ) -> Result<Option<EarlierSend>> {
        let since = now.millis() - IDEMPOTENCY_TTL_MILLIS;
        let row: Option<(Uuid, String)> = on_backend!(self, read c => sqlx::query_as(
            "SELECT entry_id, fingerprint FROM idempotency_keys \
             WHERE scope = $1 AND key = $2 AND created_at > $3")
            .bind(scope).bind(key).bind(since).fetch_optional(c).await)?;
        Ok(row.map(|(entry_id, fingerprint)| EarlierSend {
            entry_id,
            fingerprint,
        }))
    }

    /// The messaging user `user_id` with what a send to them needs.
    pub async fn outreach_target(&self, user_id: Uuid) -> Result<OutreachTarget> {
        let user = self.messaging_user(user_id).await?;
        self.target_of(user).await
    }

    /// The messaging user with `platform_key` on `channel_id` and what a send needs, if any.
    pub async fn outreach_target_by_key(
        &self,
        channel_id: Uuid,
        platform_key: &str,
    ) -> Result<Option<OutreachTarget>> {
        match self.messaging_user_by_key(channel_id, platform_key).await? {
            Some(user) => Ok(Some(self.target_of(user).await?)),
            None => Ok(None),
        }
    }

    async fn target_of(&self, user: MessagingUser) -> Result<OutreachTarget> {
        let last: Option<Option<i64>> = on_backend!(self, read c => sqlx::query_scalar(
            "SELECT last_inbound_at FROM messaging_users WHERE id = $1")
            .bind(user.id).fetch_optional(c).await)?;
        let open_session = self.open_session(user.id).await?;
        Ok(OutreachTarget {
            last_inbound_at: last.flatten().map(Timestamp::from_millis),
            open_session,
            user,
        })
    }

    /// Writes one send (`effects`: a new messaging user, a new session, the entry and its job)
    /// with its idempotency key, in one transaction. A key another request took first writes
    /// nothing and answers which send it made.
    pub async fn write_outreach(
        &self,
        effects: &InboundWrite,
        key: Option<&IdempotencyKey>,
        entry_id: Uuid,
        origin: Option<&SendOrigin>,
        now: Timestamp,
    ) -> Result<OutreachWritten> {
        let at = now.millis();
        let since = at - IDEMPOTENCY_TTL_MILLIS;
        let search_key = self.search_key().await?;
        let taken = on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            if let Some(k) = key {
                // An expired key is free again.
                sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND created_at <= $3")
                    .bind(&k.scope).bind(&k.key).bind(since).execute(&mut *tx).await?;
                let inserted = sqlx::query(
                    "INSERT INTO idempotency_keys (scope, key, fingerprint, entry_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (scope, key) DO NOTHING")
                    .bind(&k.scope).bind(&k.key).bind(&k.fingerprint).bind(entry_id).bind(at)
                    .execute(&mut *tx).await?.rows_affected();
                if inserted == 0 {
                    let row: (Uuid, String) = sqlx::query_as(
                        "SELECT entry_id, fingerprint FROM idempotency_keys WHERE scope = $1 AND key = $2")
                        .bind(&k.scope).bind(&k.key).fetch_one(&mut *tx).await?;
                    tx.rollback().await?;
                    return Ok(OutreachWritten::KeyTaken(EarlierSend {
                        entry_id: row.0,
                        fingerprint: row.1,
                    }));
                }
            }
            write_effects!(self, tx, effects, at, &search_key);
            match origin {
                Some(SendOrigin::TwilioApi { account_sid, messaging_service_sid, status_callback }) => {
                    sqlx::query(
                        "INSERT INTO twilio_messages (entry_id, account_sid, messaging_service_sid, status_callback, \
                         created_at, to_address, from_address) \
                         SELECT e.id, $2, $3, $4, $5, \
                         CASE WHEN c.kind = 'whatsapp' THEN 'whatsapp:' ELSE '' END || u.platform_key, \
                         CASE WHEN c.kind = 'whatsapp' THEN 'whatsapp:' ELSE '' END || c.address \
                         FROM entries e JOIN sessions s ON s.id = e.session_id \
                         JOIN messaging_users u ON u.id = s.messaging_user_id \
                         JOIN channels c ON c.id = s.channel_id \
                         WHERE e.id = $1 ON CONFLICT (entry_id) DO NOTHING")
                        .bind(entry_id).bind(account_sid).bind(messaging_service_sid)
                        .bind(status_callback).bind(at)
                        .execute(&mut *tx).await?;
                }
                Some(SendOrigin::Notification { id, template_name, template_language }) => {
                    sqlx::query(
                        "INSERT INTO notifications (id, channel_id, template_name, template_language, recipient, \
                         entry_id, session_id, messaging_user_id, status, created_at) \
                         SELECT $2, s.channel_id, $3, $4, u.platform_key, e.id, s.id, u.id, 'queued', $5 \
                         FROM entries e JOIN sessions s ON s.id = e.session_id \
                         JOIN messaging_users u ON u.id = s.messaging_user_id \
                         WHERE e.id = $1 ON CONFLICT (entry_id) DO NOTHING")
                        .bind(entry_id).bind(id).bind(template_name).bind(template_language).bind(at)
                        .execute(&mut *tx).await?;
                }
                None => {}
            }
            tx.commit().await.map(|()| OutreachWritten::Written)
        });
        let written = taken.map_err(StoreError::from)?;
        if matches!(written, OutreachWritten::Written) {
            self.index_new_people(std::slice::from_ref(effects), now)
                .await?;
        }
        Ok(written)
    }

    /// Forgets idempotency keys older than a day, at most `limit` of them; answers how many.
    pub async fn delete_expired_idempotency_keys(&self, now: Timestamp, limit: i64) -> Result<u64> {
        let before = now.millis() - IDEMPOTENCY_TTL_MILLIS;
        Ok(on_backend!(self, write c => sqlx::query(
            "DELETE FROM idempotency_keys WHERE (scope, key) IN \
             (SELECT scope, key FROM idempotency_keys WHERE created_at <= $1 LIMIT $2)")
            .bind(before).bind(limit).execute(c).await.map(|r| r.rows_affected()))?)
    }
}
