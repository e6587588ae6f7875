//! The providers of this build and, for each channel kind they carry, the fields of a channel's
//! `settings` and `secrets` (the admin area draws its channel form from this rather than asking
//! for JSON). The descriptions are the adapters' own (`parley_channels::fields`), held to their
//! typed settings by a unit test.

use axum::Json;
use axum::extract::State;
use parley_engine::service::channels::Writes;
use uuid::Uuid;

use crate::api::channels::ChannelView;
use crate::error::{ApiError, ApiJson, ApiPath, ErrorBody};
use parley_channels::fields::{FieldKind, FieldSpec};
use parley_core::model::ChannelKind;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::schema;

pub fn provider_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_channel_providers))
        .routes(routes!(merge_channel_secrets))
}

/// Replaces some of a channel's secrets and keeps the others: `{"auth_token": "new"}` replaces
/// one, `{"verify_token": null}` removes one. Checked against the provider's typed secrets (422
/// naming `secrets.<name>`). The answer lists the names that are set, never their values.
#[utoipa::path(patch, path = "/api/v1/channels/{id}/secrets",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "channels",
    params(("id" = Uuid, Path)), request_body(content = Object, description = "secret name to its new value, or null to remove it"),
    responses((status = 200, body = ChannelView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn merge_channel_secrets(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(changes): ApiJson<serde_json::Map<String, serde_json::Value>>,
) -> Result<Json<ChannelView>, ApiError> {
    let channel = parley_engine::service::channels::merge_secrets(
        Writes::of_engine(&state.engine),
        id,
        &changes,
        state.clock.now(),
    )
    .await?;
    Ok(Json(channel.into()))
}

/// One field of a provider's configuration.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderField {
    /// The key in the object; dotted for a nested object (`simulate.error_rate`).
    pub name: String,
    /// `text`, `url`, `number`, `bool`, `enum`, `secret` (write-only) or `list` (of strings).
    pub kind: String,
    /// Needed for the channel to send.
    pub required: bool,
    /// What applies when left empty.
    pub default: Option<String>,
    /// Catalogue key of the help text (area `channel_settings`).
    pub help: String,
    /// The values of an `enum`.
    pub choices: Vec<String>,
    /// What a value looks like.
    pub example: Option<String>,
}

/// A provider carrying one channel kind, with its fields.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderForm {
    pub provider: String,
    #[schema(schema_with = schema::channel_kind)]
    pub kind: ChannelKind,
    pub settings: Vec<ProviderField>,
    pub secrets: Vec<ProviderField>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderFormList {
    pub items: Vec<ProviderForm>,
}

fn field(f: &FieldSpec) -> ProviderField {
    let kind = match f.kind {
        FieldKind::Text => "text",
        FieldKind::Url => "url",
        FieldKind::Number => "number",
        FieldKind::Bool => "bool",
        FieldKind::Enum => "enum",
        FieldKind::Secret => "secret",
        FieldKind::List => "list",
    };
    ProviderField {
        name: f.name.to_owned(),
        kind: kind.to_owned(),
        required: f.required,
        default: f.default.map(str::to_owned),
        help: f.help.to_owned(),
        choices: f.choices.iter().map(|c| (*c).to_owned()).collect(),
        example: f.example.map(str::to_owned),
    }
}

#[utoipa::path(get, path = "/api/v1/channel-providers",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "channels",
    responses((status = 200, body = ProviderFormList)))]
pub async fn list_channel_providers() -> Json<ProviderFormList> {
    let providers = parley_channels::providers();
    let mut items = Vec::new();
    for name in providers.names() {
        let Ok(provider) = parley_core::model::Provider::parse(&name) else {
            continue;
        };
        let Some(adapter) = providers.get(&provider) else {
            continue;
        };
        for kind in adapter.capabilities().kinds {
            let form = adapter.settings_form(*kind);
            items.push(ProviderForm {
                provider: name.clone(),
                kind: *kind,
                settings: form.settings.iter().map(field).collect(),
                secrets: form.secrets.iter().map(field).collect(),
            });
        }
    }
    Json(ProviderFormList { items })
}
