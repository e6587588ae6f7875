//! Close Conversation (SE-20): ends every open session of a customer's conversation with a
//! reason; the customer's next message starts a new conversation. Needs `end_sessions`, and write
//! access to the sessions it ends (their owner) unless the caller holds `supervise`. The write
//! itself is `parley_engine::service::conversations::close_conversation`, shared with the console.

use axum::extract::State;
use axum::{Extension, Json};
use parley_core::access::Permission;
use parley_engine::service::conversations::{ClosedBy, ConversationClosed, close_conversation};
use parley_store::Session;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ErrorBody};

/// The routes of this module, merged into the API in `crate::app`.
pub fn close_conversation_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(close))
        .routes(routes!(close_of_session))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseBody {
    /// Why the conversation is closed (at most 500 characters); kept in the transcript of each
    /// session the close ends.
    pub reason: String,
}

#[utoipa::path(post, path = "/api/v1/conversations/{conversation_id}/close", tag = "conversations",
    params(("conversation_id" = Uuid, Path)), request_body = CloseBody,
    extensions(("x-permission" = json!("end_sessions"))),
    responses((status = 200, body = ConversationClosed),
        (status = 403, body = ErrorBody, description = "Without `end_sessions`, or a session is another agent's"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "Already closed, or a session moved meanwhile"),
        (status = 422, body = ErrorBody)))]
pub async fn close(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(conversation_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<CloseBody>,
) -> Result<Json<ConversationClosed>, ApiError> {
    caller.require(Permission::EndSessions)?;
    let sessions = state
        .store
        .sessions_of_conversation(conversation_id)
        .await?;
    closing(&state, &caller, conversation_id, &sessions, &body.reason).await
}

#[utoipa::path(post, path = "/api/v1/sessions/{id}/close-conversation", tag = "conversations",
    params(("id" = Uuid, Path)), request_body = CloseBody,
    extensions(("x-permission" = json!("end_sessions"))),
    responses((status = 200, body = ConversationClosed),
        (status = 403, body = ErrorBody, description = "Without `end_sessions`, or a session is another agent's"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "Already closed, or a session moved meanwhile"),
        (status = 422, body = ErrorBody)))]
pub async fn close_of_session(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<CloseBody>,
) -> Result<Json<ConversationClosed>, ApiError> {
    caller.require(Permission::EndSessions)?;
    let session = caller.require_session_read(&state, id).await?;
    let sessions = state
        .store
        .sessions_of_conversation(session.conversation_id)
        .await?;
    closing(
        &state,
        &caller,
        session.conversation_id,
        &sessions,
        &body.reason,
    )
    .await
}

/// Checks the caller may end what the close ends, then closes. A conversation the caller may not
/// read is a 404, as if it did not exist.
async fn closing(
    state: &AppState,
    caller: &Caller,
    conversation_id: Uuid,
    sessions: &[Session],
    reason: &str,
) -> Result<Json<ConversationClosed>, ApiError> {
    let open: Vec<&Session> = sessions.iter().filter(|s| s.status.is_open()).collect();
    let checked: Vec<&Session> = match (open.is_empty(), sessions.last()) {
        (false, _) => open,
        (true, Some(latest)) => vec![latest],
        (true, None) => return Err(ApiError::not_found("conversation")),
    };
    for s in &checked {
        caller
            .require_session_read(state, s.id)
            .await
            .map_err(|_| ApiError::not_found("conversation"))?;
    }
    if !caller.permissions.contains(Permission::Supervise) {
        for s in &checked {
            caller.require_session_write(state, s).await?;
        }
    }
    let by = ClosedBy {
        agent_id: caller.agent_id,
        token_id: (!caller.token_id.is_nil()).then_some(caller.token_id),
    };
    Ok(Json(
        close_conversation(&state.engine.desk, conversation_id, reason, by).await?,
    ))
}
