//! Dead letters: inbound messages the pipeline could not process, kept with their raw payload
//! and reason (see `parley_engine::service::dead_letters`). Admin only: the payload is a
//! customer's message, and replaying or discarding changes what the workspace processes.

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::dead_letter::DeadLetterReason;
use parley_engine::service::dead_letters::{self, Letter};
use parley_store::PageRequest;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{Page, time};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};

/// Characters of the message's text a list row carries.
const EXCERPT: usize = 120;

/// A dead letter in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterView {
    pub id: Uuid,
    /// The kind of reason: invalid_sender, channel_unavailable, database_refused,
    /// database_unavailable, malformed or other.
    pub reason: &'static str,
    /// The reason in words.
    pub reason_text: &'static str,
    /// The error's own words.
    pub detail: Option<String>,
    pub attempts: i64,
    pub received_at: String,
    pub dead_at: String,
    /// The channel the provider delivered it on (absent when the payload cannot be read).
    pub channel_id: Option<Uuid>,
    /// The sender's address as the provider gave it.
    pub from: Option<String>,
    /// The start of the message's text.
    pub excerpt: Option<String>,
}

/// One dead letter, with its raw payload.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterDetail {
    #[serde(flatten)]
    pub letter: DeadLetterView,
    /// The message's whole text.
    pub text: Option<String>,
    /// The event exactly as it was persisted (JSON, as the webhook wrote it).
    pub payload: String,
}

impl From<&Letter> for DeadLetterView {
    fn from(l: &Letter) -> Self {
        let d = &l.stored;
        Self {
            id: d.id,
            reason: d.reason.as_str(),
            reason_text: d.reason.describe(),
            detail: d.detail.clone(),
            attempts: d.attempts,
            received_at: time(d.received_at),
            dead_at: time(d.dead_at),
            channel_id: l.event.as_ref().map(|e| e.channel_id),
            from: l.event.as_ref().map(|e| e.from.clone()),
            excerpt: l
                .event
                .as_ref()
                .map(|e| e.text.chars().take(EXCERPT).collect()),
        }
    }
}

/// The list's paging and filter.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterParams {
    /// Start after this id (the `next` of the previous page).
    pub after: Option<Uuid>,
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    #[serde(default, deserialize_with = "crate::api::page_limit")]
    pub limit: Option<u32>,
    /// Only dead letters of this reason.
    pub reason: Option<String>,
}

/// Which dead letters to replay at once.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayInput {
    /// Only those of this reason; every dead letter without it.
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayView {
    /// How many went back to the inbound queue.
    pub replayed: usize,
    pub ids: Vec<Uuid>,
}

fn reason_of(name: Option<&str>) -> Result<Option<DeadLetterReason>, ApiError> {
    name.map(dead_letters::reason)
        .transpose()
        .map_err(Into::into)
}

/// Who made a change, for the log.
fn who(caller: &Caller) -> String {
    match caller.agent_id {
        Some(a) => format!("agent {a}"),
        None => format!("token {}", caller.token_id),
    }
}

#[utoipa::path(get, path = "/api/v1/dead-letters",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "dead-letters", params(DeadLetterParams),
    responses((status = 200, body = Page<DeadLetterView>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_dead_letters(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<DeadLetterParams>,
) -> Result<Json<Page<DeadLetterView>>, ApiError> {
    let reason = reason_of(p.reason.as_deref())?;
    let page = PageRequest::new(p.after, p.limit.unwrap_or(50));
    let page = dead_letters::list(&state.store, reason, page).await?;
    Ok(Json(Page::from_store(page, |l| DeadLetterView::from(&l))))
}

#[utoipa::path(get, path = "/api/v1/dead-letters/{id}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "dead-letters", params(("id" = Uuid, Path)),
    responses((status = 200, body = DeadLetterDetail), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_dead_letter(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<DeadLetterDetail>, ApiError> {
    let l = dead_letters::get(&state.store, id).await?;
    Ok(Json(DeadLetterDetail {
        letter: DeadLetterView::from(&l),
        text: l.event.as_ref().map(|e| e.text.clone()),
        payload: l.stored.payload,
    }))
}

#[utoipa::path(delete, path = "/api/v1/dead-letters/{id}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "dead-letters", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn discard_dead_letter(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    dead_letters::discard(&state.store, id, &who(&caller), state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/dead-letters/{id}/replay",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "dead-letters", params(("id" = Uuid, Path)),
    responses((status = 202, body = ReplayView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn replay_dead_letter(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<(StatusCode, Json<ReplayView>), ApiError> {
    dead_letters::replay(&state.store, id, &who(&caller), state.clock.now()).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ReplayView {
            replayed: 1,
            ids: vec![id],
        }),
    ))
}

#[utoipa::path(post, path = "/api/v1/dead-letters/replay",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "dead-letters", request_body = ReplayInput,
    responses((status = 202, body = ReplayView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn replay_dead_letters(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(input): ApiJson<ReplayInput>,
) -> Result<(StatusCode, Json<ReplayView>), ApiError> {
    let reason = reason_of(input.reason.as_deref())?;
    let ids =
        dead_letters::replay_all(&state.store, reason, &who(&caller), state.clock.now()).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ReplayView {
            replayed: ids.len(),
            ids,
        }),
    ))
}
