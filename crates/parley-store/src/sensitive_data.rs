//! Sensitive-data rules (PRIV-03). A rule's fields are `parley_core::privacy::rules::RuleFields`,
//! checked by the service before anything reaches here; this file only keeps them.

use parley_core::privacy::rules::{RuleAuthor, RuleFields};
use parley_core::{Timestamp, new_id};
use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

use crate::{Result, Store, StoreError, on_backend};

const COLS: &str = "id, name, channel_id, detector, pattern, national_id_format, action, \
                    replacement, authors, priority, enabled, created_at, updated_at";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredSensitiveDataRule {
    pub id: Uuid,
    #[serde(flatten)]
    pub fields: RuleFields,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(FromRow)]
struct Row {
    id: Uuid,
    name: String,
    channel_id: Option<Uuid>,
    detector: String,
    pattern: Option<String>,
    national_id_format: Option<String>,
    action: String,
    replacement: Option<String>,
    authors: String,
    priority: i32,
    enabled: bool,
    created_at: i64,
    updated_at: i64,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("sensitive data rule {what}: {e}"))
}

impl TryFrom<Row> for StoredSensitiveDataRule {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self> {
        let authors = r
            .authors
            .split(',')
            .filter(|a| !a.is_empty())
            .map(|a| a.parse::<RuleAuthor>().map_err(|e| corrupt("author", e)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            id: r.id,
            fields: RuleFields {
                name: r.name,
                channel_id: r.channel_id,
                detector: r.detector.parse().map_err(|e| corrupt("detector", e))?,
                pattern: r.pattern,
                national_id_format: r
                    .national_id_format
                    .map(|f| f.parse())
                    .transpose()
                    .map_err(|e| corrupt("format", e))?,
                action: r.action.parse().map_err(|e| corrupt("action", e))?,
                replacement: r.replacement,
                authors,
                priority: r.priority,
                enabled: r.enabled,
            },
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
        })
    }
}

fn authors_column(f: &RuleFields) -> String {
    f.authors
        .iter()
        .map(|a| a.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

impl Store {
    /// Stores a new rule. A `channel_id` that does not exist is [`StoreError::Invalid`].
    pub async fn create_sensitive_data_rule(
        &self,
        f: &RuleFields,
        now: Timestamp,
    ) -> Result<StoredSensitiveDataRule> {
        let id = new_id();
        let sql = "INSERT INTO sensitive_data_rules (id, name, channel_id, detector, pattern, \
                   national_id_format, action, replacement, authors, priority, enabled, \
                   created_at, updated_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)";
        on_backend!(self, write c => sqlx::query(sql)
            .bind(id)
            .bind(f.name.trim())
            .bind(f.channel_id)
            .bind(f.detector.as_str())
            .bind(&f.pattern)
            .bind(f.national_id_format.map(|x| x.as_str()))
            .bind(f.action.as_str())
            .bind(&f.replacement)
            .bind(authors_column(f))
            .bind(f.priority)
            .bind(f.enabled)
            .bind(now.millis())
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        self.sensitive_data_rule(id).await
    }

    /// Replaces every field of a rule.
    pub async fn update_sensitive_data_rule(
        &self,
        id: Uuid,
        f: &RuleFields,
        now: Timestamp,
    ) -> Result<StoredSensitiveDataRule> {
        let sql = "UPDATE sensitive_data_rules SET name = $2, channel_id = $3, detector = $4, \
                   pattern = $5, national_id_format = $6, action = $7, replacement = $8, \
                   authors = $9, priority = $10, enabled = $11, updated_at = $12 WHERE id = $1";
        let done = on_backend!(self, write c => sqlx::query(sql)
            .bind(id)
            .bind(f.name.trim())
            .bind(f.channel_id)
            .bind(f.detector.as_str())
            .bind(&f.pattern)
            .bind(f.national_id_format.map(|x| x.as_str()))
            .bind(f.action.as_str())
            .bind(&f.replacement)
            .bind(authors_column(f))
            .bind(f.priority)
            .bind(f.enabled)
            .bind(now.millis())
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("sensitive data rule"));
        }
        self.sensitive_data_rule(id).await
    }

    pub async fn sensitive_data_rule(&self, id: Uuid) -> Result<StoredSensitiveDataRule> {
        let sql = format!("SELECT {COLS} FROM sensitive_data_rules WHERE id = $1");
        on_backend!(self, read c => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(id).fetch_optional(c).await)?
        .ok_or(StoreError::not_found("sensitive data rule"))?
        .try_into()
    }

    /// Every rule, by priority then id: what the console lists and what each node caches. Rules
    /// are configuration written by people, so there are never many.
    pub async fn sensitive_data_rules(&self) -> Result<Vec<StoredSensitiveDataRule>> {
        let sql = format!("SELECT {COLS} FROM sensitive_data_rules ORDER BY priority, id");
        let rows = on_backend!(self, read c => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
            .fetch_all(c).await)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    pub async fn delete_sensitive_data_rule(&self, id: Uuid) -> Result<()> {
        crate::config::delete_by_id(self, "sensitive_data_rules", "sensitive data rule", id).await
    }
}
