//! Web chat deployments and keysets (WEB-03..19). The rules of the values are
//! `parley_core::web`'s; here the references: a deployment's channel exists, is a web channel
//! and never changes (WEB-03), its keyset exists; a keyset's JWKS URL answers a JWKS.

use parley_core::Timestamp;
use parley_core::model::ChannelKind;
use parley_core::web::{
    self, Branding, Keyset, KeysetSpec, Prechat, WebConfigError, WebDeployment, WebDeploymentSpec,
    WidgetSettings, check_jwk, describe,
};
use parley_store::{Store, StoredJwk};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ApplyReport, ServiceError, referenced};

/// A deployment as the API and `parley apply` give it.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebDeploymentInput {
    /// Lowercase slug used in the snippet and the widget's URLs (`shop`).
    pub name: String,
    /// A web channel. Cannot change after creation (WEB-03).
    pub channel_id: Uuid,
    /// Pages that may embed the widget: `https://shop.example.com`, `https://*.example.com`
    /// (every subdomain, not the bare domain), `http://localhost:8080`. No path.
    #[serde(default)]
    pub origins: Vec<String>,
    /// `en` or `fr`.
    #[serde(default = "default_language")]
    pub language: String,
    #[serde(default)]
    #[schema(value_type = BrandingDoc)]
    pub branding: Branding,
    #[serde(default)]
    #[schema(value_type = WidgetSettingsDoc)]
    pub settings: WidgetSettings,
    #[serde(default)]
    #[schema(value_type = PrechatDoc)]
    pub prechat: Prechat,
    /// Set: visitors must present an identity token signed by a key of this keyset (WEB-16).
    #[serde(default)]
    pub keyset_id: Option<Uuid>,
}

fn default_language() -> String {
    "en".to_owned()
}

/// The window's look (`parley_core::web::Branding`, same wire form).
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct BrandingDoc {
    /// 1-60 characters.
    pub title: String,
    /// `#rrggbb`.
    pub color: String,
    /// An http(s) image URL; 40 x 40 px is shown.
    pub avatar_url: Option<String>,
    /// Shown when the window opens; at most 500 characters.
    pub greeting: Option<String>,
}

/// The window's options (WEB-04; `parley_core::web::WidgetSettings`).
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct WidgetSettingsDoc {
    /// Show delivery and read receipts (default true).
    pub receipts: Option<bool>,
    /// Show typing indicators (default true).
    pub typing: Option<bool>,
    /// Show the emoji picker (default true).
    pub emoji: Option<bool>,
    /// Enter inserts a new line instead of sending (default false).
    pub enter_inserts_newline: Option<bool>,
}

/// The pre-chat form (WEB-11; `parley_core::web::Prechat`).
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct PrechatDoc {
    pub enabled: Option<bool>,
    pub fields: Option<Vec<PrechatFieldDoc>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct PrechatFieldDoc {
    /// `first_name`, `last_name`, `email`, `subject` or another `[a-z][a-z0-9_]*`; unique
    /// across hidden and visible fields.
    pub name: String,
    /// Required for a visible field.
    pub label: Option<String>,
    /// `text`, `email`, `phone`, `number` or `checkbox`; hidden fields are `text`.
    #[schema(schema_with = super::schema::prechat_kind)]
    pub kind: String,
    /// Never for a hidden field.
    pub required: Option<bool>,
    /// Set by the website (`Parley.setHiddenFields`), not shown.
    pub hidden: Option<bool>,
}

/// A keyset as the API and `parley apply` give it (WEB-17).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeysetInput {
    pub name: String,
    /// Must equal the tokens' `iss`.
    pub issuer: String,
    /// A JWKS endpoint serving the keys (instead of, or besides, uploaded keys).
    #[serde(default)]
    pub jwks_url: Option<String>,
}

fn config_errors(errors: &[WebConfigError]) -> ServiceError {
    ServiceError::Invalid(describe(errors))
}

