//! Web chat in a workspace file: `keysets` (with their uploaded keys) and `web_deployments`,
//! identified by name; a deployment names its channel and keyset by name.

use std::collections::HashSet;

use parley_core::Timestamp;
use parley_core::web::{Branding, Prechat, WidgetSettings};
use parley_store::Store;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::{ApplyReport, ProvisionError, WorkspaceFile};
use crate::service::specs::invalid;
use crate::service::web::{self as svc, KeysetInput, WebDeploymentInput};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysetFile {
    pub name: String,
    /// The tokens' `iss`.
    pub issuer: String,
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// Uploaded public keys, one JWK object each.
    #[serde(default)]
    pub keys: Vec<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebDeploymentFile {
    pub name: String,
    /// The web channel's name.
    pub channel: String,
    #[serde(default)]
    pub origins: Vec<String>,
    #[serde(default = "en")]
    pub language: String,
    #[serde(default)]
    pub branding: Branding,
    #[serde(default)]
    pub settings: WidgetSettings,
    #[serde(default)]
    pub prechat: Prechat,
    /// The keyset's name: visitors must be verified.
    #[serde(default)]
    pub keyset: Option<String>,
}

fn en() -> String {
    "en".to_owned()
}

fn input_of(
    d: &WebDeploymentFile,
    channel_id: Uuid,
    keyset_id: Option<Uuid>,
) -> WebDeploymentInput {
    WebDeploymentInput {
        name: d.name.clone(),
        channel_id,
        origins: d.origins.clone(),
        language: d.language.clone(),
        branding: d.branding.clone(),
        settings: d.settings,
        prechat: d.prechat.clone(),
        keyset_id,
    }
}

/// The file's own rules, before anything is written: unique names, keys and values that
/// `parley_core::web` allows.
pub fn validate(file: &WorkspaceFile) -> Result<(), ProvisionError> {
    let mut seen = HashSet::new();
    for k in &file.keysets {
        if !seen.insert(k.name.trim().to_owned()) {
            return Err(invalid(format!(
                "keyset '{}' appears twice in the file",
                k.name
            )));
        }
        for key in &k.keys {
            parley_core::web::check_jwk(key)
                .map_err(|e| invalid(format!("keyset '{}': {e}", k.name)))?;
        }
    }
    let mut seen = HashSet::new();
    for d in &file.web_deployments {
        if !seen.insert(d.name.trim().to_owned()) {
            return Err(invalid(format!(
                "web deployment '{}' appears twice in the file",
                d.name
            )));
        }
        let origins = parley_core::web::parse_origins(&d.origins).map_err(|e| {
            invalid(format!(
                "web deployment '{}': {}",
                d.name,
                parley_core::web::describe(&e)
            ))
        })?;
        parley_core::web::WebDeploymentSpec {
            name: d.name.clone(),
            channel_id: Uuid::nil(),
            origins,
            language: d.language.clone(),
            branding: d.branding.clone(),
            settings: d.settings,
            prechat: d.prechat.clone(),
            keyset_id: None,
        }
        .validate()
        .map_err(|e| {
            invalid(format!(
                "web deployment '{}': {}",
                d.name,
                parley_core::web::describe(&e)
            ))
        })?;
    }
    Ok(())
}

/// Writes the keysets, then the deployments (after the channels); with `prune`, deletes the
/// deployments and then the keysets the file no longer has.
pub async fn apply(
    store: &Store,
    file: &WorkspaceFile,
    prune: bool,
    now: Timestamp,
    report: &mut ApplyReport,
) -> Result<(), ProvisionError> {
    let mut kept_keysets = HashSet::new();
    for k in &file.keysets {
        let input = KeysetInput {
            name: k.name.clone(),
            issuer: k.issuer.clone(),
            jwks_url: k.jwks_url.clone(),
        };
        kept_keysets
            .insert(svc::put_keyset_by_name(store, &input, &k.keys, prune, now, report).await?);
    }
    let mut kept = HashSet::new();
    for d in &file.web_deployments {
        let channel = store
            .channel_by_name(d.channel.trim())
            .await?
            .ok_or_else(|| {
                invalid(format!(
                    "web deployment '{}': channel '{}' does not exist",
                    d.name, d.channel
                ))
            })?;
        let keyset_id = match &d.keyset {
            Some(name) => Some(
                store
                    .keyset_by_name(name.trim())
                    .await?
                    .ok_or_else(|| {
                        invalid(format!(
                            "web deployment '{}': keyset '{name}' does not exist",
                            d.name
                        ))
                    })?
                    .id,
            ),
            None => None,
        };
        let input = input_of(d, channel.id, keyset_id);
        let id = svc::put_deployment_by_name(store, &input, now, report)
            .await
            .map_err(|e| match e {
                ProvisionError::Invalid(m) => invalid(format!("web deployment '{}': {m}", d.name)),
                other => other,
            })?;
        kept.insert(id);
    }
    if prune {
        for d in store.web_deployments().await? {
            if !kept.contains(&d.id) {
                report.deleted.push(format!("web deployment {}", d.name));
                svc::delete_deployment(store, d.id).await?;
            }
        }
        for k in store.keysets().await? {
            if !kept_keysets.contains(&k.id) {
                report.deleted.push(format!("keyset {}", k.name));
                svc::delete_keyset(store, k.id).await?;
            }
        }
    }
    Ok(())
}
