//! API tokens (issue 17): list, create (the token is in the answer once and never again), revoke.
//! Configure role. A token may carry an expiry; an agent-role token names the agent it acts as.
//! Revoking keeps the row, so the list shows when it was revoked; the token stops working on
//! every node at its next request (tokens are looked up per request, `crate::auth`).

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::model::TokenRole;
use parley_store::{ApiToken, NewApiToken};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::time;
use crate::AppState;
use crate::auth::{Caller, generate_token};
use crate::error::{ApiError, ApiJson, ApiPath, ErrorBody};

/// The routes of this module, merged into the API in `crate::app`.
pub fn token_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_api_tokens, create_api_token))
        .routes(routes!(revoke_api_token))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiTokenView {
    pub id: Uuid,
    pub name: String,
    /// admin, supervisor, agent or broadcaster.
    pub role: String,
    /// The agent an agent-role token acts as.
    pub agent_id: Option<Uuid>,
    /// The permission set the token is limited to: it holds its role's set intersected with this
    /// one (and, acting as an agent, with the agent's permissions).
    pub permission_set_id: Option<Uuid>,
    pub created_at: String,
    /// Written at most once a minute.
    pub last_used_at: Option<String>,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl From<&ApiToken> for ApiTokenView {
    fn from(t: &ApiToken) -> Self {
        let at = |ms: Option<i64>| ms.map(|m| time(parley_core::Timestamp(m)));
        Self {
            id: t.id,
            name: t.name.clone(),
            role: t.role.as_str().to_owned(),
            agent_id: t.agent_id,
            permission_set_id: t.permission_set_id,
            created_at: time(t.created_at),
            last_used_at: at(t.last_used_at),
            expires_at: at(t.expires_at),
            revoked_at: at(t.revoked_at),
        }
    }
}

/// A new token with its secret, answered once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiToken {
    #[serde(flatten)]
    pub info: ApiTokenView,
    /// `pk_` and 43 characters: the bearer token. Shown only here; only its hash is stored.
    pub token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiTokenInput {
    /// 1 to 100 characters: what the token is for.
    pub name: String,
    /// admin, supervisor, agent or broadcaster.
    pub role: String,
    /// Required for the agent role (and only for it): the agent the token acts as.
    #[serde(default)]
    pub agent_id: Option<Uuid>,
    /// How long the token lasts: `30d`, `12h`, `90m`, `3600s`; absent, until revoked.
    #[serde(default)]
    pub expires_in: Option<String>,
    /// Limits the token to this permission set (within its role's): the one who issues it must
    /// hold what it grants.
    #[serde(default)]
    pub permission_set_id: Option<Uuid>,
}

#[utoipa::path(get, path = "/api/v1/api-tokens",
    extensions(("x-permission" = json!("manage_users"))), tag = "api-tokens",
    responses((status = 200, body = Vec<ApiTokenView>), (status = 403, body = ErrorBody)))]
pub async fn list_api_tokens(
    State(state): State<AppState>,
) -> Result<Json<Vec<ApiTokenView>>, ApiError> {
    let tokens = state.store.list_api_tokens().await?;
    Ok(Json(tokens.iter().map(ApiTokenView::from).collect()))
}

#[utoipa::path(post, path = "/api/v1/api-tokens",
    extensions(("x-permission" = json!("manage_users"))), tag = "api-tokens", request_body = ApiTokenInput,
    responses((status = 201, body = CreatedApiToken), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create_api_token(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(input): ApiJson<ApiTokenInput>,
) -> Result<(StatusCode, Json<CreatedApiToken>), ApiError> {
    let role: TokenRole = input
        .role
        .parse()
        .map_err(|e| ApiError::invalid(format!("role: {e}")))?;
    let now = state.clock.now();
    let expires_at = input
        .expires_in
        .as_deref()
        .map(parley_core::access::parse_lifetime)
        .transpose()
        .map_err(|e| ApiError::invalid(format!("expires_in: {e}")))?
        .map(|d| now.plus(d));
    let (token, hash) = generate_token();
    let created = parley_engine::service::tokens::issue_api_token_by(
        &state.store,
        caller.permissions,
        &NewApiToken {
            name: &input.name,
            role,
            token_hash: &hash,
            expires_at,
            agent_id: input.agent_id,
        },
        input.permission_set_id,
        now,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiToken {
            info: ApiTokenView::from(&created),
            token,
        }),
    ))
}

#[utoipa::path(delete, path = "/api/v1/api-tokens/{id}",
    extensions(("x-permission" = json!("manage_users"))), tag = "api-tokens",
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_api_token(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    parley_engine::service::tokens::revoke_api_token(&state.store, id, state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
