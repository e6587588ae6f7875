//! Triggered notifications (`POST /api/v1/notifications`, issue 13, TM-06..11) and the
//! notification error log (TM-08), through `parley_engine::service::notifications`.
//!
//! `Idempotency-Key`: scoped to the API token. A repeat of the same request answers 200 with the
//! first answer's body and `Idempotent-Replayed: true`; the same key with another body is 422.

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use parley_core::{ErrorCode, Timestamp};
use parley_engine::service::notifications::{self, Caller as NotifyCaller, NotifyError};
use parley_store::NotificationError;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::time;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};

/// The longest Idempotency-Key accepted.
const MAX_KEY: usize = 255;

/// A notification as queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationView {
    pub id: Uuid,
    /// `queued` when accepted; the entry's status tells what happened next.
    pub status: String,
    pub channel_id: Uuid,
    pub entry_id: Uuid,
    pub session_id: Uuid,
    pub messaging_user_id: Uuid,
    /// Joined the person's open session; otherwise a new, ended session holds it (SE-19).
    pub appended: bool,
    pub created_messaging_user: bool,
    /// The text as rendered from the template.
    pub body: String,
    /// The template's category, which WhatsApp bills by (TM-13).
    #[schema(schema_with = crate::schema::template_category)]
    pub category: parley_core::model::TemplateCategory,
}

/// A notification that was not sent (also written to the error log).
#[derive(Debug, Serialize, ToSchema)]
pub struct NotSentBody {
    /// The catalogue code: "2001" invalid destination or out of country, "2002" no consent,
    /// "0004" window, "3001" content, template or merge fields.
    pub code: &'static str,
    /// The exclusion (opted_out, no_consent, out_of_country...), when the recipient was excluded.
    pub exclusion: Option<&'static str>,
    /// Why, for people; names the missing merge fields.
    pub message: String,
    /// The merge fields without a value.
    pub missing_fields: Vec<String>,
}

fn not_sent(code: ErrorCode, exclusion: Option<&'static str>, e: &NotifyError) -> Response {
    let missing_fields = match e {
        NotifyError::Unresolved(m) => m.clone(),
        _ => Vec::new(),
    };
    let body = NotSentBody {
        code: code.code(),
        exclusion,
        message: e.to_string(),
        missing_fields,
    };
    (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
}

#[utoipa::path(post, path = "/api/v1/notifications",
    extensions(("x-permission" = json!("send_receive"))), tag = "notifications",
    request_body = parley_engine::service::notifications::NotificationInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "the caller's name for this request; a retry with the same key and body never sends twice")),
    responses(
        (status = 201, body = NotificationView, description = "queued for sending"),
        (status = 200, body = NotificationView, description = "a replay of an earlier request with the same key (header Idempotent-Replayed: true)"),
        (status = 403, body = ErrorBody),
        (status = 422, body = NotSentBody, description = "not sent: missing merge fields, an excluded recipient or a refused message (in the error log); or a malformed request, or a key reused with another body (code invalid_request)")))]
pub async fn send_notification(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<notifications::NotificationInput>,
) -> Result<Response, ApiError> {
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            let k = v
                .to_str()
                .ok()
                .map(str::trim)
                .filter(|k| !k.is_empty() && k.len() <= MAX_KEY)
                .ok_or_else(|| {
                    ApiError::invalid(format!(
                        "Idempotency-Key: 1 to {MAX_KEY} visible ASCII characters"
                    ))
                })?;
            Some(k.to_owned())
        }
    };
    let who = NotifyCaller {
        scope: format!("token:{}", caller.token_id),
        idempotency_key: key,
    };
    match notifications::send(&state.engine, &who, &input, state.clock.now()).await {
        Ok(n) => {
            let replayed = n.replayed;
            let view = NotificationView {
                id: n.id,
                status: n.status,
                channel_id: n.channel_id,
                entry_id: n.entry_id,
                session_id: n.session_id,
                messaging_user_id: n.messaging_user_id,
                appended: n.appended,
                created_messaging_user: n.created_messaging_user,
                body: n.body,
                category: n.category,
            };
            let mut response = if replayed {
                (StatusCode::OK, Json(view)).into_response()
            } else {
                (StatusCode::CREATED, Json(view)).into_response()
            };
            if replayed {
                response
                    .headers_mut()
                    .insert("idempotent-replayed", HeaderValue::from_static("true"));
            }
            Ok(response)
        }
        Err(
            e @ NotifyError::Excluded {
                exclusion, code, ..
            },
        ) => Ok(not_sent(code, Some(exclusion.as_str()), &e)),
        Err(e @ NotifyError::Refused { code, .. }) => Ok(not_sent(code, None, &e)),
        Err(e @ NotifyError::Unresolved(_)) => Ok(not_sent(ErrorCode::ContentRejected, None, &e)),
        Err(NotifyError::Invalid(m)) => Err(ApiError::invalid(m)),
        Err(e @ NotifyError::KeyReused) => Err(ApiError::invalid(e.to_string())),
        Err(NotifyError::Store(e)) => Err(e.into()),
    }
}

