//! The supervisor's board and pick-from-queue (issue 15): an agent's open conversations for a
//! supervisor, assigning a waiting session to an agent, and the members of a `pick` queue listing
//! and taking its waiting sessions. The rules and writes are `parley_engine::board`'s.

use axum::extract::State;
use axum::{Extension, Json};
use parley_engine::board::{AgentDeskView, AgentSession, PickList};
use parley_store::Agent;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiErrorCode, ApiJson, ApiPath, ErrorBody};

/// The routes of this module, merged into the API in `crate::app`.
pub fn board_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(agent_sessions))
        .routes(routes!(assign))
        .routes(routes!(pick_list))
        .routes(routes!(take))
}

/// The agent behind the call: a console session's or an agent's token.
async fn calling_agent(state: &AppState, caller: &Caller) -> Result<Agent, ApiError> {
    let id = caller.agent_id.ok_or_else(|| {
        ApiError::coded(
            ApiErrorCode::Forbidden,
            "taking a session is an agent's action: sign in to the console",
        )
    })?;
    Ok(state.store.agent(id).await?)
}

/// The session as the agent who now has it sees it.
async fn as_seen_by(
    state: &AppState,
    agent: &Agent,
    session: parley_store::Session,
) -> Result<AgentSession, ApiError> {
    let now = state.clock.now();
    let item = state.engine.desk.item(agent, session, None, now).await?;
    Ok(parley_engine::board::agent_session(item, now))
}

#[utoipa::path(get, path = "/api/v1/supervisor/agents/{id}/sessions", tag = "console",
    params(("id" = Uuid, Path, description = "The agent")),
    extensions(("x-permission" = json!("supervise"))),
    responses((status = 200, body = AgentDeskView,
        description = "The agent's open conversations and pending offers, with their load"),
        (status = 404, body = ErrorBody)))]
pub async fn agent_sessions(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<AgentDeskView>, ApiError> {
    Ok(Json(state.engine.desk.agent_desk(id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// The agent who gets the session: one who may take it (a member of its queue, with its
    /// skills, holding `send_receive`) and is not offline.
    pub agent_id: Uuid,
    /// Assign even though the agent is at capacity (the board then shows them over it).
    #[serde(default)]
    pub over_capacity: bool,
}

#[utoipa::path(post, path = "/api/v1/sessions/{id}/assign", tag = "console",
    params(("id" = Uuid, Path, description = "A waiting session")), request_body = AssignBody,
    extensions(("x-permission" = json!("supervise"))),
    responses((status = 200, body = AgentSession,
        description = "The session, now Active and the agent's, as their console lists it"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The session no longer waits (taken, ended), or the agent is offline or at capacity without `over_capacity`"),
        (status = 422, body = ErrorBody, description = "`agent_id` names no agent, or one who may not take this session")))]
pub async fn assign(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<AssignBody>,
) -> Result<Json<AgentSession>, ApiError> {
    let desk = &state.engine.desk;
    let session = desk.assign(id, body.agent_id, body.over_capacity).await?;
    let agent = state.store.agent(body.agent_id).await?;
    Ok(Json(as_seen_by(&state, &agent, session).await?))
}

#[utoipa::path(get, path = "/api/v1/me/pick-queues", tag = "console",
    extensions(("x-permission" = json!("send_receive"))),
    responses((status = 200, body = PickList,
        description = "The waiting sessions of the pick-from-queue queues the agent belongs to")))]
pub async fn pick_list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<PickList>, ApiError> {
    let agent = calling_agent(&state, &caller).await?;
    Ok(Json(state.engine.desk.pick_list(&agent).await?))
}

#[utoipa::path(post, path = "/api/v1/sessions/{id}/take", tag = "console",
    params(("id" = Uuid, Path, description = "A session waiting in a pick-from-queue queue")),
    extensions(("x-permission" = json!("send_receive"))),
    responses((status = 200, body = AgentSession,
        description = "The session, now Active and the caller's"),
        (status = 403, body = ErrorBody, description = "Not a member of the session's queue"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Another agent took it first, it no longer waits, its queue is not a pick queue, or the caller is at capacity")))]
pub async fn take(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<AgentSession>, ApiError> {
    let agent = calling_agent(&state, &caller).await?;
    let session = state.engine.desk.take(&agent, id).await?;
    Ok(Json(as_seen_by(&state, &agent, session).await?))
}
