//! Bulk loading for the scale benchmark (`parley bench scale`): a database that looks like one
//! after months of traffic (customers with their contact, an ended session each, and their
//! messages), written fast enough to reach millions of rows on a small machine. The rows are
//! generated inside the database (a recursive CTE on SQLite, `generate_series` on PostgreSQL), in
//! chunks of one transaction each, so nothing crosses the connection but the chunk's bounds.
//!
//! Ids are deterministic UUIDv7s from a row number: 48 bits of milliseconds (the row's time, in
//! the past), the version nibble, a 12-bit code per table, the variant, then the row number, so
//! sessions can name their user and entries their session without reading anything back, and ids
//! sort by time as the product's own do.

use parley_core::Timestamp;
use parley_core::model::ConsentStatus;
use uuid::Uuid;

use crate::{Backend, Result, Store};

/// What to load.
#[derive(Debug, Clone)]
pub struct BulkLoad {
    /// The channel every generated customer writes on.
    pub channel_id: Uuid,
    /// Messaging users, each with a contact (same phone) and one ended session.
    pub users: u64,
    /// Entries, spread evenly over the sessions, alternately the customer's and an agent's, the
    /// customer's first.
    pub entries: u64,
    /// The time of the first generated row; row `i` is `i` milliseconds later.
    pub since: Timestamp,
    /// Rows per transaction.
    pub chunk: u64,
    /// Every generated messaging user's consent.
    pub consent: ConsentStatus,
    /// Every generated contact's first name.
    pub first_name: String,
    /// The row number of the first generated customer. Ids and phone numbers derive from the row
    /// number, so loads with disjoint ranges (one per channel, say) never collide.
    pub offset: u64,
    /// Write an ended session per user and the entries; `false` writes contacts and users only
    /// (an audience that has never written, as a campaign's often has).
    pub sessions: bool,
}

impl BulkLoad {
    /// `users` customers on `channel_id` as `bench scale` loads them: implicitly opted in, each
    /// with an ended session, `entries` entries over the sessions.
    pub fn new(channel_id: Uuid, users: u64, entries: u64, since: Timestamp, chunk: u64) -> Self {
        Self {
            channel_id,
            users,
            entries,
            since,
            chunk,
            consent: ConsentStatus::ImplicitlyOptedIn,
            first_name: "Bulk".to_owned(),
            offset: 0,
            sessions: true,
        }
    }
}

/// Rows written per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BulkLoaded {
    pub contacts: u64,
    pub users: u64,
    pub sessions: u64,
    pub entries: u64,
}

/// The table codes in generated ids.
const CONTACT: u16 = 0x0c1;
pub(crate) const USER: u16 = 0x0c2;
const SESSION: u16 = 0x0c3;
const CONVERSATION: u16 = 0x0c4;
const ENTRY: u16 = 0x0c5;

/// The phone number of generated customer `i` (never one the benchmark's live customers use).
pub fn bulk_phone(i: u64) -> String {
    format!("+1202{i:07}")
}

/// Hex of a generated id, as SQL: `t` the milliseconds expression, `i` the row number expression.
pub(crate) fn sqlite_id(code: u16, t: &str, i: &str) -> String {
    format!("unhex(printf('%012x7%03x8%015x', {t}, {code}, {i}))")
}

pub(crate) fn pg_id(code: u16, t: &str, i: &str) -> String {
    format!(
        "(lpad(to_hex({t}::bigint), 12, '0') || '7' || lpad(to_hex({code}), 3, '0') || '8' || lpad(to_hex({i}::bigint), 15, '0'))::uuid"
    )
}

