//! Web chat deployments and identity keysets (issue 14). The values arrive checked by
//! `parley_core::web`; here they are only kept. Configuration, so never many rows: lists are
//! whole.

use parley_core::web::{
    Branding, JwkAlg, Keyset, KeysetSpec, OriginPattern, Prechat, PublicJwk, WebDeployment,
    WebDeploymentSpec, WidgetSettings,
};
use parley_core::{Timestamp, new_id};
use serde::Serialize;
use serde_json::Value;
use sqlx::FromRow;
use sqlx::types::Json;
use uuid::Uuid;

use crate::{Result, Store, StoreError, on_backend};

const DEPLOYMENT_COLS: &str = "id, name, channel_id, origins, language, branding, settings, \
                               prechat, keyset_id, created_at, updated_at";
const KEYSET_COLS: &str = "id, name, issuer, jwks_url, created_at, updated_at";

#[derive(FromRow)]
struct DeploymentRow {
    id: Uuid,
    name: String,
    channel_id: Uuid,
    #[sqlx(json)]
    origins: Vec<OriginPattern>,
    language: String,
    #[sqlx(json)]
    branding: Branding,
    #[sqlx(json)]
    settings: WidgetSettings,
    #[sqlx(json)]
    prechat: Prechat,
    keyset_id: Option<Uuid>,
    created_at: i64,
    updated_at: i64,
}

impl From<DeploymentRow> for WebDeployment {
    fn from(r: DeploymentRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            channel_id: r.channel_id,
            origins: r.origins,
            language: r.language,
            branding: r.branding,
            settings: r.settings,
            prechat: r.prechat,
            keyset_id: r.keyset_id,
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
        }
    }
}

#[derive(FromRow)]
struct KeysetRow {
    id: Uuid,
    name: String,
    issuer: String,
    jwks_url: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl From<KeysetRow> for Keyset {
    fn from(r: KeysetRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            issuer: r.issuer,
            jwks_url: r.jwks_url,
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
        }
    }
}

/// An uploaded key of a keyset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredJwk {
    pub keyset_id: Uuid,
    pub kid: String,
    pub alg: JwkAlg,
    pub jwk: Value,
    pub created_at: Timestamp,
}

#[derive(FromRow)]
struct KeyRow {
    keyset_id: Uuid,
    kid: String,
    alg: String,
    #[sqlx(json)]
    jwk: Value,
    created_at: i64,
}

impl TryFrom<KeyRow> for StoredJwk {
    type Error = StoreError;
    fn try_from(r: KeyRow) -> Result<Self> {
        Ok(Self {
            keyset_id: r.keyset_id,
            kid: r.kid,
            alg: r
                .alg
                .parse()
                .map_err(|e: parley_core::model::UnknownVariant| {
                    StoreError::Corrupt(e.to_string())
                })?,
            jwk: r.jwk,
            created_at: Timestamp(r.created_at),
        })
    }
}

/// The last answer of a keyset's JWKS endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct JwksCache {
    pub jwks: Value,
    pub fetched_at: Timestamp,
}

#[derive(FromRow)]
struct CacheRow {
    #[sqlx(json(nullable))]
    jwks_cache: Option<Value>,
    jwks_fetched_at: Option<i64>,
}

impl Store {
    /// Stores a new deployment. A name in use is [`StoreError::Conflict`]; a channel or keyset
    /// that does not exist is [`StoreError::Invalid`].
    pub async fn create_web_deployment(
        &self,
        spec: &WebDeploymentSpec,
        now: Timestamp,
    ) -> Result<WebDeployment> {
        let id = new_id();
        let sql = "INSERT INTO web_deployments (id, name, channel_id, origins, language, branding, \
                   settings, prechat, keyset_id, created_at, updated_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)";
        on_backend!(self, write c => sqlx::query(sql)
            .bind(id)
            .bind(&spec.name)
            .bind(spec.channel_id)
            .bind(Json(&spec.origins))
            .bind(&spec.language)
            .bind(Json(&spec.branding))
            .bind(Json(&spec.settings))
            .bind(Json(&spec.prechat))
            .bind(spec.keyset_id)
            .bind(now.millis())
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        self.web_deployment(id).await
    }

    /// Replaces every field but the channel, which a deployment keeps for life (WEB-03): the
    /// caller refuses a change, and this write never makes one.
    pub async fn update_web_deployment(
        &self,
        id: Uuid,
        spec: &WebDeploymentSpec,
        now: Timestamp,
    ) -> Result<WebDeployment> {
        let sql = "UPDATE web_deployments SET name = $2, origins = $3, language = $4, \
                   branding = $5, settings = $6, prechat = $7, keyset_id = $8, updated_at = $9 \
                   WHERE id = $1";
        let done = on_backend!(self, write c => sqlx::query(sql)
            .bind(id)
            .bind(&spec.name)
            .bind(Json(&spec.origins))
            .bind(&spec.language)
            .bind(Json(&spec.branding))
            .bind(Json(&spec.settings))
            .bind(Json(&spec.prechat))
            .bind(spec.keyset_id)
            .bind(now.millis())
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("web deployment"));
        }
        self.web_deployment(id).await
    }

