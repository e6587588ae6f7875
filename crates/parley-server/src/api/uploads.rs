//! The composer's files (issue 15, AG-06): what the session's channel accepts
//! (`GET /api/v1/sessions/{id}/media-rules`), an agent's upload checked against it
//! (`POST /api/v1/sessions/{id}/media`, the file's bytes as the body), and the public link a
//! provider fetches a sent upload from (`GET /media/o/{token}`). The message itself goes through
//! `POST /api/v1/sessions/{id}/messages` with `media_ids`.
//!
//! The body is the raw file with its `Content-Type` (as the widget's uploads), not a multipart
//! form: one file per message, and a browser's `XMLHttpRequest` reports the upload's progress
//! either way.

use axum::Extension;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use parley_engine::media::MediaError;
use parley_engine::service::uploads::{self, MAX_UPLOAD_BYTES, UploadError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiErrorCode, ApiPath, ErrorBody};

/// A type the channel sends, with its largest size.
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedType {
    pub content_type: String,
    pub max_bytes: u64,
}

/// What the composer may attach in this session.
#[derive(Debug, Serialize, ToSchema)]
pub struct MediaRules {
    /// Empty when no file can be sent here.
    pub accepts: Vec<AcceptedType>,
    /// Why no file can be sent on this channel (no MMS, a provider without files), or null.
    #[schema(nullable)]
    pub unavailable: Option<String>,
    /// The reason as a code: "provider" (no files through this provider) or "country" (MMS
    /// outside the US and Canada); null when files go.
    #[schema(nullable)]
    pub unavailable_code: Option<&'static str>,
    /// The largest upload the server takes on any channel.
    pub max_upload_bytes: u64,
}

/// A stored upload, to send with `media_ids` in the session's next message.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadedMedia {
    pub id: Uuid,
    pub content_type: String,
    pub size: u64,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct TokenPath {
    pub token: String,
}

/// The routes of the composer's files, under the API's authentication.
pub fn composer_routes() -> OpenApiRouter<AppState> {
    let upload = OpenApiRouter::new()
        .routes(routes!(upload_media))
        .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES));
    OpenApiRouter::new()
        .routes(routes!(media_rules))
        .merge(upload)
}

#[utoipa::path(get, path = "/api/v1/sessions/{id}/media-rules",
    extensions(("x-permission" = json!("send_receive"))), tag = "conversations",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = MediaRules), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn media_rules(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<MediaRules>, ApiError> {
    let session = state.store.session(id).await?;
    caller.require_session_write(&state, &session).await?;
    let channel = state.store.channel(session.channel_id).await?;
    let rules = uploads::rules_for(&channel);
    Ok(Json(MediaRules {
        accepts: rules
            .accepts
            .into_iter()
            .map(|(ct, max)| AcceptedType {
                content_type: ct.to_owned(),
                max_bytes: max,
            })
            .collect(),
        unavailable: rules.unavailable,
        unavailable_code: rules.unavailable_code,
        max_upload_bytes: MAX_UPLOAD_BYTES as u64,
    }))
}

#[utoipa::path(post, path = "/api/v1/sessions/{id}/media",
    extensions(("x-permission" = json!("send_receive"))), tag = "conversations",
    params(("id" = Uuid, Path)),
    request_body(content = Vec<u8>, description = "the file's bytes, with its type as Content-Type; at most the channel's limit for that type",
        content_type = "application/octet-stream"),
    responses(
        (status = 201, body = UploadedMedia),
        (status = 403, body = ErrorBody, description = "not the caller's session"),
        (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody, description = "larger than any channel takes"),
        (status = 422, body = ErrorBody, description = "the channel's media rules refuse the file: the message names the limit")))]
pub async fn upload_media(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let session = state.store.session(id).await?;
    caller.require_session_write(&state, &session).await?;
    let channel = state.store.channel(session.channel_id).await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ApiError::invalid("Content-Type: give the file's type (image/png...)"))?;
    match uploads::upload(
        &state.store,
        &state.engine.media,
        state.clock.as_ref(),
        &session,
        &channel,
        caller.agent_id,
        content_type,
        body.to_vec(),
    )
    .await
    {
        Ok((_, stored)) => Ok((
            StatusCode::CREATED,
            Json(UploadedMedia {
                id: stored.id,
                content_type: stored.content_type,
                size: u64::try_from(stored.size).unwrap_or(0),
            }),
        )
            .into_response()),
        Err(UploadError::Refused { code, reason }) => Err(ApiError::invalid(format!(
            "file: {reason} (error {})",
            code.code()
        ))),
        Err(UploadError::Media(MediaError::TooLarge { limit })) => Err(ApiError::coded(
            ApiErrorCode::PayloadTooLarge,
            format!("file: at most {limit} bytes"),
        )),
        Err(UploadError::Media(MediaError::Store(e)) | UploadError::Store(e)) => Err(e.into()),
        Err(UploadError::Media(e)) => {
            tracing::error!(error = %e, session = %id, "agent upload not stored");
            Err(ApiError::coded(
                ApiErrorCode::Internal,
                "the file could not be stored; it has been logged",
            ))
        }
    }
}

/// A sent upload, for the provider that delivers it (the token is its only key; an upload not
/// yet sent is not served). Outside `/api`: providers bring no credentials.
pub async fn public_media(
    State(state): State<AppState>,
    axum::extract::Path(TokenPath { token }): axum::extract::Path<TokenPath>,
) -> Response {
    let valid = token.len() == 48 && token.bytes().all(|b| b.is_ascii_hexdigit());
    let found = if valid {
        state.store.sent_upload_by_token(&token).await.ok()
    } else {
        None
    };
    let Some(upload) = found else {
        return ApiError::not_found("media").into_response();
    };
    let (row, bytes) = match state.engine.media.open(upload.media_id).await {
        Ok(found) => found,
        Err(_) => return ApiError::not_found("media").into_response(),
    };
    let content_type = HeaderValue::from_str(&row.content_type)
        .unwrap_or(HeaderValue::from_static(parley_core::media::OCTET_STREAM));
    (
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; sandbox"),
            ),
        ],
        Body::from(bytes),
    )
        .into_response()
}

/// The public link of an upload (what the provider fetches).
pub fn public_link(base: &str, token: &str) -> String {
    format!("{}/media/o/{token}", base.trim_end_matches('/'))
}
