//! Accounts of the Twilio-compatible Messages API (issue 13): create (the auth token is shown in
//! the answer once and never listed), list, revoke. Revoking keeps the row, so the account's
//! messages stay readable in conversations; the account can no longer authenticate. Configure
//! role.

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_engine::service::twilio;
use parley_store::TwilioAccount;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::time;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ErrorBody};

#[derive(Debug, Serialize, ToSchema)]
pub struct TwilioAccountView {
    /// "AC" and 32 hex digits: the SDKs' account SID (HTTP Basic user name).
    pub sid: String,
    pub name: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

impl From<&TwilioAccount> for TwilioAccountView {
    fn from(a: &TwilioAccount) -> Self {
        Self {
            sid: a.sid.clone(),
            name: a.name.clone(),
            created_at: time(a.created_at),
            revoked_at: a.revoked_at.map(time),
        }
    }
}

/// A new account with its auth token, answered once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedTwilioAccount {
    #[serde(flatten)]
    pub account: TwilioAccountView,
    /// The auth token (HTTP Basic password; signs status callbacks). Shown only here.
    pub auth_token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TwilioAccountInput {
    /// 1 to 100 characters.
    pub name: String,
}

#[utoipa::path(get, path = "/api/v1/twilio-accounts", tag = "twilio",
    responses((status = 200, body = Vec<TwilioAccountView>), (status = 403, body = ErrorBody)))]
pub async fn list_twilio_accounts(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<TwilioAccountView>>, ApiError> {
    caller.require_configure()?;
    let accounts = state.store.list_twilio_accounts().await?;
    Ok(Json(accounts.iter().map(TwilioAccountView::from).collect()))
}

#[utoipa::path(post, path = "/api/v1/twilio-accounts", tag = "twilio", request_body = TwilioAccountInput,
    responses((status = 201, body = CreatedTwilioAccount), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create_twilio_account(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(input): ApiJson<TwilioAccountInput>,
) -> Result<(StatusCode, Json<CreatedTwilioAccount>), ApiError> {
    caller.require_configure()?;
    let a = twilio::create_twilio_account(&state.store, &input.name, state.clock.now()).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedTwilioAccount {
            account: TwilioAccountView::from(&a),
            auth_token: a.auth_token,
        }),
    ))
}

#[utoipa::path(delete, path = "/api/v1/twilio-accounts/{sid}", tag = "twilio",
    params(("sid" = String, Path, description = "The account SID")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_twilio_account(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(sid): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_configure()?;
    twilio::revoke_twilio_account(&state.store, &sid, state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
