//! Meta webhooks: WhatsApp Cloud API (`/webhooks/meta/whatsapp`) and Messenger
//! (`/webhooks/meta/messenger`).
//!
//! Meta calls one URL per product and app, so a path is shared by every channel of its kind with
//! provider `meta`; the body names the channel: `metadata.phone_number_id` (WhatsApp, matched
//! against the channel's `settings.phone_number_id`) or the entry's page id (Messenger, the
//! channel's address).
//!
//! - `GET`: the subscription handshake. The `hub.challenge` is echoed when `hub.verify_token`
//!   equals the `verify_token` secret of some channel of that kind; 403 otherwise.
//! - `POST`: `X-Hub-Signature-256` is an HMAC of the raw body with the app secret (the channel's
//!   `app_secret` secret). Every channel the body names must verify the signature, or the whole
//!   body is refused (403): channels of different apps may share the path, and one app must not
//!   speak for another. A body that names no known channel must verify against the secret of
//!   some channel of the kind. A missing or wrong signature is 403, a signed body that is not a
//!   webhook of this kind 400; otherwise 200 with an empty body once every event is durable.
//!   Events for a phone number or page no channel has are logged and dropped.
//!
//! What each event becomes:
//!
//! - A customer's message: an [`InboundEvent`] (provider message id: the `wamid` or `mid`; from:
//!   the WhatsApp number as E.164 (`wa_id` with a `+`), or the `user_id` of a user without a
//!   number, or the Messenger PSID). Text is the text, a media caption, or the title of the tapped
//!   button or list row; media are `Media { url, content_type }` with WhatsApp's media id (fetch
//!   it from the Graph API) or Messenger's attachment URL.
//! - Content Parley cannot show (stickers, locations, contacts, reactions, unknown types, and
//!   Messenger attachments other than image, audio, video and file) is kept as a line of text the
//!   agent sees: `[unsupported content: sticker]` (the provider's type name).
//! - A WhatsApp status (sent, delivered, read/played, failed): [`Outbound::record_status`] for
//!   the entry with that `wamid`, the error mapped to the catalogue and Meta's code kept.
//! - A Messenger delivery receipt: `delivered` for each `mid` it lists. Read receipts carry only a
//!   watermark, no message id, and are not recorded; echoes of the Page's own messages, and
//!   events without a message id (reactions, opt-ins, referrals, handover), are ignored.
//!
//! [`Outbound::record_status`]: parley_engine::outbound::Outbound::record_status

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use parley_channels::meta::adapter::{MetaSecrets, MetaSettings};
use parley_channels::meta::messenger::{self, MessengerAttachment, MessengerEvent};
use parley_channels::meta::whatsapp::{self, WhatsAppEvent, WhatsAppMessage};
use parley_channels::meta::{
    ParseError, SIGNATURE_HEADER, WhatsAppContent, answer_handshake, verify_signature,
};
use parley_core::E164;
use parley_core::model::{ChannelKind, EntryStatus, Provider};
use parley_engine::channel_rules::adapter_view;
use parley_engine::inbound::InboundEvent;
use parley_store::{Channel, Media};
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;

/// The text an entry gets for content Parley cannot show, naming the provider's type.
pub fn unsupported_text(kind: &str) -> String {
    format!("[unsupported content: {kind}]")
}

fn forbidden(why: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", why)
}

fn ok() -> Response {
    StatusCode::OK.into_response()
}

async fn meta_channels(state: &AppState, kind: ChannelKind) -> Result<Vec<Channel>, ApiError> {
    Ok(state
        .store
        .channels_by_provider_kind(Provider::Meta, kind)
        .await?)
}

/// A channel's Meta secrets, typed. Secrets that do not read (written before they were checked)
/// count as absent: such a channel verifies nothing.
fn secrets_of(channel: &Channel) -> MetaSecrets {
    MetaSecrets::read(&adapter_view(channel)).unwrap_or_default()
}