/// The input's rules, then its references. `existing`: the deployment being replaced.
async fn checked(
    store: &Store,
    input: &WebDeploymentInput,
    existing: Option<&WebDeployment>,
) -> Result<WebDeploymentSpec, ServiceError> {
    let mut errors = Vec::new();
    let origins = match web::parse_origins(&input.origins) {
        Ok(o) => o,
        Err(mut e) => {
            errors.append(&mut e);
            Vec::new()
        }
    };
    let spec = WebDeploymentSpec {
        name: input.name.clone(),
        channel_id: input.channel_id,
        origins,
        language: input.language.clone(),
        branding: input.branding.clone(),
        settings: input.settings,
        prechat: input.prechat.clone(),
        keyset_id: input.keyset_id,
    };
    let spec = match spec.validate() {
        Ok(s) => Some(s),
        Err(mut e) => {
            errors.append(&mut e);
            None
        }
    };
    if let Some(d) = existing
        && d.channel_id != input.channel_id
    {
        errors.push(WebConfigError::new(
            "channel_id",
            "a deployment's channel cannot change; create a new deployment for another channel",
        ));
    }
    let (Some(spec), true) = (spec, errors.is_empty()) else {
        return Err(config_errors(&errors));
    };
    if existing.is_none() {
        let channel = referenced(
            store.channel(spec.channel_id).await,
            "channel_id: the channel",
        )?;
        if channel.kind != ChannelKind::Web {
            return Err(ServiceError::Invalid(format!(
                "channel_id: '{}' is a {} channel; a deployment needs a web channel",
                channel.name, channel.kind
            )));
        }
    }
    if let Some(k) = spec.keyset_id {
        referenced(store.keyset(k).await, "keyset_id: the keyset")?;
    }
    Ok(spec)
}

pub async fn create_deployment(
    store: &Store,
    input: &WebDeploymentInput,
    now: Timestamp,
) -> Result<WebDeployment, ServiceError> {
    let spec = checked(store, input, None).await?;
    Ok(store.create_web_deployment(&spec, now).await?)
}

/// Replaces a deployment. A different `channel_id` is refused (WEB-03).
pub async fn update_deployment(
    store: &Store,
    id: Uuid,
    input: &WebDeploymentInput,
    now: Timestamp,
) -> Result<WebDeployment, ServiceError> {
    let existing = store.web_deployment(id).await?;
    let spec = checked(store, input, Some(&existing)).await?;
    Ok(store.update_web_deployment(id, &spec, now).await?)
}

pub async fn delete_deployment(store: &Store, id: Uuid) -> Result<(), ServiceError> {
    Ok(store.delete_web_deployment(id).await?)
}

fn keyset_spec(input: &KeysetInput) -> Result<KeysetSpec, ServiceError> {
    KeysetSpec {
        name: input.name.clone(),
        issuer: input.issuer.clone(),
        jwks_url: input.jwks_url.clone(),
    }
    .validate()
    .map_err(|e| config_errors(&e))
}

pub async fn create_keyset(
    store: &Store,
    input: &KeysetInput,
    now: Timestamp,
) -> Result<Keyset, ServiceError> {
    Ok(store.create_keyset(&keyset_spec(input)?, now).await?)
}

pub async fn update_keyset(
    store: &Store,
    id: Uuid,
    input: &KeysetInput,
    now: Timestamp,
) -> Result<Keyset, ServiceError> {
    Ok(store.update_keyset(id, &keyset_spec(input)?, now).await?)
}

/// Deletes a keyset and its keys; one a deployment uses is refused (422 naming them).
pub async fn delete_keyset(store: &Store, id: Uuid) -> Result<(), ServiceError> {
    let users: Vec<String> = store
        .web_deployments()
        .await?
        .into_iter()
        .filter(|d| d.keyset_id == Some(id))
        .map(|d| d.name)
        .collect();
    if !users.is_empty() {
        store.keyset(id).await?;
        return Err(ServiceError::Invalid(format!(
            "the keyset is used by the deployments {}; remove it from them first",
            users.join(", ")
        )));
    }
    Ok(store.delete_keyset(id).await?)
}

