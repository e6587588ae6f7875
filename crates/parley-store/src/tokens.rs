//! API tokens. Only a hash of each token is stored; the token itself is shown once, at creation.

use parley_core::model::TokenRole;
use parley_core::{Timestamp, new_id};
use uuid::Uuid;

use crate::records::ApiToken;
use crate::{Result, Store, StoreError, on_backend};

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
        let id = new_id();
        on_backend!(self, write c => sqlx::query(
            "INSERT INTO api_tokens (id, name, role, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id).bind(name).bind(role.as_str()).bind(token_hash).bind(now.millis())
            .execute(c).await.map(|r| r.rows_affected()))?;
        on_backend!(self, read c => sqlx::query_as::<_, ApiToken>(
            "SELECT id, name, role, created_at, last_used_at, revoked_at FROM api_tokens WHERE id = $1")
            .bind(id).fetch_optional(c).await)?
        .ok_or(StoreError::not_found("api token"))
    }

    /// The live token with this hash, if any.
    pub async fn api_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>> {
        Ok(on_backend!(self, read c => sqlx::query_as::<_, ApiToken>(
            "SELECT id, name, role, created_at, last_used_at, revoked_at FROM api_tokens \
             WHERE token_hash = $1 AND revoked_at IS NULL")
            .bind(token_hash).fetch_optional(c).await)?)
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
