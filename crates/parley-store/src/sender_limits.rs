//! Sender limits' side of the store (issue 18): each sender's usage per UTC day, the customers a
//! WhatsApp number reached, and the messages held for review. Usage is written in the
//! transactions that record sends (the outbox commit) and inbound messages (the inbound commit),
//! one statement per sender and batch, never one per message.

use std::collections::HashMap;

use parley_core::Timestamp;
use parley_core::sender_limits::{Usage, day_of, month_start, ratio_window_start, reach_since};
use serde_json::Value;
use sqlx::Row as _;
use uuid::Uuid;

use crate::records::NewJob;
use crate::{Result, Store, StoreError, on_backend};

/// What a batch of sends adds to its senders' usage, written with the batch's verdicts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SenderCharges {
    /// Outbound messages per sender and UTC day.
    pub outbound: HashMap<(Uuid, i64), i64>,
    /// Customers reached by a business-initiated message, per sender (the latest instant).
    pub reach: HashMap<(Uuid, Uuid), Timestamp>,
    /// Messages held for review.
    pub holds: Vec<NewSenderHold>,
}

impl SenderCharges {
    pub fn is_empty(&self) -> bool {
        self.outbound.is_empty() && self.reach.is_empty() && self.holds.is_empty()
    }

    /// One message sent by `channel` at `at`, reaching `user` when given.
    pub fn charge(&mut self, channel: Uuid, user: Option<Uuid>, at: Timestamp) {
        *self.outbound.entry((channel, day_of(at))).or_default() += 1;
        if let Some(user) = user {
            let slot = self.reach.entry((channel, user)).or_insert(at);
            *slot = (*slot).max(at);
        }
    }
}

/// A message to hold: its entry stays `queued`, its send request is kept to be enqueued again
/// on release.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSenderHold {
    pub entry_id: Uuid,
    pub channel_id: Uuid,
    pub limit: String,
    pub reason: String,
    pub payload: String,
}

/// A message held for review.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SenderHold {
    pub entry_id: Uuid,
    pub channel_id: Uuid,
    pub session_id: Uuid,
    pub limit: String,
    pub reason: String,
    pub body: String,
    pub held_at: Timestamp,
    #[serde(skip)]
    pub payload: String,
}

/// Rows per multi-row statement (SQLite binds parameters by name lookup, quadratic in their
/// number, so the chunks stay small).
const ROWS: usize = 64;

/// Writes a batch's sender charges inside an open transaction `$tx` (of either backend).
macro_rules! write_charges {
    ($tx:ident, $charges:expr, $at:expr) => {{
        let charges: &$crate::sender_limits::SenderCharges = $charges;
        for ((channel, day), n) in &charges.outbound {
            sqlx::query($crate::sender_limits::ADD_OUTBOUND)
                .bind(channel).bind(day).bind(n)
                .execute(&mut *$tx).await?;
        }
        let reach: Vec<(&(uuid::Uuid, uuid::Uuid), &parley_core::Timestamp)> = charges.reach.iter().collect();
        for chunk in reach.chunks($crate::sender_limits::ROWS_PER_STATEMENT) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| format!("(${}, ${}, ${})", 1 + 3 * i, 2 + 3 * i, 3 + 3 * i))
                .collect();
            let sql = format!(
                "INSERT INTO sender_reach (channel_id, messaging_user_id, reached_at) VALUES {} \
                 ON CONFLICT (channel_id, messaging_user_id) DO UPDATE SET reached_at = excluded.reached_at",
                rows.join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for ((channel, user), at) in chunk {
                q = q.bind(*channel).bind(*user).bind(at.millis());
            }
            q.execute(&mut *$tx).await?;
        }
        for h in &charges.holds {
            sqlx::query(
                "INSERT INTO sender_holds (entry_id, channel_id, limit_name, reason, payload, held_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (entry_id) DO NOTHING")
                .bind(h.entry_id).bind(h.channel_id).bind(&h.limit).bind(&h.reason)
                .bind(&h.payload).bind($at)
                .execute(&mut *$tx).await?;
        }
    }};
}
pub(crate) use write_charges;

pub(crate) const ROWS_PER_STATEMENT: usize = ROWS;

pub(crate) const ADD_OUTBOUND: &str = "INSERT INTO sender_usage (channel_id, day, outbound, inbound) \
    VALUES ($1, $2, $3, 0) ON CONFLICT (channel_id, day) \
    DO UPDATE SET outbound = sender_usage.outbound + excluded.outbound";

pub(crate) const ADD_INBOUND: &str = "INSERT INTO sender_usage (channel_id, day, outbound, inbound) \
    VALUES ($1, $2, 0, $3) ON CONFLICT (channel_id, day) \
    DO UPDATE SET inbound = sender_usage.inbound + excluded.inbound";