/// Adds one uploaded key (WEB-17: one JWK object per upload; WEB-18's rules).
pub async fn upload_key(
    store: &Store,
    keyset_id: Uuid,
    jwk: &Value,
    now: Timestamp,
) -> Result<StoredJwk, ServiceError> {
    store.keyset(keyset_id).await?;
    let key = check_jwk(jwk).map_err(|e| ServiceError::Invalid(e.to_string()))?;
    Ok(store.create_keyset_key(keyset_id, &key, now).await?)
}

pub async fn remove_key(store: &Store, keyset_id: Uuid, kid: &str) -> Result<(), ServiceError> {
    store.keyset(keyset_id).await?;
    Ok(store.delete_keyset_key(keyset_id, kid).await?)
}

/// `parley apply`: creates the deployment named in `input`, or replaces it when it differs.
pub async fn put_deployment_by_name(
    store: &Store,
    input: &WebDeploymentInput,
    now: Timestamp,
    report: &mut ApplyReport,
) -> Result<Uuid, ServiceError> {
    let name = input.name.trim();
    match store.web_deployment_by_name(name).await? {
        None => {
            let d = create_deployment(store, input, now).await?;
            report.created.push(format!("web deployment {}", d.name));
            Ok(d.id)
        }
        Some(existing) => {
            let spec = checked(store, input, Some(&existing)).await?;
            if spec == existing.spec() {
                report.unchanged += 1;
            } else {
                store.update_web_deployment(existing.id, &spec, now).await?;
                report
                    .updated
                    .push(format!("web deployment {}", existing.name));
            }
            Ok(existing.id)
        }
    }
}

/// `parley apply`: the keyset named in `input` with exactly the uploaded `keys` of the file
/// (keys it does not list are removed only with `prune`).
pub async fn put_keyset_by_name(
    store: &Store,
    input: &KeysetInput,
    keys: &[Value],
    prune: bool,
    now: Timestamp,
    report: &mut ApplyReport,
) -> Result<Uuid, ServiceError> {
    let spec = keyset_spec(input)?;
    let checked_keys = keys
        .iter()
        .map(|k| {
            check_jwk(k).map_err(|e| ServiceError::Invalid(format!("keyset '{}': {e}", spec.name)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let keyset = match store.keyset_by_name(&spec.name).await? {
        None => {
            report.created.push(format!("keyset {}", spec.name));
            store.create_keyset(&spec, now).await?
        }
        Some(existing) => {
            let same = existing.issuer == spec.issuer && existing.jwks_url == spec.jwks_url;
            if same {
                report.unchanged += 1;
                existing
            } else {
                report.updated.push(format!("keyset {}", spec.name));
                store.update_keyset(existing.id, &spec, now).await?
            }
        }
    };
    let stored = store.keyset_keys(keyset.id).await?;
    for key in &checked_keys {
        match stored.iter().find(|s| s.kid == key.kid) {
            Some(s) if s.jwk == key.jwk && s.alg == key.alg => {}
            Some(_) => {
                store.delete_keyset_key(keyset.id, &key.kid).await?;
                store.create_keyset_key(keyset.id, key, now).await?;
                report
                    .updated
                    .push(format!("key {}/{}", keyset.name, key.kid));
            }
            None => {
                store.create_keyset_key(keyset.id, key, now).await?;
                report
                    .created
                    .push(format!("key {}/{}", keyset.name, key.kid));
            }
        }
    }
    if prune {
        for s in stored
            .iter()
            .filter(|s| !checked_keys.iter().any(|k| k.kid == s.kid))
        {
            store.delete_keyset_key(keyset.id, &s.kid).await?;
            report
                .deleted
                .push(format!("key {}/{}", keyset.name, s.kid));
        }
    }
    Ok(keyset.id)
}
