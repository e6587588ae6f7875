//! Meta's webhooks as its adapter serves them: WhatsApp Cloud API (`/webhooks/meta/whatsapp`) and
//! Messenger (`/webhooks/meta/messenger`).
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
//!   Events for a phone number or page no channel has are dropped (and named in
//!   [`SharedWebhook::unrouted`] for the log).
//!
//! What each event becomes:
//!
//! - A customer's message (provider message id: the `wamid` or `mid`; from: the WhatsApp number
//!   as E.164 (`wa_id` with a `+`), or the `user_id` of a user without a number, or the
//!   Messenger PSID). Text is the text, a media caption, or the title of the tapped button or
//!   list row; files are WhatsApp's media ids (fetched through the Graph API) or Messenger's
//!   attachment URLs. A tap on an option also carries the option's id as the message's
//!   `choice`: a WhatsApp reply button's or list row's id, a template quick reply's payload, a
//!   Messenger quick reply's or postback's payload.
//! - Content Parley cannot show (stickers, locations, contacts, reactions, unknown types, and
//!   Messenger attachments other than image, audio, video and file) is kept as a line of text the
//!   agent sees: `[unsupported content: sticker]` (the provider's type name).
//! - A WhatsApp status (sent, delivered, read/played, failed), the error mapped to the catalogue
//!   and Meta's code kept.
//! - A Messenger delivery receipt: `delivered` for each `mid` it lists. Read receipts carry only a
//!   watermark, no message id, and are not recorded; echoes of the Page's own messages, and
//!   events without a message id (reactions, opt-ins, referrals, handover), are ignored.

use std::collections::BTreeMap;

use parley_core::E164;
use parley_core::model::{ChannelKind, EntryStatus};
use uuid::Uuid;

use super::adapter::{MetaSecrets, MetaSettings};
use super::messenger::{self, MessengerAttachment, MessengerEvent};
use super::whatsapp::{self, WhatsAppContent, WhatsAppEvent, WhatsAppMessage, WhatsAppStatus};
use super::{SIGNATURE_HEADER, answer_handshake, verify_signature};
use crate::adapter::{
    ChannelConfig, InboundMessage, RoutedEvent, SharedWebhook, StatusUpdate, WebhookError,
    WebhookEvent, WebhookMethod, WebhookReply, WebhookRequest,
};

/// The path segment after `/webhooks/meta/` of each product's shared webhook.
pub fn product_kind(product: &str) -> Option<ChannelKind> {
    match product {
        "whatsapp" => Some(ChannelKind::Whatsapp),
        "messenger" => Some(ChannelKind::Messenger),
        _ => None,
    }
}

/// The text an entry gets for content Parley cannot show, naming the provider's type.
pub fn unsupported_text(kind: &str) -> String {
    format!("[unsupported content: {kind}]")
}

