//! Twilio's webhook formats: what Twilio posts to us and how we prove it was Twilio.
//!
//! Everything here is a pure function over bytes and strings, so the HTTP layer stays a thin
//! shell and every rule is tested without a server:
//!
//! - [`signature`]: `X-Twilio-Signature` (HMAC over the public URL and the sorted POST
//!   parameters), checked in constant time, held to vectors produced by Twilio's own Python
//!   library (`scripts/oracles/twilio`).
//! - [`InboundMessage`]: the form posted for a customer's SMS/MMS/WhatsApp message.
//! - [`StatusCallback`]: the form posted as an outbound message moves, with the status mapped to
//!   `EntryStatus` and the error code mapped by [`map_error_code`], original kept.
//! - [`EMPTY_TWIML_RESPONSE`]: what we answer so Twilio sends nothing back itself; replies go
//!   through the outbox like every other message (DESIGN.md section 3).
//!
//! Typical use in a handler: `verify_form_request(token, configured_url, body, header, alg)`
//! returns the decoded form, then `InboundMessage::from_form(form)`.

pub mod adapter;
pub mod errors;
mod fields;
pub mod form;
pub mod inbound;
pub mod outbound;
pub mod signature;
pub mod status;

pub use errors::{ErrorMapping, ProviderError, api_error_code, map_error_code};
pub use fields::ParseError;
pub use form::{FormError, FormParams};
pub use inbound::{Geo, InboundMedia, InboundMessage, MAX_MEDIA};
pub use signature::{
    SIGNATURE_HEADER, SIGNATURE_SETTINGS_HEADER, SignatureAlgorithm, SignatureError,
    compute_signature, verify_form_request, verify_json_request, verify_signature,
};
pub use status::{StatusCallback, TwilioStatus, api_status, api_statuses_before};

/// The empty TwiML answer: an XML declaration and `<Response />`, byte for byte what Twilio's
/// library renders for an empty `MessagingResponse` (checked against the oracle fixture).
pub const EMPTY_TWIML_RESPONSE: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response />"#;

/// The content type to send [`EMPTY_TWIML_RESPONSE`] with.
pub const TWIML_CONTENT_TYPE: &str = "text/xml; charset=utf-8";
