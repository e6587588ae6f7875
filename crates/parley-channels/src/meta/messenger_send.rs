//! Sending through the Messenger Platform's Send API.
//!
//! The request is `POST {base_url}/{version}/{page_id}/messages` (`me` works in place of the page
//! id: the Page the token belongs to) with the Page access token as `Authorization: Bearer`
//! (Graph accepts the token as a header as well as the `access_token` query parameter Meta's
//! examples use; the header keeps it out of URLs and their logs), and a JSON body:
//!
//! ```json
//! {"recipient":{"id":"<PSID>"},"messaging_type":"RESPONSE","message":{"text":"Hello"}}
//! {"recipient":{"id":"<PSID>"},"messaging_type":"MESSAGE_TAG","tag":"HUMAN_AGENT",
//!  "message":{"attachment":{"type":"image","payload":{"url":"https://…","is_reusable":false}}}}
//! ```
//!
//! Components render as Meta's reference documents them ([`MessengerContent`]): quick replies
//! (`message.text` with `message.quick_replies[{content_type:"text",title,payload}]`), the button
//! template (`attachment.type:"template"`, `payload.template_type:"button"`, `text`,
//! `buttons[{type:"postback",title,payload}]`) and the generic template (`template_type:"generic"`,
//! `elements[{title,subtitle,image_url,buttons:[web_url or postback]}]`), each checked against the
//! capacities in [`parley_core::component::limits`].
//!
//! Which `messaging_type` to use is a domain rule, [`parley_core::window::decide`]: inside 24
//! hours of the customer's last message `RESPONSE`; up to 7 days, and only for a human agent,
//! `MESSAGE_TAG` with `HUMAN_AGENT`; otherwise nothing (0004). The builder takes the decided
//! [`MessagingType`], and [`MessagingType::from_decision`] converts. `tag` is only ever written
//! with `MESSAGE_TAG`: the type cannot express anything else.
//!
//! `message.metadata` (up to 1,000 characters) comes back in the message echo webhook, which lets
//! the engine match an echo to an outbox entry when the send's own response was lost; the Send API
//! takes no idempotency key ([`RetrySafety::NotIdempotent`](crate::http::RetrySafety)).
//!
//! Answers ([`interpret_response`]): `{"recipient_id","message_id"}`, or a Graph error mapped by
//! [`map_error`], which refines WhatsApp's table ([`super::map_error_code`]) where Messenger
//! gives a code another meaning.

use parley_core::ErrorCode;
use parley_core::model::EntryStatus;
use parley_core::window::WindowDecision;
use serde::{Deserialize, Serialize};

use super::errors::{ErrorMapping, map_error_code};
use super::send::{GraphEndpoint, GraphError};
use crate::http::{
    Accepted, BuildError, HttpRequest, HttpResponse, SendOutcome, failure_from_status,
};

/// The longest text message, in characters (AMB-01: Messenger 2,000).
pub const MAX_TEXT_CHARS: usize = 2000;
/// The longest `metadata`, in characters.
pub const MAX_METADATA_CHARS: usize = 1000;

/// How a message relates to the customer's last message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessagingType {
    /// A reply inside the 24-hour standard window.
    Response,
    /// A proactive message inside the 24-hour standard window.
    Update,
    /// `MESSAGE_TAG` with `tag: HUMAN_AGENT`: a person answering 24 hours to 7 days later.
    HumanAgent,
}

impl MessagingType {
    /// `messaging_type` as Meta spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Response => "RESPONSE",
            Self::Update => "UPDATE",
            Self::HumanAgent => "MESSAGE_TAG",
        }
    }

    /// `tag`, present only for [`MessagingType::HumanAgent`].
    pub const fn tag(self) -> Option<&'static str> {
        match self {
            Self::HumanAgent => Some("HUMAN_AGENT"),
            Self::Response | Self::Update => None,
        }
    }

    /// The messaging type for a window decision on a Messenger channel: `Open` is a `RESPONSE`,
    /// `HumanAgentTag` the human agent tag. `None` for decisions that do not belong to Messenger
    /// (`NoWindow`, `TemplateOutsideWindow`), which the caller treats as a bug, not a send.
    pub const fn from_decision(decision: WindowDecision) -> Option<Self> {
        match decision {
            WindowDecision::Open { .. } => Some(Self::Response),
            WindowDecision::HumanAgentTag { .. } => Some(Self::HumanAgent),
            WindowDecision::NoWindow | WindowDecision::TemplateOutsideWindow => None,
        }
    }
}

