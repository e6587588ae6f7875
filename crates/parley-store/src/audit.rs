//! The audit log (issue 16 part 6). Append-only: this module writes and reads rows and has no
//! statement that changes or removes one; migration 0028's triggers refuse any written by hand.

use parley_core::audit::{AuditActor, AuditEntry};
use parley_core::{Timestamp, new_id};
use serde_json::Value;
use sqlx::FromRow;
use sqlx::types::Json;
use uuid::Uuid;

use crate::{Result, Store, on_backend};

/// One stored entry, with the names of its agent and token as they are now (a deleted agent or
/// token leaves `None`; the ids stay).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: Uuid,
    pub at: Timestamp,
    pub actor_kind: String,
    /// The agent's or the token's id.
    pub actor_id: Option<Uuid>,
    /// The agent who acted (itself, or the one its token acts for).
    pub agent_id: Option<Uuid>,
    pub agent_name: Option<String>,
    pub token_name: Option<String>,
    pub action: String,
    pub resource_kind: String,
    pub resource_id: Option<String>,
    pub detail: Value,
}

#[derive(FromRow)]
struct Row {
    id: Uuid,
    at: i64,
    actor_kind: String,
    actor_id: Option<Uuid>,
    agent_id: Option<Uuid>,
    agent_name: Option<String>,
    token_name: Option<String>,
    action: String,
    resource_kind: String,
    resource_id: Option<String>,
    detail: Json<Value>,
}

impl From<Row> for AuditRecord {
    fn from(r: Row) -> Self {
        Self {
            id: r.id,
            at: Timestamp(r.at),
            actor_kind: r.actor_kind,
            actor_id: r.actor_id,
            agent_id: r.agent_id,
            agent_name: r.agent_name,
            token_name: r.token_name,
            action: r.action,
            resource_kind: r.resource_kind,
            resource_id: r.resource_id,
            detail: r.detail.0,
        }
    }
}

/// Which entries to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// The agent or token that acted (an agent's id also finds what its tokens did).
    pub actor_id: Option<Uuid>,
    pub action: Option<String>,
    pub resource_kind: Option<String>,
    pub resource_id: Option<String>,
    /// At or after.
    pub from: Option<Timestamp>,
    /// Before.
    pub to: Option<Timestamp>,
    /// Strictly older than this entry (the `next` of the previous page).
    pub before: Option<Uuid>,
}

enum Arg {
    Id(Uuid),
    Text(String),
    Int(i64),
}

const SELECT: &str = "SELECT a.id, a.at, a.actor_kind, a.actor_id, a.agent_id, ag.name AS agent_name, \
    t.name AS token_name, a.action, a.resource_kind, a.resource_id, a.detail FROM audit_log a \
    LEFT JOIN agents ag ON ag.id = a.agent_id \
    LEFT JOIN api_tokens t ON a.actor_kind = 'token' AND t.id = a.actor_id";

