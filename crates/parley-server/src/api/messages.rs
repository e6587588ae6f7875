//! Sending into a session (`POST /api/v1/sessions/{id}/messages`, the compose path of
//! `parley_engine::compose`), reading customers' files (`GET /api/v1/media/{id}`), and an
//! operator's answers to a delivery that went wrong (`POST /api/v1/messages/{id}/resend` and
//! `/mark-failed`, through `parley_engine::service::deliveries`; see `docs/delivery.md`).
//!
//! A message the channel's rules refuse is answered 422 with the catalogue code and the failed
//! entry that records it: nothing is dropped silently.
//!
//! Who composes: a caller of this API is recorded as an agent (`actor: agent`), with the
//! signed-in agent's id for a console request and none for an API token (which is not an agent),
//! so the Messenger human-agent window applies as it does in the console.

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use parley_core::model::Actor;
use parley_engine::compose::{Author, ComposeError, MediaRef, OutgoingMessage, TemplateSend};
use parley_engine::media::MediaError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::conversations::EntryView;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ErrorBody};

/// A file to send, by public link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaInput {
    /// A public http(s) link the provider fetches the file from.
    pub url: String,
    /// `image/png`, `application/pdf`...: checked against the channel's types.
    pub content_type: String,
    /// Bytes, when known: checked against the channel's limit.
    pub size: Option<u64>,
}

/// An approved template of the session's channel, with the values of its placeholders.
// Named apart in the document: the templates API's own `TemplateInput` (the definition an admin
// writes) would otherwise share the name and one of the two bodies would be documented wrong.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TemplateSendInput)]
pub struct TemplateInput {
    pub name: String,
    /// The language it was approved in (`en_US`).
    pub language: String,
    /// Values of `{{1}}`, `{{2}}`... in order.
    #[serde(default)]
    pub parameters: Vec<String>,
}

/// A message: text, a file (with text where the channel allows it), or a template.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageInput {
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub media: Vec<MediaInput>,
    /// Files uploaded for this session with `POST /api/v1/sessions/{id}/media` (one per message).
    #[serde(default)]
    pub media_ids: Vec<Uuid>,
    pub template: Option<TemplateInput>,
    /// A component (buttons, a list, a link card, time slots), rendered in the best format the
    /// channel has; its numbered text goes to SMS. See `parley_core::component::Component`.
    #[schema(value_type = Option<Object>)]
    pub component: Option<parley_core::component::Component>,
}

/// A message the channel's rules refused, recorded as a failed entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefusedBody {
    /// The catalogue code: "0004" window closed, "2002" no consent, "3001" content or template,
    /// "3002" file type, "3004" too long, "3005" file too large, "3006" too many files.
    pub code: &'static str,
    /// Why, for people.
    pub message: String,
    /// The catalogue's words for the code, as agents see them.
    pub error_message: &'static str,
    pub entry_id: Uuid,
    pub entry: EntryView,
    /// The times `message` speaks of, by name, in RFC 3339 UTC (`{"window_closed_at":
    /// "2026-12-04T11:50:40.138Z"}`), for clients that show them in their reader's zone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<std::collections::BTreeMap<String, String>>,
}

#[utoipa::path(post, path = "/api/v1/sessions/{id}/messages",
    extensions(("x-permission" = json!("send_receive"))), tag = "conversations",
    params(("id" = Uuid, Path)), request_body = MessageInput,
    responses(
        (status = 201, body = EntryView, description = "queued for sending"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the session is over"),
        (status = 422, body = RefusedBody, description = "refused by the channel's rules (recorded as a failed entry), or a malformed request (code invalid_request)")))]
pub async fn send_message(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
    headers: axum::http::HeaderMap,
    ApiJson(input): ApiJson<MessageInput>,
) -> Result<Response, ApiError> {
    // An agent writes only into their own sessions (supervisors and admins into any).
    let session = state.store.session(id).await?;
    caller.require_session_write(&state, &session).await?;
    let mut media: Vec<MediaRef> = input
        .media
        .into_iter()
        .map(|m| MediaRef {
            url: m.url,
            content_type: m.content_type,
            size: m.size,
            id: None,
        })
        .collect();
    for media_id in &input.media_ids {
        media.push(uploaded_media(&state, &headers, id, *media_id).await?);
    }
    let message = OutgoingMessage {
        body: input.body,
        media,
        template: input.template.map(|t| TemplateSend {
            name: t.name,
            language: t.language,
            parameters: t.parameters,
        }),
        component: input.component,
    };
    let author = Author {
        actor: Actor::Agent,
        // The signed-in agent for console requests; none for an API token.
        actor_id: caller.agent_id,
    };
    match state
        .engine
        .compose()
        .send_to_session(id, message, author)
        .await
    {
        Ok(entry) => {
            parley_engine::service::uploads::mark_sent(&state.store, &input.media_ids, entry.id)
                .await?;
            Ok((StatusCode::CREATED, Json(EntryView::from(entry))).into_response())
        }
        Err(ComposeError::Refused {
            entry,
            code,
            reason,
            times,
        }) => {
            let body = RefusedBody {
                code: code.code(),
                message: reason,
                error_message: code.message(),
                entry_id: entry.id,
                entry: EntryView::from(*entry),
                details: (!times.is_empty()).then(|| {
                    times
                        .into_iter()
                        .map(|(name, at)| (name.to_owned(), at.to_rfc3339()))
                        .collect()
                }),
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response())
        }
        Err(ComposeError::SessionClosed(status)) => Err(ApiError::coded(
            crate::error::ApiErrorCode::Conflict,
            format!("the session is {status}; a new message needs a new session"),
        )),
        Err(ComposeError::Invalid(m)) => Err(ApiError::invalid(m)),
        Err(ComposeError::Store(e)) => Err(e.into()),
    }
}

