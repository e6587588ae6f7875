//! Retention policies (issue 16 part 4): how long each kind of data is kept, per channel or on
//! all channels; the retention worker deletes what is past its cutoff.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::privacy::retention::DataKind;
use parley_engine::service::retention::{self as service, RetentionPolicyInput};
use parley_store::RetentionPolicyRow;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::time;
use crate::AppState;
use crate::error::{ApiError, ApiJson, ApiPath, ErrorBody};

/// The routes of this module, merged into the API in `crate::app`.
pub fn retention_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_retention_policies, put_retention_policy))
        .routes(routes!(get_retention_policy, delete_retention_policy))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RetentionPolicyView {
    pub id: Uuid,
    /// Absent: every channel without a policy of its own for this kind.
    pub channel_id: Option<Uuid>,
    /// entries, media, sessions, error_logs, dead_letters or link_clicks.
    pub kind: String,
    pub days: u32,
    pub created_at: String,
    pub updated_at: String,
}

impl From<RetentionPolicyRow> for RetentionPolicyView {
    fn from(p: RetentionPolicyRow) -> Self {
        Self {
            id: p.id,
            channel_id: p.channel_id,
            kind: p.kind.as_str().to_owned(),
            days: p.days,
            created_at: time(p.created_at),
            updated_at: time(p.updated_at),
        }
    }
}

/// A policy that holds without being stored (TM-08's error log), until a stored all-channels
/// policy of its kind replaces it.
#[derive(Debug, Serialize, ToSchema)]
pub struct BuiltinPolicyView {
    pub kind: String,
    pub days: u32,
    /// Whether a stored all-channels policy of this kind replaces it now.
    pub replaced: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RetentionPolicies {
    pub policies: Vec<RetentionPolicyView>,
    pub builtin: Vec<BuiltinPolicyView>,
    /// The kinds a policy may name, and whether each may name one channel.
    pub kinds: Vec<RetentionKindView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RetentionKindView {
    pub kind: String,
    pub per_channel: bool,
}

#[utoipa::path(get, path = "/api/v1/retention-policies", tag = "privacy",
    extensions(("x-permission" = json!("configure_messaging"))),
    responses((status = 200, body = RetentionPolicies)))]
pub async fn list_retention_policies(
    State(state): State<AppState>,
) -> Result<Json<RetentionPolicies>, ApiError> {
    let policies = state.store.list_retention_policies().await?;
    let days = state.engine.retention().builtin_error_log_days();
    let replaced = policies
        .iter()
        .any(|p| p.kind == DataKind::ErrorLogs && p.channel_id.is_none());
    Ok(Json(RetentionPolicies {
        policies: policies.into_iter().map(Into::into).collect(),
        builtin: vec![BuiltinPolicyView {
            kind: DataKind::ErrorLogs.as_str().to_owned(),
            days,
            replaced,
        }],
        kinds: DataKind::ALL
            .iter()
            .map(|k| RetentionKindView {
                kind: k.as_str().to_owned(),
                per_channel: k.per_channel(),
            })
            .collect(),
    }))
}

#[utoipa::path(put, path = "/api/v1/retention-policies", tag = "privacy",
    extensions(("x-permission" = json!("configure_messaging"))),
    request_body = RetentionPolicyInput,
    responses((status = 200, body = RetentionPolicyView,
        description = "The policy of this channel (or all channels) and kind, created or replaced"),
        (status = 422, body = ErrorBody)))]
pub async fn put_retention_policy(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<RetentionPolicyInput>,
) -> Result<Json<RetentionPolicyView>, ApiError> {
    let p = service::put(&state.store, &input, state.clock.now()).await?;
    Ok(Json(p.into()))
}

#[utoipa::path(get, path = "/api/v1/retention-policies/{id}", tag = "privacy",
    extensions(("x-permission" = json!("configure_messaging"))),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = RetentionPolicyView), (status = 404, body = ErrorBody)))]
pub async fn get_retention_policy(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<RetentionPolicyView>, ApiError> {
    Ok(Json(state.store.retention_policy(id).await?.into()))
}

#[utoipa::path(delete, path = "/api/v1/retention-policies/{id}", tag = "privacy",
    extensions(("x-permission" = json!("configure_messaging"))),
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_retention_policy(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    service::delete(&state.store, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
