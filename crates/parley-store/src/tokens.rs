//! API tokens. Only a hash of each token is stored; the token itself is shown once, at creation.

use parley_core::model::TokenRole;
use parley_core::{Timestamp, new_id};
use uuid::Uuid;

use crate::records::ApiToken;
use crate::{Result, Store, StoreError, on_backend};

/// A token query: every column but the hash, then `$rest`.
macro_rules! select_tokens {
    ($rest:literal) => {
        concat!(
            "SELECT id, name, role, created_at, last_used_at, revoked_at, expires_at, agent_id, \
             permission_set_id \
             FROM api_tokens ",
            $rest
        )
    };
}

/// How often a token's `last_used_at` is written at most: a busy token must not turn every API
/// request into a write.
pub const LAST_USED_GRANULARITY_MS: i64 = 60_000;

/// A token to record.
#[derive(Debug, Clone)]
pub struct NewApiToken<'a> {
    pub name: &'a str,
    pub role: TokenRole,
    pub token_hash: &'a str,
    pub expires_at: Option<Timestamp>,
    pub agent_id: Option<Uuid>,
}

impl Store {
    /// Records a token by the hash of its secret (hashing is the caller's job, so the store never
    /// sees a secret).
    pub async fn create_api_token(
        &self,
        name: &str,
        role: TokenRole,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<ApiToken> {
        self.create_scoped_api_token(
            &NewApiToken {
                name,
                role,
                token_hash,
                expires_at: None,
                agent_id: None,
            },
            now,
        )
        .await
    }

    /// Records a token with its expiry and, for an agent-role token, its agent.
    pub async fn create_scoped_api_token(
        &self,
        new: &NewApiToken<'_>,
        now: Timestamp,
    ) -> Result<ApiToken> {
        let id = new_id();
        on_backend!(self, write c => sqlx::query(
            "INSERT INTO api_tokens (id, name, role, token_hash, created_at, expires_at, agent_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(id).bind(new.name).bind(new.role.as_str()).bind(new.token_hash).bind(now.millis())
            .bind(new.expires_at.map(Timestamp::millis)).bind(new.agent_id)
            .execute(c).await.map(|r| r.rows_affected()))?;
        self.api_token_from_writer(id).await
    }

    async fn api_token_from_writer(&self, id: Uuid) -> Result<ApiToken> {
        on_backend!(self, write c => sqlx::query_as::<_, ApiToken>(select_tokens!("WHERE id = $1"))
            .bind(id).fetch_optional(c).await)?
        .ok_or(StoreError::not_found("api token"))
    }

    pub async fn api_token(&self, id: Uuid) -> Result<ApiToken> {
        on_backend!(self, read c => sqlx::query_as::<_, ApiToken>(select_tokens!("WHERE id = $1"))
            .bind(id).fetch_optional(c).await)?
        .ok_or(StoreError::not_found("api token"))
    }

    /// The unrevoked token with this hash, if any (its expiry is the caller's to check, against
    /// its clock).
    pub async fn api_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>> {
        Ok(on_backend!(self, read c => sqlx::query_as::<_, ApiToken>(
            select_tokens!("WHERE token_hash = $1 AND revoked_at IS NULL"))
            .bind(token_hash).fetch_optional(c).await)?)
    }

    /// Every token, newest first, revoked ones included (they show when they were revoked).
    pub async fn list_api_tokens(&self) -> Result<Vec<ApiToken>> {
        Ok(on_backend!(self, read c => sqlx::query_as::<_, ApiToken>(
            select_tokens!("ORDER BY created_at DESC, id DESC LIMIT 1000"))
            .fetch_all(c).await)?)
    }

    /// Stamps the token's last use unless it was stamped less than a minute ago; the condition
    /// is in the statement so two nodes racing still write at most once. Returns whether it
    /// wrote.
    pub async fn touch_api_token(&self, id: Uuid, now: Timestamp) -> Result<bool> {
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1 \
             AND (last_used_at IS NULL OR last_used_at <= $3)")
            .bind(id).bind(now.millis()).bind(now.millis() - LAST_USED_GRANULARITY_MS)
            .execute(c).await.map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    pub async fn revoke_api_token(&self, id: Uuid, now: Timestamp) -> Result<()> {
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id).bind(now.millis()).execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("api token"));
        }
        Ok(())
    }
}

impl Store {
    /// Signs an agent out of every console but the one with `keep` (a cookie hash), e.g. after a
    /// password change. Returns how many were ended.
    pub async fn delete_console_logins_of(
        &self,
        agent_id: Uuid,
        keep: Option<&str>,
    ) -> Result<u64> {
        Ok(on_backend!(self, write c => sqlx::query(
            "DELETE FROM console_sessions WHERE agent_id = $1 AND ($2 IS NULL OR token_hash <> $2)")
            .bind(agent_id).bind(keep).execute(c).await.map(|r| r.rows_affected()))?)
    }
}
