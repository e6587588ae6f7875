//! Report aggregates (issue 15): the daily rollups the reports read, the worker's batches that keep
//! them up to date, and the raw session export.
//!
//! Sessions, consent events and delivery errors are rolled up by a worker reading each table in
//! the order its rows become final (finished sessions by `(ended_at, id)`, the append-only tables
//! by their UUIDv7 id) from a cursor kept in `report_cursors`. Each batch adds its rows' counts
//! and moves the cursor in one transaction, and the cursor move is a compare-and-set, so a batch
//! is counted once even with several nodes rolling up. Rows are only read once they are older
//! than the caller's `until` (now minus a lag): a transaction that took its time stamp earlier
//! but commits later still lands behind the cursor. Presence time is added by
//! [`Store::set_agent_presence`] in the same transaction as the change.
//!
//! The rollups hold ids, wire names, day numbers and counts: nothing personal.

use std::collections::HashMap;

use parley_core::Timestamp;
use parley_core::reports::{DAY_MS, bucket_of, day_of};
use sqlx::FromRow;
use uuid::Uuid;

use crate::{Result, Store, StoreError, on_backend};

/// "None" in a rollup key (no queue, no agent, no channel).
pub const NONE: Uuid = Uuid::nil();

/// Histogram metrics of `report_session_hist`.
pub const METRIC_WAIT: i64 = 0;
pub const METRIC_FIRST_RESPONSE: i64 = 1;
pub const METRIC_HANDLE: i64 = 2;
pub const METRIC_MESSAGES: i64 = 3;

/// `report_sessions.bot`.
pub const BOT_NONE: i64 = 0;
pub const BOT_CONTAINED: i64 = 1;
pub const BOT_HANDED_OFF: i64 = 2;

/// What one pass of the rollup added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RolledUp {
    pub sessions: u64,
    pub consent: u64,
    pub delivery_errors: u64,
}

/// A rollup column to group by. Only these names reach the SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollupKey {
    Day,
    Channel,
    Queue,
    Agent,
    Context,
    Status,
    Source,
    ToStatus,
    Code,
    ProviderCode,
    Direction,
    Presence,
    Bot,
}

impl RollupKey {
    fn column(self) -> &'static str {
        match self {
            RollupKey::Day => "CAST(day AS TEXT)",
            RollupKey::Channel => "CAST(channel_id AS TEXT)",
            RollupKey::Queue => "CAST(queue_id AS TEXT)",
            RollupKey::Agent => "CAST(agent_id AS TEXT)",
            RollupKey::Context => "context",
            RollupKey::Status => "status",
            RollupKey::Source => "source",
            RollupKey::ToStatus => "to_status",
            RollupKey::Code => "code",
            RollupKey::ProviderCode => "provider_code",
            RollupKey::Direction => "direction",
            RollupKey::Presence => "presence",
            RollupKey::Bot => "CAST(bot AS TEXT)",
        }
    }
}

/// Which rollup rows a report reads: days `from_day <= day < to_day` and the optional filters
/// (those a rollup has no column for are ignored by it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RollupQuery {
    pub from_day: i64,
    pub to_day: i64,
    pub channel_id: Option<Uuid>,
    pub queue_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
    pub context: Option<String>,
}

/// One group of `report_sessions`: the key's values (as text: an id's canonical form on
/// PostgreSQL, see [`key_uuid`] for SQLite's) and the sums.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct SessionGroup {
    pub k1: String,
    pub k2: String,
    pub sessions: i64,
    pub accepted: i64,
    pub responded: i64,
    pub wait_ms: i64,
    pub first_response_ms: i64,
    pub handle_ms: i64,
    pub messages: i64,
}

/// One bucket of a group's histogram.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct HistGroup {
    pub k1: String,
    pub metric: i64,
    pub bucket: i64,
    pub n: i64,
}

/// A count (or milliseconds) by two keys of a small rollup.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct CountGroup {
    pub k1: String,
    pub k2: String,
    pub n: i64,
}

/// An open session, for the sessions report's live part.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct OpenSession {
    pub started_at: i64,
    pub channel_id: Uuid,
    pub queue_id: Option<Uuid>,
    pub owner_kind: Option<String>,
    pub owner_id: Option<Uuid>,
    pub context: String,
    pub status: String,
}

/// Names the reports show beside ids.
#[derive(Debug, Clone, Default)]
pub struct ReportNames {
    /// Channel id → (name, kind).
    pub channels: HashMap<Uuid, (String, String)>,
    pub queues: HashMap<Uuid, String>,
    pub agents: HashMap<Uuid, String>,
}

/// One line of the raw sessions export: no customer text, no platform key.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct SessionExportRow {
    pub id: Uuid,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub accepted_at: Option<i64>,
    pub channel: Option<String>,
    pub queue: Option<String>,
    pub agent: Option<String>,
    pub status: String,
    pub context: String,
    pub agent_messages: i64,
    pub customer_messages: i64,
}

/// Which sessions the raw export reads: started in `[from, to)`, and the optional filters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionExportQuery {
    pub from: Timestamp,
    pub to: Timestamp,
    pub channel_id: Option<Uuid>,
    pub queue_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
    pub context: Option<String>,
}