/// Answers a call of `/webhooks/meta/{product}` for the channels of `kind` (see the module).
pub fn handle(
    kind: ChannelKind,
    channels: &[ChannelConfig<'_>],
    request: &WebhookRequest<'_>,
) -> Result<SharedWebhook, WebhookError> {
    if let Some(action) = request.action {
        return Err(WebhookError::NotFound(format!(
            "Meta's {kind} webhook has no '{action}'"
        )));
    }
    match request.method {
        WebhookMethod::Get => handshake(kind, channels, request.query),
        WebhookMethod::Post => match kind {
            ChannelKind::Whatsapp => whatsapp_events(channels, request),
            ChannelKind::Messenger => messenger_events(channels, request),
            ChannelKind::Sms | ChannelKind::Web => Err(WebhookError::NotFound(format!(
                "Meta has no {kind} webhook"
            ))),
        },
    }
}

fn present(value: Option<String>) -> Option<String> {
    value.filter(|s| !s.is_empty())
}

/// A channel's Meta secrets, typed. Secrets that do not read (written before they were checked)
/// count as absent: such a channel verifies nothing.
fn secrets_of(channel: &ChannelConfig<'_>) -> MetaSecrets {
    MetaSecrets::read(channel).unwrap_or_default()
}

fn handshake(
    kind: ChannelKind,
    channels: &[ChannelConfig<'_>],
    query: &str,
) -> Result<SharedWebhook, WebhookError> {
    let mut refusal = None;
    for channel in channels {
        let Some(token) = present(secrets_of(channel).verify_token) else {
            continue;
        };
        match answer_handshake(query, &token) {
            Ok(challenge) => {
                return Ok(SharedWebhook {
                    events: Vec::new(),
                    unrouted: Vec::new(),
                    reply: WebhookReply {
                        body: challenge,
                        ..WebhookReply::empty()
                    },
                });
            }
            Err(e) => refusal = Some(e),
        }
    }
    Err(WebhookError::Forbidden(match refusal {
        Some(e) => format!("handshake refused: {e}"),
        None => format!("no {kind} channel on Meta has a verify token"),
    }))
}

/// The signature header, or 403.
fn signature<'r>(request: &'r WebhookRequest<'_>) -> Result<&'r str, WebhookError> {
    request
        .header(SIGNATURE_HEADER)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| WebhookError::Forbidden("missing X-Hub-Signature-256".into()))
}

/// Checks the body's signature against the channels it names (`named`, indexes into `all`), or
/// against any channel of the kind when it names none. Then the body may be believed.
fn authenticate(
    body: &[u8],
    header: &str,
    named: &[usize],
    all: &[ChannelConfig<'_>],
) -> Result<(), WebhookError> {
    let verifies = |c: &ChannelConfig<'_>| {
        present(secrets_of(c).app_secret)
            .is_some_and(|s| verify_signature(&s, body, header).is_ok())
    };
    let ok = if named.is_empty() {
        all.iter().any(verifies)
    } else {
        named.iter().all(|&i| all.get(i).is_some_and(verifies))
    };
    if ok {
        Ok(())
    } else {
        Err(WebhookError::Forbidden(
            "the X-Hub-Signature-256 does not match this body and the app secret of its channel"
                .into(),
        ))
    }
}

/// A body that did not parse: 400 if it is authentic (Meta sent something we do not read), 403
/// otherwise.
fn malformed(
    body: &[u8],
    header: &str,
    all: &[ChannelConfig<'_>],
    e: super::ParseError,
) -> WebhookError {
    match authenticate(body, header, &[], all) {
        Ok(()) => WebhookError::Malformed(e.to_string()),
        Err(refused) => refused,
    }
}

/// Each channel address the body names, with the index of its channel (`None`: no channel has
/// it).
fn resolve<'i>(
    all: &[ChannelConfig<'_>],
    ids: impl IntoIterator<Item = &'i str>,
    id_of: impl Fn(&ChannelConfig<'_>) -> Option<String>,
) -> BTreeMap<&'i str, Option<usize>> {
    let keys: Vec<Option<String>> = all.iter().map(id_of).collect();
    ids.into_iter()
        .map(|id| (id, keys.iter().position(|k| k.as_deref() == Some(id))))
        .collect()
}

/// A body's events each with the index of its channel, and the addresses no channel has.
struct Routing<'e, E> {
    routed: Vec<(usize, &'e E)>,
    unrouted: Vec<String>,
}

/// Verifies the body against the channels its events name and routes the events.
fn route<'e, E>(
    body: &[u8],
    header: &str,
    all: &[ChannelConfig<'_>],
    events: &'e [E],
    address: impl Fn(&E) -> &str,
    id_of: impl Fn(&ChannelConfig<'_>) -> Option<String>,
) -> Result<Routing<'e, E>, WebhookError> {
    let map = resolve(all, events.iter().map(&address), id_of);
    let mut named: Vec<usize> = map.values().flatten().copied().collect();
    named.sort_unstable();
    named.dedup();
    authenticate(body, header, &named, all)?;
    let mut routed = Vec::new();
    let mut unrouted: Vec<String> = Vec::new();
    for event in events {
        let id = address(event);
        match map.get(id).copied().flatten() {
            Some(i) => routed.push((i, event)),
            None => {
                if !unrouted.iter().any(|u| u == id) {
                    unrouted.push(id.to_owned());
                }
            }
        }
    }
    Ok(Routing { routed, unrouted })
}

fn whatsapp_events(
    all: &[ChannelConfig<'_>],
    request: &WebhookRequest<'_>,
) -> Result<SharedWebhook, WebhookError> {
    let header = signature(request)?;
    let body = request.body;
    let hook = whatsapp::parse(body).map_err(|e| malformed(body, header, all, e))?;
    let Routing { routed, unrouted } = route(
        body,
        header,
        all,
        &hook.events,
        |e| match e {
            WhatsAppEvent::Message(m) => m.business.phone_number_id.as_str(),
            WhatsAppEvent::Status(s) => s.business.phone_number_id.as_str(),
        },
        |c| MetaSettings::read(c).ok().and_then(|s| s.phone_number_id),
    )?;
    let mut events = Vec::new();
    for (channel, event) in routed {
        let event = match event {
            WhatsAppEvent::Message(m) => all
                .get(channel)
                .and_then(|c| whatsapp_message(c, m))
                .map(WebhookEvent::Message),
            WhatsAppEvent::Status(s) => whatsapp_status(s).map(WebhookEvent::Status),
        };
        if let Some(event) = event {
            events.push(RoutedEvent { channel, event });
        }
    }
    Ok(SharedWebhook {
        events,
        unrouted,
        reply: WebhookReply::empty(),
    })
}

/// The customer's address: the number in E.164 when there is one, else the WhatsApp user id.
fn whatsapp_sender(m: &WhatsAppMessage) -> Option<String> {
    if let Some(wa_id) = &m.sender.wa_id {
        let e164 = E164::from_network(&format!("+{}", wa_id.trim_start_matches('+')));
        return Some(e164.map_or_else(|_| wa_id.clone(), E164::into_string));
    }
    m.sender.user_id.clone()
}

/// A customer's WhatsApp message; `None` for one without a sender, which no session could hold.
fn whatsapp_message(channel: &ChannelConfig<'_>, m: &WhatsAppMessage) -> Option<InboundMessage> {
    let from = whatsapp_sender(m)?;
    let mut files = Vec::new();
    let mut choice = None;
    let text = match &m.content {
        WhatsAppContent::Text { body } => body.clone(),
        WhatsAppContent::Media(x) => {
            files.push((x.media_id.clone(), x.mime_type.clone()));
            x.caption.clone().unwrap_or_default()
        }
        WhatsAppContent::ButtonReply { id, title }
        | WhatsAppContent::ListReply { id, title, .. } => {
            choice = Some(id.clone());
            title.clone()
        }
        WhatsAppContent::QuickReply { payload, text } => {
            choice = Some(payload.clone());
            if text.is_empty() {
                payload.clone()
            } else {
                text.clone()
            }
        }
        WhatsAppContent::Unsupported { message_type } => unsupported_text(message_type),
    };
    Some(InboundMessage {
        provider_message_id: m.message_id.clone(),
        from,
        to: channel.address.to_owned(),
        text,
        files,
        profile_name: m.sender.name.clone(),
        choice,
    })
}

/// A status of a message Parley sent; `None` for a status name Parley does not know.
fn whatsapp_status(s: &WhatsAppStatus) -> Option<StatusUpdate> {
    let status = s.entry_status()?;
    let error = s.error();
    Some(StatusUpdate {
        provider_message_id: s.message_id.clone(),
        status,
        error_code: error.map(|e| e.code),
        provider_error: error.map(|e| e.provider_code.clone()),
        recipient_opted_out: false,
    })
}

fn messenger_events(
    all: &[ChannelConfig<'_>],
    request: &WebhookRequest<'_>,
) -> Result<SharedWebhook, WebhookError> {
    let header = signature(request)?;
    let body = request.body;
    let hook = messenger::parse(body).map_err(|e| malformed(body, header, all, e))?;
    let Routing { routed, unrouted } = route(
        body,
        header,
        all,
        &hook.events,
        |e| match e {
            MessengerEvent::Message(m) => m.who.page_id.as_str(),
            MessengerEvent::Delivery(d) => d.who.page_id.as_str(),
            MessengerEvent::Read(r) => r.who.page_id.as_str(),
            MessengerEvent::Postback(p) => p.who.page_id.as_str(),
            MessengerEvent::Unsupported { who, .. } => who.page_id.as_str(),
        },
        |c| Some(c.address.to_owned()),
    )?;
    let mut events = Vec::new();
    for (channel, event) in routed {
        let to = all.get(channel).map(|c| c.address).unwrap_or_default();
        let inbound = |provider_message_id: String, from: &str, text: String, files, choice| {
            WebhookEvent::Message(InboundMessage {
                provider_message_id,
                from: from.to_owned(),
                to: to.to_owned(),
                text,
                files,
                profile_name: None,
                choice,
            })
        };
        match event {
            MessengerEvent::Message(m) if m.is_echo => {}
            MessengerEvent::Message(m) => {
                let (text, files) = messenger_content(m.text.as_deref(), &m.attachments);
                let choice = m.quick_reply_payload.clone();
                let event = inbound(m.mid.clone(), &m.who.sender_id, text, files, choice);
                events.push(RoutedEvent { channel, event });
            }
            MessengerEvent::Postback(p) => {
                let id = p
                    .mid
                    .clone()
                    .unwrap_or_else(|| postback_id(&p.who.sender_id, p.timestamp, &p.payload));
                let text = p.title.clone().unwrap_or_else(|| p.payload.clone());
                let choice = Some(p.payload.clone());
                let event = inbound(id, &p.who.sender_id, text, Vec::new(), choice);
                events.push(RoutedEvent { channel, event });
            }
            MessengerEvent::Delivery(d) => {
                for mid in &d.mids {
                    let event = WebhookEvent::Status(StatusUpdate {
                        provider_message_id: mid.clone(),
                        status: EntryStatus::Delivered,
                        error_code: None,
                        provider_error: None,
                        recipient_opted_out: false,
                    });
                    events.push(RoutedEvent { channel, event });
                }
            }
            MessengerEvent::Read(_) | MessengerEvent::Unsupported { .. } => {}
        }
    }
    Ok(SharedWebhook {
        events,
        unrouted,
        reply: WebhookReply::empty(),
    })
}

/// A dedupe key for a postback Meta gave no `mid`.
fn postback_id(sender: &str, timestamp: Option<i64>, payload: &str) -> String {
    let at = timestamp.map_or_else(|| Uuid::now_v7().to_string(), |t| t.to_string());
    format!("postback:{sender}:{at}:{payload}")
}

/// The text and files of a Messenger message: the text, then a line for each attachment Parley
/// cannot keep as a file.
fn messenger_content(
    text: Option<&str>,
    attachments: &[MessengerAttachment],
) -> (String, Vec<(String, String)>) {
    let mut lines: Vec<String> = text.map(str::to_owned).into_iter().collect();
    let mut files = Vec::new();
    for a in attachments {
        let content_type = match a.kind.as_str() {
            "image" if a.sticker_id.is_none() => Some("image/*"),
            "audio" => Some("audio/*"),
            "video" => Some("video/*"),
            "file" => Some("application/octet-stream"),
            _ => None,
        };
        match (content_type, &a.url) {
            (Some(content_type), Some(url)) => files.push((url.clone(), content_type.to_owned())),
            _ if a.sticker_id.is_some() => lines.push(unsupported_text("sticker")),
            _ => lines.push(unsupported_text(&a.kind)),
        }
    }
    (lines.join("\n"), files)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::meta::compute_signature;

    #[test]
    fn messenger_attachments_become_files_or_unsupported_lines() {
        let a = |kind: &str, url: Option<&str>, sticker: Option<&str>| MessengerAttachment {
            kind: kind.into(),
            url: url.map(str::to_owned),
            sticker_id: sticker.map(str::to_owned),
        };
        let (text, files) = messenger_content(
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
            files,
            [
                ("https://x/1.png".to_owned(), "image/*".to_owned()),
                (
                    "https://x/a.pdf".to_owned(),
                    "application/octet-stream".to_owned()
                )
            ]
        );
        assert_eq!(postback_id("1", Some(5), "AGENT"), "postback:1:5:AGENT");
    }

    fn channel<'a>(address: &'a str, settings: &'a Value, secrets: &'a Value) -> ChannelConfig<'a> {
        ChannelConfig {
            kind: ChannelKind::Whatsapp,
            address,
            number_type: None,
            settings,
            secrets,
        }
    }

    fn post<'a>(headers: &'a [(String, String)], body: &'a [u8]) -> WebhookRequest<'a> {
        WebhookRequest {
            method: WebhookMethod::Post,
            action: None,
            query: "",
            headers,
            body,
            now: parley_core::Timestamp::from_millis(0),
        }
    }

    fn text_for(phone_number_id: &str, wamid: &str) -> Value {
        json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
            "field": "messages",
            "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "1", "phone_number_id": phone_number_id},
                "contacts": [{"wa_id": "447400123456", "profile": {"name": "Ann"}}],
                "messages": [{"from": "447400123456", "id": wamid, "timestamp": "1",
                              "type": "text", "text": {"body": "hi"}}]
            }
        }]}]})
    }

    #[test]
    fn events_are_routed_by_phone_number_id_after_the_signature_of_every_named_channel() {
        let (s1, s2) = (
            json!({"phone_number_id": "111"}),
            json!({"phone_number_id": "222"}),
        );
        let (k1, k2) = (json!({"app_secret": "one"}), json!({"app_secret": "two"}));
        let all = [
            channel("+15550000001", &s1, &k1),
            channel("+15550000002", &s2, &k2),
        ];
        let sign = |secret: &str, body: &[u8]| {
            vec![(
                "x-hub-signature-256".to_owned(),
                compute_signature(secret, body),
            )]
        };

        let body = serde_json::to_vec(&text_for("222", "wamid.A")).unwrap();
        let hook = handle(
            ChannelKind::Whatsapp,
            &all,
            &post(&sign("two", &body), &body),
        )
        .unwrap();
        assert_eq!(hook.events.len(), 1);
        assert_eq!(hook.events[0].channel, 1);
        match &hook.events[0].event {
            WebhookEvent::Message(m) => {
                assert_eq!(m.from, "+447400123456");
                assert_eq!(m.to, "+15550000002");
                assert_eq!(m.profile_name.as_deref(), Some("Ann"));
            }
            other => panic!("{other:?}"),
        }
        // Signed by another channel's app: refused.
        assert!(matches!(
            handle(
                ChannelKind::Whatsapp,
                &all,
                &post(&sign("one", &body), &body)
            ),
            Err(WebhookError::Forbidden(_))
        ));
        // Unsigned: refused.
        assert!(matches!(
            handle(ChannelKind::Whatsapp, &all, &post(&[], &body)),
            Err(WebhookError::Forbidden(_))
        ));

        // A number nobody has, signed by a known app: accepted, named as unrouted.
        let body = serde_json::to_vec(&text_for("333", "wamid.B")).unwrap();
        let hook = handle(
            ChannelKind::Whatsapp,
            &all,
            &post(&sign("one", &body), &body),
        )
        .unwrap();
        assert!(hook.events.is_empty());
        assert_eq!(hook.unrouted, ["333"]);
        assert!(matches!(
            handle(ChannelKind::Whatsapp, &all, &post(&sign("x", &body), &body)),
            Err(WebhookError::Forbidden(_))
        ));

        // Not JSON: 400 when a known app signed it, 403 otherwise.
        let junk = b"{";
        assert!(matches!(
            handle(ChannelKind::Whatsapp, &all, &post(&sign("two", junk), junk)),
            Err(WebhookError::Malformed(_))
        ));
        assert!(matches!(
            handle(ChannelKind::Whatsapp, &all, &post(&sign("x", junk), junk)),
            Err(WebhookError::Forbidden(_))
        ));
    }

    #[test]
    fn messenger_events_are_routed_by_page_and_echoes_dropped() {
        let settings = json!({});
        let secrets = json!({"app_secret": "fb"});
        let all = [ChannelConfig {
            kind: ChannelKind::Messenger,
            ..channel("1001", &settings, &secrets)
        }];
        let body = serde_json::to_vec(&json!({"object": "page", "entry": [
            {"id": "1001", "time": 1, "messaging": [
                {"sender": {"id": "77"}, "recipient": {"id": "1001"}, "timestamp": 1,
                 "message": {"mid": "m.1", "text": "hello"}},
                {"sender": {"id": "1001"}, "recipient": {"id": "77"}, "timestamp": 2,
                 "message": {"mid": "m.2", "text": "ours", "is_echo": true}},
                {"sender": {"id": "77"}, "recipient": {"id": "1001"}, "timestamp": 3,
                 "delivery": {"mids": ["m.out"], "watermark": 3}}
            ]},
            {"id": "2002", "time": 1, "messaging": [
                {"sender": {"id": "78"}, "recipient": {"id": "2002"}, "timestamp": 1,
                 "message": {"mid": "m.3", "text": "elsewhere"}}
            ]}
        ]}))
        .unwrap();
        let headers = [(
            "x-hub-signature-256".to_owned(),
            compute_signature("fb", &body),
        )];
        let hook = handle(ChannelKind::Messenger, &all, &post(&headers, &body)).unwrap();
        assert_eq!(hook.unrouted, ["2002"]);
        let ids: Vec<_> = hook
            .events
            .iter()
            .map(|r| match &r.event {
                WebhookEvent::Message(m) => (r.channel, m.provider_message_id.as_str(), "message"),
                WebhookEvent::Status(s) => (r.channel, s.provider_message_id.as_str(), "status"),
            })
            .collect();
        assert_eq!(ids, [(0, "m.1", "message"), (0, "m.out", "status")]);
        // The WhatsApp path does not take a Messenger body.
        assert!(matches!(
            handle(ChannelKind::Whatsapp, &all, &post(&headers, &body)),
            Err(WebhookError::Malformed(_))
        ));
    }

    /// The messages of a signed fixture body, for one channel of `kind` at `address`.
    fn messages_of(kind: ChannelKind, address: &str, fixture: &str) -> Vec<InboundMessage> {
        let path = format!("{}/fixtures/meta/{fixture}", env!("CARGO_MANIFEST_DIR"));
        let body = std::fs::read(&path).unwrap();
        let settings = match kind {
            ChannelKind::Whatsapp => json!({"phone_number_id": "106540352242922"}),
            _ => json!({}),
        };
        let secrets = json!({"app_secret": "s"});
        let all = [ChannelConfig {
            kind,
            ..channel(address, &settings, &secrets)
        }];
        let headers = [(
            "x-hub-signature-256".to_owned(),
            compute_signature("s", &body),
        )];
        handle(kind, &all, &post(&headers, &body))
            .unwrap()
            .events
            .into_iter()
            .filter_map(|r| match r.event {
                WebhookEvent::Message(m) => Some(m),
                WebhookEvent::Status(_) => None,
            })
            .collect()
    }

    #[test]
    fn a_tapped_option_carries_its_id_as_the_choice_and_its_title_as_the_text() {
        let cases = [
            (
                ChannelKind::Whatsapp,
                "whatsapp_button_reply.json",
                "Track my order",
                Some("track-order"),
            ),
            (
                ChannelKind::Whatsapp,
                "whatsapp_list_reply.json",
                "Billing",
                Some("topic-billing"),
            ),
            (
                ChannelKind::Whatsapp,
                "whatsapp_quick_reply_button.json",
                "Stop promotions",
                Some("STOP_PROMOS"),
            ),
            (ChannelKind::Whatsapp, "whatsapp_text.json", "", None),
            (
                ChannelKind::Messenger,
                "messenger_quick_reply.json",
                "Yes please",
                Some("CONFIRM_YES"),
            ),
            (
                ChannelKind::Messenger,
                "messenger_postback.json",
                "Talk to an agent",
                Some("AGENT"),
            ),
            (ChannelKind::Messenger, "messenger_text.json", "", None),
        ];
        for (kind, fixture, text, choice) in cases {
            let address = match kind {
                ChannelKind::Whatsapp => "+15550783881",
                _ => "104885245713421",
            };
            let messages = messages_of(kind, address, fixture);
            assert_eq!(messages.len(), 1, "{fixture}");
            let m = &messages[0];
            assert_eq!(m.choice.as_deref(), choice, "{fixture}");
            if choice.is_some() {
                assert_eq!(m.text, text, "{fixture}");
            }
        }
    }

    proptest::proptest! {
        /// Whatever a caller sends, signed or not, the adapter answers without panicking, and an
        /// unsigned body never yields events.
        #[test]
        fn any_body_is_answered_without_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let settings = json!({"phone_number_id": "111"});
            let secrets = json!({"app_secret": "one"});
            let all = [channel("+15550000001", &settings, &secrets)];
            let signed = [("x-hub-signature-256".to_owned(), compute_signature("one", &body))];
            let _ = handle(ChannelKind::Whatsapp, &all, &post(&signed, &body));
            let _ = handle(ChannelKind::Messenger, &all, &post(&signed, &body));
            let forged = [("x-hub-signature-256".to_owned(), compute_signature("two", &body))];
            let refused = handle(ChannelKind::Whatsapp, &all, &post(&forged, &body));
            proptest::prop_assert!(matches!(refused, Err(WebhookError::Forbidden(_))));
        }
    }

    #[test]
    fn handshake_needs_a_channel_verify_token() {
        let settings = json!({});
        let secrets = json!({"verify_token": "tok"});
        let all = [channel("+15550000001", &settings, &secrets)];
        let get = |query: &'static str| WebhookRequest {
            method: WebhookMethod::Get,
            query,
            ..post(&[], b"")
        };
        let ok = handle(
            ChannelKind::Whatsapp,
            &all,
            &get("hub.mode=subscribe&hub.verify_token=tok&hub.challenge=42"),
        )
        .unwrap();
        assert_eq!(ok.reply.body, "42");
        assert!(matches!(
            handle(
                ChannelKind::Whatsapp,
                &all,
                &get("hub.mode=subscribe&hub.verify_token=bad&hub.challenge=42"),
            ),
            Err(WebhookError::Forbidden(_))
        ));
        assert!(matches!(
            handle(ChannelKind::Whatsapp, &[], &get("")),
            Err(WebhookError::Forbidden(_))
        ));
    }
}
