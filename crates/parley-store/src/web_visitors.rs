//! The web chat widget's side of the store (issue 14): visitor tokens (only their SHA-256 is
//! kept), what the widget told about each web session when it opened, the files visitors
//! uploaded, and the reads the widget's conversation view and event stream make.

use std::collections::BTreeMap;

use parley_core::{Timestamp, new_id};
use sqlx::Row;
use uuid::Uuid;

use crate::config::placeholders;
use crate::records::{Entry, Session};
use crate::{Result, Store, StoreError, on_backend};

/// How often a visitor's `last_seen_at` is written at most.
pub const LAST_SEEN_GRANULARITY_MS: i64 = 60_000;
/// Sessions of one messaging user the widget shows at most (a verified visitor's history).
pub const MAX_HISTORY_SESSIONS: i64 = 50;

/// One visitor token (its hash is not read back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebVisitor {
    pub id: Uuid,
    pub deployment_id: Uuid,
    pub messaging_user_id: Uuid,
    pub verified: bool,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub last_seen_at: Option<Timestamp>,
}

impl WebVisitor {
    /// Whether the token may be used at `now`: not revoked, not expired.
    pub fn live_at(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// A visitor to record; the hash is the caller's (the store never sees a token).
#[derive(Debug, Clone)]
pub struct NewWebVisitor<'a> {
    pub deployment_id: Uuid,
    pub messaging_user_id: Uuid,
    pub token_hash: &'a str,
    pub verified: bool,
    pub expires_at: Timestamp,
}

/// What the widget told about a web session when it opened (the console shows it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WebSessionData {
    pub session_id: Uuid,
    pub deployment_id: Uuid,
    pub deployment_name: String,
    pub visitor_id: Uuid,
    pub prechat: BTreeMap<String, String>,
    pub page_url: Option<String>,
    pub identity: Option<String>,
    pub user_agent: Option<String>,
}

/// The row the inbound pipeline writes with the session it opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSessionWrite {
    pub session_id: Uuid,
    pub deployment_id: Uuid,
    pub visitor_id: Uuid,
    pub prechat: BTreeMap<String, String>,
    pub page_url: Option<String>,
    pub identity: Option<String>,
    pub user_agent: Option<String>,
}

/// Which entries of a visitor's sessions to read.
#[derive(Debug, Clone, Copy)]
pub struct WebEntryQuery<'a> {
    pub session_ids: &'a [Uuid],
    /// Entries created before this are outside the history window.
    pub since: Timestamp,
    /// Entries after this id and (with `changed_since`) outbound ones changed since then: a
    /// stream's replay.
    pub after: Option<Uuid>,
    pub changed_since: Option<Timestamp>,
    pub limit: i64,
}

fn visitor_of(r: &impl RowLike) -> Result<WebVisitor> {
    r.visitor()
}

/// Reads a visitor from either backend's row.
trait RowLike {
    fn visitor(&self) -> Result<WebVisitor>;
}

macro_rules! impl_row_like {
    ($row:ty) => {
        impl RowLike for $row {
            fn visitor(&self) -> Result<WebVisitor> {
                let ts = |v: i64| Timestamp::from_millis(v);
                Ok(WebVisitor {
                    id: self.try_get("id")?,
                    deployment_id: self.try_get("deployment_id")?,
                    messaging_user_id: self.try_get("messaging_user_id")?,
                    verified: self.try_get("verified")?,
                    created_at: ts(self.try_get("created_at")?),
                    expires_at: ts(self.try_get("expires_at")?),
                    revoked_at: self.try_get::<Option<i64>, _>("revoked_at")?.map(ts),
                    last_seen_at: self.try_get::<Option<i64>, _>("last_seen_at")?.map(ts),
                })
            }
        }
    };
}
impl_row_like!(sqlx::sqlite::SqliteRow);
impl_row_like!(sqlx::postgres::PgRow);

const SELECT_VISITOR: &str = "SELECT id, deployment_id, messaging_user_id, verified, created_at, \
     expires_at, revoked_at, last_seen_at FROM web_visitors ";