/// Attachment types the Send API takes by URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttachmentKind {
    Image,
    Audio,
    Video,
    File,
}

impl AttachmentKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Audio => "audio",
            Self::Video => "video",
            Self::File => "file",
        }
    }
}

/// What a Messenger message carries: text, one attachment (Messenger sends them separately),
/// or a component rendered natively. Limits: [`parley_core::component::limits`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessengerContent {
    Text(String),
    Attachment {
        kind: AttachmentKind,
        url: String,
        /// Let Meta keep the upload for reuse by attachment id.
        is_reusable: bool,
    },
    /// Text with up to 13 quick replies above the composer; a tap comes back as a message with
    /// the reply's title as its text and `quick_reply.payload`.
    QuickReplies {
        text: String,
        replies: Vec<QuickReply>,
    },
    /// The button template: text with up to 3 buttons under it.
    ButtonTemplate {
        text: String,
        buttons: Vec<TemplateButton>,
    },
    /// The generic template: up to 10 cards side by side (one card is a link preview).
    GenericTemplate {
        elements: Vec<GenericElement>,
    },
}

/// A text quick reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuickReply {
    pub title: String,
    pub payload: String,
    /// An icon beside the title.
    pub image_url: Option<String>,
}

/// A button of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateButton {
    /// Sends a `messaging_postbacks` event with `payload` to the webhook.
    Postback { title: String, payload: String },
    /// Opens `url`.
    WebUrl { title: String, url: String },
}

/// A card of the generic template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenericElement {
    pub title: String,
    pub subtitle: Option<String>,
    pub image_url: Option<String>,
    pub buttons: Vec<TemplateButton>,
}

/// One Messenger message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessengerOutbound {
    /// The customer's page-scoped id.
    pub psid: String,
    pub messaging_type: MessagingType,
    pub content: MessengerContent,
    /// Returned in the message echo webhook.
    pub metadata: Option<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    recipient: Recipient<'a>,
    messaging_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tag: Option<&'static str>,
    message: Message<'a>,
}

#[derive(Serialize)]
struct Recipient<'a> {
    id: &'a str,
}

#[derive(Serialize)]
struct Message<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attachment: Option<Attachment<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    quick_replies: Vec<QuickReplyJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<&'a str>,
}

#[derive(Serialize)]
struct Attachment<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    payload: Payload<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Payload<'a> {
    Media {
        url: &'a str,
        is_reusable: bool,
    },
    Buttons {
        template_type: &'static str,
        text: &'a str,
        buttons: Vec<ButtonJson<'a>>,
    },
    Generic {
        template_type: &'static str,
        elements: Vec<ElementJson<'a>>,
    },
}

#[derive(Serialize)]
struct QuickReplyJson<'a> {
    content_type: &'static str,
    title: &'a str,
    payload: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    image_url: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ButtonJson<'a> {
    Postback { title: &'a str, payload: &'a str },
    WebUrl { url: &'a str, title: &'a str },
}

#[derive(Serialize)]
struct ElementJson<'a> {
    title: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    subtitle: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    buttons: Vec<ButtonJson<'a>>,
}

/// The longest payload Messenger returns on a tap.
pub const MAX_PAYLOAD_CHARS: usize = 1000;
/// Buttons on one card of the generic template.
const MAX_CARD_BUTTONS: usize = 3;

fn rejected(field: &'static str, reason: impl Into<String>) -> BuildError {
    BuildError::new(ErrorCode::ContentRejected, field, reason)
}

/// A label Messenger shows: present and within `max` characters.
fn label(field: &'static str, text: &str, max: usize) -> Result<(), BuildError> {
    let n = text.chars().count();
    if text.trim().is_empty() || n > max {
        return Err(rejected(
            field,
            format!("{n} characters; 1 to {max} are allowed"),
        ));
    }
    Ok(())
}

fn count(field: &'static str, n: usize, max: usize) -> Result<(), BuildError> {
    if (1..=max).contains(&n) {
        Ok(())
    } else {
        Err(rejected(
            field,
            format!("{n} given; 1 to {max} are allowed"),
        ))
    }
}

fn payload(field: &'static str, payload: &str) -> Result<(), BuildError> {
    if payload.is_empty() || payload.chars().count() > MAX_PAYLOAD_CHARS {
        return Err(rejected(
            field,
            format!("a payload is 1 to {MAX_PAYLOAD_CHARS} characters"),
        ));
    }
    Ok(())
}