impl Store {
    /// Loads `spec` (see [`BulkLoad`]); `progress` is called after each chunk with the table and
    /// the rows written so far.
    pub async fn bulk_load(
        &self,
        spec: &BulkLoad,
        mut progress: impl FnMut(&str, u64),
    ) -> Result<BulkLoaded> {
        let mut loaded = BulkLoaded::default();
        let per_session = spec.entries.checked_div(spec.users).unwrap_or(0).max(1);
        let t0 = spec.since.millis();
        let chunk = spec.chunk.max(1);
        let tables: &[&str] = if spec.sessions {
            &["contacts", "messaging_users", "sessions", "entries"]
        } else {
            &["contacts", "messaging_users"]
        };
        // Entries are numbered from the sessions' offset times the entries per session, so entry
        // `j` still belongs to session `j / per_session`.
        for &table in tables {
            let (total, base) = match table {
                "entries" if spec.users > 0 => (spec.entries, spec.offset * per_session),
                "entries" => (0, 0),
                _ => (spec.users, spec.offset),
            };
            let mut from = 0;
            while from < total {
                let to = (from + chunk).min(total);
                let (lo, hi) = (base + from, base + to);
                let sql = match &self.backend {
                    Backend::Sqlite { .. } => sqlite_insert(table, per_session),
                    Backend::Postgres(_) => pg_insert(table, per_session),
                };
                let (a, b) = (
                    i64::try_from(lo).unwrap_or(i64::MAX),
                    i64::try_from(hi).unwrap_or(i64::MAX),
                );
                match &self.backend {
                    Backend::Sqlite { writer, .. } => {
                        sqlx::query(sqlx::AssertSqlSafe(sql))
                            .bind(a)
                            .bind(b)
                            .bind(t0)
                            .bind(spec.channel_id)
                            .bind(spec.consent.as_str())
                            .bind(spec.first_name.as_str())
                            .execute(writer)
                            .await?;
                    }
                    Backend::Postgres(pool) => {
                        sqlx::query(sqlx::AssertSqlSafe(sql))
                            .bind(a)
                            .bind(b)
                            .bind(t0)
                            .bind(spec.channel_id)
                            .bind(spec.consent.as_str())
                            .bind(spec.first_name.as_str())
                            .execute(pool)
                            .await?;
                    }
                }
                from = to;
                progress(table, from);
            }
            match table {
                "contacts" => loaded.contacts = total,
                "messaging_users" => loaded.users = total,
                "sessions" => loaded.sessions = total,
                _ => loaded.entries = total,
            }
        }
        // PostgreSQL's autovacuum would have analysed tables that grew over months; SQLite has no
        // statistics unless someone runs ANALYZE, and Parley does not, so it gets none here either.
        if let Backend::Postgres(pool) = &self.backend {
            sqlx::query("ANALYZE").execute(pool).await?;
        }
        Ok(loaded)
    }
}

/// Rows `$1 <= i < $2` of `table`; `$3` the first row's time, `$4` the channel, `$5` the users'
/// consent, `$6` the contacts' first name.
fn sqlite_insert(table: &str, per_session: u64) -> String {
    let rows = "WITH RECURSIVE n(i) AS (SELECT $1 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < $2)";
    let t = "$3 + i";
    let phone = "printf('+1202%07d', i)";
    match table {
        "contacts" => format!(
            "{rows} INSERT INTO contacts (id, first_name, last_name, phone, email, created_at, updated_at) \
             SELECT {}, $6, 'Customer ' || i, {phone}, NULL, {t}, {t} FROM n",
            sqlite_id(CONTACT, t, "i")
        ),
        "messaging_users" => format!(
            "{rows} INSERT INTO messaging_users (id, channel_id, platform_key, name, locale, consent_status, contact_id, created_at, updated_at) \
             SELECT {}, $4, {phone}, '', NULL, $5, {}, {t}, {t} FROM n",
            sqlite_id(USER, t, "i"),
            sqlite_id(CONTACT, t, "i")
        ),
        "sessions" => format!(
            "{rows} INSERT INTO sessions (id, conversation_id, channel_id, messaging_user_id, status, context, \
             agent_messages, customer_messages, started_at, accepted_at, ended_at, last_customer_at, last_agent_at, \
             initiated_by, status_since, end_reason, ended_by, updated_at) \
             SELECT {}, {}, $4, {}, 'ended', 'service', {half}, {half}, {t}, {t}, {t} + 60000, {t}, {t}, \
             'customer', {t} + 60000, 'inactivity_timeout', 'system', {t} + 60000 FROM n",
            sqlite_id(SESSION, t, "i"),
            sqlite_id(CONVERSATION, t, "i"),
            sqlite_id(USER, t, "i"),
            half = per_session / 2
        ),
        _ => {
            // Entry j belongs to session j / per_session, whose row time is $3 + s.
            let s = format!("(i / {per_session})");
            let st = format!("($3 + {s})");
            format!(
                "{rows} INSERT INTO entries (id, session_id, direction, actor, body, provider_message_id, status, created_at, updated_at) \
                 SELECT {}, {}, CASE (i % {per_session}) % 2 WHEN 0 THEN 'inbound' ELSE 'outbound' END, \
                 CASE (i % {per_session}) % 2 WHEN 0 THEN 'customer' ELSE 'agent' END, 'Bulk message ' || i, 'SMbulk' || i, \
                 CASE (i % {per_session}) % 2 WHEN 0 THEN 'received' ELSE 'delivered' END, {st} + (i % {per_session}), {st} + (i % {per_session}) FROM n",
                sqlite_id(ENTRY, &format!("{st} + (i % {per_session})"), "i"),
                sqlite_id(SESSION, &st, s.as_str())
            )
        }
    }
}

