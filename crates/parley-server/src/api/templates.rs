//! Message templates of a channel (TM-02, TM-12): WhatsApp templates as Meta approved them, and
//! reusable texts on other channels. Parley has no Meta Business Manager sync, so an admin sets a
//! template's `status` (`draft`, `pending`, `approved`, `rejected`) here after Meta's review;
//! only approved templates are sent.
//!
//! Reading is open to every role that reads conversations (agents choose templates in the
//! console); creating, replacing and deleting need the configure role. A template that stops
//! being approved, or is deleted, fails the messages still queued with it (error 3001), so none
//! goes out with a template Meta would refuse.

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::model::{ChannelKind, TemplateCategory, TemplateStatus};
use parley_core::template::placeholder_count;
use parley_core::{ErrorCode, Timestamp};
use parley_engine::{DomainEvent, Engine};
use parley_store::{Channel, Template, TemplateSpec};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};
use uuid::Uuid;

use super::time;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ErrorBody};

/// The longest template text Meta approves for a body, in characters.
pub const MAX_WHATSAPP_BODY: usize = 1024;

fn string_enum(names: &'static [&'static str]) -> RefOr<Schema> {
    RefOr::T(Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(names.iter().copied()))
            .build(),
    ))
}

fn status_schema() -> RefOr<Schema> {
    string_enum(TemplateStatus::NAMES)
}

fn category_schema() -> RefOr<Schema> {
    string_enum(TemplateCategory::NAMES)
}

/// A template as created or replaced.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateInput {
    /// Lowercase letters, digits and `_` (`order_update`), as Meta names templates.
    pub name: String,
    /// `en`, `en_US`, `pt_BR`.
    pub language: String,
    #[serde(default = "utility")]
    #[schema(schema_with = category_schema)]
    pub category: TemplateCategory,
    /// Set by an admin after Meta's review; only `approved` templates are sent.
    #[schema(schema_with = status_schema)]
    pub status: TemplateStatus,
    /// The text exactly as approved, with `{{1}}`, `{{2}}`... placeholders.
    pub body: String,
    /// Meta's component definitions (header, footer, buttons), kept as given.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub components: Option<Value>,
}

