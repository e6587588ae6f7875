//! Twilio's inbound webhooks: the raw `application/x-www-form-urlencoded` body a stranger can
//! post to `/webhooks/twilio/{channel}` (and `/status`), through the form decoder, the message
//! and status parsers, and the adapter's webhook handler with a correctly signed request.
//!
//! Invariants: nothing panics; a decoded form re-encoded decodes to the same pairs; a request
//! we signed ourselves is never refused as forged; what the adapter accepts carries the
//! message's required fields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parley_channels::adapter::{
    ChannelConfig, ProviderAdapter, WebhookError, WebhookEvent, WebhookMethod, WebhookRequest,
};
use parley_channels::twilio::adapter::TwilioAdapter;
use parley_channels::twilio::{
    FormParams, InboundMessage, MAX_MEDIA, SIGNATURE_HEADER, SignatureAlgorithm, SignatureError,
    StatusCallback, compute_signature, verify_form_request,
};
use parley_core::Timestamp;
use parley_core::model::ChannelKind;
use serde_json::json;

const TOKEN: &str = "fuzz-auth-token";
const URL: &str = "https://parley.example/webhooks/twilio/0190f2a0-7c1e-7000-8000-000000000001";

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

fuzz_target!(|body: &[u8]| {
    let form = FormParams::parse(body);
    if let Ok(form) = &form {
        let mut again = String::new();
        for (i, (name, value)) in form.pairs().iter().enumerate() {
            if i > 0 {
                again.push('&');
            }
            encode(name, &mut again);
            again.push('=');
            encode(value, &mut again);
        }
        // An empty name with an empty value encodes as "=", which the decoder keeps; a field
        // that is wholly empty is skipped on both sides, so the pairs must match exactly.
        let reparsed = FormParams::parse(again.as_bytes()).expect("re-encoded form decodes");
        assert_eq!(
            reparsed.pairs(),
            form.pairs(),
            "form round trip of {again:?}"
        );
    }

    if let Ok(message) = InboundMessage::parse(body) {
        assert!(!message.message_sid.is_empty());
        assert!(!message.from.is_empty() && !message.to.is_empty());
        assert!(message.media.len() <= MAX_MEDIA);
    }
    if let Ok(callback) = StatusCallback::parse(body) {
        let _ = callback.entry_status();
        let _ = callback.recipient_opted_out();
    }

    let settings = json!({ "public_url": URL });
    let secrets =
        json!({ "account_sid": "AC00000000000000000000000000000000", "auth_token": TOKEN });
    let channel = ChannelConfig {
        kind: ChannelKind::Sms,
        address: "+14155550100",
        number_type: None,
        settings: &settings,
        secrets: &secrets,
    };
    for (action, url) in [
        (None, URL.to_owned()),
        (Some("status"), format!("{URL}/status")),
    ] {
        for algorithm in [SignatureAlgorithm::HmacSha1, SignatureAlgorithm::HmacSha256] {
            let signature = match &form {
                Ok(form) => compute_signature(TOKEN, &url, form.pairs(), algorithm),
                Err(_) => "bm90IGEgc2lnbmF0dXJl".to_owned(),
            };
            if form.is_ok() {
                assert!(
                    verify_form_request(TOKEN, &url, body, &signature, algorithm).is_ok(),
                    "our own signature is refused"
                );
                assert!(
                    matches!(
                        verify_form_request("another-token", &url, body, &signature, algorithm),
                        Err(SignatureError::Mismatch)
                    ),
                    "a signature made with another token is accepted"
                );
            }
            let mut headers = vec![(SIGNATURE_HEADER.to_ascii_lowercase(), signature)];
            if algorithm == SignatureAlgorithm::HmacSha256 {
                headers.push((
                    "x-twilio-webhooks-signature-settings".to_owned(),
                    "key=fuzz,algorithm=HMAC_SHA256".to_owned(),
                ));
            }
            let request = WebhookRequest {
                method: WebhookMethod::Post,
                action,
                query: "",
                headers: &headers,
                body,
                now: Timestamp::from_millis(1_796_385_040_138),
            };
            match TwilioAdapter.handle_webhook(&channel, &request) {
                Ok(webhook) => {
                    assert!(form.is_ok());
                    for event in &webhook.events {
                        match event {
                            WebhookEvent::Message(m) => {
                                assert!(action.is_none());
                                assert!(!m.provider_message_id.is_empty());
                                assert!(m.files.len() <= MAX_MEDIA);
                            }
                            WebhookEvent::Status(s) => {
                                assert_eq!(action, Some("status"));
                                assert!(!s.provider_message_id.is_empty());
                            }
                        }
                    }
                }
                Err(WebhookError::Forbidden(why)) => {
                    assert!(form.is_err(), "a correctly signed form is refused: {why}");
                }
                Err(WebhookError::Malformed(_) | WebhookError::NotFound(_)) => {}
            }
        }
    }
});
