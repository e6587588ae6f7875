//! The agent's side of the REST API (docs/console-api.md): presence, work, offers, session actions,
//! a customer's history, the supervisor's overview. These act as the signed-in agent, so they need
//! the console cookie (and its CSRF token to change anything); an API token has no agent behind it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use parley_core::access::{Permission, SessionScope};
use parley_core::model::Presence;
use parley_engine::agents::{AgentActionError, TransferTo};
use parley_store::Agent;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::console::session::ConsoleSession;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};

impl From<AgentActionError> for ApiError {
    fn from(e: AgentActionError) -> Self {
        match e {
            AgentActionError::NotFound(what) => ApiError::not_found(what),
            AgentActionError::Forbidden(m) => {
                ApiError::coded(crate::error::ApiErrorCode::Forbidden, m)
            }
            AgentActionError::Conflict(m) => {
                ApiError::coded(crate::error::ApiErrorCode::Conflict, m)
            }
            AgentActionError::Invalid(m) => ApiError::invalid(m),
            AgentActionError::Store(e) => ApiError::from(e),
        }
    }
}

/// The agent behind the request; API tokens are refused here.
fn agent(session: Option<Extension<ConsoleSession>>) -> Result<Agent, ApiError> {
    session.map(|Extension(s)| s.agent).ok_or_else(|| {
        ApiError::coded(
            crate::error::ApiErrorCode::Forbidden,
            "this action is an agent's: sign in to the console",
        )
    })
}

#[utoipa::path(get, path = "/api/v1/me", tag = "console",
    extensions(("x-permission" = json!("signed_in"))),
    responses((status = 200, description = "Who is calling: `id`, `name`, `email`, `role`, `locale` \
        and `permissions` (names); for a signed-in agent or an agent's token also `agent` and `load`")))]
pub async fn me(
    State(state): State<AppState>,
    Extension(caller): Extension<crate::auth::Caller>,
) -> Result<Response, ApiError> {
    let permissions: Vec<&str> = caller.permissions.iter().map(|p| p.as_str()).collect();
    let Some(agent_id) = caller.agent_id else {
        // A token of no agent: it is itself the caller.
        let token = state.store.api_token(caller.token_id).await?;
        return Ok(Json(json!({
            "id": null,
            "name": token.name,
            "email": null,
            "role": caller.role.as_str(),
            "locale": "en",
            "token_id": token.id,
            "permissions": permissions,
        }))
        .into_response());
    };
    let agent = state.store.agent(agent_id).await?;
    let loads = parley_engine::routing::agent_loads(&state.store).await?;
    Ok(Json(json!({
        "id": agent.id,
        "name": agent.name,
        "email": agent.email,
        "role": caller.role.as_str(),
        "locale": agent.locale.as_str(),
        "time_zone": agent.time_zone,
        "permissions": permissions,
        "agent": agent,
        "load": loads.get(&agent.id).copied().unwrap_or(0),
    }))
    .into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresenceBody {
    /// available, on_break, busy or offline
    pub presence: String,
}

#[utoipa::path(put, path = "/api/v1/me/presence",
    extensions(("x-permission" = json!("presence_status"))), tag = "console", request_body = PresenceBody,
    responses((status = 200, description = "The agent with the new presence")))]
pub async fn set_presence(
    State(state): State<AppState>,
    session: Option<Extension<ConsoleSession>>,
    ApiJson(body): ApiJson<PresenceBody>,
) -> Result<Response, ApiError> {
    let agent = agent(session)?;
    let presence: Presence = body
        .presence
        .parse()
        .map_err(|e| ApiError::invalid(format!("presence: {e}")))?;
    let agent = state.engine.desk.set_presence(&agent, presence).await?;
    Ok(Json(json!({ "agent": agent })).into_response())
}

#[utoipa::path(get, path = "/api/v1/me/work",
    extensions(("x-permission" = json!("signed_in"))), tag = "console",
    responses((status = 200, description = "Offers and sessions of the signed-in agent")))]
