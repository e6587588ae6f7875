//! Read receipts and typing indicators sent to the customer's app (issue 15): what the agent's
//! console tells WhatsApp and Messenger while the agent reads and types. One builder per provider
//! call; the engine sends them fire-and-forget (a lost hint is not worth a retry or a failed UI).
//!
//! - WhatsApp Cloud API: "mark as read" is `POST /{phone_number_id}/messages` with
//!   `{"messaging_product":"whatsapp","status":"read","message_id":...}`; the typing indicator is
//!   the same call with `"typing_indicator":{"type":"text"}` (it also marks the message read, and
//!   WhatsApp hides it after 25 s or when the reply arrives, so there is no "typing off").
//! - Messenger: sender actions on `POST /{page_id}/messages`:
//!   `{"recipient":{"id":psid},"sender_action":"mark_seen"|"typing_on"|"typing_off"}`.
//!
//! The WhatsApp bodies are those PyPI `pywa` 4.5.0 sends (`WhatsAppCloudApi.mark_message_as_read`
//! and `set_indicator`, read from its source), key for key; the tests pin them byte for byte.

use serde::Serialize;

use super::send::GraphEndpoint;
use crate::http::{BuildError, HttpRequest};

/// What the agent is doing, as the customer's app can show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal<'a> {
    /// The agent saw the customer's message (WhatsApp needs its provider message id).
    Read { message_id: Option<&'a str> },
    /// The agent types (`true`) or stopped (`false`).
    Typing {
        on: bool,
        message_id: Option<&'a str>,
    },
}

#[derive(Serialize)]
struct TypingIndicator {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct WhatsAppStatus<'a> {
    messaging_product: &'static str,
    status: &'static str,
    message_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    typing_indicator: Option<TypingIndicator>,
}

/// The WhatsApp request for `signal`, or `None` when WhatsApp has nothing for it (typing off, or
/// no message id to attach it to).
pub fn whatsapp_signal(
    endpoint: &GraphEndpoint,
    phone_number_id: &str,
    signal: Signal<'_>,
) -> Result<Option<HttpRequest>, BuildError> {
    let (message_id, typing) = match signal {
        Signal::Read {
            message_id: Some(id),
        } => (id, false),
        Signal::Typing {
            on: true,
            message_id: Some(id),
        } => (id, true),
        _ => return Ok(None),
    };
    if message_id.is_empty() || message_id.len() > 256 {
        return Err(BuildError::config(
            "message_id",
            "a WhatsApp message id (wamid...)",
        ));
    }
    let body = WhatsAppStatus {
        messaging_product: "whatsapp",
        status: "read",
        message_id,
        typing_indicator: typing.then_some(TypingIndicator { kind: "text" }),
    };
    let body = serde_json::to_vec(&body)
        .map_err(|e| BuildError::config("body", format!("not JSON: {e}")))?;
    endpoint
        .post_messages("phone_number_id", phone_number_id, body)
        .map(Some)
}

#[derive(Serialize)]
struct Recipient<'a> {
    id: &'a str,
}

#[derive(Serialize)]
struct SenderAction<'a> {
    recipient: Recipient<'a>,
    sender_action: &'static str,
}

/// The Messenger sender action for `signal` to the person `psid`.
pub fn messenger_signal(
    endpoint: &GraphEndpoint,
    page_id: &str,
    psid: &str,
    signal: Signal<'_>,
) -> Result<Option<HttpRequest>, BuildError> {
    if psid.is_empty() || psid.len() > 64 || !psid.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BuildError::config("psid", "a page-scoped id is numeric"));
    }
    let action = match signal {
        Signal::Read { .. } => "mark_seen",
        Signal::Typing { on: true, .. } => "typing_on",
        Signal::Typing { on: false, .. } => "typing_off",
    };
    let body = serde_json::to_vec(&SenderAction {
        recipient: Recipient { id: psid },
        sender_action: action,
    })
    .map_err(|e| BuildError::config("body", format!("not JSON: {e}")))?;
    endpoint.post_messages("page_id", page_id, body).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> GraphEndpoint {
        GraphEndpoint {
            base_url: "https://graph.example".into(),
            api_version: "v21.0".into(),
            access_token: "TOKEN".into(),
        }
    }

    fn json(r: &HttpRequest) -> serde_json::Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    #[test]
    fn whatsapp_mark_as_read_is_the_recorded_shape() {
        let r = whatsapp_signal(
            &endpoint(),
            "1234567890",
            Signal::Read {
                message_id: Some("wamid.HBgL"),
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.url, "https://graph.example/v21.0/1234567890/messages");
        assert_eq!(r.header("Authorization"), Some("Bearer TOKEN"));
        assert_eq!(
            String::from_utf8(r.body.clone()).unwrap(),
            r#"{"messaging_product":"whatsapp","status":"read","message_id":"wamid.HBgL"}"#
        );
    }

    #[test]
    fn whatsapp_typing_is_a_read_with_a_typing_indicator() {
        let r = whatsapp_signal(
            &endpoint(),
            "1234567890",
            Signal::Typing {
                on: true,
                message_id: Some("wamid.X"),
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            json(&r),
            serde_json::json!({"messaging_product": "whatsapp", "status": "read",
                "message_id": "wamid.X", "typing_indicator": {"type": "text"}})
        );
    }

    #[test]
    fn whatsapp_has_nothing_for_typing_off_or_without_a_message() {
        for s in [
            Signal::Typing {
                on: false,
                message_id: Some("wamid.X"),
            },
            Signal::Typing {
                on: true,
                message_id: None,
            },
            Signal::Read { message_id: None },
        ] {
            assert!(whatsapp_signal(&endpoint(), "1", s).unwrap().is_none());
        }
    }

    #[test]
    fn messenger_sender_actions() {
        for (signal, action) in [
            (Signal::Read { message_id: None }, "mark_seen"),
            (
                Signal::Typing {
                    on: true,
                    message_id: None,
                },
                "typing_on",
            ),
            (
                Signal::Typing {
                    on: false,
                    message_id: None,
                },
                "typing_off",
            ),
        ] {
            let r = messenger_signal(&endpoint(), "4242", "5551234", signal)
                .unwrap()
                .unwrap();
            assert_eq!(r.url, "https://graph.example/v21.0/4242/messages");
            assert_eq!(
                String::from_utf8(r.body.clone()).unwrap(),
                format!(r#"{{"recipient":{{"id":"5551234"}},"sender_action":"{action}"}}"#)
            );
        }
        assert!(
            messenger_signal(
                &endpoint(),
                "4242",
                "not-a-psid",
                Signal::Read { message_id: None }
            )
            .is_err()
        );
    }
}
