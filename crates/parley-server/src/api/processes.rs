//! SMS keyword processes (KP): per inbound number and provider keyword, an Unsubscribe and a Help
//! process that answer their keywords on their own. Saving, starting and pausing go through
//! `parley_engine::service::sms_processes`, which `parley apply` uses too.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::keyword_process::{ProcessAction, ProcessStatus, ProcessType, SmsProcess};
use parley_engine::service::sms_processes::{self as processes, ProcessDraft};
use parley_store::{PageRequest, StoredSmsProcess};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{Page, time};
use crate::AppState;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::schema;

/// An SMS process as created or replaced. Its status is not part of it: a new process is `new`,
/// a replace keeps the status, and `/start` and `/pause` change it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmsProcessInput {
    /// Internal name.
    pub name: String,
    #[schema(schema_with = schema::process_type)]
    pub kind: ProcessType,
    /// The inbound number: a long code in E.164 (`+4915112348765`) or a short code's digits
    /// (`11221`).
    pub number: String,
    /// On a non-exclusive short code, the program's keyword (`kids` in `11221 / kids`).
    pub provider_keyword: Option<String>,
    /// Added to the type's default keywords; letters only (no digits, special characters or
    /// spaces).
    #[serde(default)]
    pub custom_keywords: Vec<String>,
    /// The SMS sent to the sender: required for `help`, optional for `unsubscribe`.
    pub message: Option<String>,
}

impl From<SmsProcessInput> for ProcessDraft {
    fn from(i: SmsProcessInput) -> Self {
        Self {
            name: i.name,
            kind: i.kind,
            number: i.number,
            provider_keyword: i.provider_keyword,
            custom_keywords: i.custom_keywords,
            message: i.message,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SmsProcessView {
    pub id: Uuid,
    pub name: String,
    #[schema(schema_with = schema::process_type)]
    pub kind: ProcessType,
    /// Only a `started` process handles inbound SMS.
    #[schema(schema_with = schema::process_status)]
    pub status: ProcessStatus,
    /// Digits, with a leading `+` for a long code.
    pub number: String,
    /// Lowercase.
    pub provider_keyword: Option<String>,
    /// Number and provider keyword as the overview shows them: `11221 / kids`.
    pub inbound: String,
    pub custom_keywords: Vec<String>,
    /// Every keyword the process answers: its type's defaults, then its custom keywords.
    pub keywords: Vec<String>,
    pub message: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<StoredSmsProcess> for SmsProcessView {
    fn from(s: StoredSmsProcess) -> Self {
        let keywords = s.process.keywords().map(str::to_owned).collect();
        let inbound = s.process.inbound.to_string();
        let SmsProcess {
            id,
            name,
            kind,
            status,
            inbound: number,
            custom_keywords,
            message,
        } = s.process;
        Self {
            id,
            name,
            kind,
            status,
            number: number.number,
            provider_keyword: number.provider_keyword,
            inbound,
            custom_keywords,
            keywords,
            message,
            created_at: time(s.created_at),
            updated_at: time(s.updated_at),
        }
    }
}

/// Cursor pagination, and an optional inbound number to list only its processes.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SmsProcessParams {
    /// Start after this id (the `next` of the previous page).
    pub after: Option<Uuid>,
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    #[serde(default, deserialize_with = "crate::api::page_limit")]
    pub limit: Option<u32>,
    /// Only the processes of this inbound number (every provider keyword on it).
    pub number: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/sms-processes",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "sms-processes",
    request_body = SmsProcessInput,
    responses((status = 201, body = SmsProcessView), (status = 422, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_sms_process(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<SmsProcessInput>,
) -> Result<(StatusCode, Json<SmsProcessView>), ApiError> {
    let p = processes::create(&state.store, state.clock.now(), &input.into()).await?;
    Ok((StatusCode::CREATED, Json(p.into())))
}

#[utoipa::path(get, path = "/api/v1/sms-processes",
    extensions(("x-permission" = json!("signed_in"))), tag = "sms-processes", params(SmsProcessParams),
    responses((status = 200, body = Page<SmsProcessView>)))]
pub async fn list_sms_processes(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<SmsProcessParams>,
) -> Result<Json<Page<SmsProcessView>>, ApiError> {
    let number = p.number.as_deref().map(processes::number_key);
    let page = state
        .store
        .list_sms_processes(
            number.as_deref(),
            PageRequest::new(p.after, p.limit.unwrap_or(50)),
        )
        .await?;
    Ok(Json(Page::from_store(page, SmsProcessView::from)))
}

#[utoipa::path(get, path = "/api/v1/sms-processes/{id}",
    extensions(("x-permission" = json!("signed_in"))), tag = "sms-processes", params(("id" = Uuid, Path)),
    responses((status = 200, body = SmsProcessView), (status = 404, body = ErrorBody)))]
pub async fn get_sms_process(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<SmsProcessView>, ApiError> {
    Ok(Json(state.store.sms_process(id).await?.into()))
}

#[utoipa::path(put, path = "/api/v1/sms-processes/{id}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "sms-processes", params(("id" = Uuid, Path)),
    request_body = SmsProcessInput,
    responses((status = 200, body = SmsProcessView), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update_sms_process(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<SmsProcessInput>,
) -> Result<Json<SmsProcessView>, ApiError> {
    let p = processes::update(&state.store, state.clock.now(), id, &input.into()).await?;
    Ok(Json(p.into()))
}

#[utoipa::path(delete, path = "/api/v1/sms-processes/{id}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "sms-processes", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_sms_process(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    processes::delete(&state.store, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn act(
    state: &AppState,
    id: Uuid,
    action: ProcessAction,
) -> Result<Json<SmsProcessView>, ApiError> {
    let p = processes::act(&state.store, state.clock.now(), id, action).await?;
    Ok(Json(p.into()))
}

/// Starts a new or paused process: from now on it handles inbound SMS. Refused (422) while the
/// process is incomplete or already started.
#[utoipa::path(post, path = "/api/v1/sms-processes/{id}/start",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "sms-processes", params(("id" = Uuid, Path)),
    responses((status = 200, body = SmsProcessView), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn start_sms_process(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<SmsProcessView>, ApiError> {
    act(&state, id, ProcessAction::Start).await
}

/// Pauses a started process: inbound SMS are no longer handled until it is started again.
/// Refused (422) unless the process is started.
#[utoipa::path(post, path = "/api/v1/sms-processes/{id}/pause",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "sms-processes", params(("id" = Uuid, Path)),
    responses((status = 200, body = SmsProcessView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn pause_sms_process(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<SmsProcessView>, ApiError> {
    act(&state, id, ProcessAction::Pause).await
}