fn public_url(field: &'static str, url: &str) -> Result<(), BuildError> {
    if parley_core::component::is_http_url(url) {
        Ok(())
    } else {
        Err(rejected(
            field,
            "must be a public http(s) URL without spaces",
        ))
    }
}

/// The message text: present and within `max` characters (longer is 3004).
fn text(field: &'static str, text: &str, max: usize) -> Result<(), BuildError> {
    if text.trim().is_empty() {
        return Err(rejected(field, "the text is empty"));
    }
    let n = text.chars().count();
    if n > max {
        return Err(BuildError::new(
            ErrorCode::BodyTooLarge,
            field,
            format!("{n} characters; Messenger accepts at most {max}"),
        ));
    }
    Ok(())
}

fn button_json(b: &TemplateButton) -> Result<ButtonJson<'_>, BuildError> {
    use parley_core::component::limits as l;
    Ok(match b {
        TemplateButton::Postback { title, payload: p } => {
            label("buttons.title", title, l::MESSENGER_BUTTON_TITLE)?;
            payload("buttons.payload", p)?;
            ButtonJson::Postback { title, payload: p }
        }
        TemplateButton::WebUrl { title, url } => {
            label("buttons.title", title, l::MESSENGER_BUTTON_TITLE)?;
            public_url("buttons.url", url)?;
            ButtonJson::WebUrl { url, title }
        }
    })
}

fn buttons_json(buttons: &[TemplateButton]) -> Result<Vec<ButtonJson<'_>>, BuildError> {
    buttons.iter().map(button_json).collect()
}

fn element_json(e: &GenericElement) -> Result<ElementJson<'_>, BuildError> {
    use parley_core::component::limits as l;
    label("elements.title", &e.title, l::MESSENGER_CARD_TITLE)?;
    if let Some(sub) = &e.subtitle {
        label("elements.subtitle", sub, l::MESSENGER_CARD_SUBTITLE)?;
    }
    if let Some(url) = &e.image_url {
        public_url("elements.image_url", url)?;
    }
    if e.buttons.len() > MAX_CARD_BUTTONS {
        return Err(rejected(
            "elements.buttons",
            format!("at most {MAX_CARD_BUTTONS} buttons on a card"),
        ));
    }
    // Meta refuses a card with a title alone.
    if e.subtitle.is_none() && e.image_url.is_none() && e.buttons.is_empty() {
        return Err(rejected(
            "elements",
            "a card needs a subtitle, an image or a button besides its title",
        ));
    }
    Ok(ElementJson {
        title: &e.title,
        subtitle: e.subtitle.as_deref(),
        image_url: e.image_url.as_deref(),
        buttons: buttons_json(&e.buttons)?,
    })
}

