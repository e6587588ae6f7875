//! Provider webhooks, dispatched through the adapter registry. The adapter verifies the
//! provider's signature over the raw body and parses the provider's format (`parley-channels`);
//! this module persists the events as jobs and answers at once; the pipeline does the rest. A
//! provider retry of a message finds its dedupe key taken.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use parley_channels::adapter::{
    WebhookError, WebhookEvent, WebhookMethod, WebhookRequest, WebhookRouting,
};
use parley_core::Timestamp;
use parley_core::model::Provider;
use parley_engine::channel_rules::adapter_view;
use parley_engine::inbound::InboundEvent;
use parley_store::{Channel, Media};
use uuid::Uuid;

use crate::AppState;
use crate::error::{ApiError, ApiPath};

/// `/webhooks/{provider}/{channel}` and `/webhooks/{provider}/{channel}/{action}`: a provider's
/// webhook. Where the path names the channel (Twilio's `/webhooks/twilio/{channel}` and
/// `…/status`, Vonage's inbound and delivery receipts) the adapter checks the call against that
/// channel. Where one URL per product is shared by many channels (Meta's
/// `/webhooks/meta/whatsapp` and `/webhooks/meta/messenger`, the `{channel}` segment being the
/// product), the adapter is given every channel of the provider and kind, read in one lookup,
/// and says which of them each event is for.
///
/// Either way the adapter verifies the signature before anything in the body is believed, then
/// parses; the events are made durable (inbound messages as jobs, statuses recorded) before the
/// provider gets its 200, so a failure is answered with an error the provider retries, never
/// dropped.
pub async fn channel_webhook(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<WebhookPath>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::not_found("webhook");
    let provider = Provider::parse(&path.provider).map_err(|_| not_found())?;
    let adapter = parley_channels::providers()
        .get(&provider)
        .ok_or_else(not_found)?;
    let method = match method {
        Method::GET => WebhookMethod::Get,
        Method::POST => WebhookMethod::Post,
        _ => return Err(not_found()),
    };
    let headers: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let now = state.clock.now();
    let request = WebhookRequest {
        method,
        action: path.action.as_deref(),
        query: query.as_deref().unwrap_or(""),
        headers: &headers,
        body: &body,
        now,
    };
    let refused = |e: WebhookError| match e {
        WebhookError::Forbidden(why) => {
            tracing::warn!(%provider, webhook = %path.channel, "webhook refused: {why}");
            ApiError::new(StatusCode::FORBIDDEN, "forbidden", why)
        }
        WebhookError::Malformed(why) => {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", why)
        }
        WebhookError::NotFound(why) => ApiError::new(StatusCode::NOT_FOUND, "not_found", why),
    };

    let reply = match adapter.webhook_routing() {
        WebhookRouting::None => return Err(not_found()),
        WebhookRouting::PerChannel => {
            let channel_id: Uuid = path.channel.parse().map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    format!("'{}' is not a channel id", path.channel),
                )
            })?;
            let channel = state
                .engine
                .channels
                .get(&state.store, channel_id)
                .await?
                .filter(|c| c.provider == provider)
                .ok_or_else(|| ApiError::not_found("channel"))?;
            let hook = adapter
                .handle_webhook(&adapter_view(&channel), &request)
                .map_err(refused)?;
            for event in hook.events {
                persist(&state, &channel, event, now).await?;
            }
            hook.reply
        }
        WebhookRouting::Shared => {
            let kind = adapter
                .shared_webhook_kind(&path.channel)
                .ok_or_else(not_found)?;
            // The channel cache is keyed by id, and the body names channels by address: every
            // channel of the kind is read in one lookup and the adapter picks among them.
            let channels = state
                .store
                .channels_by_provider_kind(provider.clone(), kind)
                .await?;
            let views: Vec<_> = channels.iter().map(adapter_view).collect();
            let hook = adapter
                .handle_shared_webhook(kind, &views, &request)
                .map_err(refused)?;
            for address in &hook.unrouted {
                tracing::warn!(%provider, %address, "webhook event for an address no channel has");
            }
            for routed in hook.events {
                // An index out of range is an adapter bug: fail so the provider retries.
                let channel = channels.get(routed.channel).ok_or_else(|| {
                    ApiError::internal(format!(
                        "the {provider} adapter routed an event to channel #{} of {}",
                        routed.channel,
                        channels.len()
                    ))
                })?;
                persist(&state, channel, routed.event, now).await?;
            }
            hook.reply
        }
    };
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    Ok((status, [("content-type", reply.content_type)], reply.body).into_response())
}

/// Makes one verified event durable: a customer's message as an ingest job, a status recorded
/// on its entry.
async fn persist(
    state: &AppState,
    channel: &Channel,
    event: WebhookEvent,
    now: Timestamp,
) -> Result<(), ApiError> {
    match event {
        WebhookEvent::Message(m) => {
            let event = InboundEvent {
                channel_id: channel.id,
                provider_message_id: m.provider_message_id,
                from: m.from,
                to: m.to,
                text: m.text,
                media: m
                    .files
                    .into_iter()
                    .map(|(url, content_type)| Media::new(url, content_type))
                    .collect(),
                profile_name: m.profile_name,
                received_at: now,
                choice: m.choice,
                web: None,
            };
            state.engine.ingest.submit(&event).await?;
        }
        WebhookEvent::Status(s) => {
            state.engine.outbound.record_status(channel.id, &s).await?;
        }
    }
    Ok(())
}

/// The segments of a per-channel webhook path.
#[derive(Debug, serde::Deserialize)]
pub struct WebhookPath {
    provider: String,
    channel: String,
    #[serde(default)]
    action: Option<String>,
}