/// One entry of the notification error log.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationErrorView {
    pub id: Uuid,
    pub at: String,
    /// Milliseconds since the epoch: the `before` of the next page.
    pub at_ms: i64,
    pub channel_id: Option<Uuid>,
    /// `name/language`.
    pub template: String,
    pub recipient: String,
    /// validation | exclusion | provider
    pub stage: String,
    /// The catalogue code.
    pub code: String,
    /// The catalogue's words for the code.
    pub code_message: Option<&'static str>,
    pub reason: String,
    /// The request as received.
    #[schema(value_type = Object)]
    pub inputs: serde_json::Value,
    pub notification_id: Option<Uuid>,
    pub entry_id: Option<Uuid>,
}

impl From<NotificationError> for NotificationErrorView {
    fn from(e: NotificationError) -> Self {
        Self {
            id: e.id,
            at: time(e.at),
            at_ms: e.at.millis(),
            channel_id: e.channel_id,
            template: e.template,
            recipient: e.recipient,
            stage: e.stage,
            code_message: ErrorCode::from_code(&e.code).map(ErrorCode::message),
            code: e.code,
            reason: e.reason,
            inputs: serde_json::from_str(&e.inputs).unwrap_or(serde_json::Value::Null),
            notification_id: e.notification_id,
            entry_id: e.entry_id,
        }
    }
}

/// A page of the error log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationErrorPage {
    pub items: Vec<NotificationErrorView>,
    /// The `before` of the next page, absent on the last page.
    pub next_before: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ErrorLogParams {
    /// Entries written before this time, in milliseconds since the epoch (the `next_before`
    /// of the previous page).
    pub before: Option<i64>,
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    #[serde(default, deserialize_with = "crate::api::page_limit")]
    pub limit: Option<u32>,
    /// Only this channel's entries.
    pub channel_id: Option<Uuid>,
    /// Only entries of this stage: `validation`, `exclusion` or `provider`.
    pub stage: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/notification-errors",
    extensions(("x-permission" = json!(["view_all_conversations", "view_queue_conversations"]))), tag = "notifications", params(ErrorLogParams),
    responses((status = 200, body = NotificationErrorPage), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_notification_errors(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<ErrorLogParams>,
) -> Result<Json<NotificationErrorPage>, ApiError> {
    let limit = p.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit: 1 to 500"));
    }
    let stage = p.stage.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if let Some(s) = stage
        && !["validation", "exclusion", "provider"].contains(&s)
    {
        return Err(ApiError::invalid(
            "stage: one of validation, exclusion, provider",
        ));
    }
    let rows = state
        .store
        .notification_errors_where(
            p.before.map(Timestamp::from_millis),
            i64::from(limit),
            p.channel_id,
            stage,
        )
        .await?;
    let next_before = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| r.at.millis()))
        .flatten();
    Ok(Json(NotificationErrorPage {
        items: rows.into_iter().map(NotificationErrorView::from).collect(),
        next_before,
    }))
}

#[utoipa::path(get, path = "/api/v1/notification-errors/{id}",
    extensions(("x-permission" = json!(["view_all_conversations", "view_queue_conversations"]))), tag = "notifications", params(("id" = Uuid, Path)),
    responses((status = 200, body = NotificationErrorView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_notification_error(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<NotificationErrorView>, ApiError> {
    Ok(Json(state.store.notification_error(id).await?.into()))
}

#[utoipa::path(delete, path = "/api/v1/notification-errors/{id}",
    extensions(("x-permission" = json!("send_receive"))), tag = "notifications", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_notification_error(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    notifications::delete_error(&state.store, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