impl Store {
    /// Records a visitor token by its hash.
    pub async fn create_web_visitor(
        &self,
        new: &NewWebVisitor<'_>,
        now: Timestamp,
    ) -> Result<WebVisitor> {
        let id = new_id();
        on_backend!(self, write c => sqlx::query(
            "INSERT INTO web_visitors (id, deployment_id, messaging_user_id, token_hash, verified, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(id).bind(new.deployment_id).bind(new.messaging_user_id).bind(new.token_hash)
            .bind(new.verified).bind(now.millis()).bind(new.expires_at.millis())
            .execute(c).await.map(|r| r.rows_affected()))?;
        Ok(WebVisitor {
            id,
            deployment_id: new.deployment_id,
            messaging_user_id: new.messaging_user_id,
            verified: new.verified,
            created_at: now,
            expires_at: new.expires_at,
            revoked_at: None,
            last_seen_at: None,
        })
    }

    /// The visitor holding the token with this hash, revoked or expired ones included (the
    /// caller decides against its clock).
    pub async fn web_visitor_by_hash(&self, token_hash: &str) -> Result<Option<WebVisitor>> {
        let sql = format!("{SELECT_VISITOR}WHERE token_hash = $1");
        on_backend!(self, read c => {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(token_hash).fetch_optional(c).await?;
            row.as_ref().map(visitor_of).transpose()
        })
    }

    pub async fn web_visitor(&self, id: Uuid) -> Result<WebVisitor> {
        let sql = format!("{SELECT_VISITOR}WHERE id = $1");
        on_backend!(self, read c => {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(c).await?;
            row.as_ref().map(visitor_of).transpose()
        })?
        .ok_or(StoreError::not_found("web visitor"))
    }

    /// Revokes a visitor token (logout, WEB-20). Revoking twice is not an error.
    pub async fn revoke_web_visitor(&self, id: Uuid, now: Timestamp) -> Result<()> {
        on_backend!(self, write c => sqlx::query(
            "UPDATE web_visitors SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id).bind(now.millis()).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Stamps the visitor's last request, at most once a minute (compared in the statement).
    pub async fn touch_web_visitor(&self, id: Uuid, now: Timestamp) -> Result<bool> {
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE web_visitors SET last_seen_at = $2 WHERE id = $1 \
             AND (last_seen_at IS NULL OR last_seen_at <= $3)")
            .bind(id).bind(now.millis()).bind(now.millis() - LAST_SEEN_GRANULARITY_MS)
            .execute(c).await.map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    /// Deletes visitor rows that expired before `before` (their sessions stay).
    pub async fn delete_expired_web_visitors(&self, before: Timestamp) -> Result<u64> {
        Ok(on_backend!(self, write c => sqlx::query(
            "DELETE FROM web_visitors WHERE expires_at < $1")
            .bind(before.millis()).execute(c).await.map(|r| r.rows_affected()))?)
    }

    /// What the widget told about a web session when it opened, if it is one.
    pub async fn web_session_data(&self, session_id: Uuid) -> Result<Option<WebSessionData>> {
        on_backend!(self, read c => {
            let row = sqlx::query(
                "SELECT d.session_id, d.deployment_id, w.name AS deployment_name, d.visitor_id, \
                 d.prechat, d.page_url, d.identity, d.user_agent FROM web_session_data d \
                 JOIN web_deployments w ON w.id = d.deployment_id WHERE d.session_id = $1")
                .bind(session_id).fetch_optional(c).await?;
            match row {
                None => Ok(None),
                Some(r) => {
                    let prechat: String = self.open_text(&r.try_get::<String, _>("prechat")?)?;
                    Ok(Some(WebSessionData {
                        session_id: r.try_get("session_id")?,
                        deployment_id: r.try_get("deployment_id")?,
                        deployment_name: r.try_get("deployment_name")?,
                        visitor_id: r.try_get("visitor_id")?,
                        prechat: serde_json::from_str(&prechat)
                            .map_err(|e| StoreError::Corrupt(format!("web_session_data.prechat: {e}")))?,
                        page_url: self.open_opt(r.try_get("page_url")?)?,
                        identity: self.open_opt(r.try_get("identity")?)?,
                        user_agent: r.try_get("user_agent")?,
                    }))
                }
            }
        })
    }

    /// A visitor's upload, so only they can attach and read it.
    pub async fn create_web_upload(
        &self,
        media_id: Uuid,
        visitor_id: Uuid,
        now: Timestamp,
    ) -> Result<()> {
        on_backend!(self, write c => sqlx::query(
            "INSERT INTO web_uploads (media_id, visitor_id, created_at) VALUES ($1, $2, $3)")
            .bind(media_id).bind(visitor_id).bind(now.millis())
            .execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The visitor who uploaded a file, if a visitor did.
    pub async fn web_upload_visitor(&self, media_id: Uuid) -> Result<Option<Uuid>> {
        Ok(on_backend!(self, read c => sqlx::query_scalar(
            "SELECT visitor_id FROM web_uploads WHERE media_id = $1")
            .bind(media_id).fetch_optional(c).await)?)
    }

    /// The latest sessions of a messaging user (at most [`MAX_HISTORY_SESSIONS`]), newest first,
    /// that started at or after `since` or are still open.
    pub async fn web_sessions(
        &self,
        messaging_user_id: Uuid,
        since: Timestamp,
    ) -> Result<Vec<Session>> {
        Ok(on_backend!(self, read c => sqlx::query_as::<_, Session>(
            "SELECT * FROM sessions WHERE messaging_user_id = $1 \
             AND (started_at >= $2 OR status NOT IN ('ended', 'error')) ORDER BY id DESC LIMIT $3")
            .bind(messaging_user_id).bind(since.millis()).bind(MAX_HISTORY_SESSIONS)
            .fetch_all(c).await)?)
    }

    /// Entries of these sessions the visitor may see, oldest first: everything the customer
    /// wrote and every outbound message that left (queued ones are not the visitor's yet). At
    /// most `limit`: the newest ones for the whole view, the first ones after `after` for a
    /// replay.
    pub async fn web_entries(&self, q: &WebEntryQuery<'_>) -> Result<Vec<Entry>> {
        if q.session_ids.is_empty() {
            return Ok(Vec::new());
        }
        let n = q.session_ids.len();
        let changed = match (q.after, q.changed_since) {
            // An outbound message written before `after` but delivered since: sent again (the
            // widget replaces what it has by id), never lost.
            (Some(_), Some(_)) => format!(
                "AND (id > ${a} OR (id < ${a} AND direction = 'outbound' AND updated_at >= ${t}))",
                a = n + 3,
                t = n + 4
            ),
            (Some(_), None) => format!("AND id > ${}", n + 3),
            _ => String::new(),
        };
        // The whole view keeps the newest entries when there are too many; a replay the oldest
        // after its id (it continues from there at the next reconnect).
        let order = if q.after.is_some() { "" } else { "DESC" };
        let sql = format!(
            "SELECT * FROM entries WHERE session_id IN ({}) AND created_at >= ${} \
             AND NOT (direction = 'outbound' AND status = 'queued') {changed} \
             ORDER BY id {order} LIMIT ${}",
            placeholders(1, n),
            n + 1,
            n + 2,
        );
        on_backend!(self, read c => {
            let mut query = sqlx::query_as::<_, Entry>(sqlx::AssertSqlSafe(sql));
            for id in q.session_ids {
                query = query.bind(id);
            }
            query = query.bind(q.since.millis()).bind(q.limit);
            if let Some(after) = q.after {
                query = query.bind(after);
                if let Some(at) = q.changed_since {
                    query = query.bind(at.millis());
                }
            }
            Ok::<_, StoreError>(query.fetch_all(c).await?)
        })
        .and_then(|mut rows: Vec<Entry>| {
            rows.sort_by_key(|e| e.id);
            self.open_entries(rows)
        })
    }

    /// Marks the outbound messages of a session up to `up_to` read by the visitor; returns the
    /// entries that changed.
    pub async fn set_web_entries_read(
        &self,
        session_id: Uuid,
        up_to: Uuid,
        now: Timestamp,
    ) -> Result<Vec<Uuid>> {
        let ids: Vec<Uuid> = on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            let ids: Vec<Uuid> = sqlx::query_scalar(
                "SELECT id FROM entries WHERE session_id = $1 AND id <= $2 \
                 AND direction = 'outbound' AND status IN ('sent', 'delivered')")
                .bind(session_id).bind(up_to).fetch_all(&mut *tx).await?;
            for chunk in ids.chunks(256) {
                let sql = format!(
                    "UPDATE entries SET status = 'read', updated_at = $1 WHERE id IN ({})",
                    placeholders(2, chunk.len())
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now.millis());
                for id in chunk {
                    q = q.bind(id);
                }
                q.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(ids)
        })?;
        Ok(ids)
    }
}

/// Writes a web session's row inside the inbound transaction (see `write_effects!`). A session
/// already described keeps its first description.
macro_rules! write_web_session {
    ($store:expr, $tx:ident, $w:expr, $at:expr) => {{
        let store: &$crate::Store = $store;
        let w: &$crate::web_visitors::WebSessionWrite = $w;
        let prechat = serde_json::to_string(&w.prechat).unwrap_or_else(|_| "{}".to_owned());
        sqlx::query(
            "INSERT INTO web_session_data (session_id, deployment_id, visitor_id, prechat, page_url, \
             identity, user_agent, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (session_id) DO NOTHING")
            .bind(w.session_id).bind(w.deployment_id).bind(w.visitor_id).bind(store.seal_text(&prechat))
            .bind(store.seal_opt(w.page_url.as_deref())).bind(store.seal_opt(w.identity.as_deref()))
            .bind(&w.user_agent).bind($at)
            .execute(&mut *$tx).await?;
    }};
}
pub(crate) use write_web_session;