/// A sender's usage: the ratio's window, the month and the day as sums of its day rows (at
/// most 31 rows, by the primary key).
pub(crate) const USAGE: &str = "SELECT \
    CAST(COALESCE(SUM(CASE WHEN day >= $2 THEN outbound ELSE 0 END), 0) AS BIGINT) AS ratio_outbound, \
    CAST(COALESCE(SUM(CASE WHEN day >= $2 THEN inbound ELSE 0 END), 0) AS BIGINT) AS ratio_inbound, \
    CAST(COALESCE(SUM(CASE WHEN day >= $3 THEN outbound ELSE 0 END), 0) AS BIGINT) AS month_outbound, \
    CAST(COALESCE(SUM(CASE WHEN day = $4 THEN outbound ELSE 0 END), 0) AS BIGINT) AS day_outbound \
    FROM sender_usage WHERE channel_id = $1 AND day >= $5";

pub(crate) const REACH_COUNT: &str =
    "SELECT COUNT(*) FROM sender_reach WHERE channel_id = $1 AND reached_at > $2";

const HOLDS: &str = "SELECT h.entry_id, h.channel_id, h.limit_name, h.reason, h.payload, h.held_at, \
    e.session_id, e.body FROM sender_holds h JOIN entries e ON e.id = h.entry_id";

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Store {
    /// A sender's usage at `now` (the customers reached only when `with_reach`: WhatsApp).
    pub async fn sender_usage(
        &self,
        channel_id: Uuid,
        now: Timestamp,
        with_reach: bool,
    ) -> Result<Usage> {
        let today = day_of(now);
        let window = ratio_window_start(today);
        let month = month_start(today);
        let row = on_backend!(self, read c => {
            sqlx::query(USAGE)
                .bind(channel_id).bind(window).bind(month).bind(today).bind(window.min(month))
                .fetch_one(c).await
                .and_then(|r| Ok((
                    r.try_get::<i64, _>("ratio_outbound")?,
                    r.try_get::<i64, _>("ratio_inbound")?,
                    r.try_get::<i64, _>("month_outbound")?,
                    r.try_get::<i64, _>("day_outbound")?,
                )))
        })?;
        let reached: i64 = if with_reach {
            on_backend!(self, read c => {
                sqlx::query_scalar(REACH_COUNT)
                    .bind(channel_id).bind(reach_since(now).millis())
                    .fetch_one(c).await
            })?
        } else {
            0
        };
        Ok(Usage {
            ratio_outbound: to_u64(row.0),
            ratio_inbound: to_u64(row.1),
            month_outbound: to_u64(row.2),
            day_outbound: to_u64(row.3),
            reached_24h: to_u64(reached),
        })
    }

    /// Which of `users` the sender reached with a business-initiated message after `since`.
    pub async fn reached_since(
        &self,
        channel_id: Uuid,
        users: &[Uuid],
        since: Timestamp,
    ) -> Result<Vec<Uuid>> {
        let mut out = Vec::new();
        for chunk in users.chunks(256) {
            let sql = format!(
                "SELECT messaging_user_id FROM sender_reach WHERE channel_id = $1 AND reached_at > $2 \
                 AND messaging_user_id IN ({})",
                crate::config::placeholders(3, chunk.len())
            );
            let found: Vec<Uuid> = on_backend!(self, read c => {
                let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.as_str()))
                    .bind(channel_id).bind(since.millis());
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(c).await
            })?;
            out.extend(found);
        }
        Ok(out)
    }

    /// Replaces a channel's sender limit configuration.
    pub async fn set_sender_limits(
        &self,
        channel_id: Uuid,
        config: &Value,
        now: Timestamp,
    ) -> Result<()> {
        let done = on_backend!(self, write c => {
            sqlx::query("UPDATE channels SET sender_limits = $2, updated_at = $3 WHERE id = $1")
                .bind(channel_id).bind(sqlx::types::Json(config)).bind(now.millis())
                .execute(c).await.map(|r| r.rows_affected())
        })?;
        if done == 0 {
            return Err(StoreError::NotFound { entity: "channel" });
        }
        Ok(())
    }

    /// The messages held for review, of one channel or of all, oldest first.
    pub async fn sender_holds(&self, channel_id: Option<Uuid>) -> Result<Vec<SenderHold>> {
        let sql = match channel_id {
            Some(_) => format!("{HOLDS} WHERE h.channel_id = $1 ORDER BY h.held_at LIMIT 500"),
            None => format!("{HOLDS} ORDER BY h.held_at LIMIT 500"),
        };
        let rows = on_backend!(self, read c => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
            if let Some(id) = channel_id {
                q = q.bind(id);
            }
            q.fetch_all(c).await.and_then(|rows| rows.iter().map(|r| Ok(SenderHold {
                entry_id: r.try_get("entry_id")?,
                channel_id: r.try_get("channel_id")?,
                session_id: r.try_get("session_id")?,
                limit: r.try_get("limit_name")?,
                reason: r.try_get("reason")?,
                body: r.try_get("body")?,
                held_at: Timestamp(r.try_get("held_at")?),
                payload: r.try_get("payload")?,
            })).collect::<std::result::Result<Vec<_>, sqlx::Error>>())
        })?;
        rows.into_iter()
            .map(|mut h: SenderHold| {
                h.body = self.open_text(&h.body)?;
                Ok(h)
            })
            .collect()
    }

    /// The held message of `entry_id`, if it is held.
    pub async fn sender_hold(&self, entry_id: Uuid) -> Result<Option<SenderHold>> {
        let sql = format!("{HOLDS} WHERE h.entry_id = $1");
        let row = on_backend!(self, read c => {
            sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).bind(entry_id).fetch_optional(c).await
                .and_then(|r| r.map(|r| Ok(SenderHold {
                    entry_id: r.try_get("entry_id")?,
                    channel_id: r.try_get("channel_id")?,
                    session_id: r.try_get("session_id")?,
                    limit: r.try_get("limit_name")?,
                    reason: r.try_get("reason")?,
                    body: r.try_get("body")?,
                    held_at: Timestamp(r.try_get("held_at")?),
                    payload: r.try_get("payload")?,
                })).transpose())
        })?;
        row.map(|mut h: SenderHold| {
            h.body = self.open_text(&h.body)?;
            Ok(h)
        })
        .transpose()
    }

    /// Releases a held message: its hold is removed and `job` (its send, marked released so
    /// no limit holds it again) enqueued, in one transaction. False: it was not held.
    pub async fn release_sender_hold(
        &self,
        entry_id: Uuid,
        job: &NewJob,
        now: Timestamp,
    ) -> Result<bool> {
        let at = now.millis();
        on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            let gone = sqlx::query("DELETE FROM sender_holds WHERE entry_id = $1")
                .bind(entry_id).execute(&mut *tx).await?.rows_affected();
            if gone == 0 {
                return Ok(false);
            }
            sqlx::query(
                "UPDATE entries SET provider_error = $2, updated_at = $3 WHERE id = $1 AND status = 'queued'")
                .bind(entry_id).bind("released for sending by an admin").bind(at)
                .execute(&mut *tx).await?;
            sqlx::query(crate::jobs::INSERT_JOB)
                .bind(parley_core::new_id()).bind(&job.queue).bind(&job.kind).bind(self.seal_text(&job.payload))
                .bind(job.priority).bind(job.due_at.millis()).bind(job.max_attempts)
                .bind(&job.dedupe_key).bind(at).bind(&job.group_key)
                .execute(&mut *tx).await?;
            tx.commit().await
        })?;
        Ok(true)
    }

    /// Cancels a held message: its hold is removed and its entry fails with `code` and
    /// `reason`. False: it was not held.
    pub async fn cancel_sender_hold(
        &self,
        entry_id: Uuid,
        code: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let at = now.millis();
        on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            let gone = sqlx::query("DELETE FROM sender_holds WHERE entry_id = $1")
                .bind(entry_id).execute(&mut *tx).await?.rows_affected();
            if gone == 0 {
                return Ok(false);
            }
            sqlx::query(
                "UPDATE entries SET status = 'failed', error_code = $2, provider_error = $3, updated_at = $4 \
                 WHERE id = $1 AND status = 'queued'")
                .bind(entry_id).bind(code).bind(reason).bind(at)
                .execute(&mut *tx).await?;
            tx.commit().await
        })?;
        Ok(true)
    }

    /// How many WhatsApp channels name `account` as their business account (`settings.<key>`).
    pub async fn whatsapp_channels_of_account(&self, key: &str, account: &str) -> Result<u64> {
        let rows: Vec<crate::Channel> = on_backend!(self, read c => {
            sqlx::query_as("SELECT * FROM channels WHERE kind = 'whatsapp'").fetch_all(c).await
        })?;
        let rows = self.open_channels(rows)?;
        Ok(rows
            .iter()
            .filter(|ch| ch.settings.get(key).and_then(Value::as_str) == Some(account))
            .count() as u64)
    }
}