fn present(value: Option<String>) -> Option<String> {
    value.filter(|s| !s.is_empty())
}

/// `GET /webhooks/meta/whatsapp`: Meta's subscription handshake.
pub async fn whatsapp_handshake(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    handshake(
        &state,
        ChannelKind::Whatsapp,
        query.as_deref().unwrap_or(""),
    )
    .await
}

/// `GET /webhooks/meta/messenger`: Meta's subscription handshake.
pub async fn messenger_handshake(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    handshake(
        &state,
        ChannelKind::Messenger,
        query.as_deref().unwrap_or(""),
    )
    .await
}

async fn handshake(state: &AppState, kind: ChannelKind, query: &str) -> Result<Response, ApiError> {
    let mut refusal = None;
    for channel in meta_channels(state, kind).await? {
        let Some(token) = present(secrets_of(&channel).verify_token) else {
            continue;
        };
        match answer_handshake(query, &token) {
            Ok(challenge) => {
                return Ok((
                    StatusCode::OK,
                    [("content-type", "text/plain; charset=utf-8")],
                    challenge,
                )
                    .into_response());
            }
            Err(e) => refusal = Some(e),
        }
    }
    Err(forbidden(match refusal {
        Some(e) => format!("handshake refused: {e}"),
        None => format!("no {kind} channel on Meta has a verify token"),
    }))
}

/// The signature header, or 403.
fn signature(headers: &HeaderMap) -> Result<&str, ApiError> {
    headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| forbidden("missing X-Hub-Signature-256"))
}

/// Checks the body's signature against the channels it names (`named`), or against any channel
/// of the kind when it names none. Then the body may be believed.
fn authenticate(
    body: &[u8],
    header: &str,
    named: &[&Channel],
    all: &[Channel],
) -> Result<(), ApiError> {
    let verifies = |c: &Channel| match present(secrets_of(c).app_secret) {
        Some(s) => verify_signature(&s, body, header).is_ok(),
        None => {
            tracing::error!(channel = %c.id, "Meta channel lacks secrets.app_secret");
            false
        }
    };
    let ok = if named.is_empty() {
        all.iter().any(verifies)
    } else {
        named.iter().all(|c| verifies(c))
    };
    if ok {
        Ok(())
    } else {
        Err(forbidden(
            "the X-Hub-Signature-256 does not match this body and the app secret of its channel",
        ))
    }
}

/// A body that did not parse: 400 if it is authentic (Meta sent something we do not read), 403
/// otherwise.
fn malformed(body: &[u8], header: &str, all: &[Channel], e: ParseError) -> ApiError {
    match authenticate(body, header, &[], all) {
        Ok(()) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", e.to_string()),
        Err(refused) => refused,
    }
}

/// Each id the body names, with its channel (`None`: no channel has it).
fn resolve(
    all: &[Channel],
    ids: impl IntoIterator<Item = String>,
    id_of: impl Fn(&Channel) -> Option<String>,
) -> BTreeMap<String, Option<&Channel>> {
    ids.into_iter()
        .map(|id| {
            let found = all
                .iter()
                .find(|c| id_of(c).as_deref() == Some(id.as_str()));
            (id, found)
        })
        .collect()
}

fn named_channels<'a>(map: &BTreeMap<String, Option<&'a Channel>>) -> Vec<&'a Channel> {
    let mut out: Vec<&Channel> = Vec::new();
    for c in map.values().flatten() {
        if !out.iter().any(|o| o.id == c.id) {
            out.push(c);
        }
    }
    out
}