/// A group key read back as an id. SQLite's `CAST(blob AS TEXT)` gives the raw 16 bytes, not a
/// canonical form, so the rollup reads select ids with `hex()` there; both forms parse here.
pub fn key_uuid(k: &str) -> Option<Uuid> {
    Uuid::parse_str(k).ok()
}

#[derive(FromRow)]
struct FinishedSession {
    id: Uuid,
    ended_at: i64,
    started_at: i64,
    accepted_at: Option<i64>,
    channel_id: Uuid,
    queue_id: Option<Uuid>,
    owner_kind: Option<String>,
    owner_id: Option<Uuid>,
    context: String,
    status: String,
    agent_messages: i64,
    customer_messages: i64,
    first_agent_at: Option<i64>,
    bot: i64,
}

const FINISHED: &str = "SELECT s.id, s.ended_at, s.started_at, s.accepted_at, s.channel_id, s.queue_id, \
    s.owner_kind, s.owner_id, s.context, s.status, s.agent_messages, s.customer_messages, \
    (SELECT MIN(e.created_at) FROM entries e WHERE e.session_id = s.id AND e.actor = 'agent') AS first_agent_at, \
    CAST(CASE WHEN EXISTS (SELECT 1 FROM entries b WHERE b.session_id = s.id AND b.actor = 'bot') \
        THEN 1 ELSE 0 END AS BIGINT) AS bot \
    FROM sessions s \
    WHERE s.ended_at IS NOT NULL AND s.ended_at >= $1 AND (s.ended_at > $1 OR s.id > $2) AND s.ended_at <= $3 \
    ORDER BY s.ended_at, s.id LIMIT $4";

#[derive(FromRow)]
struct ConsentRow {
    id: Uuid,
    at: i64,
    to_status: String,
    source: String,
    channel_id: Option<Uuid>,
}

const CONSENT: &str = "SELECT c.id, c.at, c.to_status, c.source, u.channel_id \
    FROM consent_events c LEFT JOIN messaging_users u ON u.id = c.messaging_user_id \
    WHERE c.id > $1 AND c.id < $2 ORDER BY c.id LIMIT $3";

#[derive(FromRow)]
struct ErrorRow {
    id: Uuid,
    at: i64,
    channel_id: Option<Uuid>,
    code: String,
    provider_code: Option<String>,
    source: String,
}

const ERRORS: &str = "SELECT id, at, channel_id, code, provider_code, source FROM delivery_errors \
    WHERE id > $1 AND id < $2 ORDER BY id LIMIT $3";

const CURSOR: &str = "SELECT at, last_id FROM report_cursors WHERE name = $1";
const CURSOR_MOVE: &str =
    "UPDATE report_cursors SET at = $2, last_id = $3 WHERE name = $1 AND at = $4 AND last_id = $5";
const CURSOR_NEW: &str = "INSERT INTO report_cursors (name, at, last_id) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING";

const UPSERT_SESSIONS: &str = "INSERT INTO report_sessions (day, channel_id, queue_id, agent_id, context, status, bot, \
    sessions, accepted, responded, wait_ms, first_response_ms, handle_ms, messages) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
    ON CONFLICT (day, channel_id, queue_id, agent_id, context, status, bot) DO UPDATE SET \
    sessions = report_sessions.sessions + excluded.sessions, \
    accepted = report_sessions.accepted + excluded.accepted, \
    responded = report_sessions.responded + excluded.responded, \
    wait_ms = report_sessions.wait_ms + excluded.wait_ms, \
    first_response_ms = report_sessions.first_response_ms + excluded.first_response_ms, \
    handle_ms = report_sessions.handle_ms + excluded.handle_ms, \
    messages = report_sessions.messages + excluded.messages";

const UPSERT_HIST: &str = "INSERT INTO report_session_hist (dim, day, value, metric, bucket, n) \
    VALUES ($1, $2, $3, $4, $5, $6) \
    ON CONFLICT (dim, day, value, metric, bucket) DO UPDATE SET \
    n = report_session_hist.n + excluded.n";

const UPSERT_CONSENT: &str = "INSERT INTO report_consent (day, channel_id, to_status, source, n) \
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT (day, channel_id, to_status, source) DO UPDATE SET \
    n = report_consent.n + excluded.n";

const UPSERT_ERRORS: &str = "INSERT INTO report_delivery_errors (day, channel_id, code, provider_code, direction, n) \
    VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (day, channel_id, code, provider_code, direction) DO UPDATE SET \
    n = report_delivery_errors.n + excluded.n";

/// A delivery error for an outbound entry about to fail: `$1` id, `$2` time, `$3` entry, `$4`
/// catalogue code, `$5` provider code. Nothing when the entry has failed already.
pub(crate) const RECORD_OUTBOUND_FAILURE: &str = "INSERT INTO delivery_errors \
    (id, at, entry_id, channel_id, code, provider_code, source) \
    SELECT $1, $2, e.id, s.channel_id, COALESCE($4, e.error_code, 'unknown'), $5, 'outbound' \
    FROM entries e JOIN sessions s ON s.id = e.session_id \
    WHERE e.id = $3 AND e.status NOT IN ('failed', 'undelivered')";