/// The Send API request for `message` from Page `page_id` (or `me`).
pub fn build_request(
    endpoint: &GraphEndpoint,
    page_id: &str,
    message: &MessengerOutbound,
) -> Result<HttpRequest, BuildError> {
    let page_ok =
        page_id == "me" || (!page_id.is_empty() && page_id.bytes().all(|b| b.is_ascii_digit()));
    if !page_ok {
        return Err(BuildError::config("page_id", "a numeric Page id, or 'me'"));
    }
    let psid = &message.psid;
    if psid.is_empty() || psid.len() > 64 || !psid.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BuildError::new(
            ErrorCode::DestinationInvalid,
            "psid",
            "a page-scoped id is numeric",
        ));
    }
    if let Some(m) = &message.metadata {
        let n = m.chars().count();
        if n > MAX_METADATA_CHARS {
            return Err(BuildError::config(
                "metadata",
                format!("{n} characters; Messenger keeps at most {MAX_METADATA_CHARS}"),
            ));
        }
    }
    use parley_core::component::limits as l;
    let mut quick_replies = Vec::new();
    let (text, attachment) = match &message.content {
        MessengerContent::Text(body) => {
            text("text", body, MAX_TEXT_CHARS)?;
            (Some(body.as_str()), None)
        }
        MessengerContent::QuickReplies {
            text: body,
            replies,
        } => {
            text("text", body, MAX_TEXT_CHARS)?;
            count("quick_replies", replies.len(), l::MESSENGER_QUICK_REPLIES)?;
            for r in replies {
                label(
                    "quick_replies.title",
                    &r.title,
                    l::MESSENGER_QUICK_REPLY_TITLE,
                )?;
                payload("quick_replies.payload", &r.payload)?;
                if let Some(url) = &r.image_url {
                    public_url("quick_replies.image_url", url)?;
                }
                quick_replies.push(QuickReplyJson {
                    content_type: "text",
                    title: &r.title,
                    payload: &r.payload,
                    image_url: r.image_url.as_deref(),
                });
            }
            (Some(body.as_str()), None)
        }
        MessengerContent::ButtonTemplate {
            text: body,
            buttons,
        } => {
            text("text", body, l::MESSENGER_BUTTON_TEXT)?;
            count("buttons", buttons.len(), l::MESSENGER_BUTTONS)?;
            let payload = Payload::Buttons {
                template_type: "button",
                text: body,
                buttons: buttons_json(buttons)?,
            };
            (
                None,
                Some(Attachment {
                    kind: "template",
                    payload,
                }),
            )
        }
        MessengerContent::GenericTemplate { elements } => {
            count("elements", elements.len(), l::MESSENGER_CARDS)?;
            let elements = elements
                .iter()
                .map(element_json)
                .collect::<Result<Vec<_>, _>>()?;
            let payload = Payload::Generic {
                template_type: "generic",
                elements,
            };
            (
                None,
                Some(Attachment {
                    kind: "template",
                    payload,
                }),
            )
        }
        MessengerContent::Attachment {
            kind,
            url,
            is_reusable,
        } => {
            let rest = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"));
            let ok = rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
                && url.bytes().all(|b| b.is_ascii_graphic());
            if !ok {
                return Err(BuildError::new(
                    ErrorCode::AttachmentTypeUnsupported,
                    "url",
                    "an attachment must be a public http(s) URL without spaces",
                ));
            }
            (
                None,
                Some(Attachment {
                    kind: kind.as_str(),
                    payload: Payload::Media {
                        url,
                        is_reusable: *is_reusable,
                    },
                }),
            )
        }
    };
    let body = Body {
        recipient: Recipient { id: psid },
        messaging_type: message.messaging_type.as_str(),
        tag: message.messaging_type.tag(),
        message: Message {
            text,
            attachment,
            quick_replies,
            metadata: message.metadata.as_deref(),
        },
    };
    let json = serde_json::to_vec(&body)
        .map_err(|e| BuildError::new(ErrorCode::ServiceError, "body", e.to_string()))?;
    endpoint.post_messages("page_id", page_id, json)
}

/// Messenger's meaning of a Graph error, falling back to the shared Meta table
/// ([`map_error_code`]) for codes that mean the same on both products (190, 100, 2, 4, 200-299,
/// 368...):
///
/// | code / subcode | meaning | catalogue | retry |
/// |---|---|---|---|
/// | 10 / 2018278, 10 / 2018065 | sent outside the allowed window | 0004 | no |
/// | 10 / 2018108 | this person isn't receiving messages from you right now | 2002 | no |
/// | 551 | this person isn't available right now (blocked the Page, deactivated) | 2001 | no |
/// | 100 / 2018001 | no matching user found | 2001 | no |
/// | 100 / 2018109 | attachment size exceeds the allowable limit | 3005 | no |
/// | 613 | calls to this API have exceeded the rate limit | 0005 | yes |
/// | 1200 | temporary send message failure | 0001 | yes |
pub const fn map_error(code: i64, subcode: Option<i64>) -> ErrorMapping {
    const fn mapping(code: ErrorCode, retryable: bool) -> ErrorMapping {
        ErrorMapping { code, retryable }
    }
    match (code, subcode) {
        (10, Some(2_018_278 | 2_018_065)) => mapping(ErrorCode::WindowClosed, false),
        (10, Some(2_018_108)) => mapping(ErrorCode::RecipientBlockedUs, false),
        (551, _) | (100, Some(2_018_001)) => mapping(ErrorCode::DestinationInvalid, false),
        (100, Some(2_018_109)) => mapping(ErrorCode::AttachmentTooLarge, false),
        (613, _) => mapping(ErrorCode::ChannelUnavailable, true),
        (1200, _) => mapping(ErrorCode::ServiceUnavailable, true),
        _ => map_error_code(code),
    }
}

