//! Access, restriction and erasure requests (issue 16, PRIV-02, PRIV-04..06, PRIV-09) under
//! `/api/v1/privacy/`, and deleting one Ended or Error session (SE-11). Every route needs
//! `privacy_requests`; the writes are `parley_engine::service::privacy`, shared with the console
//! and the CLI, and each records itself in the audit log (ids and counts only).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::{Extension, Json};
use parley_core::privacy::erasure::Subject;
use parley_engine::service::privacy::{self, SessionDeleted, SubjectSummary};
use parley_store::privacy::ErasureRequest;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};

/// The routes of this module, merged into the API in `crate::app`.
pub fn privacy_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(lookup))
        .routes(routes!(export))
        .routes(routes!(restriction))
        .routes(routes!(start_erasure, list_erasures))
        .routes(routes!(erasure))
        .routes(routes!(delete_session))
}

/// Who a request is about: exactly one of the four.
#[derive(Debug, Default, Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SubjectParams {
    /// A phone number (E.164): every messaging user with it on any channel, and the contacts with it.
    pub phone: Option<String>,
    /// An e-mail: the contacts with it (and their messaging users), and web visitors who gave it.
    pub email: Option<String>,
    pub messaging_user_id: Option<Uuid>,
    /// A contact and its messaging users.
    pub contact_id: Option<Uuid>,
}

impl SubjectParams {
    fn subject(&self) -> Result<Subject, ApiError> {
        Subject::from_parts(
            self.phone.as_deref(),
            self.email.as_deref(),
            self.messaging_user_id,
            self.contact_id,
        )
        .map_err(|e| ApiError::invalid(e.to_string()))
    }
}

#[utoipa::path(get, path = "/api/v1/privacy/subject", tag = "privacy", params(SubjectParams),
    extensions(("x-permission" = json!("privacy_requests"))),
    responses((status = 200, body = SubjectSummary, description = "What is held about the person"),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn lookup(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(params): ApiQuery<SubjectParams>,
) -> Result<Json<SubjectSummary>, ApiError> {
    let subject = params.subject()?;
    Ok(Json(
        privacy::lookup(&state.store, &subject, caller.audit_actor()).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/privacy/export", tag = "privacy", params(SubjectParams),
    extensions(("x-permission" = json!("privacy_requests"))),
    responses((status = 200, content_type = "application/json", body = Object,
            description = "Everything held about the person, as an attachment (media in base64)"),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn export(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(params): ApiQuery<SubjectParams>,
) -> Result<Response, ApiError> {
    let subject = params.subject()?;
    let doc = privacy::export(&state.engine.privacy(), &subject, caller.audit_actor()).await?;
    let bytes = serde_json::to_vec_pretty(&doc).map_err(|e| ApiError::internal(e.to_string()))?;
    let name = format!(
        "attachment; filename=\"privacy-export-{}.json\"",
        file_stamp(state.clock.now())
    );
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(&name).unwrap_or(HeaderValue::from_static("attachment")),
        )
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from(bytes))
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// Restrict or lift the processing of a person's messaging users.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestrictionBody {
    pub phone: Option<String>,
    pub email: Option<String>,
    pub messaging_user_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    /// `true` restricts (nothing sent, no flow); `false` lifts the restriction.
    pub restricted: bool,
}

/// How many messaging users changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct RestrictionChanged {
    pub restricted: bool,
    pub changed: u64,
}

#[utoipa::path(post, path = "/api/v1/privacy/restriction", tag = "privacy",
    request_body = RestrictionBody,
    extensions(("x-permission" = json!("privacy_requests"))),
    responses((status = 200, body = RestrictionChanged),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn restriction(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<RestrictionBody>,
) -> Result<Json<RestrictionChanged>, ApiError> {
    let subject = SubjectParams {
        phone: body.phone,
        email: body.email,
        messaging_user_id: body.messaging_user_id,
        contact_id: body.contact_id,
    }
    .subject()?;
    let changed = privacy::restrict(
        &state.engine.privacy(),
        &subject,
        body.restricted,
        caller.audit_actor(),
    )
    .await?;
    Ok(Json(RestrictionChanged {
        restricted: body.restricted,
        changed,
    }))
}

/// An erasure to start.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErasureBody {
    pub phone: Option<String>,
    pub email: Option<String>,
    pub messaging_user_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    /// Must be `true`: an erasure cannot be undone.
    #[serde(default)]
    pub confirm: bool,
}

/// An erasure request: its status and what it removed so far.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErasureView {
    pub id: Uuid,
    pub subject_kind: String,
    /// `running`, `done` or `failed`.
    pub status: String,
    /// Counts per kind removed (sessions, entries, media_files, messaging_users, contacts,
    /// cases_scrubbed, consent_events, opt_out_proofs, link_clicks, flow_runs, web_visitors,
    /// jobs, ...).
    #[schema(value_type = Object)]
    pub report: serde_json::Value,
    pub error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

impl From<ErasureRequest> for ErasureView {
    fn from(r: ErasureRequest) -> Self {
        Self {
            id: r.id,
            subject_kind: r.subject_kind,
            status: r.status.as_str().to_owned(),
            report: serde_json::to_value(r.report).unwrap_or_default(),
            error: r.error,
            created_at: r.created_at.millis(),
            finished_at: r.finished_at.map(|t| t.millis()),
        }
    }
}

#[utoipa::path(post, path = "/api/v1/privacy/erasures", tag = "privacy",
    request_body = ErasureBody,
    extensions(("x-permission" = json!("privacy_requests"))),
    responses((status = 202, body = ErasureView, description = "Queued; read it back for its progress and report"),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody, description = "No subject, or `confirm` is not true")))]
