//! The simulator's HTTP face: a person or a test plays the customer. `POST /simulator/inbound`
//! injects a customer message; `GET /simulator/messages?to=...` shows what reached a number;
//! `GET /simulator/channels` lists the channels the phone page can use.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::model::{Direction, Provider};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::api::time;
use crate::error::{ApiError, ApiJson, ApiQuery, ErrorBody};
use crate::schema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulatedInbound {
    /// The channel's id or name.
    pub channel: String,
    /// The customer's address: an E.164 number for SMS and WhatsApp, any user key otherwise.
    pub from: String,
    pub text: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SimulatorMessageView {
    pub id: Uuid,
    pub channel_id: Uuid,
    #[schema(schema_with = schema::direction)]
    pub direction: Direction,
    pub from: String,
    pub to: String,
    pub body: String,
    pub status: String,
    pub created_at: String,
}

impl From<parley_store::SimulatorMessage> for SimulatorMessageView {
    fn from(m: parley_store::SimulatorMessage) -> Self {
        Self {
            id: m.id,
            channel_id: m.channel_id,
            direction: m.direction,
            from: m.from_addr,
            to: m.to_addr,
            body: m.body,
            status: m.status,
            created_at: time(m.created_at),
        }
    }
}

/// Longest simulated message accepted: the longest any channel carries.
const MAX_TEXT: usize = 4096;

#[utoipa::path(post, path = "/simulator/inbound", tag = "simulator", request_body = SimulatedInbound,
    responses((status = 202, body = SimulatorMessageView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn inbound(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<SimulatedInbound>,
) -> Result<(StatusCode, Json<SimulatorMessageView>), ApiError> {
    let channel = match input.channel.parse::<Uuid>() {
        Ok(id) => state.store.channel(id).await?,
        Err(_) => state
            .store
            .channel_by_name(&input.channel)
            .await?
            .ok_or_else(|| ApiError::not_found("channel"))?,
    };
    if channel.provider != Provider::Simulator {
        return Err(ApiError::invalid(format!(
            "channel '{}' is carried by {}, not by the simulator",
            channel.name, channel.provider
        )));
    }
    if input.text.chars().count() > MAX_TEXT {
        return Err(ApiError::invalid(format!(
            "text is longer than {MAX_TEXT} characters"
        )));
    }
    let from = customer_address(channel.kind, &input.from)?;
    let m = parley_engine::service::simulator::customer_message(
        &state.engine,
        &channel,
        from,
        input.text,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(m.into())))
}

/// The customer as a person typed them: a valid number on phone channels, an id elsewhere.
fn customer_address(kind: parley_core::model::ChannelKind, raw: &str) -> Result<String, ApiError> {
    parley_core::channel::platform_key(kind, raw, parley_core::channel::KeySource::Person)
        .map_err(|e| ApiError::invalid(e.to_string()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SimulatorQuery {
    /// The customer's address (messages to it and from it).
    pub to: String,
    pub after: Option<Uuid>,
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/simulator/messages", tag = "simulator", params(SimulatorQuery),
    responses((status = 200, body = Vec<SimulatorMessageView>)))]
pub async fn messages(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<SimulatorQuery>,
) -> Result<Json<Vec<SimulatorMessageView>>, ApiError> {
    // Accept the number as typed ("+44 7400 123456") as well as in E.164.
    let party = parley_core::E164::parse(&q.to)
        .map_or_else(|_| q.to.trim().to_owned(), parley_core::E164::into_string);
    let found = state
        .store
        .simulator_messages(&party, q.after, q.limit.unwrap_or(100))
        .await?;
    Ok(Json(found.into_iter().map(Into::into).collect()))
}

/// A channel the simulator phone can talk to.
#[derive(Debug, Serialize, ToSchema)]
pub struct SimulatorChannelView {
    pub id: Uuid,
    pub name: String,
    #[schema(schema_with = schema::channel_kind)]
    pub kind: parley_core::model::ChannelKind,
    /// The business's number or id, as the customer's phone shows it.
    pub address: String,
}

#[utoipa::path(get, path = "/simulator/channels", tag = "simulator",
    responses((status = 200, body = Vec<SimulatorChannelView>)))]
pub async fn channels(
    State(state): State<AppState>,
) -> Result<Json<Vec<SimulatorChannelView>>, ApiError> {
    let mut found = Vec::new();
    let mut after = None;
    // Bounded: a workspace has tens of channels; stop anyway after a few thousand.
    for _ in 0..20 {
        let page = state
            .store
            .list_channels(parley_store::PageRequest::new(after, 200))
            .await?;
        found.extend(
            page.items
                .into_iter()
                .filter(|c| c.provider == Provider::Simulator)
                .map(|c| SimulatorChannelView {
                    id: c.id,
                    name: c.name,
                    kind: c.kind,
                    address: c.address,
                }),
        );
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(found))
}

/// An order as the demo's order service answers it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DemoOrder {
    pub number: String,
    /// `processing`, `shipped` or `delivered`.
    pub status: String,
    /// The status in words, for the bot to say.
    pub status_text: String,
}

/// The demo's order service, which the demo's order bot calls from its webhook step (a stand-in
/// for a shop's own system): a 6-digit number's status follows from its last digit; numbers
/// ending in 0 do not exist (404), so the bot's error branch can be tried too.
#[utoipa::path(get, path = "/simulator/demo/orders/{number}", tag = "simulator",
    params(("number" = String, Path)),
    responses((status = 200, body = DemoOrder), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody, description = "not a 6-digit number")))]
pub async fn demo_order(
    crate::error::ApiPath(number): crate::error::ApiPath<String>,
) -> Result<Json<DemoOrder>, ApiError> {
    let last = match number.as_bytes() {
        digits if digits.len() == 6 && digits.iter().all(u8::is_ascii_digit) => {
            digits.last().copied().unwrap_or(b'0')
        }
        _ => return Err(ApiError::invalid("an order number has 6 digits")),
    };
    let (status, status_text) = match last {
        b'0' => return Err(ApiError::not_found("order")),
        b'1'..=b'3' => ("processing", "being packed; it ships tomorrow"),
        b'4'..=b'6' => ("shipped", "on its way, arriving on Thursday"),
        _ => ("delivered", "delivered on Monday"),
    };
    Ok(Json(DemoOrder {
        number,
        status: status.to_owned(),
        status_text: status_text.to_owned(),
    }))
}