/// `POST /webhooks/meta/whatsapp`: messages and statuses.
pub async fn whatsapp_inbound(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let header = signature(&headers)?;
    let all = meta_channels(&state, ChannelKind::Whatsapp).await?;
    let hook = whatsapp::parse(&body).map_err(|e| malformed(&body, header, &all, e))?;
    let business = |e: &WhatsAppEvent| match e {
        WhatsAppEvent::Message(m) => m.business.phone_number_id.clone(),
        WhatsAppEvent::Status(s) => s.business.phone_number_id.clone(),
    };
    let map = resolve(&all, hook.events.iter().map(business), |c| {
        MetaSettings::read(&adapter_view(c))
            .ok()
            .and_then(|s| s.phone_number_id)
    });
    authenticate(&body, header, &named_channels(&map), &all)?;

    for event in &hook.events {
        let id = business(event);
        let Some(Some(channel)) = map.get(&id) else {
            tracing::warn!(id = %id, "Meta webhook event for a number or page no channel has");
            continue;
        };
        match event {
            WhatsAppEvent::Message(m) => {
                let Some(event) = whatsapp_event(&state, channel, m) else {
                    continue;
                };
                state.engine.ingest.submit(&event).await?;
            }
            WhatsAppEvent::Status(s) => {
                let Some(status) = s.entry_status() else {
                    continue;
                };
                let error = s.error();
                state
                    .engine
                    .outbound
                    .record_status(
                        channel.id,
                        &s.message_id,
                        status,
                        error.map(|e| e.code),
                        error.map(|e| e.provider_code.as_str()),
                        false,
                    )
                    .await?;
            }
        }
    }
    Ok(ok())
}

/// The customer's address: the number in E.164 when there is one, else the WhatsApp user id.
fn whatsapp_sender(m: &WhatsAppMessage) -> Option<String> {
    if let Some(wa_id) = &m.sender.wa_id {
        let e164 = E164::from_network(&format!("+{}", wa_id.trim_start_matches('+')));
        return Some(e164.map_or_else(|_| wa_id.clone(), E164::into_string));
    }
    m.sender.user_id.clone()
}

fn whatsapp_event(
    state: &AppState,
    channel: &Channel,
    m: &WhatsAppMessage,
) -> Option<InboundEvent> {
    let Some(from) = whatsapp_sender(m) else {
        tracing::warn!(wamid = %m.message_id, "WhatsApp message without a sender");
        return None;
    };
    let mut media = Vec::new();
    let text = match &m.content {
        WhatsAppContent::Text { body } => body.clone(),
        WhatsAppContent::Media(x) => {
            media.push(Media::new(x.media_id.clone(), x.mime_type.clone()));
            x.caption.clone().unwrap_or_default()
        }
        WhatsAppContent::ButtonReply { title, .. } | WhatsAppContent::ListReply { title, .. } => {
            title.clone()
        }
        WhatsAppContent::QuickReply { payload, text } => {
            if text.is_empty() {
                payload.clone()
            } else {
                text.clone()
            }
        }
        WhatsAppContent::Unsupported { message_type } => unsupported_text(message_type),
    };
    Some(InboundEvent {
        channel_id: channel.id,
        provider_message_id: m.message_id.clone(),
        from,
        to: channel.address.clone(),
        text,
        media,
        profile_name: m.sender.name.clone(),
        received_at: state.clock.now(),
    })
}

