//! Meta's webhook formats: WhatsApp Cloud API and Facebook Messenger.
//!
//! Both arrive as JSON POSTs signed with `X-Hub-Signature-256` and are subscribed through the
//! same GET handshake ([`signature`]). The body's `object` says which product sent it:
//! `whatsapp_business_account` ([`whatsapp`]) or `page` ([`messenger`]); [`parse_webhook`]
//! dispatches on it for a single endpoint serving both.
//!
//! Pure functions only: [`webhook`] verifies the signature on the raw bytes, parses, and routes
//! each event to the channel it names; the HTTP layer hands the events to the pipelines. Fixtures in `fixtures/meta` are checked against
//! pywa, a real WhatsApp client library (`scripts/oracles/meta`).

pub mod adapter;
pub mod errors;
pub mod messenger;
pub mod messenger_send;
mod parse;
pub mod send;
pub mod signature;
pub mod signals;
pub mod webhook;
pub mod whatsapp;

pub use errors::{ErrorMapping, ProviderError, map_error_code};
pub use messenger::{MessengerEvent, MessengerWebhook};
pub use parse::ParseError;
pub use signature::{
    HandshakeRefusal, SIGNATURE_HEADER, SignatureError, answer_handshake, answer_handshake_params,
    compute_signature, verify_signature,
};
pub use whatsapp::{WhatsAppContent, WhatsAppEvent, WhatsAppWebhook};

/// A Meta webhook body of either product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaWebhook {
    WhatsApp(WhatsAppWebhook),
    Messenger(MessengerWebhook),
}

/// Parses a body according to its `object`.
pub fn parse_webhook(body: &[u8]) -> Result<MetaWebhook, ParseError> {
    #[derive(serde::Deserialize)]
    struct Peek {
        object: Option<String>,
    }
    let peek: Peek = serde_json::from_slice(body)?;
    match peek.object.as_deref() {
        Some(whatsapp::OBJECT) => whatsapp::parse(body).map(MetaWebhook::WhatsApp),
        Some(messenger::OBJECT) => messenger::parse(body).map(MetaWebhook::Messenger),
        other => Err(ParseError::UnexpectedObject {
            expected: "'whatsapp_business_account' or 'page'",
            found: other.unwrap_or_default().to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatches_on_object() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/meta");
        let wa = std::fs::read(format!("{dir}/whatsapp_text.json")).unwrap();
        let fb = std::fs::read(format!("{dir}/messenger_text.json")).unwrap();
        assert!(matches!(parse_webhook(&wa), Ok(MetaWebhook::WhatsApp(_))));
        assert!(matches!(parse_webhook(&fb), Ok(MetaWebhook::Messenger(_))));
        assert!(matches!(
            parse_webhook(br#"{"object":"instagram","entry":[]}"#),
            Err(ParseError::UnexpectedObject { found, .. }) if found == "instagram"
        ));
        assert!(matches!(
            parse_webhook(br#"{"entry":[]}"#),
            Err(ParseError::UnexpectedObject { found, .. }) if found.is_empty()
        ));
        assert!(matches!(parse_webhook(b"[1,2]"), Err(ParseError::Json(_))));
    }
}
