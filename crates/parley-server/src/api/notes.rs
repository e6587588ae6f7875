//! Internal notes, supervisor whispers and tags (issue 15): `POST /api/v1/sessions/{id}/notes`,
//! `PUT /api/v1/sessions/{id}/tags`, `PUT /api/v1/contacts/{id}/tags`, `GET /api/v1/tags`.
//! Notes show in the person's timeline (`console::api::timeline`), never on the customer's side.

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_engine::service::notes::{self, NoteDesk, NoteError, NoteInput, TagsInput};
use parley_store::Tagged;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::time;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiErrorCode, ApiJson, ApiPath, ApiQuery, ErrorBody};

impl From<NoteError> for ApiError {
    fn from(e: NoteError) -> Self {
        match e {
            NoteError::Invalid(m) => ApiError::invalid(m),
            NoteError::Forbidden(m) => ApiError::coded(ApiErrorCode::Forbidden, m),
            NoteError::NotFound(what) => ApiError::not_found(what),
            NoteError::Store(e) => ApiError::from(e),
        }
    }
}

/// A note or whisper as written.
#[derive(Debug, Serialize, ToSchema)]
pub struct NoteView {
    pub id: Uuid,
    pub session_id: Uuid,
    pub author_id: Option<Uuid>,
    pub author_name: Option<String>,
    pub body: String,
    /// The agent a whisper is for; `null` for a plain note.
    pub whisper_to: Option<Uuid>,
    pub created_at: String,
}

/// The tags of a session or contact, as stored (normalized, alphabetical).
#[derive(Debug, Serialize, ToSchema)]
pub struct TagsView {
    pub tags: Vec<String>,
}

/// Known tags matching the start of `q`, alphabetical.
#[derive(Debug, Serialize, ToSchema)]
pub struct TagSuggestions {
    pub items: Vec<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TagQuery {
    /// The start of a tag (any case); empty lists the first tags.
    #[serde(default)]
    pub q: String,
}

/// Most suggestions answered.
const SUGGESTIONS: i64 = 10;

#[utoipa::path(post, path = "/api/v1/sessions/{id}/notes", tag = "conversations",
    params(("id" = Uuid, Path)), request_body = NoteInput,
    extensions(("x-permission" = json!(["send_receive", "supervise"]))),
    responses((status = 201, body = NoteView),
              (status = 403, body = ErrorBody, description = "Not the session's agent and no supervise; a whisper without supervise"),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_note(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<NoteInput>,
) -> Result<(StatusCode, Json<NoteView>), ApiError> {
    let Some(agent_id) = caller.agent_id else {
        return Err(ApiError::coded(
            ApiErrorCode::Forbidden,
            "a note is an agent's: sign in to the console or use an agent's token",
        ));
    };
    let author = state.store.agent(agent_id).await?;
    let desk = NoteDesk {
        store: &state.store,
        sensitive: &state.engine.sensitive,
        events: Some(&state.engine.events),
    };
    let note = notes::add(
        desk,
        &author,
        caller.permissions,
        id,
        &input,
        state.clock.now(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(NoteView {
            id: note.id,
            session_id: note.session_id,
            author_id: note.author_id,
            author_name: Some(author.name),
            body: note.body,
            whisper_to: note.whisper_to,
            created_at: time(note.created_at),
        }),
    ))
}

#[utoipa::path(put, path = "/api/v1/sessions/{id}/tags", tag = "conversations",
    params(("id" = Uuid, Path)), request_body = TagsInput,
    extensions(("x-permission" = json!("send_receive"))),
    responses((status = 200, body = TagsView), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "A tag empty or over 40 characters, or more than 20")))]
pub async fn set_session_tags(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<TagsInput>,
) -> Result<Json<TagsView>, ApiError> {
    caller.require_session_read(&state, id).await?;
    let tags =
        notes::set_tags(&state.store, Tagged::Session(id), &input, state.clock.now()).await?;
    Ok(Json(TagsView { tags }))
}

#[utoipa::path(put, path = "/api/v1/contacts/{id}/tags", tag = "contacts",
    params(("id" = Uuid, Path)), request_body = TagsInput,
    extensions(("x-permission" = json!("send_receive"))),
    responses((status = 200, body = TagsView), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "A tag empty or over 40 characters, or more than 20")))]
pub async fn set_contact_tags(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<TagsInput>,
) -> Result<Json<TagsView>, ApiError> {
    let tags =
        notes::set_tags(&state.store, Tagged::Contact(id), &input, state.clock.now()).await?;
    Ok(Json(TagsView { tags }))
}

#[utoipa::path(get, path = "/api/v1/tags", tag = "conversations", params(TagQuery),
    extensions(("x-permission" = json!(["send_receive", "view_all_conversations", "view_queue_conversations"]))),
    responses((status = 200, body = TagSuggestions)))]
pub async fn suggest_tags(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<TagQuery>,
) -> Result<Json<TagSuggestions>, ApiError> {
    let prefix = parley_core::notes::normalize_tag(&q.q);
    if prefix.chars().count() > parley_core::notes::MAX_TAG_CHARS {
        return Ok(Json(TagSuggestions { items: Vec::new() }));
    }
    let items = state.store.tag_suggestions(&prefix, SUGGESTIONS).await?;
    Ok(Json(TagSuggestions { items }))
}

pub fn notes_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add_note))
        .routes(routes!(set_session_tags))
        .routes(routes!(set_contact_tags))
        .routes(routes!(suggest_tags))
}
