//! Message templates of a channel (TM-02, TM-12): WhatsApp templates as Meta approved them, and
//! reusable texts on other channels. A template is written as a `draft`, `submit`ted for review
//! (`pending`), then `approve`d or `reject`ed with a reason; only approved templates are sent.
//! Parley has no Meta template-submission call (the Meta adapter sends messages only), so the
//! review is recorded here and an admin approves once Meta has; the audit middleware records who.
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
use parley_core::template::{Problem, ReviewAction};
use parley_engine::service::templates::{self, TemplateInput, TemplateVariable};
use parley_store::Template;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{opt_time, time};
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
    /// Each placeholder's name and example in order; empty when none were declared.
    pub variables: Vec<TemplateVariable>,
    /// Why the reviewer refused it (status `rejected`).
    pub rejection_reason: Option<String>,
    pub submitted_at: Option<String>,
    pub reviewed_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Template> for TemplateView {
    fn from(t: Template) -> Self {
        Self {
            parameters: placeholder_count(&t.body).unwrap_or(0),
            merge_fields: templates::merge_fields_view(&t),
            variables: templates::variables_view(&t),
            submitted_at: opt_time(t.submitted_at.map(parley_core::Timestamp::from_millis)),
            reviewed_at: opt_time(t.reviewed_at.map(parley_core::Timestamp::from_millis)),
            rejection_reason: t.rejection_reason,
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

/// The review routes and the list of every channel's templates (the admin area's Templates tab).
pub fn template_routes() -> utoipa_axum::router::OpenApiRouter<AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(list_all_templates))
        .routes(routes!(check_template))
        .routes(routes!(submit_template))
        .routes(routes!(approve_template))
        .routes(routes!(reject_template))
}

#[utoipa::path(get, path = "/api/v1/templates",
    extensions(("x-permission" = json!(["view_all_conversations", "view_queue_conversations", "configure_messaging"]))), tag = "templates",
    responses((status = 200, body = TemplateList)))]
pub async fn list_all_templates(
    State(state): State<AppState>,
) -> Result<Json<TemplateList>, ApiError> {
    let items = state.store.list_templates(None).await?;
    Ok(Json(TemplateList {
        items: items.into_iter().map(TemplateView::from).collect(),
    }))
}

/// A body to check as it is typed, against the rules of its channel.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateCheckInput {
    pub channel_id: Uuid,
    pub body: String,
    #[serde(default)]
    pub variables: Vec<TemplateVariable>,
}

/// One rule the body breaks: `rule` is stable (`adjacent`, `order`, `too_long`,
/// `starts_with_variable`, `ends_with_variable`, `gap`, `bad_placeholder`, `too_many`, `empty`,
/// `missing_example`), `n` the placeholder or limit it is about, `message` in English.
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateProblem {
    pub rule: String,
    pub n: usize,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateCheck {
    /// How many placeholders the body has (0 when they cannot be read).
    pub parameters: usize,
    /// Empty: the template may be submitted.
    pub problems: Vec<TemplateProblem>,
}

fn problem_view(p: &Problem) -> TemplateProblem {
    TemplateProblem {
        rule: p.rule.to_owned(),
        n: p.n,
        message: templates::problem_text(p),
    }
}

/// The live check of the template editor: the same rules `submit` applies.
#[utoipa::path(post, path = "/api/v1/templates/check",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "templates",
    request_body = TemplateCheckInput,
    responses((status = 200, body = TemplateCheck), (status = 422, body = ErrorBody)))]
pub async fn check_template(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<TemplateCheckInput>,
) -> Result<Json<TemplateCheck>, ApiError> {
    if input.body.len() > 64 * 1024 {
        return Err(ApiError::invalid("body: at most 64 KiB"));
    }
    let channel = match state.store.channel(input.channel_id).await {
        Ok(c) => c,
        Err(parley_store::StoreError::NotFound { .. }) => {
            return Err(ApiError::invalid("channel_id: no such channel"));
        }
        Err(e) => return Err(e.into()),
    };
    let problems = templates::check_body(channel.kind, &input.body, &input.variables);
    Ok(Json(TemplateCheck {
        parameters: placeholder_count(&input.body).unwrap_or(0),
        problems: problems.iter().map(problem_view).collect(),
    }))
}

async fn step(
    state: &AppState,
    id: Uuid,
    action: ReviewAction,
    reason: Option<&str>,
) -> Result<Json<TemplateView>, ApiError> {
    let e = &state.engine;
    let t = templates::review(&e.store, &e.events, id, action, reason, state.clock.now()).await?;
    Ok(Json(t.into()))
}

/// Sends a draft (or a refused template, corrected) for review: `pending`. A WhatsApp template
/// must pass Meta's rules (see `check`) with an example for each variable.
#[utoipa::path(post, path = "/api/v1/templates/{id}/submit",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "templates",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = TemplateView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn submit_template(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<TemplateView>, ApiError> {
    step(&state, id, ReviewAction::Submit, None).await
}

/// Approves a pending template: from now on it is sent.
#[utoipa::path(post, path = "/api/v1/templates/{id}/approve",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "templates",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = TemplateView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn approve_template(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<TemplateView>, ApiError> {
    step(&state, id, ReviewAction::Approve, None).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectInput {
    /// Why, as Meta or the reviewer said it; shown with the template until it is submitted again.
    pub reason: String,
}

/// Refuses a pending template with a reason.
#[utoipa::path(post, path = "/api/v1/templates/{id}/reject",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "templates",
    params(("id" = Uuid, Path)), request_body = RejectInput,
    responses((status = 200, body = TemplateView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn reject_template(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<RejectInput>,
) -> Result<Json<TemplateView>, ApiError> {
    step(&state, id, ReviewAction::Reject, Some(&input.reason)).await
}