/// `POST /webhooks/meta/messenger`: messages, postbacks and delivery receipts.
pub async fn messenger_inbound(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let header = signature(&headers)?;
    let all = meta_channels(&state, ChannelKind::Messenger).await?;
    let hook = messenger::parse(&body).map_err(|e| malformed(&body, header, &all, e))?;
    let page = |e: &MessengerEvent| -> String {
        match e {
            MessengerEvent::Message(m) => m.who.page_id.clone(),
            MessengerEvent::Delivery(d) => d.who.page_id.clone(),
            MessengerEvent::Read(r) => r.who.page_id.clone(),
            MessengerEvent::Postback(p) => p.who.page_id.clone(),
            MessengerEvent::Unsupported { who, .. } => who.page_id.clone(),
        }
    };
    let map = resolve(&all, hook.events.iter().map(page), |c| {
        Some(c.address.clone())
    });
    authenticate(&body, header, &named_channels(&map), &all)?;

    for event in &hook.events {
        let id = page(event);
        let Some(Some(channel)) = map.get(&id) else {
            tracing::warn!(id = %id, "Meta webhook event for a number or page no channel has");
            continue;
        };
        let inbound = |provider_message_id: String, from: &str, text: String, media| InboundEvent {
            channel_id: channel.id,
            provider_message_id,
            from: from.to_owned(),
            to: channel.address.clone(),
            text,
            media,
            profile_name: None,
            received_at: state.clock.now(),
        };
        match event {
            MessengerEvent::Message(m) if m.is_echo => {}
            MessengerEvent::Message(m) => {
                let (text, media) = messenger_content(m.text.as_deref(), &m.attachments);
                let event = inbound(m.mid.clone(), &m.who.sender_id, text, media);
                state.engine.ingest.submit(&event).await?;
            }
            MessengerEvent::Postback(p) => {
                let id = p
                    .mid
                    .clone()
                    .unwrap_or_else(|| postback_id(&p.who.sender_id, p.timestamp, &p.payload));
                let text = p.title.clone().unwrap_or_else(|| p.payload.clone());
                let event = inbound(id, &p.who.sender_id, text, Vec::new());
                state.engine.ingest.submit(&event).await?;
            }
            MessengerEvent::Delivery(d) => {
                for mid in &d.mids {
                    state
                        .engine
                        .outbound
                        .record_status(channel.id, mid, EntryStatus::Delivered, None, None, false)
                        .await?;
                }
            }
            MessengerEvent::Read(_) | MessengerEvent::Unsupported { .. } => {}
        }
    }
    Ok(ok())
}

/// A dedupe key for a postback Meta gave no `mid`.
fn postback_id(sender: &str, timestamp: Option<i64>, payload: &str) -> String {
    let at = timestamp.map_or_else(|| Uuid::now_v7().to_string(), |t| t.to_string());
    format!("postback:{sender}:{at}:{payload}")
}

/// The text and media of a Messenger message: the text, then a line for each attachment Parley
/// cannot keep as media.
fn messenger_content(
    text: Option<&str>,
    attachments: &[MessengerAttachment],
) -> (String, Vec<Media>) {
    let mut lines: Vec<String> = text.map(str::to_owned).into_iter().collect();
    let mut media = Vec::new();
    for a in attachments {
        let content_type = match a.kind.as_str() {
            "image" if a.sticker_id.is_none() => Some("image/*"),
            "audio" => Some("audio/*"),
            "video" => Some("video/*"),
            "file" => Some("application/octet-stream"),
            _ => None,
        };
        match (content_type, &a.url) {
            (Some(content_type), Some(url)) => media.push(Media::new(url.clone(), content_type)),
            _ if a.sticker_id.is_some() => lines.push(unsupported_text("sticker")),
            _ => lines.push(unsupported_text(&a.kind)),
        }
    }
    (lines.join("\n"), media)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messenger_attachments_become_media_or_unsupported_lines() {
        let a = |kind: &str, url: Option<&str>, sticker: Option<&str>| MessengerAttachment {
            kind: kind.into(),
            url: url.map(str::to_owned),
            sticker_id: sticker.map(str::to_owned),
        };
        let (text, media) = messenger_content(
            Some("look"),
            &[
                a("image", Some("https://x/1.png"), None),
                a("image", Some("https://x/s.png"), Some("369239263222822")),
                a("location", None, None),
                a("file", Some("https://x/a.pdf"), None),
            ],
        );
        assert_eq!(
            text,
            "look\n[unsupported content: sticker]\n[unsupported content: location]"
        );
        assert_eq!(
            media
                .iter()
                .map(|m| (m.url.as_str(), m.content_type.as_str()))
                .collect::<Vec<_>>(),
            [
                ("https://x/1.png", "image/*"),
                ("https://x/a.pdf", "application/octet-stream")
            ]
        );
        assert_eq!(postback_id("1", Some(5), "AGENT"), "postback:1:5:AGENT");
    }
}
