//! The agent's side of web chat (WEB-27, WEB-28): who the visitor of a web session is (pre-chat
//! answers under the deployment's labels, the verified identity, the page and browser they wrote
//! from, their earlier sessions), and typing indicators both ways (WEB-21).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use parley_core::model::{ChannelKind, SessionStatus};
use parley_engine::events::DomainEvent;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::auth::Caller;
use crate::console::api::IdPath;
use crate::console::session::ConsoleSession;
use crate::error::{ApiError, ApiErrorCode, ApiJson, ApiPath};

/// The routes of this module, merged into the authenticated API by `app()`.
pub fn visitor_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(session_visitor))
        .routes(routes!(agent_typing))
}

/// How many of the visitor's earlier sessions the panel lists (newest first); the conversation
/// view shows their whole history anyway.
const EARLIER_SESSIONS: usize = 10;

/// One pre-chat answer, under the label the deployment's form gave it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PrechatAnswer {
    /// The field's name (`first_name`, `plan`...).
    pub name: String,
    /// The form's label; the name when the deployment no longer has that field.
    pub label: String,
    /// As the visitor gave it (checkboxes as "true" or "false"). Customer text: escape it.
    pub value: String,
    /// Filled by the host page (`setHiddenFields`), not typed by the visitor.
    pub hidden: bool,
}

/// An earlier session of the same messaging user.
#[derive(Debug, Serialize, ToSchema)]
pub struct EarlierSession {
    pub id: Uuid,
    #[schema(value_type = String)]
    pub status: SessionStatus,
    pub started_at: String,
}

/// Who is on the other end of a web session.
#[derive(Debug, Serialize, ToSchema)]
pub struct VisitorView {
    pub deployment_id: Uuid,
    pub deployment_name: String,
    pub visitor_id: Uuid,
    /// The verified user id (the JWT's `sub`, WEB-19); `None` for an anonymous visitor.
    pub identity: Option<String>,
    pub verified: bool,
    /// In the order of the deployment's form, then any the form no longer has.
    pub prechat: Vec<PrechatAnswer>,
    /// The page the visitor wrote from, as they reported it.
    pub page_url: Option<String>,
    /// `page_url` when it is an http(s) address safe to render as a link; otherwise `None`, and
    /// the address is only shown as text.
    pub page_link: Option<String>,
    pub user_agent: Option<String>,
    /// The user agent in a few words ("Firefox 133 on Linux").
    pub browser: Option<String>,
    /// Up to ten, newest first.
    pub earlier_sessions: Vec<EarlierSession>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VisitorBody {
    /// `null` when the session is not a web chat (or predates what web chat records).
    pub visitor: Option<VisitorView>,
}

#[utoipa::path(get, path = "/api/v1/sessions/{id}/visitor",
    extensions(("x-permission" = json!(["view_all_conversations", "view_queue_conversations"]))), tag = "console", params(IdPath),
    responses((status = 200, body = VisitorBody,
        description = "The web visitor of this session: pre-chat answers, identity, page, browser, earlier sessions")))]
pub async fn session_visitor(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(IdPath { id }): ApiPath<IdPath>,
) -> Result<Json<VisitorBody>, ApiError> {
    let session = caller.require_session_read(&state, id).await?;
    let Some(data) = state.store.web_session_data(session.id).await? else {
        return Ok(Json(VisitorBody { visitor: None }));
    };
    let fields = match state.store.web_deployment(data.deployment_id).await {
        Ok(d) => d.prechat.fields,
        // Deleted since (its sessions' data goes with it, but a read may race the delete).
        Err(parley_store::StoreError::NotFound { .. }) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let mut answers = data.prechat.clone();
    let mut prechat = Vec::with_capacity(answers.len());
    for f in &fields {
        if let Some(value) = answers.remove(&f.name) {
            prechat.push(PrechatAnswer {
                name: f.name.clone(),
                // Hidden fields need no label on the form; the panel still names them.
                label: if f.label.trim().is_empty() {
                    f.name.clone()
                } else {
                    f.label.clone()
                },
                value,
                hidden: f.hidden,
            });
        }
    }
    prechat.extend(answers.into_iter().map(|(name, value)| PrechatAnswer {
        label: name.clone(),
        name,
        value,
        hidden: false,
    }));
    let filter = parley_store::SessionFilter {
        messaging_user_id: Some(session.messaging_user_id),
        ..Default::default()
    };
    // Oldest first from the store; a visitor with more sessions than a page shows only the first
    // page's newest, which the timeline makes up for.
    let mut earlier: Vec<EarlierSession> = state
        .store
        .list_sessions(filter, parley_store::PageRequest::new(None, 100))
        .await?
        .items
        .into_iter()
        .filter(|s| s.id != session.id && s.started_at <= session.started_at)
        .map(|s| EarlierSession {
            id: s.id,
            status: s.status,
            started_at: s.started_at.to_rfc3339(),
        })
        .collect();
    earlier.reverse();
    earlier.truncate(EARLIER_SESSIONS);
    let page_link = data
        .page_url
        .as_deref()
        .and_then(parley_core::visitor::page_link)
        .map(str::to_owned);
    let browser = data
        .user_agent
        .as_deref()
        .filter(|ua| !ua.trim().is_empty())
        .map(parley_core::visitor::browser_summary);
    Ok(Json(VisitorBody {
        visitor: Some(VisitorView {
            deployment_id: data.deployment_id,
            deployment_name: data.deployment_name,
            visitor_id: data.visitor_id,
            verified: data.identity.is_some(),
            identity: data.identity,
            prechat,
            page_url: data.page_url,
            page_link,
            user_agent: data.user_agent,
            browser,
            earlier_sessions: earlier,
        }),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TypingBody {
    /// true while the agent types; false once they stop or send.
    pub typing: bool,
}

#[utoipa::path(post, path = "/api/v1/sessions/{id}/typing",
    extensions(("x-permission" = json!("send_receive"))), tag = "console", params(IdPath),
    request_body = TypingBody,
    responses((status = 204, description = "Relayed to the visitor's stream (web sessions); nothing is stored"),
              (status = 409, description = "The session is not the agent's, or is closed")))]
pub async fn agent_typing(
    State(state): State<AppState>,
    session: Option<Extension<ConsoleSession>>,
    ApiPath(IdPath { id }): ApiPath<IdPath>,
    ApiJson(body): ApiJson<TypingBody>,
) -> Result<Response, ApiError> {
    let Some(Extension(console)) = session else {
        return Err(ApiError::coded(
            ApiErrorCode::Forbidden,
            "typing is an agent's: sign in to the console",
        ));
    };
    let agent = console.agent;
    let s = state.store.session(id).await?;
    if !parley_engine::routing::owned_by(&s, agent.id) {
        return Err(ApiError::coded(
            ApiErrorCode::Conflict,
            "this session is not yours: only its agent's typing is shown",
        ));
    }
    if matches!(s.status, SessionStatus::Ended | SessionStatus::Error) {
        return Err(ApiError::coded(
            ApiErrorCode::Conflict,
            "this session is closed",
        ));
    }
    // Web visitors see typing on their stream; WhatsApp and Messenger in their app.
    let channel = state.store.channel(s.channel_id).await?;
    if channel.kind == ChannelKind::Web {
        state.engine.events.publish(DomainEvent::AgentTyping {
            session_id: s.id,
            agent_id: agent.id,
            typing: body.typing,
        });
    } else {
        // WhatsApp and Messenger show typing in the customer's app (fire and forget).
        parley_engine::signals::signal_customer(
            state.store.clone(),
            s.id,
            parley_engine::signals::AgentSignal::Typing(body.typing),
        );
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