pub(crate) const UPSERT_PRESENCE: &str = "INSERT INTO report_presence (day, agent_id, presence, ms) \
    VALUES ($1, $2, $3, $4) ON CONFLICT (day, agent_id, presence) DO UPDATE SET \
    ms = report_presence.ms + excluded.ms";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SessionKey {
    day: i64,
    channel_id: Uuid,
    queue_id: Uuid,
    agent_id: Uuid,
    context: String,
    status: String,
    bot: i64,
}

#[derive(Debug, Clone, Copy, Default)]
struct SessionSums {
    sessions: i64,
    accepted: i64,
    responded: i64,
    wait_ms: i64,
    first_response_ms: i64,
    handle_ms: i64,
    messages: i64,
}

/// (dim, day, value, metric, bucket).
type HistKey = (&'static str, i64, String, i64, i64);

/// The smallest UUIDv7 of millisecond `ms`: every id made at or after `ms` sorts above it.
fn id_floor(ms: i64) -> Uuid {
    let ms = u64::try_from(ms.max(0)).unwrap_or(0) & 0xFFFF_FFFF_FFFF;
    Uuid::from_u128(u128::from(ms) << 80)
}

/// The `(from, to)` pieces of `[from, to)` split at UTC midnight, as (day, milliseconds).
pub fn split_by_day(from: i64, to: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut t = from;
    while t < to {
        let day = t.div_euclid(DAY_MS);
        let end = ((day + 1) * DAY_MS).min(to);
        out.push((day, end - t));
        t = end;
    }
    out
}

/// The presence time to add when an agent leaves a presence held since `since`: at most the last
/// [`parley_core::reports::MAX_RANGE_DAYS`] days (an agent created before presence was counted
/// has `since` 0).
pub(crate) fn presence_slices(since: i64, now: i64) -> Vec<(i64, i64)> {
    let floor = now - parley_core::reports::MAX_RANGE_DAYS * DAY_MS;
    split_by_day(since.max(floor), now)
}

impl Store {
    async fn report_cursor(&self, name: &str) -> Result<(i64, Uuid)> {
        let row: Option<(i64, Uuid)> = on_backend!(self, read c => sqlx::query_as(CURSOR)
            .bind(name).fetch_optional(c).await)?;
        Ok(row.unwrap_or((i64::MIN, NONE)))
    }

    /// Rolls up everything older than `until` (see the module's notes), `batch` rows a
    /// transaction, until caught up.
    pub async fn roll_up_reports(&self, until: Timestamp, batch: u32) -> Result<RolledUp> {
        let mut done = RolledUp::default();
        let batch = i64::from(batch.max(1));
        let full = u64::try_from(batch).unwrap_or(0);
        // `None`: another node moved the cursor first; read again from where it left it.
        loop {
            match self.roll_up_sessions(until, batch).await? {
                Some(n) if n < full => {
                    done.sessions += n;
                    break;
                }
                Some(n) => done.sessions += n,
                None => {}
            }
        }
        loop {
            match self.roll_up_consent(until, batch).await? {
                Some(n) if n < full => {
                    done.consent += n;
                    break;
                }
                Some(n) => done.consent += n,
                None => {}
            }
        }
        loop {
            match self.roll_up_errors(until, batch).await? {
                Some(n) if n < full => {
                    done.delivery_errors += n;
                    break;
                }
                Some(n) => done.delivery_errors += n,
                None => {}
            }
        }
        Ok(done)
    }

    async fn roll_up_sessions(&self, until: Timestamp, batch: i64) -> Result<Option<u64>> {
        let (at, last) = self.report_cursor("sessions").await?;
        let rows: Vec<FinishedSession> = on_backend!(self, read c => sqlx::query_as(FINISHED)
            .bind(at).bind(last).bind(until.millis()).bind(batch).fetch_all(c).await)?;
        let Some(tail) = rows.last() else {
            return Ok(Some(0));
        };
        let (new_at, new_last) = (tail.ended_at, tail.id);
        let mut sums: HashMap<SessionKey, SessionSums> = HashMap::new();
        let mut hist: HashMap<HistKey, i64> = HashMap::new();
        for s in &rows {
            let agent_id = match (s.owner_kind.as_deref(), s.owner_id) {
                (Some("agent"), Some(id)) => id,
                _ => NONE,
            };
            let handed_off = s.accepted_at.is_some()
                || matches!(s.owner_kind.as_deref(), Some("agent" | "queue"));
            let bot = match (s.bot != 0, handed_off) {
                (false, _) => BOT_NONE,
                (true, false) => BOT_CONTAINED,
                (true, true) => BOT_HANDED_OFF,
            };
            let key = SessionKey {
                day: day_of(Timestamp(s.started_at)),
                channel_id: s.channel_id,
                queue_id: s.queue_id.unwrap_or(NONE),
                agent_id,
                context: s.context.clone(),
                status: s.status.clone(),
                bot,
            };
            let wait = s.accepted_at.map(|a| (a - s.started_at).max(0));
            let handle = s.accepted_at.map(|a| (s.ended_at - a).max(0));
            let response = match (s.accepted_at, s.first_agent_at) {
                (Some(a), Some(f)) => Some((f - a).max(0)),
                _ => None,
            };
            let messages = s.agent_messages + s.customer_messages;
            let e = sums.entry(key.clone()).or_default();
            e.sessions += 1;
            e.accepted += i64::from(s.accepted_at.is_some());
            e.responded += i64::from(response.is_some());
            e.wait_ms += wait.unwrap_or(0);
            e.first_response_ms += response.unwrap_or(0);
            e.handle_ms += handle.unwrap_or(0);
            e.messages += messages;
            for (metric, v) in [
                (METRIC_WAIT, wait),
                (METRIC_FIRST_RESPONSE, response),
                (METRIC_HANDLE, handle),
                (METRIC_MESSAGES, Some(messages)),
            ] {
                if let Some(v) = v {
                    let bucket = bucket_of(v);
                    for (dim, value) in [
                        ("all", String::new()),
                        ("channel", key.channel_id.to_string()),
                        ("queue", key.queue_id.to_string()),
                        ("agent", key.agent_id.to_string()),
                        ("context", key.context.clone()),
                    ] {
                        *hist
                            .entry((dim, key.day, value, metric, bucket))
                            .or_default() += 1;
                    }
                }
            }
        }
        let n = rows.len() as u64;
        let won = on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            sqlx::query(CURSOR_NEW).bind("sessions").bind(i64::MIN).bind(NONE)
                .execute(&mut *tx).await?;
            let moved = sqlx::query(CURSOR_MOVE).bind("sessions").bind(new_at).bind(new_last)
                .bind(at).bind(last).execute(&mut *tx).await?.rows_affected();
            if moved == 0 {
                // Another node rolled this batch up meanwhile.
                return Ok(None);
            }
            for (k, v) in &sums {
                sqlx::query(UPSERT_SESSIONS).bind(k.day).bind(k.channel_id).bind(k.queue_id)
                    .bind(k.agent_id).bind(&k.context).bind(&k.status).bind(k.bot)
                    .bind(v.sessions).bind(v.accepted).bind(v.responded).bind(v.wait_ms)
                    .bind(v.first_response_ms).bind(v.handle_ms).bind(v.messages)
                    .execute(&mut *tx).await?;
            }
            for (k, n) in &hist {
                sqlx::query(UPSERT_HIST).bind(k.0).bind(k.1).bind(&k.2).bind(k.3).bind(k.4)
                    .bind(*n).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<bool, StoreError>(true)
        })?;
        Ok(won.then_some(n))
    }

    async fn roll_up_consent(&self, until: Timestamp, batch: i64) -> Result<Option<u64>> {
        let (at, last) = self.report_cursor("consent").await?;
        let rows: Vec<ConsentRow> = on_backend!(self, read c => sqlx::query_as(CONSENT)
            .bind(last).bind(id_floor(until.millis())).bind(batch).fetch_all(c).await)?;
        let Some(tail) = rows.last() else {
            return Ok(Some(0));
        };
        let new_last = tail.id;
        let mut sums: HashMap<(i64, Uuid, String, String), i64> = HashMap::new();
        for r in &rows {
            let k = (
                day_of(Timestamp(r.at)),
                r.channel_id.unwrap_or(NONE),
                r.to_status.clone(),
                r.source.clone(),
            );
            *sums.entry(k).or_default() += 1;
        }
        let n = rows.len() as u64;
        let won = on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            sqlx::query(CURSOR_NEW).bind("consent").bind(i64::MIN).bind(NONE)
                .execute(&mut *tx).await?;
            let moved = sqlx::query(CURSOR_MOVE).bind("consent").bind(at).bind(new_last)
                .bind(at).bind(last).execute(&mut *tx).await?.rows_affected();
            if moved == 0 {
                return Ok(None);
            }
            for (k, v) in &sums {
                sqlx::query(UPSERT_CONSENT).bind(k.0).bind(k.1).bind(&k.2).bind(&k.3).bind(*v)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<bool, StoreError>(true)
        })?;
        Ok(won.then_some(n))
    }

    async fn roll_up_errors(&self, until: Timestamp, batch: i64) -> Result<Option<u64>> {
        let (at, last) = self.report_cursor("delivery_errors").await?;
        let rows: Vec<ErrorRow> = on_backend!(self, read c => sqlx::query_as(ERRORS)
            .bind(last).bind(id_floor(until.millis())).bind(batch).fetch_all(c).await)?;
        let Some(tail) = rows.last() else {
            return Ok(Some(0));
        };
        let new_last = tail.id;
        let mut sums: HashMap<(i64, Uuid, String, String, &'static str), i64> = HashMap::new();
        for r in &rows {
            let direction = if r.source == "inbound" {
                "inbound"
            } else {
                "outbound"
            };
            let k = (
                day_of(Timestamp(r.at)),
                r.channel_id.unwrap_or(NONE),
                r.code.clone(),
                r.provider_code.clone().unwrap_or_default(),
                direction,
            );
            *sums.entry(k).or_default() += 1;
        }
        let n = rows.len() as u64;
        let won = on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            sqlx::query(CURSOR_NEW).bind("delivery_errors").bind(i64::MIN).bind(NONE)
                .execute(&mut *tx).await?;
            let moved = sqlx::query(CURSOR_MOVE).bind("delivery_errors").bind(at).bind(new_last)
                .bind(at).bind(last).execute(&mut *tx).await?.rows_affected();
            if moved == 0 {
                return Ok(None);
            }
            for (k, v) in &sums {
                sqlx::query(UPSERT_ERRORS).bind(k.0).bind(k.1).bind(&k.2).bind(&k.3).bind(k.4)
                    .bind(*v).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<bool, StoreError>(true)
        })?;
        Ok(won.then_some(n))
    }

    fn key_sql(&self, k: RollupKey) -> &'static str {
        // SQLite's CAST of a BLOB to TEXT is its raw bytes: hex() gives the 32 digits, which
        // `Uuid::parse_str` reads.
        match (self.kind(), k) {
            (crate::BackendKind::Sqlite, RollupKey::Channel) => "hex(channel_id)",
            (crate::BackendKind::Sqlite, RollupKey::Queue) => "hex(queue_id)",
            (crate::BackendKind::Sqlite, RollupKey::Agent) => "hex(agent_id)",
            _ => k.column(),
        }
    }

    /// `report_sessions` summed by `k1` and `k2` (`k2` may equal `k1`).
    pub async fn report_session_groups(
        &self,
        q: &RollupQuery,
        k1: RollupKey,
        k2: RollupKey,
    ) -> Result<Vec<SessionGroup>> {
        let (a, b) = (self.key_sql(k1), self.key_sql(k2));
        let sql = format!(
            "SELECT {a} AS k1, {b} AS k2, CAST(SUM(sessions) AS BIGINT) AS sessions, \
             CAST(SUM(accepted) AS BIGINT) AS accepted, CAST(SUM(responded) AS BIGINT) AS responded, \
             CAST(SUM(wait_ms) AS BIGINT) AS wait_ms, CAST(SUM(first_response_ms) AS BIGINT) AS first_response_ms, \
             CAST(SUM(handle_ms) AS BIGINT) AS handle_ms, CAST(SUM(messages) AS BIGINT) AS messages \
             FROM report_sessions WHERE {FILTER} GROUP BY {a}, {b}"
        );
        let rows = on_backend!(self, read c => sqlx::query_as::<_, SessionGroup>(sqlx::AssertSqlSafe(sql))
            .bind(q.from_day).bind(q.to_day).bind(q.channel_id).bind(q.queue_id).bind(q.agent_id)
            .bind(q.context.as_deref()).fetch_all(c).await)?;
        Ok(rows)
    }

    /// `report_session_hist` summed by `group` (Day, Channel, Queue, Agent or Context), metric
    /// and bucket, for the query's days. The histograms are kept by one dimension at a time, so
    /// they answer a grouping with at most one filter, on the grouping's own dimension or with
    /// grouping by day; `None` for any other combination (the percentiles are then unknown).
    pub async fn report_session_hist(
        &self,
        q: &RollupQuery,
        group: RollupKey,
    ) -> Result<Option<Vec<HistGroup>>> {
        let filters: Vec<(&'static str, String)> = [
            q.channel_id.map(|v| ("channel", v.to_string())),
            q.queue_id.map(|v| ("queue", v.to_string())),
            q.agent_id.map(|v| ("agent", v.to_string())),
            q.context.clone().map(|v| ("context", v)),
        ]
        .into_iter()
        .flatten()
        .collect();
        let group_dim = match group {
            RollupKey::Day => None,
            RollupKey::Channel => Some("channel"),
            RollupKey::Queue => Some("queue"),
            RollupKey::Agent => Some("agent"),
            RollupKey::Context => Some("context"),
            _ => return Ok(None),
        };
        let (dim, value) = match (filters.as_slice(), group_dim) {
            ([], None) => ("all", None),
            ([], Some(d)) => (d, None),
            ([(f, v)], None) => (*f, Some(v.clone())),
            ([(f, v)], Some(d)) if *f == d => (d, Some(v.clone())),
            _ => return Ok(None),
        };
        let k = if group == RollupKey::Day {
            "CAST(day AS TEXT)"
        } else {
            "value"
        };
        let sql = format!(
            "SELECT {k} AS k1, metric, bucket, CAST(SUM(n) AS BIGINT) AS n FROM report_session_hist \
             WHERE dim = $1 AND day >= $2 AND day < $3 AND ($4 IS NULL OR value = $4) \
             GROUP BY {k}, metric, bucket"
        );
        let rows = on_backend!(self, read c => sqlx::query_as::<_, HistGroup>(sqlx::AssertSqlSafe(sql))
            .bind(dim).bind(q.from_day).bind(q.to_day).bind(value.as_deref()).fetch_all(c).await)?;
        Ok(Some(rows))
    }

    /// `report_consent` summed by `k1` and `k2`.
    pub async fn report_consent_groups(
        &self,
        q: &RollupQuery,
        k1: RollupKey,
        k2: RollupKey,
    ) -> Result<Vec<CountGroup>> {
        self.count_groups("report_consent", "n", q, k1, k2).await
    }

    /// `report_delivery_errors` summed by `k1` and `k2`.
    pub async fn report_error_groups(
        &self,
        q: &RollupQuery,
        k1: RollupKey,
        k2: RollupKey,
    ) -> Result<Vec<CountGroup>> {
        self.count_groups("report_delivery_errors", "n", q, k1, k2)
            .await
    }

    /// `report_presence` milliseconds summed by `k1` and `k2`.
    pub async fn report_presence_groups(
        &self,
        q: &RollupQuery,
        k1: RollupKey,
        k2: RollupKey,
    ) -> Result<Vec<CountGroup>> {
        self.count_groups("report_presence", "ms", q, k1, k2).await
    }

    async fn count_groups(
        &self,
        table: &'static str,
        value: &'static str,
        q: &RollupQuery,
        k1: RollupKey,
        k2: RollupKey,
    ) -> Result<Vec<CountGroup>> {
        let (a, b) = (self.key_sql(k1), self.key_sql(k2));
        // Each small rollup filters on the columns it has.
        let mut filter = String::from("day >= $1 AND day < $2");
        let mut binds: Vec<Option<Uuid>> = Vec::new();
        if table != "report_presence" {
            binds.push(q.channel_id);
            filter.push_str(&format!(
                " AND (${n} IS NULL OR channel_id = ${n})",
                n = 2 + binds.len()
            ));
        } else {
            binds.push(q.agent_id);
            filter.push_str(&format!(
                " AND (${n} IS NULL OR agent_id = ${n})",
                n = 2 + binds.len()
            ));
        }
        let sql = format!(
            "SELECT {a} AS k1, {b} AS k2, CAST(SUM({value}) AS BIGINT) AS n FROM {table} \
             WHERE {filter} GROUP BY {a}, {b}"
        );
        let rows = on_backend!(self, read c => {
            let mut query = sqlx::query_as::<_, CountGroup>(sqlx::AssertSqlSafe(sql))
                .bind(q.from_day).bind(q.to_day);
            for v in &binds {
                query = query.bind(*v);
            }
            query.fetch_all(c).await
        })?;
        Ok(rows)
    }

    /// Open sessions started in `[from, to)`: read live, there are as many as conversations in
    /// progress, not as many as history.
    pub async fn report_open_sessions(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<OpenSession>> {
        let rows = on_backend!(self, read c => sqlx::query_as::<_, OpenSession>(
            "SELECT started_at, channel_id, queue_id, owner_kind, owner_id, context, status FROM sessions \
             WHERE status IN ('new', 'waiting', 'active', 'consent', 'inactive') \
             AND started_at >= $1 AND started_at < $2")
            .bind(from.millis()).bind(to.millis()).fetch_all(c).await)?;
        Ok(rows)
    }

    /// The names of channels, queues and agents, for the reports' labels.
    pub async fn report_names(&self) -> Result<ReportNames> {
        let channels: Vec<(Uuid, String, String)> = on_backend!(self, read c =>
            sqlx::query_as("SELECT id, name, kind FROM channels").fetch_all(c).await)?;
        let queues: Vec<(Uuid, String)> = on_backend!(self, read c =>
            sqlx::query_as("SELECT id, name FROM queues").fetch_all(c).await)?;
        let agents: Vec<(Uuid, String)> = on_backend!(self, read c =>
            sqlx::query_as("SELECT id, name FROM agents").fetch_all(c).await)?;
        Ok(ReportNames {
            channels: channels
                .into_iter()
                .map(|(id, n, k)| (id, (n, k)))
                .collect(),
            queues: queues.into_iter().collect(),
            agents: agents.into_iter().collect(),
        })
    }

    /// Streams the sessions `q` names, one row at a time, into `out` (oldest first), straight
    /// from a database cursor: memory stays at the channel's capacity whatever the count. A
    /// failure is sent as the last item. Stops early when the receiver is gone.
    pub async fn stream_session_rows(
        &self,
        q: &SessionExportQuery,
        out: tokio::sync::mpsc::Sender<Result<SessionExportRow>>,
    ) {
        use futures_util::TryStreamExt;
        let result = on_backend!(self, read c => {
            let mut rows = sqlx::query_as::<_, SessionExportRow>(EXPORT)
                .bind(q.from.millis()).bind(q.to.millis()).bind(q.channel_id).bind(q.queue_id)
                .bind(q.agent_id).bind(q.context.as_deref())
                .fetch(c);
            loop {
                match rows.try_next().await {
                    Ok(Some(row)) => {
                        if out.send(Ok(row)).await.is_err() {
                            break Ok(());
                        }
                    }
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(StoreError::from(e)),
                }
            }
        });
        if let Err(e) = result {
            let _ = out.send(Err(e)).await;
        }
    }
}