/// An upload of this session, not sent yet, as the compose path takes it: with the public link
/// the provider fetches it from. Someone else's session's upload is refused as not found.
async fn uploaded_media(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    session_id: Uuid,
    media_id: Uuid,
) -> Result<MediaRef, ApiError> {
    let upload = match state.store.agent_upload(media_id).await {
        Ok(u) if u.session_id == session_id => u,
        Ok(_) | Err(parley_store::StoreError::NotFound { .. }) => {
            return Err(ApiError::invalid(format!(
                "media_ids: {media_id} is not a file uploaded for this session"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    if upload.entry_id.is_some() {
        return Err(ApiError::invalid(format!(
            "media_ids: {media_id} was sent already; upload the file again"
        )));
    }
    let stored = state.store.media(media_id).await?;
    let base = super::web_deployments::public_base(state, headers);
    Ok(MediaRef {
        url: super::uploads::public_link(&base, &upload.token),
        content_type: stored.content_type,
        size: u64::try_from(stored.size).ok(),
        id: Some(media_id),
    })
}

/// Who acted, as the entry's note names them.
fn operator(caller: &Caller) -> String {
    match caller.agent_id {
        Some(agent) => format!("agent {agent}"),
        None => format!("API token {}", caller.token_id),
    }
}

/// Checks the caller may act on the entry's session (an agent only on their own sessions).
async fn may_act_on(state: &AppState, caller: &Caller, entry_id: Uuid) -> Result<(), ApiError> {
    let entry = state.store.entry(entry_id).await?;
    let session = state.store.session(entry.session_id).await?;
    caller.require_session_write(state, &session).await
}

#[utoipa::path(post, path = "/api/v1/messages/{id}/resend",
    extensions(("x-permission" = json!("send_receive"))), tag = "conversations",
    params(("id" = Uuid, Path, description = "the entry")),
    responses(
        (status = 200, body = EntryView, description = "queued again with a new send job"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "not an outbound message whose outcome is unknown or that failed")))]
pub async fn resend_message(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<EntryView>, ApiError> {
    may_act_on(&state, &caller, id).await?;
    let entry = parley_engine::service::deliveries::resend(
        &state.store,
        &state.engine.events,
        id,
        &operator(&caller),
        state.clock.now(),
    )
    .await?;
    state.engine.wake_outbound();
    Ok(Json(EntryView::from(entry)))
}

#[utoipa::path(post, path = "/api/v1/messages/{id}/mark-failed",
    extensions(("x-permission" = json!("send_receive"))), tag = "conversations",
    params(("id" = Uuid, Path, description = "the entry")),
    responses(
        (status = 200, body = EntryView, description = "failed with code 0002"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "not an outbound message whose outcome is unknown")))]
pub async fn mark_message_failed(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<EntryView>, ApiError> {
    may_act_on(&state, &caller, id).await?;
    let entry = parley_engine::service::deliveries::mark_failed(
        &state.store,
        &state.engine.events,
        id,
        &operator(&caller),
        state.clock.now(),
    )
    .await?;
    Ok(Json(EntryView::from(entry)))
}

#[utoipa::path(get, path = "/api/v1/media/{id}",
    extensions(("x-permission" = json!(["view_all_conversations", "view_queue_conversations"]))), tag = "conversations",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "the file: images, audio and video inline with their own type; anything else as an application/octet-stream attachment",
            content_type = "application/octet-stream"),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn get_media(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    caller.require_media_read(&state, id).await?;
    let (row, bytes) = match state.engine.media.open(id).await {
        Ok(found) => found,
        Err(MediaError::Store(e)) => return Err(e.into()),
        Err(MediaError::Missing) => return Err(ApiError::not_found("media")),
        Err(e) => {
            tracing::error!(error = %e, media = %id, "stored media unreadable");
            return Err(ApiError::coded(
                crate::error::ApiErrorCode::Internal,
                "the file could not be read; it has been logged",
            ));
        }
    };
    // Customers choose these bytes: the browser must not guess a type (nosniff), and only
    // images, audio and video a browser plays are shown inline with their own type; anything
    // else (HTML, SVG, XML, scripts, unknown or malformed types) is an octet-stream download,
    // and the sandbox CSP keeps even a mistaken render from running script on this origin.
    let served = parley_core::media::served_as(&row.content_type);
    let disposition = if served.inline {
        "inline".to_owned()
    } else {
        match served.extension {
            Some(ext) => format!("attachment; filename=\"{id}.{ext}\""),
            None => format!("attachment; filename=\"{id}\""),
        }
    };
    // `served_as` only hands back well-formed types, so this always holds one.
    let content_type = HeaderValue::from_str(&served.content_type)
        .unwrap_or(HeaderValue::from_static(parley_core::media::OCTET_STREAM));
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, bytes.len())
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::CONTENT_DISPOSITION, disposition)
        .header(header::CACHE_CONTROL, "private, max-age=3600")
        .header(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; sandbox",
        )
        .body(Body::from(bytes))
        .map_err(|e| {
            tracing::error!(error = %e, media = %id, "media headers");
            ApiError::coded(
                crate::error::ApiErrorCode::Internal,
                "the file could not be served; it has been logged",
            )
        })
}