pub async fn start_erasure(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<ErasureBody>,
) -> Result<(StatusCode, Json<ErasureView>), ApiError> {
    let subject = SubjectParams {
        phone: body.phone,
        email: body.email,
        messaging_user_id: body.messaging_user_id,
        contact_id: body.contact_id,
    }
    .subject()?;
    let request = privacy::start_erasure(
        &state.engine.privacy(),
        &subject,
        body.confirm,
        caller.audit_actor(),
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(request.into())))
}

#[utoipa::path(get, path = "/api/v1/privacy/erasures", tag = "privacy",
    extensions(("x-permission" = json!("privacy_requests"))),
    responses((status = 200, body = [ErasureView], description = "The latest 50 requests, newest first")))]
pub async fn list_erasures(
    State(state): State<AppState>,
) -> Result<Json<Vec<ErasureView>>, ApiError> {
    let list = state.store.erasure_requests(50).await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

#[utoipa::path(get, path = "/api/v1/privacy/erasures/{id}", tag = "privacy",
    params(("id" = Uuid, Path)),
    extensions(("x-permission" = json!("privacy_requests"))),
    responses((status = 200, body = ErasureView), (status = 404, body = ErrorBody)))]
pub async fn erasure(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<ErasureView>, ApiError> {
    Ok(Json(privacy::erasure(&state.store, id).await?.into()))
}

#[utoipa::path(delete, path = "/api/v1/sessions/{id}", tag = "privacy",
    params(("id" = Uuid, Path)),
    extensions(("x-permission" = json!("privacy_requests"))),
    responses((status = 200, body = SessionDeleted, description = "Deleted with its entries and their files"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The session is not Ended or Error: end it first")))]
pub async fn delete_session(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<SessionDeleted>, ApiError> {
    Ok(Json(
        privacy::delete_session(&state.engine.privacy(), id, caller.audit_actor()).await?,
    ))
}

/// A download's name says when it was made in a form people and file lists both read
/// (`20261204T115040Z`), not milliseconds since 1970.
fn file_stamp(t: parley_core::clock::Timestamp) -> String {
    let s = t.to_rfc3339();
    // `2026-12-04T11:50:40.138Z` -> `20261204T115040Z`
    let mut out: String = s
        .get(..19)
        .unwrap_or(&s)
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    out.push('Z');
    out
}
