//! Sensitive-data rules (PRIV-03): `GET/POST /api/v1/sensitive-data-rules`,
//! `GET/PUT/DELETE /api/v1/sensitive-data-rules/{id}` and the preview the console's form uses.
//! The rules themselves are `parley_core::privacy::rules`; the writes are
//! [`parley_engine::service::sensitive_data`].

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_engine::service::sensitive_data::{
    self, PreviewInput, PreviewOutput, SensitiveDataRuleInput,
};
use parley_store::StoredSensitiveDataRule;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::time;
use crate::AppState;
use crate::error::{ApiError, ApiJson, ApiPath, ErrorBody};

#[derive(Debug, Serialize, ToSchema)]
pub struct SensitiveDataRuleView {
    pub id: Uuid,
    pub name: String,
    /// `null`: every channel.
    pub channel_id: Option<Uuid>,
    pub detector: String,
    pub pattern: Option<String>,
    pub national_id_format: Option<String>,
    pub action: String,
    pub replacement: Option<String>,
    pub authors: Vec<String>,
    pub priority: i32,
    pub enabled: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<StoredSensitiveDataRule> for SensitiveDataRuleView {
    fn from(r: StoredSensitiveDataRule) -> Self {
        let f = r.fields;
        Self {
            id: r.id,
            name: f.name,
            channel_id: f.channel_id,
            detector: f.detector.as_str().to_owned(),
            pattern: f.pattern,
            national_id_format: f.national_id_format.map(|x| x.as_str().to_owned()),
            action: f.action.as_str().to_owned(),
            replacement: f.replacement,
            authors: f.authors.iter().map(|a| a.as_str().to_owned()).collect(),
            priority: f.priority,
            enabled: f.enabled,
            created_at: time(r.created_at),
            updated_at: time(r.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SensitiveDataRuleList {
    /// In the order they run (priority, then creation).
    pub items: Vec<SensitiveDataRuleView>,
}

/// The sensitive-data rules API.
pub fn sensitive_data_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_rules, create_rule))
        .routes(routes!(preview_rule))
        .routes(routes!(get_rule, update_rule, delete_rule))
}

#[utoipa::path(get, path = "/api/v1/sensitive-data-rules",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "sensitive-data",
    responses((status = 200, body = SensitiveDataRuleList), (status = 403, body = ErrorBody)))]
pub async fn list_rules(
    State(state): State<AppState>,
) -> Result<Json<SensitiveDataRuleList>, ApiError> {
    let rules = state.store.sensitive_data_rules().await?;
    Ok(Json(SensitiveDataRuleList {
        items: rules.into_iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(post, path = "/api/v1/sensitive-data-rules",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "sensitive-data",
    request_body = SensitiveDataRuleInput,
    responses((status = 201, body = SensitiveDataRuleView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_rule(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<SensitiveDataRuleInput>,
) -> Result<(StatusCode, Json<SensitiveDataRuleView>), ApiError> {
    let rule = sensitive_data::create(
        &state.store,
        &state.engine.sensitive,
        &input,
        state.clock.now(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(rule.into())))
}

#[utoipa::path(post, path = "/api/v1/sensitive-data-rules/preview",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "sensitive-data",
    request_body = PreviewInput,
    responses((status = 200, body = PreviewOutput), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn preview_rule(
    ApiJson(input): ApiJson<PreviewInput>,
) -> Result<Json<PreviewOutput>, ApiError> {
    Ok(Json(sensitive_data::preview(&input)?))
}

#[utoipa::path(get, path = "/api/v1/sensitive-data-rules/{id}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "sensitive-data",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = SensitiveDataRuleView), (status = 404, body = ErrorBody)))]
pub async fn get_rule(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<SensitiveDataRuleView>, ApiError> {
    Ok(Json(state.store.sensitive_data_rule(id).await?.into()))
}

#[utoipa::path(put, path = "/api/v1/sensitive-data-rules/{id}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "sensitive-data",
    params(("id" = Uuid, Path)), request_body = SensitiveDataRuleInput,
    responses((status = 200, body = SensitiveDataRuleView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_rule(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<SensitiveDataRuleInput>,
) -> Result<Json<SensitiveDataRuleView>, ApiError> {
    let rule = sensitive_data::update(
        &state.store,
        &state.engine.sensitive,
        id,
        &input,
        state.clock.now(),
    )
    .await?;
    Ok(Json(rule.into()))
}

#[utoipa::path(delete, path = "/api/v1/sensitive-data-rules/{id}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "sensitive-data",
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_rule(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    sensitive_data::delete(&state.store, &state.engine.sensitive, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