impl Store {
    /// Records why a campaign was paused by its senders' limits.
    pub async fn set_campaign_pause_reason(
        &self,
        campaign_id: Uuid,
        reason: &str,
        now: Timestamp,
    ) -> Result<()> {
        on_backend!(self, write c => {
            sqlx::query(
                "INSERT INTO campaign_pauses (campaign_id, reason, paused_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (campaign_id) DO UPDATE SET reason = excluded.reason, paused_at = excluded.paused_at")
                .bind(campaign_id).bind(reason).bind(now.millis()).execute(c).await.map(|_| ())
        })?;
        Ok(())
    }

    /// Why the campaign was paused by its senders' limits, if it was.
    pub async fn campaign_pause_reason(&self, campaign_id: Uuid) -> Result<Option<String>> {
        Ok(on_backend!(self, read c => {
            sqlx::query_scalar("SELECT reason FROM campaign_pauses WHERE campaign_id = $1")
                .bind(campaign_id).fetch_optional(c).await
        })?)
    }

    /// Forgets the pause reason (the campaign resumed).
    pub async fn delete_campaign_pause(&self, campaign_id: Uuid) -> Result<()> {
        on_backend!(self, write c => {
            sqlx::query("DELETE FROM campaign_pauses WHERE campaign_id = $1")
                .bind(campaign_id).execute(c).await.map(|_| ())
        })?;
        Ok(())
    }
}
