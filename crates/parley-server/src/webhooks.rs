//! Provider webhooks. Each verifies the provider's signature over the raw body, parses the
//! provider's format (`parley-channels`), persists the event as a job, and answers at once; the
//! pipeline does the rest. A provider retry of a message finds its dedupe key taken.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use parley_channels::twilio::{self, SignatureAlgorithm};
use parley_core::model::Provider;
use parley_engine::inbound::InboundEvent;
use parley_store::{Channel, Media};
use uuid::Uuid;

use crate::AppState;
use crate::error::{ApiError, ApiPath};

fn twiml() -> Response {
    (
        StatusCode::OK,
        [("content-type", twilio::TWIML_CONTENT_TYPE)],
        twilio::EMPTY_TWIML_RESPONSE,
    )
        .into_response()
}

/// The channel a Twilio webhook is for, with its auth token and the public URL Twilio signs.
async fn twilio_channel(state: &AppState, id: Uuid) -> Result<(Channel, String, String), ApiError> {
    let channel = state
        .engine
        .channels
        .get(&state.store, id)
        .await?
        .filter(|c| c.provider == Provider::Twilio)
        .ok_or_else(|| ApiError::not_found("channel"))?;
    let token = channel.secrets.get("auth_token").and_then(|v| v.as_str());
    let url = channel.settings.get("public_url").and_then(|v| v.as_str());
    match (token, url) {
        (Some(t), Some(u)) => {
            let (t, u) = (t.to_owned(), u.to_owned());
            Ok((channel, t, u))
        }
        _ => {
            tracing::error!(channel = %channel.id, "Twilio channel lacks secrets.auth_token or settings.public_url");
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this channel cannot verify Twilio signatures: its auth token or public URL is not configured",
            ))
        }
    }
}

fn verify(
    headers: &HeaderMap,
    token: &str,
    url: &str,
    body: &[u8],
) -> Result<twilio::FormParams, ApiError> {
    let forbidden = |why: String| ApiError::new(StatusCode::FORBIDDEN, "forbidden", why);
    let signature = headers
        .get(twilio::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| forbidden("missing X-Twilio-Signature".to_owned()))?;
    let settings = headers
        .get(twilio::SIGNATURE_SETTINGS_HEADER)
        .and_then(|v| v.to_str().ok());
    let algorithm = SignatureAlgorithm::from_settings_header(settings)
        .map_err(|e| forbidden(format!("signature settings: {e}")))?;
    twilio::verify_form_request(token, url, body, signature, algorithm)
        .map_err(|e| forbidden(format!("signature check failed: {e}")))
}

/// `POST /webhooks/twilio/{channel}`: an inbound SMS or MMS.
pub async fn twilio_inbound(
    State(state): State<AppState>,
    ApiPath(channel_id): ApiPath<Uuid>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (channel, token, url) = twilio_channel(&state, channel_id).await?;
    let form = verify(&headers, &token, &url, &body)?;
    let message = twilio::InboundMessage::from_form(form)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", e.to_string()))?;
    let event = InboundEvent {
        channel_id: channel.id,
        provider_message_id: message.message_sid,
        from: message.from,
        to: message.to,
        text: message.body,
        media: message
            .media
            .into_iter()
            .map(|m| Media::new(m.url, m.content_type))
            .collect(),
        profile_name: message
            .extra
            .iter()
            .find(|(k, _)| k == "ProfileName")
            .map(|(_, v)| v.clone()),
        received_at: state.clock.now(),
    };
    state.engine.ingest.submit(&event).await?;
    Ok(twiml())
}

/// `POST /webhooks/twilio/{channel}/status`: a delivery status for a message we sent.
pub async fn twilio_status(
    State(state): State<AppState>,
    ApiPath(channel_id): ApiPath<Uuid>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (channel, token, url) = twilio_channel(&state, channel_id).await?;
    let status_url = format!("{}/status", url.trim_end_matches('/'));
    let form = verify(&headers, &token, &status_url, &body)?;
    let callback = twilio::StatusCallback::from_form(form)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", e.to_string()))?;
    let Some(status) = callback.entry_status() else {
        return Ok(twiml());
    };
    let error = callback.error.as_ref();
    state
        .engine
        .outbound
        .record_status(
            channel.id,
            &callback.message_sid,
            status,
            error.map(|e| e.code),
            error.map(|e| e.provider_code.as_str()),
            callback.recipient_opted_out(),
        )
        .await?;
    Ok(twiml())
}