const FILTER: &str = "day >= $1 AND day < $2 AND ($3 IS NULL OR channel_id = $3) \
    AND ($4 IS NULL OR queue_id = $4) AND ($5 IS NULL OR agent_id = $5) AND ($6 IS NULL OR context = $6)";

const EXPORT: &str = "SELECT s.id, s.started_at, s.ended_at, s.accepted_at, ch.name AS channel, q.name AS queue, \
    a.name AS agent, s.status, s.context, s.agent_messages, s.customer_messages \
    FROM sessions s \
    LEFT JOIN channels ch ON ch.id = s.channel_id \
    LEFT JOIN queues q ON q.id = s.queue_id \
    LEFT JOIN agents a ON s.owner_kind = 'agent' AND a.id = s.owner_id \
    WHERE s.started_at >= $1 AND s.started_at < $2 AND ($3 IS NULL OR s.channel_id = $3) \
    AND ($4 IS NULL OR s.queue_id = $4) \
    AND ($5 IS NULL OR (s.owner_kind = 'agent' AND s.owner_id = $5)) AND ($6 IS NULL OR s.context = $6) \
    ORDER BY s.started_at, s.id";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_splits_at_midnight() {
        assert_eq!(split_by_day(10, 20), vec![(0, 10)]);
        assert_eq!(
            split_by_day(DAY_MS - 5, 2 * DAY_MS + 7),
            vec![(0, 5), (1, DAY_MS), (2, 7)]
        );
        assert!(split_by_day(5, 5).is_empty());
    }

    #[test]
    fn the_id_floor_sorts_below_later_ids() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0));
        let id = parley_core::new_id();
        assert!(id_floor(now - 1000) < id);
        assert!(id_floor(now + 1000) > id);
    }
}