pub async fn work(
    State(state): State<AppState>,
    session: Option<Extension<ConsoleSession>>,
) -> Result<Response, ApiError> {
    let agent = agent(session)?;
    Ok(Json(state.engine.desk.work(&agent).await?).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct IdPath {
    pub id: Uuid,
}

macro_rules! session_action {
    ($name:ident, $path:literal, $permission:literal, $doc:literal, |$state:ident, $agent:ident, $id:ident| $body:expr) => {
        session_action!($name, $path, $permission, 200, $doc, |$state, $agent, $id| $body);
    };
    ($name:ident, $path:literal, $permission:literal, $status:literal, $doc:literal, |$state:ident, $agent:ident, $id:ident| $body:expr) => {
        #[utoipa::path(post, path = $path, tag = "console", params(IdPath),
            extensions(("x-permission" = json!($permission))),
            responses((status = $status, description = $doc), (status = 409, description = "The session moved meanwhile")))]
        pub async fn $name(
            State($state): State<AppState>,
            session: Option<Extension<ConsoleSession>>,
            ApiPath(IdPath { id: $id }): ApiPath<IdPath>,
        ) -> Result<Response, ApiError> {
            let $agent = agent(session)?;
            $body
        }
    };
}

session_action!(
    accept,
    "/api/v1/sessions/{id}/accept",
    "send_receive",
    "The accepted session as a work item",
    |state, agent, id| {
        let session = state.engine.desk.accept(&agent, id).await?;
        let now = state.clock.now();
        Ok(Json(state.engine.desk.item(&agent, session, None, now).await?).into_response())
    }
);

session_action!(
    decline,
    "/api/v1/sessions/{id}/decline",
    "send_receive",
    204,
    "Declined; it goes to someone else",
    |state, agent, id| {
        state.engine.desk.decline(&agent, id).await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    }
);

session_action!(
    end,
    "/api/v1/sessions/{id}/end",
    "end_sessions",
    "The ended session",
    |state, agent, id| Ok(Json(state.engine.desk.end(&agent, id).await?).into_response())
);

session_action!(
    inactive,
    "/api/v1/sessions/{id}/inactive",
    "end_sessions",
    "The session, now inactive",
    |state, agent, id| Ok(Json(state.engine.desk.mark_inactive(&agent, id).await?).into_response())
);

session_action!(
    read,
    "/api/v1/sessions/{id}/read",
    "send_receive",
    204,
    "Marked read",
    |state, agent, id| {
        state.engine.desk.mark_read(&agent, id).await?;
        // The customer's app shows it read where the channel has receipts (fire and forget).
        parley_engine::signals::signal_customer(
            state.store.clone(),
            id,
            parley_engine::signals::AgentSignal::Read,
        );
        Ok(StatusCode::NO_CONTENT.into_response())
    }
);

session_action!(
    opt_out,
    "/api/v1/messaging-users/{id}/opt-out",
    "send_receive",
    "The messaging user, opted out",
    |state, agent, id| Ok(Json(state.engine.desk.opt_out(&agent, id).await?).into_response())
);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    pub agent_id: Option<Uuid>,
    pub queue_id: Option<Uuid>,
    /// A flow (a bot) by id: it takes the conversation (RT-09).
    #[serde(default)]
    pub flow_id: Option<Uuid>,
}

#[utoipa::path(post, path = "/api/v1/sessions/{id}/transfer",
    extensions(("x-permission" = json!("send_receive"))), tag = "console", params(IdPath),
    request_body = TransferBody, responses((status = 200, description = "The session, waiting for the target")))]
pub async fn transfer(
    State(state): State<AppState>,
    session: Option<Extension<ConsoleSession>>,
    ApiPath(IdPath { id }): ApiPath<IdPath>,
    ApiJson(body): ApiJson<TransferBody>,
) -> Result<Response, ApiError> {
    let agent = agent(session)?;
    let to = match (body.agent_id, body.queue_id, body.flow_id) {
        (Some(a), None, None) => TransferTo::Agent(a),
        (None, Some(q), None) => TransferTo::Queue(q),
        (None, None, Some(f)) => TransferTo::Flow(f),
        _ => {
            return Err(ApiError::invalid(
                "give exactly one of agent_id, queue_id and flow_id",
            ));
        }
    };
    Ok(Json(state.engine.desk.transfer(&agent, id, to).await?).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    pub case_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
}

#[utoipa::path(post, path = "/api/v1/sessions/{id}/link",
    extensions(("x-permission" = json!("send_receive"))), tag = "console", params(IdPath),
    request_body = LinkBody, responses((status = 200, description = "The linked session")))]
