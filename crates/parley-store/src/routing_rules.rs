//! Routing rules (RT-01..05): the declarative alternative to a flow builder. A rule's conditions
//! and actions are kept as JSON values, so this file does not depend on their shape; their types,
//! validation and evaluation live in `parley_core::routing`, applied before anything reaches here.

use parley_core::{Timestamp, new_id};
use serde::Serialize;
use serde_json::Value;
use sqlx::FromRow;
use sqlx::types::Json;
use uuid::Uuid;

use crate::{Result, Store, StoreError, on_backend};

const COLS: &str = "id, name, position, channel_id, conditions, actions, created_at, updated_at";

/// A rule as written by the API or `parley apply`, already validated.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutingRuleSpec {
    pub name: String,
    /// Rules are tried in ascending position, ties by id (creation order).
    pub position: i64,
    /// `None`: the rule applies to every channel.
    pub channel_id: Option<Uuid>,
    pub conditions: Value,
    pub actions: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredRoutingRule {
    pub id: Uuid,
    pub name: String,
    pub position: i64,
    pub channel_id: Option<Uuid>,
    pub conditions: Value,
    pub actions: Value,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl StoredRoutingRule {
    /// The spec this rule was made from, to compare with a new one.
    pub fn spec(&self) -> RoutingRuleSpec {
        RoutingRuleSpec {
            name: self.name.clone(),
            position: self.position,
            channel_id: self.channel_id,
            conditions: self.conditions.clone(),
            actions: self.actions.clone(),
        }
    }
}

#[derive(FromRow)]
struct RuleRow {
    id: Uuid,
    name: String,
    position: i64,
    channel_id: Option<Uuid>,
    #[sqlx(json)]
    conditions: Value,
    #[sqlx(json)]
    actions: Value,
    created_at: i64,
    updated_at: i64,
}

impl From<RuleRow> for StoredRoutingRule {
    fn from(r: RuleRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            position: r.position,
            channel_id: r.channel_id,
            conditions: r.conditions,
            actions: r.actions,
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
        }
    }
}

impl Store {
    /// Stores a new rule. A `channel_id` that does not exist is [`StoreError::Invalid`].
    pub async fn create_routing_rule(
        &self,
        spec: &RoutingRuleSpec,
        now: Timestamp,
    ) -> Result<StoredRoutingRule> {
        let id = new_id();
        let sql = "INSERT INTO routing_rules (id, name, position, channel_id, conditions, actions, \
                   created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)";
        on_backend!(self, write c => sqlx::query(sql)
            .bind(id)
            .bind(&spec.name)
            .bind(spec.position)
            .bind(spec.channel_id)
            .bind(Json(&spec.conditions))
            .bind(Json(&spec.actions))
            .bind(now.millis())
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        self.routing_rule(id).await
    }

    /// Replaces every field of a rule.
    pub async fn update_routing_rule(
        &self,
        id: Uuid,
        spec: &RoutingRuleSpec,
        now: Timestamp,
    ) -> Result<StoredRoutingRule> {
        let sql = "UPDATE routing_rules SET name = $2, position = $3, channel_id = $4, \
                   conditions = $5, actions = $6, updated_at = $7 WHERE id = $1";
        let done = on_backend!(self, write c => sqlx::query(sql)
            .bind(id)
            .bind(&spec.name)
            .bind(spec.position)
            .bind(spec.channel_id)
            .bind(Json(&spec.conditions))
            .bind(Json(&spec.actions))
            .bind(now.millis())
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("routing rule"));
        }
        self.routing_rule(id).await
    }

    pub async fn routing_rule(&self, id: Uuid) -> Result<StoredRoutingRule> {
        let sql = format!("SELECT {COLS} FROM routing_rules WHERE id = $1");
        on_backend!(self, read c => sqlx::query_as::<_, RuleRow>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(id).fetch_optional(c).await)?
        .map(StoredRoutingRule::from)
        .ok_or(StoreError::not_found("routing rule"))
    }

    /// Rules in the order they are tried (position, then id). `None`: every rule. `Some(channel)`:
    /// the rules that apply to that channel, its own and those for every channel, which is what
    /// evaluation reads. Rules are configuration written by people, so there are never many.
    pub async fn routing_rules(&self, channel_id: Option<Uuid>) -> Result<Vec<StoredRoutingRule>> {
        let sql = format!(
            "SELECT {COLS} FROM routing_rules \
             WHERE ($1 IS NULL OR channel_id = $1 OR channel_id IS NULL) ORDER BY position, id"
        );
        let rows = on_backend!(self, read c => sqlx::query_as::<_, RuleRow>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(channel_id).fetch_all(c).await)?;
        Ok(rows.into_iter().map(StoredRoutingRule::from).collect())
    }

    pub async fn delete_routing_rule(&self, id: Uuid) -> Result<()> {
        crate::config::delete_by_id(self, "routing_rules", "routing rule", id).await
    }
}