/// A year of traffic for `parley bench reports`, written in bulk inside the database (see
/// `crate::bulk`): `sessions` ended sessions spread evenly from `from` over `span_ms`, session
/// `g` belonging to bulk-loaded messaging user `g` (load them first with
/// [`crate::bulk::BulkLoad`] and `sessions: false`, same `users_since`), each with
/// `entries_per_session` entries; one consent change every 10 sessions and a delivery error
/// every 50. Channels, queues and agents take turns; one session in ten is a bot's (half of those
/// handed off), one in 97 ends in error, one in five is marketing.
#[derive(Debug, Clone)]
pub struct ReportTraffic {
    pub sessions: u64,
    pub entries_per_session: u64,
    pub users_since: Timestamp,
    pub from: Timestamp,
    pub span_ms: i64,
    pub channels: Vec<Uuid>,
    pub queues: Vec<Uuid>,
    pub agents: Vec<Uuid>,
    /// Sessions per transaction.
    pub chunk: u64,
}

const GEN_SESSION: u16 = 0x0d1;
const GEN_ENTRY: u16 = 0x0d2;
const GEN_CONSENT: u16 = 0x0d3;
const GEN_ERROR: u16 = 0x0d4;

impl Store {
    /// Writes `spec` (see [`ReportTraffic`]); `progress` is called after each chunk with the
    /// table and the rows written so far. Answers the entries written.
    pub async fn bulk_report_traffic(
        &self,
        spec: &ReportTraffic,
        mut progress: impl FnMut(&str, u64),
    ) -> Result<u64> {
        let sqlite = self.kind() == crate::BackendKind::Sqlite;
        let chunk = spec.chunk.max(1);
        let per = spec.entries_per_session.max(1);
        let mut entries = 0;
        for table in ["sessions", "entries", "consent_events", "delivery_errors"] {
            let total = if table == "entries" {
                spec.sessions * per
            } else {
                spec.sessions
            };
            let step = if table == "entries" {
                chunk * per
            } else {
                chunk
            };
            let mut lo = 0;
            while lo < total {
                let hi = (lo + step).min(total);
                let sql = traffic_sql(spec, table, sqlite, lo, hi);
                on_backend!(self, write c => sqlx::query(sqlx::AssertSqlSafe(sql)).execute(c).await.map(|r| r.rows_affected()))?;
                lo = hi;
                progress(table, lo);
            }
            if table == "entries" {
                entries = total;
            }
        }
        if !sqlite {
            on_backend!(self, write c => sqlx::query("ANALYZE").execute(c).await.map(|r| r.rows_affected()))?;
        }
        Ok(entries)
    }
}