pub async fn link(
    State(state): State<AppState>,
    session: Option<Extension<ConsoleSession>>,
    ApiPath(IdPath { id }): ApiPath<IdPath>,
    ApiJson(body): ApiJson<LinkBody>,
) -> Result<Response, ApiError> {
    let agent = agent(session)?;
    if body.case_id.is_none() && body.contact_id.is_none() {
        return Err(ApiError::invalid("give a case_id, a contact_id or both"));
    }
    Ok(Json(
        state
            .engine
            .desk
            .link(&agent, id, body.case_id, body.contact_id)
            .await?,
    )
    .into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    /// Who to write to; or give the contact or case the conversation starts from (AG-11, AG-13).
    pub messaging_user_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    pub case_id: Option<Uuid>,
    /// The first message; on WhatsApp outside the care window, give an approved `template`.
    #[serde(default)]
    pub body: String,
    pub template: Option<crate::api::messages::TemplateInput>,
}

#[utoipa::path(post, path = "/api/v1/conversations",
    extensions(("x-permission" = json!("agent_outbound"))), tag = "console", request_body = StartBody,
    responses((status = 201, description = "The new agent-initiated session as a work item")))]
pub async fn start_conversation(
    State(state): State<AppState>,
    session: Option<Extension<ConsoleSession>>,
    ApiJson(body): ApiJson<StartBody>,
) -> Result<Response, ApiError> {
    let agent = agent(session)?;
    let desk = &state.engine.desk;
    let user = desk
        .recipient(body.messaging_user_id, body.contact_id, body.case_id)
        .await?;
    let message = parley_engine::compose::OutgoingMessage {
        body: body.body,
        media: Vec::new(),
        template: body.template.map(|t| parley_engine::compose::TemplateSend {
            name: t.name,
            language: t.language,
            parameters: t.parameters,
        }),
        component: None,
    };
    let session = desk.start_conversation(&agent, user, message).await?;
    let now = state.clock.now();
    let item = state.engine.desk.item(&agent, session, None, now).await?;
    Ok((StatusCode::CREATED, Json(item)).into_response())
}

#[utoipa::path(get, path = "/api/v1/messaging-users/{id}/timeline",
    extensions(("x-permission" = json!(["view_all_conversations", "view_queue_conversations"]))), tag = "console", params(IdPath),
    responses((status = 200, description = "Every entry of this person across channels and sessions, oldest first, \
        with the sessions' internal notes (`direction` `note`, with `author_name` and `whisper_to`) the reader may read")))]
pub async fn timeline(
    State(state): State<AppState>,
    session: Option<Extension<ConsoleSession>>,
    Extension(caller): Extension<crate::auth::Caller>,
    ApiPath(IdPath { id }): ApiPath<IdPath>,
) -> Result<Response, ApiError> {
    let _ = session;
    // A person's history spans their sessions: an agent reads it when they may read one of them
    // (the one they work on), and sees the rest of the person's history with it.
    if let SessionScope::Agent(_) | SessionScope::Nothing = caller.session_scope() {
        let filter = parley_store::SessionFilter {
            messaging_user_id: Some(id),
            ..Default::default()
        };
        let one = parley_store::PageRequest::new(None, 1);
        let readable = match caller.session_scope() {
            SessionScope::Agent(agent) => !state
                .store
                .list_sessions_visible_to(agent, filter, one)
                .await?
                .items
                .is_empty(),
            _ => false,
        };
        if !readable {
            return Err(ApiError::not_found("messaging user"));
        }
    }
    crate::api::audit_log::timeline_opened(&state, &caller, id).await?;
    // Notes merged in; a whisper only for its agent and for supervisors and admins.
    let reader = parley_core::notes::NoteReader {
        agent_id: caller.agent_id,
        supervises: caller.permissions.contains(Permission::Supervise),
    };
    let entries = state
        .engine
        .desk
        .timeline_with_notes(id, 500, reader)
        .await?;
    Ok(Json(json!({ "entries": entries })).into_response())
}

#[utoipa::path(get, path = "/api/v1/supervisor/overview",
    extensions(("x-permission" = json!("supervise"))), tag = "console",
    responses((status = 200, body = parley_engine::board::Overview,
        description = "Queues with their waiting sessions (customer, channel, first message, age, \
        offer), agents with presence and load (conversations and pending offers apart)")))]
pub async fn overview(
    State(state): State<AppState>,
) -> Result<Json<parley_engine::board::Overview>, ApiError> {
    Ok(Json(state.engine.desk.overview().await?))
}

