//! Bearer API tokens. A token is `pk_` followed by 43 characters of URL-safe base64 (32 random
//! bytes); the database keeps only its SHA-256, so a leaked database does not leak tokens.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use parley_core::model::TokenRole;
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
    /// The agent behind a console request.
    pub agent_id: Option<Uuid>,
}

impl Caller {
    pub fn require_configure(&self) -> Result<(), ApiError> {
        if self.role.can_configure() {
            Ok(())
        } else {
            Err(ApiError::forbidden("change the workspace configuration"))
        }
    }

    /// Campaigns, segments and lists: the roles that send one-to-many (admin and broadcaster).
    /// Supervisors and agents see none of it: an audience is a list of customers picked for
    /// marketing, not a conversation they work on.
    pub fn require_campaigns(&self) -> Result<(), ApiError> {
        if matches!(self.role, TokenRole::Admin | TokenRole::Broadcaster) {
            Ok(())
        } else {
            Err(ApiError::forbidden("read or send campaigns"))
        }
    }

    pub fn require_conversations(&self) -> Result<(), ApiError> {
        if self.role.can_read_conversations() {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "read conversations or customer records",
            ))
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
        req.extensions_mut().insert(Caller {
            token_id: Uuid::nil(),
            role: session.agent.role.token_role(),
            agent_id: Some(session.agent.id),
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
    let found = state
        .store
        .api_token_by_hash(&hash_token(token))
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    req.extensions_mut().insert(Caller {
        token_id: found.id,
        role: found.role,
        agent_id: None,
    });
    Ok(next.run(req).await)
}