fn pg_insert(table: &str, per_session: u64) -> String {
    let rows = "FROM generate_series($1::bigint, $2::bigint - 1) AS n(i)";
    let t = "($3::bigint + i)";
    let phone = "'+1202' || lpad(i::text, 7, '0')";
    match table {
        "contacts" => format!(
            "INSERT INTO contacts (id, first_name, last_name, phone, email, created_at, updated_at) \
             SELECT {}, $6::text, 'Customer ' || i, {phone}, NULL, {t}, {t} {rows}",
            pg_id(CONTACT, t, "i")
        ),
        "messaging_users" => format!(
            "INSERT INTO messaging_users (id, channel_id, platform_key, name, locale, consent_status, contact_id, created_at, updated_at) \
             SELECT {}, $4, {phone}, '', NULL, $5::text, {}, {t}, {t} {rows}",
            pg_id(USER, t, "i"),
            pg_id(CONTACT, t, "i")
        ),
        "sessions" => format!(
            "INSERT INTO sessions (id, conversation_id, channel_id, messaging_user_id, status, context, \
             agent_messages, customer_messages, started_at, accepted_at, ended_at, last_customer_at, last_agent_at, \
             initiated_by, status_since, end_reason, ended_by, updated_at) \
             SELECT {}, {}, $4, {}, 'ended', 'service', {half}, {half}, {t}, {t}, {t} + 60000, {t}, {t}, \
             'customer', {t} + 60000, 'inactivity_timeout', 'system', {t} + 60000 {rows}",
            pg_id(SESSION, t, "i"),
            pg_id(CONVERSATION, t, "i"),
            pg_id(USER, t, "i"),
            half = per_session / 2
        ),
        _ => {
            let s = format!("(i / {per_session})");
            let st = format!("($3::bigint + {s})");
            let et = format!("({st} + (i % {per_session}))");
            format!(
                "INSERT INTO entries (id, session_id, direction, actor, body, provider_message_id, status, created_at, updated_at) \
                 SELECT {}, {}, CASE (i % {per_session}) % 2 WHEN 0 THEN 'inbound' ELSE 'outbound' END, \
                 CASE (i % {per_session}) % 2 WHEN 0 THEN 'customer' ELSE 'agent' END, 'Bulk message ' || i, 'SMbulk' || i, \
                 CASE (i % {per_session}) % 2 WHEN 0 THEN 'received' ELSE 'delivered' END, {et}, {et} {rows}",
                pg_id(ENTRY, &et, "i"),
                pg_id(SESSION, &st, s.as_str())
            )
        }
    }
}

/// A URL for a new, empty schema on the PostgreSQL server at `base`, so one server can hold the
/// benchmark's empty and loaded databases side by side.
pub async fn new_pg_schema_url(base: &str, prefix: &str) -> Result<String> {
    let store = Store::connect(
        base,
        &crate::StoreOptions {
            max_connections: 2,
            ..Default::default()
        },
    )
    .await?;
    let schema = format!("{prefix}_{}", Uuid::now_v7().simple());
    if let Backend::Postgres(pool) = &store.backend {
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(pool)
            .await?;
    }
    store.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    Ok(format!("{base}{sep}options=-c%20search_path%3D{schema}"))
}
