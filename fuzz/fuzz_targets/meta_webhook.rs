//! Meta's webhooks (WhatsApp Cloud API and Messenger): the JSON body anyone can post to
//! `/webhooks/meta/{whatsapp,messenger}`, through the parsers and the shared webhook handler
//! with a correctly signed request and channels the fixtures name; and the same bytes as the GET
//! handshake's query string.
//!
//! Invariants: nothing panics; a body signed with the channel's app secret is never refused as
//! forged, and one signed with another secret always is; every routed event names one of the
//! channels; an echoed handshake challenge is a short token of unreserved URL characters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parley_channels::adapter::{
    ChannelConfig, WebhookError, WebhookEvent, WebhookMethod, WebhookRequest,
};
use parley_channels::meta::signature::MAX_CHALLENGE_LEN;
use parley_channels::meta::{
    MetaWebhook, SIGNATURE_HEADER, answer_handshake, compute_signature, messenger, parse_webhook,
    webhook, whatsapp,
};
use parley_core::Timestamp;
use parley_core::model::ChannelKind;
use serde_json::json;

const SECRET: &str = "fuzz-app-secret";
const VERIFY_TOKEN: &str = "fuzz-verify-token";

fuzz_target!(|body: &[u8]| {
    let parsed = parse_webhook(body);
    let wa = whatsapp::parse(body);
    let fb = messenger::parse(body);
    match &parsed {
        Ok(MetaWebhook::WhatsApp(hook)) => assert_eq!(wa.as_ref().ok(), Some(hook)),
        Ok(MetaWebhook::Messenger(hook)) => assert_eq!(fb.as_ref().ok(), Some(hook)),
        Err(_) => {}
    }

    // The phone number id and page id of the fixtures in fuzz/corpus/meta_webhook, so that
    // seeded bodies reach the routing and conversion code, plus a channel the bodies never name.
    let wa_settings = json!({ "phone_number_id": "106540352242922" });
    let other_settings = json!({ "phone_number_id": "999" });
    let no_settings = json!({});
    let secrets = json!({ "app_secret": SECRET, "verify_token": VERIFY_TOKEN });
    let channel = |kind, address, settings| ChannelConfig {
        kind,
        address,
        number_type: None,
        settings,
        secrets: &secrets,
    };
    let whatsapp_channels = [
        channel(ChannelKind::Whatsapp, "+15550783881", &wa_settings),
        channel(ChannelKind::Whatsapp, "+15550000000", &other_settings),
    ];
    let messenger_channels = [
        channel(ChannelKind::Messenger, "104885245713421", &no_settings),
        channel(ChannelKind::Messenger, "1", &no_settings),
    ];

    let good = compute_signature(SECRET, body);
    let forged = compute_signature("another-secret", body);
    for (kind, channels) in [
        (ChannelKind::Whatsapp, &whatsapp_channels),
        (ChannelKind::Messenger, &messenger_channels),
    ] {
        for signature in [&good, &forged] {
            let headers = vec![(SIGNATURE_HEADER.to_ascii_lowercase(), signature.clone())];
            let request = WebhookRequest {
                method: WebhookMethod::Post,
                action: None,
                query: "",
                headers: &headers,
                body,
                now: Timestamp::from_millis(1_796_385_040_138),
            };
            let result = webhook::handle(kind, channels, &request);
            if signature == &forged {
                assert!(
                    matches!(result, Err(WebhookError::Forbidden(_))),
                    "a body signed with another app secret is accepted: {result:?}"
                );
                continue;
            }
            match result {
                Ok(shared) => {
                    for routed in &shared.events {
                        let channel = channels.get(routed.channel).expect("routed to a channel");
                        if let WebhookEvent::Message(m) = &routed.event {
                            assert!(!m.provider_message_id.is_empty());
                            assert_eq!(m.to, channel.address);
                        }
                    }
                }
                Err(WebhookError::Forbidden(why)) => {
                    panic!("a correctly signed {kind} body is refused: {why}")
                }
                Err(WebhookError::Malformed(_) | WebhookError::NotFound(_)) => {}
            }
        }
    }

    // The subscription handshake reads its query string with the same form decoder.
    if let Ok(query) = std::str::from_utf8(body) {
        if let Ok(challenge) = answer_handshake(query, VERIFY_TOKEN) {
            assert!(challenge.len() <= MAX_CHALLENGE_LEN);
            assert!(
                challenge
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')),
                "challenge {challenge:?} echoed"
            );
        }
        let request = WebhookRequest {
            method: WebhookMethod::Get,
            action: None,
            query,
            headers: &[],
            body: b"",
            now: Timestamp::from_millis(1_796_385_040_138),
        };
        let _ = webhook::handle(ChannelKind::Whatsapp, &whatsapp_channels, &request);
    }
});