    pub async fn web_deployment(&self, id: Uuid) -> Result<WebDeployment> {
        let sql = format!("SELECT {DEPLOYMENT_COLS} FROM web_deployments WHERE id = $1");
        on_backend!(self, read c => sqlx::query_as::<_, DeploymentRow>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(id).fetch_optional(c).await)?
        .map(WebDeployment::from)
        .ok_or(StoreError::not_found("web deployment"))
    }

    /// By the name in the snippet and the widget's URLs (unique index).
    pub async fn web_deployment_by_name(&self, name: &str) -> Result<Option<WebDeployment>> {
        let sql = format!("SELECT {DEPLOYMENT_COLS} FROM web_deployments WHERE name = $1");
        Ok(on_backend!(self, read c => sqlx::query_as::<_, DeploymentRow>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(name).fetch_optional(c).await)?
        .map(WebDeployment::from))
    }

    /// Every deployment by name.
    pub async fn web_deployments(&self) -> Result<Vec<WebDeployment>> {
        let sql = format!("SELECT {DEPLOYMENT_COLS} FROM web_deployments ORDER BY name");
        let rows = on_backend!(self, read c => sqlx::query_as::<_, DeploymentRow>(sqlx::AssertSqlSafe(sql.as_str()))
            .fetch_all(c).await)?;
        Ok(rows.into_iter().map(WebDeployment::from).collect())
    }

    /// The deployments on one channel.
    pub async fn web_deployments_of_channel(&self, channel_id: Uuid) -> Result<Vec<WebDeployment>> {
        let sql = format!(
            "SELECT {DEPLOYMENT_COLS} FROM web_deployments WHERE channel_id = $1 ORDER BY name"
        );
        let rows = on_backend!(self, read c => sqlx::query_as::<_, DeploymentRow>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(channel_id).fetch_all(c).await)?;
        Ok(rows.into_iter().map(WebDeployment::from).collect())
    }

    pub async fn delete_web_deployment(&self, id: Uuid) -> Result<()> {
        crate::config::delete_by_id(self, "web_deployments", "web deployment", id).await
    }

    pub async fn create_keyset(&self, spec: &KeysetSpec, now: Timestamp) -> Result<Keyset> {
        let id = new_id();
        on_backend!(self, write c => sqlx::query(
            "INSERT INTO web_keysets (id, name, issuer, jwks_url, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5)")
            .bind(id).bind(&spec.name).bind(&spec.issuer).bind(&spec.jwks_url).bind(now.millis())
            .execute(c).await.map(|r| r.rows_affected()))?;
        self.keyset(id).await
    }