fn pick(ids: &[Uuid], by: &str, sqlite: bool) -> String {
    if ids.is_empty() {
        return "NULL".to_owned();
    }
    let lit = |id: &Uuid| {
        if sqlite {
            format!("X'{}'", id.simple())
        } else {
            format!("'{id}'::uuid")
        }
    };
    let arms: Vec<String> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| format!("WHEN {n} THEN {}", lit(id)))
        .collect();
    format!("(CASE ({by}) % {} {} END)", ids.len(), arms.join(" "))
}

/// Rows `lo <= n < hi` of one generated table, all values literals (numbers and ids made here).
fn traffic_sql(spec: &ReportTraffic, table: &str, sqlite: bool, lo: u64, hi: u64) -> String {
    let per = spec.entries_per_session.max(1);
    let rows = if sqlite {
        format!(
            "WITH RECURSIVE r(n) AS (SELECT {lo} UNION ALL SELECT n + 1 FROM r WHERE n + 1 < {hi})"
        )
    } else {
        String::new()
    };
    let from_rows = if sqlite {
        "FROM r".to_owned()
    } else {
        format!("FROM generate_series({lo}::bigint, {hi}::bigint - 1) AS r(n)")
    };
    let id = |code: u16, t: &str, i: &str| {
        if sqlite {
            crate::bulk::sqlite_id(code, t, i)
        } else {
            crate::bulk::pg_id(code, t, i)
        }
    };
    // Session g: its start, and whether it is a bot's (g % 10 = 0; handed off when g % 20 = 0).
    let g = if table == "entries" {
        format!("(n / {per})")
    } else {
        "n".to_owned()
    };
    let stride = (spec.span_ms / i64::try_from(spec.sessions.max(1)).unwrap_or(1)).max(1);
    let started = format!(
        "({} + {g} * {stride} + ({g} % 3600) * 1000)",
        spec.from.millis()
    );
    let contained = format!("({g} % 10 = 0 AND {g} % 20 <> 0)");
    let bot = format!("({g} % 10 = 0)");
    let accepted = format!("({started} + 1000 + ({g} % 120) * 1000)");
    let ended = format!("({accepted} + 60000 + ({g} % 1800) * 1000)");
    let user = id(
        crate::bulk::USER,
        &format!("({} + {g})", spec.users_since.millis()),
        &g,
    );
    let session = id(GEN_SESSION, &started, &g);
    let channel = pick(&spec.channels, &g, sqlite);
    match table {
        "sessions" => {
            let conversation = if sqlite {
                "randomblob(16)"
            } else {
                "gen_random_uuid()"
            };
            let queue = if spec.queues.is_empty() {
                "NULL".to_owned()
            } else {
                let mut with_none = spec.queues.clone();
                with_none.push(NONE);
                format!(
                    "NULLIF({}, {})",
                    pick(&with_none, &g, sqlite),
                    if sqlite {
                        "X'00000000000000000000000000000000'".to_owned()
                    } else {
                        format!("'{NONE}'::uuid")
                    }
                )
            };
            let agent = pick(&spec.agents, &format!("{g} / 3"), sqlite);
            let half = per / 2;
            format!(
                "{rows} INSERT INTO sessions (id, conversation_id, channel_id, messaging_user_id, status, context, \
                 owner_kind, owner_id, queue_id, agent_messages, customer_messages, started_at, accepted_at, ended_at, \
                 initiated_by, status_since, end_reason, ended_by, updated_at) \
                 SELECT {session}, {conversation}, {channel}, {user}, \
                 CASE WHEN {g} % 97 = 0 THEN 'error' ELSE 'ended' END, \
                 CASE WHEN {g} % 5 = 0 THEN 'marketing' ELSE 'service' END, \
                 CASE WHEN {contained} THEN 'bot' ELSE 'agent' END, \
                 CASE WHEN {contained} THEN NULL ELSE {agent} END, {queue}, {half}, {rest}, \
                 {started}, CASE WHEN {contained} THEN NULL ELSE {accepted} END, {ended}, 'customer', {ended}, \
                 'closed', 'agent', {ended} {from_rows}",
                rest = per - half
            )
        }
        "entries" => {
            let j = format!("(n % {per})");
            let at =
                format!("(CASE WHEN {j} = 0 THEN {started} ELSE {accepted} + {j} * 20000 END)");
            let actor = format!(
                "CASE WHEN {j} % 2 = 0 THEN 'customer' WHEN {j} = 1 AND {bot} THEN 'bot' \
                 WHEN {contained} THEN 'bot' ELSE 'agent' END"
            );
            format!(
                "{rows} INSERT INTO entries (id, session_id, direction, actor, body, status, created_at, updated_at) \
                 SELECT {}, {session}, CASE WHEN {j} % 2 = 0 THEN 'inbound' ELSE 'outbound' END, {actor}, \
                 'Bulk message', CASE WHEN {j} % 2 = 0 THEN 'received' ELSE 'delivered' END, {at}, {at} {from_rows}",
                id(GEN_ENTRY, &at, "n")
            )
        }
        "consent_events" => {
            let to = format!(
                "CASE ({g} / 10) % 4 WHEN 0 THEN 'OptedOut' WHEN 1 THEN 'ImplicitlyOptedIn' \
                 WHEN 2 THEN 'ExplicitlyOptedIn' ELSE 'DoublyOptedIn' END"
            );
            let source = format!(
                "CASE ({g} / 10) % 3 WHEN 0 THEN 'keyword' WHEN 1 THEN 'inbound' ELSE 'import' END"
            );
            format!(
                "{rows} INSERT INTO consent_events (id, messaging_user_id, from_status, to_status, source, reason, at) \
                 SELECT {}, {user}, NULL, {to}, {source}, 'bulk', {started} {from_rows} WHERE {g} % 10 = 0",
                id(GEN_CONSENT, &started, &g)
            )
        }
        _ => {
            let code = format!(
                "CASE ({g} / 50) % 3 WHEN 0 THEN '21610' WHEN 1 THEN '30003' ELSE '30007' END"
            );
            format!(
                "{rows} INSERT INTO delivery_errors (id, at, entry_id, channel_id, code, provider_code, source) \
                 SELECT {}, {started}, NULL, {channel}, {code}, {code}, 'outbound' {from_rows} WHERE {g} % 50 = 0",
                id(GEN_ERROR, &started, &g)
            )
        }
    }
}
