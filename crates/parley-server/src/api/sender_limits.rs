//! Sender limits (issue 18): each channel's limits with their current use, their configuration,
//! and the messages held for review. Configuration, so `configure_messaging`. The rules are
//! `parley_core::sender_limits`'; the writes go through
//! [`parley_engine::service::sender_limits`].

use std::str::FromStr as _;

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::access::Permission;
use parley_core::sender_limits::{LimitAction, LimitConfig, MessagingTier};
use parley_engine::service::channels::Writes;
use parley_engine::service::sender_limits::{self as svc, ChannelLimits};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::time;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ErrorBody};

pub fn sender_limit_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_channel_limits, put_channel_limits))
        .routes(routes!(list_sender_limits))
        .routes(routes!(release_held))
        .routes(routes!(cancel_held))
}

/// A sender's limit configuration; an absent field takes the default of the channel's kind and
/// number type (see docs/sender-limits.md).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsInput {
    /// `warn` (default), `hold` or `refuse`: what a message that would go over a limit comes to.
    pub action: Option<String>,
    /// A limit shows a warning from this share of its maximum (1..100, default 80).
    pub warn_at_percent: Option<u8>,
    /// Long codes: outbound per inbound at most (default 3).
    pub max_ratio: Option<u64>,
    /// Long codes: outbound messages in the window before the ratio applies (default 50).
    pub ratio_allowance: Option<u64>,
    /// Long codes: messages per calendar month, UTC (default 15000).
    pub monthly_volume: Option<u64>,
    /// Messages per UTC day (Messenger's cap, or any sender's; none by default; not for web).
    pub daily_cap: Option<u64>,
    /// WhatsApp: `250`, `1000` (default), `10000`, `100000` or `unlimited`.
    pub messaging_tier: Option<String>,
}

impl LimitsInput {
    fn config(&self) -> Result<LimitConfig, ApiError> {
        let action = self
            .action
            .as_deref()
            .map(LimitAction::from_str)
            .transpose()
            .map_err(|e| ApiError::invalid(format!("action: {e}")))?;
        let messaging_tier = self
            .messaging_tier
            .as_deref()
            .map(MessagingTier::from_str)
            .transpose()
            .map_err(|e| ApiError::invalid(format!("messaging_tier: {e}")))?;
        Ok(LimitConfig {
            action,
            warn_at_percent: self.warn_at_percent,
            max_ratio: self.max_ratio,
            ratio_allowance: self.ratio_allowance,
            monthly_volume: self.monthly_volume,
            daily_cap: self.daily_cap,
            messaging_tier,
        })
    }

    fn of(c: &LimitConfig) -> Self {
        Self {
            action: c.action.map(|a| a.as_str().to_owned()),
            warn_at_percent: c.warn_at_percent,
            max_ratio: c.max_ratio,
            ratio_allowance: c.ratio_allowance,
            monthly_volume: c.monthly_volume,
            daily_cap: c.daily_cap,
            messaging_tier: c.messaging_tier.map(|t| t.as_str().to_owned()),
        }
    }
}

/// One limit's use.
#[derive(Debug, Serialize, ToSchema)]
pub struct LimitView {
    /// `outbound_ratio`, `monthly_volume`, `daily_cap` or `messaging_tier`.
    pub limit: String,
    pub used: u64,
    /// Absent: unlimited.
    pub max: Option<u64>,
    /// The use from which the limit shows a warning.
    pub warn_at: Option<u64>,
    /// `ok`, `warning` or `reached`.
    pub state: String,
    /// What a message over the limit comes to: `warn`, `hold` or `refuse`.
    pub action: String,
    /// `rolling_30_days`, `calendar_month_utc`, `utc_day` or `rolling_24_hours`.
    pub window: String,
}