impl Store {
    /// Appends one entry at `now`; returns its id.
    pub async fn write_audit_entry(&self, entry: &AuditEntry, now: Timestamp) -> Result<Uuid> {
        let id = new_id();
        on_backend!(self, write c => sqlx::query(
            "INSERT INTO audit_log (id, at, actor_kind, actor_id, agent_id, action, resource_kind, \
             resource_id, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(id).bind(now.millis()).bind(entry.actor.kind_str()).bind(entry.actor.id())
            .bind(entry.actor.agent_id()).bind(&entry.action).bind(&entry.resource_kind)
            .bind(&entry.resource_id).bind(Json(&entry.detail))
            .execute(c).await.map(|_| ()))?;
        Ok(id)
    }

    /// Up to `limit` entries matching `filter`, newest first. Each filter reads through its own
    /// index (actor, action, resource), ordered by id, which is time order.
    pub async fn list_audit_entries(
        &self,
        filter: &AuditFilter,
        limit: u32,
    ) -> Result<Vec<AuditRecord>> {
        let mut sql = format!("{SELECT} WHERE 1 = 1");
        let mut args = Vec::new();
        let mut cond = |sql: &mut String, text: &str, arg: Arg| {
            args.push(arg);
            sql.push_str(&text.replace('?', &format!("${}", args.len())));
        };
        if let Some(actor) = filter.actor_id {
            cond(&mut sql, " AND a.actor_id = ?", Arg::Id(actor));
        }
        if let Some(action) = &filter.action {
            cond(&mut sql, " AND a.action = ?", Arg::Text(action.clone()));
        }
        if let Some(kind) = &filter.resource_kind {
            cond(
                &mut sql,
                " AND a.resource_kind = ?",
                Arg::Text(kind.clone()),
            );
        }
        if let Some(id) = &filter.resource_id {
            cond(&mut sql, " AND a.resource_id = ?", Arg::Text(id.clone()));
        }
        if let Some(from) = filter.from {
            cond(&mut sql, " AND a.at >= ?", Arg::Int(from.millis()));
        }
        if let Some(to) = filter.to {
            cond(&mut sql, " AND a.at < ?", Arg::Int(to.millis()));
        }
        if let Some(before) = filter.before {
            cond(&mut sql, " AND a.id < ?", Arg::Id(before));
        }
        cond(
            &mut sql,
            " ORDER BY a.id DESC LIMIT ?",
            Arg::Int(i64::from(limit)),
        );
        let rows: Vec<Row> = on_backend!(self, read c => {
            let mut q = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()));
            for a in &args {
                q = match a {
                    Arg::Id(u) => q.bind(*u),
                    Arg::Text(t) => q.bind(t.clone()),
                    Arg::Int(i) => q.bind(*i),
                };
            }
            q.fetch_all(c).await
        })?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Whether `actor` recorded `action` on `resource_id` at or after `since` (so an agent reading
    /// the same transcript again within the hour adds no entry).
    pub async fn audit_entry_since(
        &self,
        actor: &AuditActor,
        action: &str,
        resource_id: &str,
        since: Timestamp,
    ) -> Result<bool> {
        let Some(actor_id) = actor.id() else {
            return Ok(false);
        };
        let found: Option<i32> = on_backend!(self, read c => sqlx::query_scalar(
            "SELECT 1 FROM audit_log WHERE actor_id = $1 AND id >= $2 AND action = $3 \
             AND resource_id = $4 LIMIT 1")
            .bind(actor_id).bind(uuid_at(since)).bind(action).bind(resource_id)
            .fetch_optional(c).await)?;
        Ok(found.is_some())
    }

    /// Whether `agent_id` owns (or owned) a session of this messaging user: their conversation.
    pub async fn agent_owns_user_session(
        &self,
        agent_id: Uuid,
        messaging_user_id: Uuid,
    ) -> Result<bool> {
        let found: Option<i32> = on_backend!(self, read c => sqlx::query_scalar(
            "SELECT 1 FROM sessions WHERE messaging_user_id = $1 AND owner_kind = 'agent' \
             AND owner_id = $2 LIMIT 1")
            .bind(messaging_user_id).bind(agent_id).fetch_optional(c).await)?;
        Ok(found.is_some())
    }
}

/// The smallest UUIDv7 of a moment: ids at or after it were made at or after `t`.
fn uuid_at(t: Timestamp) -> Uuid {
    let ms = u64::try_from(t.millis()).unwrap_or(0) & 0xFFFF_FFFF_FFFF;
    Uuid::from_u128((u128::from(ms) << 80) | (0x7 << 76) | (0b10 << 62))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_id_of_a_moment_sorts_before_every_id_made_then() {
        let t = Timestamp(1_764_000_000_123);
        let id = Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            1_764_000_000,
            123_000_000,
        ));
        assert!(uuid_at(t) <= id);
        assert!(uuid_at(Timestamp(t.0 + 1)) > id);
    }
}