fn utility() -> TemplateCategory {
    TemplateCategory::Utility
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateView {
    pub id: Uuid,
    pub channel_id: Uuid,
    pub name: String,
    pub language: String,
    #[schema(schema_with = category_schema)]
    pub category: TemplateCategory,
    #[schema(schema_with = status_schema)]
    pub status: TemplateStatus,
    pub body: String,
    /// How many values a send gives (`{{1}}`..`{{n}}`).
    pub parameters: usize,
    #[schema(value_type = Vec<Object>)]
    pub components: Value,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Template> for TemplateView {
    fn from(t: Template) -> Self {
        Self {
            parameters: placeholder_count(&t.body).unwrap_or(0),
            id: t.id,
            channel_id: t.channel_id,
            name: t.name,
            language: t.language,
            category: t.category,
            status: t.status,
            body: t.body,
            components: t.components,
            created_at: time(t.created_at),
            updated_at: time(t.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateList {
    pub items: Vec<TemplateView>,
}

/// Checks a template against the rules of its channel and turns it into the store's spec.
fn spec_of(channel: &Channel, input: TemplateInput) -> Result<TemplateSpec, ApiError> {
    let name = input.name.trim();
    let name_ok = !name.is_empty()
        && name.len() <= 512
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !name_ok {
        return Err(ApiError::invalid(
            "name: lowercase letters, digits and '_', 1 to 512 characters",
        ));
    }
    let language = input.language.trim();
    let lang_ok = (2..=15).contains(&language.len())
        && language
            .bytes()
            .all(|b| b.is_ascii_alphabetic() || b == b'_');
    if !lang_ok {
        return Err(ApiError::invalid("language: a code like en or en_US"));
    }
    if input.body.trim().is_empty() {
        return Err(ApiError::invalid("body: a template needs its text"));
    }
    placeholder_count(&input.body).map_err(|e| ApiError::invalid(format!("body: {e}")))?;
    let chars = input.body.chars().count();
    if channel.kind == ChannelKind::Whatsapp && chars > MAX_WHATSAPP_BODY {
        return Err(ApiError::invalid(format!(
            "body: {chars} characters; WhatsApp approves at most {MAX_WHATSAPP_BODY}"
        )));
    }
    if let Err(e) = parley_core::sms::check_length(channel.kind, &input.body) {
        return Err(ApiError::invalid(format!("body: {e}")));
    }
    let components = input.components.unwrap_or(Value::Array(Vec::new()));
    if !components.is_array() {
        return Err(ApiError::invalid("components: a list"));
    }
    Ok(TemplateSpec {
        channel_id: channel.id,
        name: name.to_owned(),
        language: language.to_owned(),
        category: input.category,
        status: input.status,
        body: input.body,
        components,
    })
}

/// Fails the queued messages of a template that can no longer be sent (see the module docs).
async fn fail_queued(engine: &Engine, template: &Template, why: &str, now: Timestamp) {
    let reason = format!(
        "not sent: template '{}' ({}) {why} before the message went out",
        template.name, template.language
    );
    match engine
        .store
        .fail_queued_template_sends(template.id, ErrorCode::ContentRejected.code(), &reason, now)
        .await
    {
        Ok(ids) => {
            for entry_id in ids {
                if let Ok(e) = engine.store.entry(entry_id).await {
                    engine.events.publish(DomainEvent::MessageStatusChanged {
                        session_id: e.session_id,
                        entry_id,
                    });
                }
            }
        }
        // The dispatcher still sends them; say so loudly rather than fail the admin's change.
        Err(e) => tracing::error!(error = %e, template = %template.id,
            "queued messages of a withdrawn template could not be failed"),
    }
}

#[utoipa::path(get, path = "/api/v1/channels/{id}/templates", tag = "templates",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = TemplateList), (status = 404, body = ErrorBody)))]
pub async fn list_templates(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(channel_id): ApiPath<Uuid>,
) -> Result<Json<TemplateList>, ApiError> {
    caller.require_conversations()?;
    state.store.channel(channel_id).await?;
    let items = state.store.list_templates(Some(channel_id)).await?;
    Ok(Json(TemplateList {
        items: items.into_iter().map(TemplateView::from).collect(),
    }))
}

#[utoipa::path(post, path = "/api/v1/channels/{id}/templates", tag = "templates",
    params(("id" = Uuid, Path)), request_body = TemplateInput,
    responses((status = 201, body = TemplateView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_template(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(channel_id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<TemplateInput>,
) -> Result<(StatusCode, Json<TemplateView>), ApiError> {
    caller.require_configure()?;
    let channel = state.store.channel(channel_id).await?;
    let spec = spec_of(&channel, input)?;
    let created = state
        .store
        .create_template(&spec, state.clock.now())
        .await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

#[utoipa::path(get, path = "/api/v1/templates/{id}", tag = "templates",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = TemplateView), (status = 404, body = ErrorBody)))]
pub async fn get_template(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<TemplateView>, ApiError> {
    caller.require_conversations()?;
    Ok(Json(state.store.template_by_id(id).await?.into()))
}

#[utoipa::path(put, path = "/api/v1/templates/{id}", tag = "templates",
    params(("id" = Uuid, Path)), request_body = TemplateInput,
    responses((status = 200, body = TemplateView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_template(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<TemplateInput>,
) -> Result<Json<TemplateView>, ApiError> {
    caller.require_configure()?;
    let current = state.store.template_by_id(id).await?;
    let channel = state.store.channel(current.channel_id).await?;
    let spec = spec_of(&channel, input)?;
    let now = state.clock.now();
    let updated = state.store.update_template(id, &spec, now).await?;
    if updated.status != TemplateStatus::Approved {
        fail_queued(
            &state.engine,
            &updated,
            &format!("became {}", updated.status),
            now,
        )
        .await;
    } else if updated.body != current.body
        || updated.name != current.name
        || updated.language != current.language
    {
        // Queued messages were rendered from the old text under the old name.
        fail_queued(&state.engine, &current, "changed", now).await;
    }
    Ok(Json(updated.into()))
}

#[utoipa::path(delete, path = "/api/v1/templates/{id}", tag = "templates",
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_template(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    caller.require_configure()?;
    let current = state.store.template_by_id(id).await?;
    state.store.delete_template(id).await?;
    fail_queued(&state.engine, &current, "was deleted", state.clock.now()).await;
    Ok(StatusCode::NO_CONTENT)
}
