//! Message templates of a channel (TM-02, TM-12): WhatsApp templates as Meta approved them, and
//! reusable texts on other channels. Parley has no Meta Business Manager sync, so an admin sets a
//! template's `status` (`draft`, `pending`, `approved`, `rejected`) here after Meta's review;
//! only approved templates are sent.
//!
//! Reading is open to every role that reads conversations (agents choose templates in the
//! console); creating, replacing and deleting need the configure role. A template that stops
//! being approved, or is deleted, fails the messages still queued with it (error 3001), so none
//! goes out with a template Meta would refuse; [`parley_engine::service::templates`] does the
//! writes, for `parley apply` too.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::model::{TemplateCategory, TemplateStatus};
use parley_core::template::placeholder_count;
use parley_engine::service::templates::{self, TemplateInput};
use parley_store::Template;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::time;
use crate::AppState;
use crate::error::{ApiError, ApiJson, ApiPath, ErrorBody};
use crate::schema;

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateView {
    pub id: Uuid,
    pub channel_id: Uuid,
    pub name: String,
    pub language: String,
    #[schema(schema_with = schema::template_category)]
    pub category: TemplateCategory,
    #[schema(schema_with = schema::template_status)]
    pub status: TemplateStatus,
    pub body: String,
    /// How many values a send gives (`{{1}}`..`{{n}}`).
    pub parameters: usize,
    #[schema(value_type = Vec<Object>)]
    pub components: Value,
    /// Placeholder number to the merge field that fills it in a notification (issue 13).
    pub merge_fields: Option<std::collections::BTreeMap<String, String>>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Template> for TemplateView {
    fn from(t: Template) -> Self {
        Self {
            parameters: placeholder_count(&t.body).unwrap_or(0),
            merge_fields: templates::merge_fields_view(&t),
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

#[utoipa::path(get, path = "/api/v1/channels/{id}/templates",
    extensions(("x-permission" = json!(["view_all_conversations", "view_queue_conversations"]))), tag = "templates",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = TemplateList), (status = 404, body = ErrorBody)))]
pub async fn list_templates(
    State(state): State<AppState>,
    ApiPath(channel_id): ApiPath<Uuid>,
) -> Result<Json<TemplateList>, ApiError> {
    state.store.channel(channel_id).await?;
    let items = state.store.list_templates(Some(channel_id)).await?;
    Ok(Json(TemplateList {
        items: items.into_iter().map(TemplateView::from).collect(),
    }))
}

#[utoipa::path(post, path = "/api/v1/channels/{id}/templates",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "templates",
    params(("id" = Uuid, Path)), request_body = TemplateInput,
    responses((status = 201, body = TemplateView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_template(
    State(state): State<AppState>,
    ApiPath(channel_id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<TemplateInput>,
) -> Result<(StatusCode, Json<TemplateView>), ApiError> {
    let created = templates::create(&state.store, channel_id, &input, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

#[utoipa::path(get, path = "/api/v1/templates/{id}",
    extensions(("x-permission" = json!(["view_all_conversations", "view_queue_conversations"]))), tag = "templates",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = TemplateView), (status = 404, body = ErrorBody)))]
pub async fn get_template(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<TemplateView>, ApiError> {
    Ok(Json(state.store.template_by_id(id).await?.into()))
}

#[utoipa::path(put, path = "/api/v1/templates/{id}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "templates",
    params(("id" = Uuid, Path)), request_body = TemplateInput,
    responses((status = 200, body = TemplateView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_template(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<TemplateInput>,
) -> Result<Json<TemplateView>, ApiError> {
    let e = &state.engine;
    let updated = templates::update(&e.store, &e.events, id, &input, state.clock.now()).await?;
    Ok(Json(updated.into()))
}

#[utoipa::path(delete, path = "/api/v1/templates/{id}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "templates",
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_template(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    let e = &state.engine;
    templates::delete(&e.store, &e.events, id, state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
