//! Accounts of the Twilio-compatible Messages API (issue 13): create (the auth token is shown in
//! the answer once and never listed), list, revoke. Revoking keeps the row, so the account's
//! messages stay readable in conversations; the account can no longer authenticate. Configure
//! role. Each account's messaging services (pools of SMS and WhatsApp channels) are managed
//! under it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_engine::service::twilio;
use parley_store::{TwilioAccount, TwilioMessagingService};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::time;
use crate::AppState;
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
    /// 1 to 100 characters, not blank.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
}

#[utoipa::path(get, path = "/api/v1/twilio-accounts",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "twilio",
    responses((status = 200, body = Vec<TwilioAccountView>), (status = 403, body = ErrorBody)))]
pub async fn list_twilio_accounts(
    State(state): State<AppState>,
) -> Result<Json<Vec<TwilioAccountView>>, ApiError> {
    let accounts = state.store.list_twilio_accounts().await?;
    Ok(Json(accounts.iter().map(TwilioAccountView::from).collect()))
}

#[utoipa::path(post, path = "/api/v1/twilio-accounts",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "twilio", request_body = TwilioAccountInput,
    responses((status = 201, body = CreatedTwilioAccount), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create_twilio_account(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<TwilioAccountInput>,
) -> Result<(StatusCode, Json<CreatedTwilioAccount>), ApiError> {
    let a = twilio::create_twilio_account(&state.store, &input.name, state.clock.now()).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedTwilioAccount {
            account: TwilioAccountView::from(&a),
            auth_token: a.auth_token,
        }),
    ))
}

#[utoipa::path(delete, path = "/api/v1/twilio-accounts/{sid}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "twilio",
    params(("sid" = String, Path, description = "The account SID")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_twilio_account(
    State(state): State<AppState>,
    ApiPath(sid): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    twilio::revoke_twilio_account(&state.store, &sid, state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A pool of SMS or WhatsApp channels: `MessagingServiceSid` in a send picks its sender from it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessagingServiceView {
    /// "MG" and 32 hex digits.
    pub sid: String,
    pub account_sid: String,
    pub name: String,
    /// The pool, in its order.
    pub channel_ids: Vec<Uuid>,
    pub created_at: String,
}

impl From<&TwilioMessagingService> for MessagingServiceView {
    fn from(s: &TwilioMessagingService) -> Self {
        Self {
            sid: s.sid.clone(),
            account_sid: s.account_sid.clone(),
            name: s.name.clone(),
            channel_ids: s.channel_ids.clone(),
            created_at: time(s.created_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessagingServiceInput {
    /// 1 to 100 characters.
    pub name: String,
    /// 1 to 100 distinct SMS or WhatsApp channels, in the order the last resort of the sender
    /// choice takes them.
    pub channel_ids: Vec<Uuid>,
}

#[utoipa::path(get, path = "/api/v1/twilio-accounts/{sid}/messaging-services",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "twilio",
    params(("sid" = String, Path, description = "The account SID")),
    responses((status = 200, body = Vec<MessagingServiceView>), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn list_messaging_services(
    State(state): State<AppState>,
    ApiPath(sid): ApiPath<String>,
) -> Result<Json<Vec<MessagingServiceView>>, ApiError> {
    if state.store.twilio_account(&sid).await?.is_none() {
        return Err(ApiError::not_found("twilio account"));
    }
    let services = state.store.list_twilio_messaging_services(&sid).await?;
    Ok(Json(
        services.iter().map(MessagingServiceView::from).collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/twilio-accounts/{sid}/messaging-services",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "twilio",
    params(("sid" = String, Path, description = "The account SID")),
    request_body = MessagingServiceInput,
    responses((status = 201, body = MessagingServiceView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_messaging_service(
    State(state): State<AppState>,
    ApiPath(sid): ApiPath<String>,
    ApiJson(input): ApiJson<MessagingServiceInput>,
) -> Result<(StatusCode, Json<MessagingServiceView>), ApiError> {
    let s = twilio::create_twilio_messaging_service(
        &state.store,
        &sid,
        &input.name,
        &input.channel_ids,
        state.clock.now(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(MessagingServiceView::from(&s))))
}

#[utoipa::path(put, path = "/api/v1/twilio-accounts/{sid}/messaging-services/{service_sid}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "twilio",
    params(("sid" = String, Path, description = "The account SID"),
        ("service_sid" = String, Path, description = "The messaging service SID (MG...)")),
    request_body = MessagingServiceInput,
    responses((status = 200, body = MessagingServiceView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_messaging_service(
    State(state): State<AppState>,
    ApiPath((sid, service_sid)): ApiPath<(String, String)>,
    ApiJson(input): ApiJson<MessagingServiceInput>,
) -> Result<Json<MessagingServiceView>, ApiError> {
    let s = twilio::update_twilio_messaging_service(
        &state.store,
        &sid,
        &service_sid,
        &input.name,
        &input.channel_ids,
    )
    .await?;
    Ok(Json(MessagingServiceView::from(&s)))
}

#[utoipa::path(delete, path = "/api/v1/twilio-accounts/{sid}/messaging-services/{service_sid}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "twilio",
    params(("sid" = String, Path, description = "The account SID"),
        ("service_sid" = String, Path, description = "The messaging service SID (MG...)")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_messaging_service(
    State(state): State<AppState>,
    ApiPath((sid, service_sid)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    twilio::delete_twilio_messaging_service(&state.store, &sid, &service_sid).await?;
    Ok(StatusCode::NO_CONTENT)
}