/// What Meta's answer to [`build_request`] means.
///
/// - 2xx with `message_id`: accepted with Parley status `Sent` (Messenger reports deliveries and
///   reads, never a separate "sent"); `recipient_id` is the PSID Meta confirms.
/// - 2xx without one: ambiguous.
/// - A Graph error through [`map_error`]; transient for retryable codes, `is_transient`, 429, 5xx.
/// - Anything else: the HTTP status alone.
pub fn interpret_response(response: &HttpResponse) -> SendOutcome {
    if !response.is_success() {
        return match GraphError::parse(&response.body) {
            Some(e) => {
                let mapping = map_error(e.code, e.subcode);
                e.outcome(mapping, response)
            }
            None => failure_from_status(response),
        };
    }
    #[derive(Deserialize)]
    struct Success {
        recipient_id: Option<String>,
        message_id: Option<String>,
    }
    match serde_json::from_slice::<Success>(&response.body) {
        Ok(Success {
            recipient_id,
            message_id: Some(id),
        }) if !id.is_empty() => SendOutcome::Accepted(Accepted {
            provider_message_id: id,
            status: EntryStatus::Sent,
            provider_status: None,
            recipient_id: recipient_id.filter(|r| !r.is_empty()),
        }),
        _ => SendOutcome::Ambiguous {
            http_status: response.status,
            reason: "Meta's answer has no message_id".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Method, RetrySafety};
    use parley_core::Timestamp;
    use parley_core::model::ChannelKind;
    use parley_core::window::{Composer, MessageForm, WindowQuery, decide};

    const PAGE: &str = "105236312345678";
    const PSID: &str = "1254477777772919";

    /// (fixture, HTTP status, catalogue code, provider code, subcode, transient)
    type ErrorCase = (
        &'static str,
        u16,
        ErrorCode,
        &'static str,
        Option<&'static str>,
        bool,
    );

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/fixtures/outbound/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn endpoint() -> GraphEndpoint {
        GraphEndpoint::new("v21.0", "EAAPageToken")
    }

    fn text(messaging_type: MessagingType, body: &str) -> MessengerOutbound {
        MessengerOutbound {
            psid: PSID.into(),
            messaging_type,
            content: MessengerContent::Text(body.into()),
            metadata: None,
        }
    }

    fn body_of(m: &MessengerOutbound) -> String {
        String::from_utf8(build_request(&endpoint(), PAGE, m).unwrap().body).unwrap()
    }

    #[test]
    fn response_text_request_is_exact() {
        let req = build_request(
            &endpoint(),
            PAGE,
            &text(MessagingType::Response, "Olá 😀 \"hi\""),
        )
        .unwrap();
        assert_eq!(req.method, Method::Post);
        assert_eq!(
            req.url,
            "https://graph.facebook.com/v21.0/105236312345678/messages"
        );
        assert_eq!(
            req.headers,
            vec![
                ("Authorization".to_owned(), "Bearer EAAPageToken".to_owned()),
                ("Content-Type".to_owned(), "application/json".to_owned()),
                ("Accept".to_owned(), "application/json".to_owned()),
            ]
        );
        assert_eq!(
            String::from_utf8(req.body).unwrap(),
            r#"{"recipient":{"id":"1254477777772919"},"messaging_type":"RESPONSE","message":{"text":"Olá 😀 \"hi\""}}"#
        );
        assert_eq!(req.retry_safety, RetrySafety::NotIdempotent);
        assert_eq!(
            build_request(&endpoint(), "me", &text(MessagingType::Update, "x"))
                .unwrap()
                .url,
            "https://graph.facebook.com/v21.0/me/messages"
        );
        assert_eq!(
            body_of(&text(MessagingType::Update, "x")),
            r#"{"recipient":{"id":"1254477777772919"},"messaging_type":"UPDATE","message":{"text":"x"}}"#
        );
    }

    #[test]
    fn human_agent_tag_with_attachment_and_metadata() {
        let m = MessengerOutbound {
            psid: PSID.into(),
            messaging_type: MessagingType::HumanAgent,
            content: MessengerContent::Attachment {
                kind: AttachmentKind::Image,
                url: "https://cdn.example/cat.png".into(),
                is_reusable: true,
            },
            metadata: Some("entry:42".into()),
        };
        assert_eq!(
            body_of(&m),
            r#"{"recipient":{"id":"1254477777772919"},"messaging_type":"MESSAGE_TAG","tag":"HUMAN_AGENT","message":{"attachment":{"type":"image","payload":{"url":"https://cdn.example/cat.png","is_reusable":true}},"metadata":"entry:42"}}"#
        );
        for (kind, name) in [
            (AttachmentKind::Audio, "audio"),
            (AttachmentKind::Video, "video"),
            (AttachmentKind::File, "file"),
        ] {
            let m = MessengerOutbound {
                content: MessengerContent::Attachment {
                    kind,
                    url: "https://cdn.example/f".into(),
                    is_reusable: false,
                },
                metadata: None,
                messaging_type: MessagingType::Response,
                ..m.clone()
            };
            assert_eq!(
                body_of(&m),
                format!(
                    r#"{{"recipient":{{"id":"1254477777772919"}},"messaging_type":"RESPONSE","message":{{"attachment":{{"type":"{name}","payload":{{"url":"https://cdn.example/f","is_reusable":false}}}}}}}}"#
                )
            );
        }
    }

    /// Each component shape against a request written in the shape Meta's Send API reference
    /// documents (its quick replies, button template and generic template examples).
    #[test]
    fn quick_replies_and_templates_match_metas_documented_shapes() {
        let message = |content| MessengerOutbound {
            psid: PSID.into(),
            messaging_type: MessagingType::Response,
            content,
            metadata: None,
        };
        let same = |content, name: &str| {
            let ours: serde_json::Value =
                serde_json::from_str(&body_of(&message(content))).unwrap();
            let want: serde_json::Value = serde_json::from_slice(&fixture(name)).unwrap();
            assert_eq!(ours, want, "{name}");
        };
        let reply = |title: &str, payload: &str, image: &str| QuickReply {
            title: title.into(),
            payload: payload.into(),
            image_url: Some(image.into()),
        };
        same(
            MessengerContent::QuickReplies {
                text: "Pick a color:".into(),
                replies: vec![
                    reply("Red", "COLOR_RED", "http://example.com/img/red.png"),
                    reply("Green", "COLOR_GREEN", "http://example.com/img/green.png"),
                ],
            },
            "messenger_quick_replies_request.json",
        );
        let visit = TemplateButton::WebUrl {
            title: "Visit Messenger".into(),
            url: "https://www.messenger.com".into(),
        };
        let chat = TemplateButton::Postback {
            title: "Start Chatting".into(),
            payload: "DEVELOPER_DEFINED_PAYLOAD".into(),
        };
        same(
            MessengerContent::ButtonTemplate {
                text: "What do you want to do next?".into(),
                buttons: vec![visit, chat.clone()],
            },
            "messenger_button_template_request.json",
        );
        same(
            MessengerContent::GenericTemplate {
                elements: vec![
                    GenericElement {
                        title: "Welcome!".into(),
                        subtitle: Some("We have the right hat for everyone.".into()),
                        image_url: Some("https://cdn.example/hats/welcome.jpg".into()),
                        buttons: vec![
                            TemplateButton::WebUrl {
                                title: "View Website".into(),
                                url: "https://shop.example".into(),
                            },
                            chat,
                        ],
                    },
                    GenericElement {
                        title: "Work hats".into(),
                        subtitle: None,
                        image_url: Some("https://cdn.example/hats/work.jpg".into()),
                        buttons: vec![TemplateButton::Postback {
                            title: "Choose".into(),
                            payload: "HAT_WORK".into(),
                        }],
                    },
                ],
            },
            "messenger_generic_template_request.json",
        );
    }

    #[test]
    fn component_shapes_are_checked_against_messengers_limits() {
        let err = |content| {
            build_request(
                &endpoint(),
                PAGE,
                &MessengerOutbound {
                    psid: PSID.into(),
                    messaging_type: MessagingType::Response,
                    content,
                    metadata: None,
                },
            )
            .unwrap_err()
        };
        let replies = |n: usize, title: &str| MessengerContent::QuickReplies {
            text: "Pick".into(),
            replies: (0..n)
                .map(|i| QuickReply {
                    title: title.into(),
                    payload: i.to_string(),
                    image_url: None,
                })
                .collect(),
        };
        assert_eq!(err(replies(14, "A")).field, "quick_replies");
        assert_eq!(err(replies(0, "A")).field, "quick_replies");
        assert_eq!(
            err(replies(2, &"t".repeat(21))).field,
            "quick_replies.title"
        );
        let postback = |payload: &str| TemplateButton::Postback {
            title: "Go".into(),
            payload: payload.into(),
        };
        let buttons = |text: &str, buttons| MessengerContent::ButtonTemplate {
            text: text.into(),
            buttons,
        };
        assert_eq!(
            err(buttons(&"t".repeat(641), vec![postback("a")])).code,
            ErrorCode::BodyTooLarge
        );
        assert_eq!(
            err(buttons("Pick", vec![postback("a"); 4])).field,
            "buttons"
        );
        assert_eq!(
            err(buttons("Pick", vec![postback(&"p".repeat(1001))])).field,
            "buttons.payload"
        );
        let card = |title: &str, buttons: Vec<TemplateButton>| GenericElement {
            title: title.into(),
            subtitle: None,
            image_url: None,
            buttons,
        };
        let generic = |elements| MessengerContent::GenericTemplate { elements };
        assert_eq!(
            err(generic(vec![card("A", vec![postback("a")]); 11])).field,
            "elements"
        );
        assert_eq!(err(generic(vec![card("A", vec![])])).field, "elements");
        assert_eq!(
            err(generic(vec![card(&"t".repeat(81), vec![postback("a")])])).field,
            "elements.title"
        );
        let web = TemplateButton::WebUrl {
            title: "Open".into(),
            url: "ftp://x".into(),
        };
        assert_eq!(
            err(generic(vec![card("A", vec![web])])).field,
            "buttons.url"
        );
    }

    #[test]
    fn the_window_rule_picks_the_messaging_type() {
        let last = Timestamp::from_millis(1_763_719_200_000);
        let hours = |h: i64| Timestamp::from_millis(last.millis() + h * 3_600_000);
        let query = |now, composer| WindowQuery {
            kind: ChannelKind::Messenger,
            last_customer_message_at: Some(last),
            now,
            composer,
            form: MessageForm::FreeForm,
        };
        let decided = |now, composer| {
            decide(query(now, composer))
                .ok()
                .and_then(MessagingType::from_decision)
        };
        assert_eq!(
            decided(hours(2), Composer::Automated),
            Some(MessagingType::Response)
        );
        assert_eq!(
            decided(hours(30), Composer::HumanAgent),
            Some(MessagingType::HumanAgent)
        );
        assert_eq!(decided(hours(30), Composer::Automated), None);
        assert_eq!(decided(hours(24 * 8), Composer::HumanAgent), None);
        let refused = decide(query(hours(24 * 8), Composer::HumanAgent)).unwrap_err();
        assert_eq!(refused.error_code(), ErrorCode::WindowClosed);
        assert_eq!(MessagingType::from_decision(WindowDecision::NoWindow), None);
        assert_eq!(
            MessagingType::from_decision(WindowDecision::TemplateOutsideWindow),
            None
        );
        // The tag exists only with MESSAGE_TAG.
        assert_eq!(MessagingType::Response.tag(), None);
        assert_eq!(MessagingType::Update.tag(), None);
        assert_eq!(MessagingType::HumanAgent.tag(), Some("HUMAN_AGENT"));
    }

    #[test]
    fn inputs_are_checked() {
        let err =
            |page: &str, m: MessengerOutbound| build_request(&endpoint(), page, &m).unwrap_err();
        assert_eq!(
            err("my-page", text(MessagingType::Response, "x")).field,
            "page_id"
        );
        assert_eq!(err("", text(MessagingType::Response, "x")).field, "page_id");
        let mut m = text(MessagingType::Response, "x");
        m.psid = "abc".into();
        assert_eq!(err(PAGE, m).code, ErrorCode::DestinationInvalid);
        assert_eq!(
            err(PAGE, text(MessagingType::Response, "  ")).code,
            ErrorCode::ContentRejected
        );
        assert!(
            build_request(
                &endpoint(),
                PAGE,
                &text(MessagingType::Response, &"é".repeat(MAX_TEXT_CHARS))
            )
            .is_ok()
        );
        assert_eq!(
            err(
                PAGE,
                text(MessagingType::Response, &"é".repeat(MAX_TEXT_CHARS + 1))
            )
            .code,
            ErrorCode::BodyTooLarge
        );
        let mut m = text(MessagingType::Response, "x");
        m.metadata = Some("m".repeat(MAX_METADATA_CHARS + 1));
        assert_eq!(err(PAGE, m).field, "metadata");
        let m = MessengerOutbound {
            content: MessengerContent::Attachment {
                kind: AttachmentKind::File,
                url: "file:///tmp/x".into(),
                is_reusable: false,
            },
            ..text(MessagingType::Response, "x")
        };
        assert_eq!(err(PAGE, m).code, ErrorCode::AttachmentTypeUnsupported);
        let mut e = endpoint();
        e.access_token.clear();
        assert_eq!(
            build_request(&e, PAGE, &text(MessagingType::Response, "x"))
                .unwrap_err()
                .field,
            "access_token"
        );
    }

    #[test]
    fn documented_success_response() {
        assert_eq!(
            interpret_response(&HttpResponse::new(200, fixture("messenger_send_success.json"))),
            SendOutcome::Accepted(Accepted {
                provider_message_id: "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P".into(),
                status: EntryStatus::Sent,
                provider_status: None,
                recipient_id: Some("1254477777772919".into()),
            })
        );
        for body in [
            &b"{}"[..],
            br#"{"recipient_id":"1"}"#,
            br#"{"message_id":""}"#,
            b"<html>",
        ] {
            assert!(matches!(
                interpret_response(&HttpResponse::new(200, body)),
                SendOutcome::Ambiguous {
                    http_status: 200,
                    ..
                }
            ));
        }
    }

    #[test]
    fn documented_errors_map() {
        // (fixture, HTTP status, catalogue code, provider code, subcode, transient)
        let cases: &[ErrorCase] = &[
            (
                "messenger_error_10_2018278.json",
                400,
                ErrorCode::WindowClosed,
                "10",
                Some("2018278"),
                false,
            ),
            (
                "messenger_error_551.json",
                400,
                ErrorCode::DestinationInvalid,
                "551",
                Some("1545041"),
                false,
            ),
            (
                "messenger_error_613.json",
                400,
                ErrorCode::ChannelUnavailable,
                "613",
                None,
                true,
            ),
            (
                "messenger_error_4.json",
                400,
                ErrorCode::ServiceUnavailable,
                "4",
                Some("2018022"),
                true,
            ),
            (
                "messenger_error_190.json",
                400,
                ErrorCode::ServiceMisconfigured,
                "190",
                None,
                false,
            ),
            (
                "messenger_error_100_2018001.json",
                400,
                ErrorCode::DestinationInvalid,
                "100",
                Some("2018001"),
                false,
            ),
            (
                "messenger_error_1200.json",
                500,
                ErrorCode::ServiceUnavailable,
                "1200",
                None,
                true,
            ),
        ];
        for &(name, status, code, provider_code, subcode, transient) in cases {
            let out = interpret_response(&HttpResponse::new(status, fixture(name)));
            let failure = match (&out, transient) {
                (SendOutcome::Transient { failure, .. }, true) => failure,
                (SendOutcome::Rejected(failure), false) => failure,
                _ => panic!("{name}: {out:?}"),
            };
            assert_eq!(failure.code, code, "{name}");
            assert_eq!(failure.provider_code, provider_code, "{name}");
            assert_eq!(failure.provider_subcode.as_deref(), subcode, "{name}");
            assert!(failure.message.is_some(), "{name}");
        }
    }

    #[test]
    fn messenger_refines_the_shared_table() {
        let cases: &[(i64, Option<i64>, ErrorCode, bool)] = &[
            (10, Some(2_018_278), ErrorCode::WindowClosed, false),
            (10, Some(2_018_065), ErrorCode::WindowClosed, false),
            // Code 10 with another subcode is a permission problem, as in the shared table.
            (10, None, ErrorCode::ServiceMisconfigured, false),
            (10, Some(2_018_999), ErrorCode::ServiceMisconfigured, false),
            (10, Some(2_018_108), ErrorCode::RecipientBlockedUs, false),
            (200, Some(2_018_028), ErrorCode::ServiceMisconfigured, false),
            (551, None, ErrorCode::DestinationInvalid, false),
            (551, Some(1_545_041), ErrorCode::DestinationInvalid, false),
            (100, Some(2_018_001), ErrorCode::DestinationInvalid, false),
            (100, None, ErrorCode::ContentRejected, false),
            (100, Some(2_018_109), ErrorCode::AttachmentTooLarge, false),
            (613, None, ErrorCode::ChannelUnavailable, true),
            (4, None, ErrorCode::ServiceUnavailable, true),
            (1200, None, ErrorCode::ServiceUnavailable, true),
            (190, Some(463), ErrorCode::ServiceMisconfigured, false),
            (230, None, ErrorCode::ServiceMisconfigured, false),
            (368, None, ErrorCode::SourceBlocked, false),
            (2, None, ErrorCode::ServiceUnavailable, true),
            (123_456, None, ErrorCode::ServiceError, false),
        ];
        for &(code, sub, want, retry) in cases {
            let m = map_error(code, sub);
            assert_eq!((m.code, m.retryable), (want, retry), "{code}/{sub:?}");
        }
    }
}