#[utoipa::path(get, path = "/api/v1/queues/{id}/estimated-wait",
    extensions(("x-permission" = json!("signed_in"))), tag = "console", params(IdPath),
    responses((status = 200, body = EstimatedWait)))]
pub async fn estimated_wait(
    State(state): State<AppState>,
    ApiPath(IdPath { id }): ApiPath<IdPath>,
) -> Result<Response, ApiError> {
    state.store.queue(id).await?;
    let minutes = state.engine.desk.estimated_wait(id).await?;
    Ok(Json(EstimatedWait { minutes }).into_response())
}

/// A queue's estimated wait (RT-10).
#[derive(Debug, Serialize, ToSchema)]
pub struct EstimatedWait {
    /// Whole minutes; null without enough data.
    pub minutes: Option<u32>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct SearchParams {
    #[serde(default)]
    pub q: String,
}

#[utoipa::path(get, path = "/api/v1/agents/transfer-targets",
    extensions(("x-permission" = json!("send_receive"))), tag = "console", params(SearchParams),
    responses((status = 200, description = "Up to five agents, alphabetical, without their status (RT-09)")))]
pub async fn transfer_targets(
    State(state): State<AppState>,
    session: Option<Extension<ConsoleSession>>,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Response, ApiError> {
    let agent = agent(session)?;
    let items: Vec<_> = state
        .engine
        .desk
        .transfer_targets(&agent, &params.q)
        .await?
        .into_iter()
        .map(|(id, name)| json!({"id": id, "name": name}))
        .collect();
    Ok(Json(json!({ "items": items })).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    /// At least 12 characters.
    pub password: String,
    /// The password being replaced: required when agents change their own (a stolen session or
    /// token must not be enough to take the account over); not when an admin sets another's.
    #[serde(default)]
    pub current_password: Option<String>,
}

#[utoipa::path(put, path = "/api/v1/agents/{id}/password",
    extensions(("x-permission" = json!("signed_in"))), tag = "console", params(IdPath),
    request_body = PasswordBody,
    responses((status = 204, description = "The agent's console password is set; the agent's other consoles are signed out"),
              (status = 403, description = "Only admins, or the agent themself with the current password"),
              (status = 422, description = "The new password is too short or long, or current_password is missing")))]
pub async fn set_password(
    State(state): State<AppState>,
    Extension(caller): Extension<crate::auth::Caller>,
    headers: axum::http::HeaderMap,
    ApiPath(IdPath { id }): ApiPath<IdPath>,
    ApiJson(body): ApiJson<PasswordBody>,
) -> Result<Response, ApiError> {
    let own = caller.agent_id == Some(id);
    if !own {
        caller.require(Permission::ManageUsers)?;
    }
    parley_engine::service::agents::check_password(&body.password)?;
    // Read first: hashing is slow, and a missing agent needs none.
    let agent = state.store.agent(id).await?;
    // Through the sign-in's gate: each hash takes 19 MiB, and this endpoint must not be a way
    // around the cap on how many run at once.
    let Some(_slot) = state.login_limiter.hash_slot().await else {
        return Err(ApiError::coded(
            crate::error::ApiErrorCode::Unavailable,
            "the server is busy hashing passwords; try again in a few seconds",
        ));
    };
    if own {
        let current = body
            .current_password
            .filter(|p| !p.is_empty())
            .ok_or_else(|| {
                ApiError::invalid("current_password: give the password being replaced")
            })?;
        let stored = agent.password_hash.clone().unwrap_or_default();
        let matches = current.len() <= 1024
            && tokio::task::spawn_blocking(move || {
                crate::console::auth::verify_password(&current, &stored)
            })
            .await
            .unwrap_or(false);
        if !matches {
            return Err(ApiError::coded(
                crate::error::ApiErrorCode::Forbidden,
                "current_password: the current password is wrong",
            ));
        }
    }
    let password = body.password;
    let hash = tokio::task::spawn_blocking(move || crate::console::auth::hash_password(&password))
        .await
        .map_err(|e| ApiError::invalid(format!("hashing failed: {e}")))?
        .map_err(ApiError::invalid)?;
    // The console that made the change stays signed in; every other one of the agent ends.
    let keep = crate::console::auth::cookie_token(&headers)
        .filter(|_| own)
        .map(|t| crate::auth::hash_token(&t));
    parley_engine::service::tokens::change_password(
        &state.store,
        id,
        &hash,
        keep.as_deref(),
        state.clock.now(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
