//! Bearer API tokens. A token is `pk_` followed by 43 characters of URL-safe base64 (32 random
//! bytes); the database keeps only its SHA-256, so a leaked database does not leak tokens.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use parley_core::access::{Permission, PermissionSet, SessionScope, session_scope};
use parley_core::model::TokenRole;
use parley_store::Session;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;

/// Who is calling, attached to every authenticated request.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    /// The API token used; nil for a signed-in console.
    pub token_id: Uuid,
    pub role: TokenRole,
    /// The agent behind a console request, or the agent an agent-role token acts as.
    pub agent_id: Option<Uuid>,
    /// What this caller may do: every route checks one of these with [`Caller::require`].
    pub permissions: PermissionSet,
}

impl Caller {
    /// Who this caller is in the audit log: the signed-in agent for the console (no token), the
    /// token (and the agent it acts for) otherwise.
    pub fn audit_actor(&self) -> parley_core::audit::AuditActor {
        use parley_core::audit::AuditActor;
        match self.agent_id {
            Some(id) if self.token_id.is_nil() => AuditActor::Agent { id },
            agent_id => AuditActor::Token {
                id: self.token_id,
                agent_id,
            },
        }
    }

    /// Refuses with 403 unless the caller holds `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if self.permissions.contains(permission) {
            Ok(())
        } else {
            Err(ApiError::forbidden_permission(permission))
        }
    }

    /// `configure_messaging`. Routes declare their permission with `x-permission` in their
    /// `#[utoipa::path]` (`crate::api::permissions`); these two remain for handlers written
    /// against the seam before that.
    pub fn require_configure(&self) -> Result<(), ApiError> {
        self.require(Permission::ConfigureMessaging)
    }

    pub fn require_campaigns(&self) -> Result<(), ApiError> {
        self.require(Permission::ManageCampaigns)
    }

    /// The sessions this caller may read (`parley_core::access`).
    pub fn session_scope(&self) -> SessionScope {
        session_scope(self.permissions, self.agent_id)
    }

    /// Refuses a session the caller may not read with 404, as if it did not exist: an agent
    /// learns nothing about other queues' conversations, not even that they are there.
    pub async fn require_session_read(
        &self,
        state: &AppState,
        session_id: Uuid,
    ) -> Result<Session, ApiError> {
        self.require_conversations()?;
        let session = state.store.session(session_id).await?;
        let visible = match self.session_scope() {
            SessionScope::All => true,
            SessionScope::Agent(agent) => state.store.session_visible_to(agent, session_id).await?,
            SessionScope::Nothing => false,
        };
        if visible {
            Ok(session)
        } else {
            Err(ApiError::not_found("session"))
        }
    }

    /// A customer's file is read with its session: 404 for a file of a session the caller may
    /// not read (or of no session, for callers who do not read every session).
    pub async fn require_media_read(
        &self,
        state: &AppState,
        media_id: Uuid,
    ) -> Result<(), ApiError> {
        self.require_conversations()?;
        if self.session_scope() == SessionScope::All {
            return Ok(());
        }
        let entry_id = state
            .store
            .media(media_id)
            .await?
            .entry_id
            .ok_or_else(|| ApiError::not_found("media"))?;
        let entry = state.store.entry(entry_id).await?;
        self.require_session_read(state, entry.session_id)
            .await
            .map(|_| ())
            .map_err(|_| ApiError::not_found("media"))
    }

    /// Whether the caller may write into (send into, resend in) this session: the console's rule
    /// ([`parley_engine::agents::AgentDesk::may_handle`], with the caller's permissions: their own
    /// sessions, or any with `supervise`) for anyone acting as an agent; a token of no agent
    /// writes anywhere with `supervise`, nowhere without.
    pub async fn require_session_write(
        &self,
        state: &AppState,
        session: &Session,
    ) -> Result<(), ApiError> {
        self.require(Permission::SendReceive)?;
        match self.agent_id {
            Some(agent_id) => {
                let agent = state.store.agent(agent_id).await?;
                state
                    .engine
                    .desk
                    .may_handle(&agent, self.permissions, session)?;
                Ok(())
            }
            None if self.permissions.contains(Permission::Supervise) => Ok(()),
            None => Err(ApiError::coded(
                crate::error::ApiErrorCode::Forbidden,
                "this token acts as no agent, so it writes into no session",
            )),
        }
    }

    /// Reading conversations and customer records at all: one's queues' or everyone's.
    pub fn require_conversations(&self) -> Result<(), ApiError> {
        if self.permissions.contains(Permission::ViewAllConversations) {
            Ok(())
        } else {
            self.require(Permission::ViewQueueConversations)
        }
    }
}

/// A fresh token and the hash to store for it.
pub fn generate_token() -> (String, String) {
    let bytes: [u8; 32] = rand::random();
    let token = format!(
        "pk_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let hash = hash_token(&token);
    (token, hash)
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Rejects requests without a live token or console session with 401 (and cookie requests that
/// change state without the CSRF token with 403), and attaches the [`Caller`] otherwise.
pub async fn require_token(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if req.headers().get(AUTHORIZATION).is_none() {
        let session = crate::console::auth::console_session(&state, req.headers())
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        if !crate::console::auth::csrf_ok(req.method(), req.headers(), &session) {
            return Err(ApiError::coded(
                crate::error::ApiErrorCode::Csrf,
                "missing or wrong X-CSRF-Token header",
            ));
        }
        // Read at every request, like the session itself: a grant or a role's set changed by an
        // admin applies at the agent's next request.
        let permissions = state
            .store
            .agent_permissions(session.agent.id, session.agent.role)
            .await?;
        req.extensions_mut().insert(Caller {
            token_id: Uuid::nil(),
            role: session.agent.role.token_role(),
            agent_id: Some(session.agent.id),
            permissions,
        });
        req.extensions_mut().insert(session);
        return Ok(next.run(req).await);
    }
    let token = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| t.starts_with("pk_") && t.len() <= 128)
        .ok_or_else(ApiError::unauthorized)?;
    // Looked up on every request, never cached: a token revoked on one node is refused by every
    // node at its next request.
    let now = state.clock.now();
    let found = state
        .store
        .api_token_by_hash(&hash_token(token))
        .await?
        .filter(|t| t.live_at(now))
        .ok_or_else(ApiError::unauthorized)?;
    // Compared here first so a busy token costs no write at all between two stamps; the store
    // compares again, for two nodes racing.
    if found
        .last_used_at
        .is_none_or(|at| now.millis() - at >= parley_store::LAST_USED_GRANULARITY_MS)
    {
        parley_engine::service::tokens::record_token_use(&state.store, found.id, now).await?;
    }
    let permissions = state
        .store
        .token_permissions(found.role, found.permission_set_id, found.agent_id)
        .await?;
    req.extensions_mut().insert(Caller {
        token_id: found.id,
        role: found.role,
        agent_id: found.agent_id,
        permissions,
    });
    Ok(next.run(req).await)
}