/// A message held for review because its sender was at a limit.
#[derive(Debug, Serialize, ToSchema)]
pub struct HeldView {
    pub entry_id: Uuid,
    pub session_id: Uuid,
    pub limit: String,
    pub reason: String,
    pub body: String,
    pub held_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelLimitsView {
    pub channel_id: Uuid,
    pub channel_name: String,
    pub kind: String,
    pub number_type: Option<String>,
    /// Messages per second: the channel's `throughput_mps` or its number type's default.
    pub throughput_mps: u32,
    /// The configuration as stored (absent fields take the defaults).
    pub config: LimitsInput,
    pub limits: Vec<LimitView>,
    pub held: Vec<HeldView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SenderLimitsList {
    /// By channel name.
    pub items: Vec<ChannelLimitsView>,
}

fn view(l: ChannelLimits) -> ChannelLimitsView {
    ChannelLimitsView {
        channel_id: l.channel_id,
        channel_name: l.channel_name,
        kind: l.kind,
        number_type: l.number_type,
        throughput_mps: l.throughput_mps,
        config: LimitsInput::of(&l.config),
        limits: l
            .limits
            .into_iter()
            .map(|s| LimitView {
                limit: s.limit.as_str().to_owned(),
                used: s.used,
                max: s.max,
                warn_at: s.warn_at,
                state: s.state.as_str().to_owned(),
                action: s.action.as_str().to_owned(),
                window: s.window.to_owned(),
            })
            .collect(),
        held: l
            .held
            .into_iter()
            .map(|h| HeldView {
                entry_id: h.entry_id,
                session_id: h.session_id,
                limit: h.limit,
                reason: h.reason,
                body: h.body,
                held_at: time(h.held_at),
            })
            .collect(),
    }
}

#[utoipa::path(get, path = "/api/v1/channels/{id}/limits", tag = "sender-limits",
    extensions(("x-permission" = json!("configure_messaging"))), params(("id" = Uuid, Path)),
    responses((status = 200, body = ChannelLimitsView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_channel_limits(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<ChannelLimitsView>, ApiError> {
    caller.require(Permission::ConfigureMessaging)?;
    let channel = state.store.channel(id).await?;
    let limits = svc::channel_limits(&state.store, &channel, state.clock.now()).await?;
    Ok(Json(view(limits)))
}

/// Replaces the channel's limit configuration. A field that does not apply to the channel's
/// kind or number type is refused (422 naming it).
#[utoipa::path(put, path = "/api/v1/channels/{id}/limits", tag = "sender-limits",
    extensions(("x-permission" = json!("configure_messaging"))), params(("id" = Uuid, Path)),
    request_body = LimitsInput,
    responses((status = 200, body = ChannelLimitsView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_channel_limits(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<LimitsInput>,
) -> Result<Json<ChannelLimitsView>, ApiError> {
    caller.require(Permission::ConfigureMessaging)?;
    let config = input.config()?;
    let now = state.clock.now();
    let channel = svc::set_limits(Writes::of_engine(&state.engine), id, &config, now).await?;
    let limits = svc::channel_limits(&state.store, &channel, now).await?;
    Ok(Json(view(limits)))
}

#[utoipa::path(get, path = "/api/v1/sender-limits", tag = "sender-limits",
    extensions(("x-permission" = json!("configure_messaging"))),
    responses((status = 200, body = SenderLimitsList), (status = 403, body = ErrorBody)))]
pub async fn list_sender_limits(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<SenderLimitsList>, ApiError> {
    caller.require(Permission::ConfigureMessaging)?;
    let all = svc::all_limits(&state.store, state.clock.now()).await?;
    Ok(Json(SenderLimitsList {
        items: all.into_iter().map(view).collect(),
    }))
}

/// Sends a held message whatever its sender's limits say.
#[utoipa::path(post, path = "/api/v1/sender-holds/{entry_id}/release", tag = "sender-limits",
    extensions(("x-permission" = json!("configure_messaging"))),
    params(("entry_id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn release_held(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(entry_id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    caller.require(Permission::ConfigureMessaging)?;
    svc::release_hold(&state.store, entry_id, state.clock.now()).await?;
    state.engine.wake_outbound();
    Ok(StatusCode::NO_CONTENT)
}

/// Fails a held message (0005, the cancellation kept beside it).
#[utoipa::path(post, path = "/api/v1/sender-holds/{entry_id}/cancel", tag = "sender-limits",
    extensions(("x-permission" = json!("configure_messaging"))),
    params(("entry_id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn cancel_held(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(entry_id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    caller.require(Permission::ConfigureMessaging)?;
    svc::cancel_hold(&state.store, entry_id, state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