    /// Replaces name, issuer and JWKS URL; a changed URL drops the cached answer of the old one.
    pub async fn update_keyset(
        &self,
        id: Uuid,
        spec: &KeysetSpec,
        now: Timestamp,
    ) -> Result<Keyset> {
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE web_keysets SET name = $2, issuer = $3, \
             jwks_cache = CASE WHEN COALESCE(jwks_url, '') = COALESCE($4, '') THEN jwks_cache ELSE NULL END, \
             jwks_fetched_at = CASE WHEN COALESCE(jwks_url, '') = COALESCE($4, '') THEN jwks_fetched_at ELSE NULL END, \
             jwks_url = $4, updated_at = $5 WHERE id = $1")
            .bind(id).bind(&spec.name).bind(&spec.issuer).bind(&spec.jwks_url).bind(now.millis())
            .execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("keyset"));
        }
        self.keyset(id).await
    }

    pub async fn keyset(&self, id: Uuid) -> Result<Keyset> {
        let sql = format!("SELECT {KEYSET_COLS} FROM web_keysets WHERE id = $1");
        on_backend!(self, read c => sqlx::query_as::<_, KeysetRow>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(id).fetch_optional(c).await)?
        .map(Keyset::from)
        .ok_or(StoreError::not_found("keyset"))
    }

    pub async fn keyset_by_name(&self, name: &str) -> Result<Option<Keyset>> {
        let sql = format!("SELECT {KEYSET_COLS} FROM web_keysets WHERE name = $1");
        Ok(on_backend!(self, read c => sqlx::query_as::<_, KeysetRow>(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(name).fetch_optional(c).await)?
        .map(Keyset::from))
    }

    pub async fn keysets(&self) -> Result<Vec<Keyset>> {
        let sql = format!("SELECT {KEYSET_COLS} FROM web_keysets ORDER BY name");
        let rows = on_backend!(self, read c => sqlx::query_as::<_, KeysetRow>(sqlx::AssertSqlSafe(sql.as_str()))
            .fetch_all(c).await)?;
        Ok(rows.into_iter().map(Keyset::from).collect())
    }

    /// Deletes a keyset and its keys. One that a deployment uses is [`StoreError::Invalid`].
    pub async fn delete_keyset(&self, id: Uuid) -> Result<()> {
        crate::config::delete_by_id(self, "web_keysets", "keyset", id).await
    }

    /// Adds one uploaded key. A kid already in the keyset is [`StoreError::Conflict`].
    pub async fn create_keyset_key(
        &self,
        keyset_id: Uuid,
        key: &PublicJwk,
        now: Timestamp,
    ) -> Result<StoredJwk> {
        on_backend!(self, write c => sqlx::query(
            "INSERT INTO web_keyset_keys (keyset_id, kid, alg, jwk, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(keyset_id).bind(&key.kid).bind(key.alg.as_str()).bind(Json(&key.jwk)).bind(now.millis())
            .execute(c).await.map(|r| r.rows_affected()))?;
        Ok(StoredJwk {
            keyset_id,
            kid: key.kid.clone(),
            alg: key.alg,
            jwk: key.jwk.clone(),
            created_at: now,
        })
    }

    /// A keyset's uploaded keys, by kid.
    pub async fn keyset_keys(&self, keyset_id: Uuid) -> Result<Vec<StoredJwk>> {
        let rows = on_backend!(self, read c => sqlx::query_as::<_, KeyRow>(
            "SELECT keyset_id, kid, alg, jwk, created_at FROM web_keyset_keys WHERE keyset_id = $1 ORDER BY kid")
            .bind(keyset_id).fetch_all(c).await)?;
        rows.into_iter().map(StoredJwk::try_from).collect()
    }

    pub async fn delete_keyset_key(&self, keyset_id: Uuid, kid: &str) -> Result<()> {
        let done = on_backend!(self, write c => sqlx::query(
            "DELETE FROM web_keyset_keys WHERE keyset_id = $1 AND kid = $2")
            .bind(keyset_id).bind(kid).execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("key"));
        }
        Ok(())
    }

    /// The last JWKS fetched for a keyset, if any.
    pub async fn keyset_jwks_cache(&self, keyset_id: Uuid) -> Result<Option<JwksCache>> {
        let row = on_backend!(self, read c => sqlx::query_as::<_, CacheRow>(
            "SELECT jwks_cache, jwks_fetched_at FROM web_keysets WHERE id = $1")
            .bind(keyset_id).fetch_optional(c).await)?
        .ok_or(StoreError::not_found("keyset"))?;
        Ok(match (row.jwks_cache, row.jwks_fetched_at) {
            (Some(jwks), Some(at)) => Some(JwksCache {
                jwks,
                fetched_at: Timestamp(at),
            }),
            _ => None,
        })
    }

    /// Keeps a JWKS answer, unless the keyset's URL changed since it was fetched (`url`).
    pub async fn set_keyset_jwks_cache(
        &self,
        keyset_id: Uuid,
        url: &str,
        jwks: &Value,
        fetched_at: Timestamp,
    ) -> Result<()> {
        on_backend!(self, write c => sqlx::query(
            "UPDATE web_keysets SET jwks_cache = $3, jwks_fetched_at = $4 WHERE id = $1 AND jwks_url = $2")
            .bind(keyset_id).bind(url).bind(Json(jwks)).bind(fetched_at.millis())
            .execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }
}
