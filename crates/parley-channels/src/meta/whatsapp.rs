//! WhatsApp Cloud API webhooks (`object: whatsapp_business_account`), flattened into events.
//!
//! Meta nests everything as `entry[].changes[].value`; a `messages` change carries `metadata`
//! (our phone number id), `contacts[]` (who wrote), `messages[]` and/or `statuses[]`. One body may
//! batch several entries, changes, messages and statuses, so the parser returns a flat list of
//! [`WhatsAppEvent`] in document order. Changes of other fields (template reviews, account
//! updates...) are listed by name in [`WhatsAppWebhook::ignored_fields`], not parsed.
//!
//! Senders: since 2026 every user has a business-scoped user id (`user_id`, e.g.
//! `US.13491208655302741918`), and a user who adopted a username may arrive without a phone
//! number: `messages[].from` absent, `from_user_id` present. [`WhatsAppUser`] carries both; at
//! least one is required.
//!
//! Content Parley cannot show (stickers, locations, contact cards, reactions, orders, and
//! whatever Meta adds next) becomes [`WhatsAppContent::Unsupported`] carrying its type name, so
//! the agent sees "unsupported content" instead of losing the message.
//!
//! Structs are tolerant: unknown fields are ignored (Meta adds fields often) and missing
//! required ones produce [`ParseError`] with the JSON path.

use parley_core::model::EntryStatus;
use serde::Deserialize;

use super::errors::ProviderError;
use super::parse::{Loose, ParseError, non_empty, required};

/// The `object` of a WhatsApp webhook.
pub const OBJECT: &str = "whatsapp_business_account";

/// A parsed WhatsApp webhook body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WhatsAppWebhook {
    pub events: Vec<WhatsAppEvent>,
    /// `changes[].field` values other than `messages`, in document order.
    pub ignored_fields: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WhatsAppEvent {
    Message(WhatsAppMessage),
    Status(WhatsAppStatus),
}

/// Our side of an event: the WhatsApp Business Account and the business phone number, which
/// identifies the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessPhone {
    /// `entry[].id`, the WhatsApp Business Account id.
    pub waba_id: String,
    /// `metadata.phone_number_id`: identifies the channel.
    pub phone_number_id: String,
    pub display_phone_number: Option<String>,
}

/// A WhatsApp user as the webhook identifies them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WhatsAppUser {
    /// The phone number in international format without '+', when Meta shares it.
    pub wa_id: Option<String>,
    /// The business-scoped user id (BSUID).
    pub user_id: Option<String>,
    pub parent_user_id: Option<String>,
    /// The profile name the user chose.
    pub name: Option<String>,
    pub username: Option<String>,
}

/// An inbound message from a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhatsAppMessage {
    /// The number the customer wrote to.
    pub business: BusinessPhone,
    /// `wamid....`: the dedupe key.
    pub message_id: String,
    pub sender: WhatsAppUser,
    /// Seconds since the Unix epoch.
    pub timestamp: i64,
    /// The id of the message this one replies to (`context.id`).
    pub reply_to: Option<String>,
    pub content: WhatsAppContent,
    /// Errors Meta attached to the message (e.g. 131051 on an unsupported type).
    pub errors: Vec<ProviderError>,
}

/// What the customer sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WhatsAppContent {
    Text {
        body: String,
    },
    Media(WhatsAppMedia),
    /// A tap on a reply button of an interactive message.
    ButtonReply {
        id: String,
        title: String,
    },
    /// A choice from an interactive list.
    ListReply {
        id: String,
        title: String,
        description: Option<String>,
    },
    /// A tap on a template's quick-reply button (`type: button`).
    QuickReply {
        payload: String,
        text: String,
    },
    /// Anything Parley does not show; `message_type` is Meta's type name (`sticker`, `location`,
    /// `reaction`, `unsupported`, or `interactive.<subtype>`).
    Unsupported {
        message_type: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Image,
    Audio,
    Video,
    Document,
}

impl MediaKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Audio => "audio",
            Self::Video => "video",
            Self::Document => "document",
        }
    }
}

/// An attachment, to be fetched from the Graph API by `media_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhatsAppMedia {
    pub kind: MediaKind,
    pub media_id: String,
    pub mime_type: String,
    pub caption: Option<String>,
    /// Documents only.
    pub filename: Option<String>,
    pub sha256: Option<String>,
    /// Newer API versions include a short-lived download URL.
    pub url: Option<String>,
    /// An audio message recorded as a voice note.
    pub voice: bool,
}

/// A status of a message we sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhatsAppStatus {
    /// The number we sent from.
    pub business: BusinessPhone,
    /// The `wamid` returned when we sent the message.
    pub message_id: String,
    pub status: StatusKind,
    /// Seconds since the Unix epoch.
    pub timestamp: i64,
    /// Who the message went to (`recipient_id`, `recipient_user_id`, and the contact if present).
    pub recipient: WhatsAppUser,
    /// `biz_opaque_callback_data` we attached when sending.
    pub callback_data: Option<String>,
    pub conversation_id: Option<String>,
    pub pricing_category: Option<String>,
    pub errors: Vec<ProviderError>,
}

/// A WhatsApp status name; unknown ones are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusKind {
    Sent,
    Delivered,
    Read,
    /// A voice message was played.
    Played,
    Failed,
    Other(String),
}

impl StatusKind {
    pub fn parse(s: &str) -> Self {
        match s {
            "sent" => Self::Sent,
            "delivered" => Self::Delivered,
            "read" => Self::Read,
            "played" => Self::Played,
            "failed" => Self::Failed,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl WhatsAppStatus {
    /// Parley's status: played counts as read; unknown names give `None`.
    pub fn entry_status(&self) -> Option<EntryStatus> {
        match self.status {
            StatusKind::Sent => Some(EntryStatus::Sent),
            StatusKind::Delivered => Some(EntryStatus::Delivered),
            StatusKind::Read | StatusKind::Played => Some(EntryStatus::Read),
            StatusKind::Failed => Some(EntryStatus::Failed),
            StatusKind::Other(_) => None,
        }
    }

    /// The first error, which Meta puts the cause in.
    pub fn error(&self) -> Option<&ProviderError> {
        self.errors.first()
    }
}

/// Parses a WhatsApp webhook body.
pub fn parse(body: &[u8]) -> Result<WhatsAppWebhook, ParseError> {
    let raw: RawEnvelope = serde_json::from_slice(body)?;
    let object = raw.object.unwrap_or_default();
    if object != OBJECT {
        return Err(ParseError::UnexpectedObject {
            expected: OBJECT,
            found: object,
        });
    }
    let mut out = WhatsAppWebhook::default();
    for (e, entry) in raw.entry.unwrap_or_default().into_iter().enumerate() {
        let waba_id = required(entry.id, || format!("entry[{e}].id"))?;
        for (c, change) in entry.changes.unwrap_or_default().into_iter().enumerate() {
            let field = change.field.unwrap_or_default();
            if field != "messages" {
                out.ignored_fields.push(field);
                continue;
            }
            let at = format!("entry[{e}].changes[{c}].value");
            let value = change
                .value
                .ok_or_else(|| ParseError::MissingField(at.clone()))?;
            read_value(&at, &waba_id, value, &mut out.events)?;
        }
    }
    Ok(out)
}

fn read_value(
    at: &str,
    waba_id: &str,
    value: RawValue,
    events: &mut Vec<WhatsAppEvent>,
) -> Result<(), ParseError> {
    let messages = value.messages.unwrap_or_default();
    let statuses = value.statuses.unwrap_or_default();
    if messages.is_empty() && statuses.is_empty() {
        return Ok(());
    }
    let metadata = value.metadata.unwrap_or_default();
    let business = BusinessPhone {
        waba_id: waba_id.to_owned(),
        phone_number_id: required(metadata.phone_number_id, || {
            format!("{at}.metadata.phone_number_id")
        })?,
        display_phone_number: non_empty(metadata.display_phone_number),
    };
    let contacts = value.contacts.unwrap_or_default();
    let value_errors = errors(value.errors);

    for (i, m) in messages.into_iter().enumerate() {
        let at = format!("{at}.messages[{i}]");
        let message = read_message(&at, &business, &contacts, m)?;
        events.push(WhatsAppEvent::Message(message));
    }
    for (i, s) in statuses.into_iter().enumerate() {
        let at = format!("{at}.statuses[{i}]");
        let status = read_status(&at, &business, &contacts, &value_errors, s)?;
        events.push(WhatsAppEvent::Status(status));
    }
    Ok(())
}

fn read_message(
    at: &str,
    business: &BusinessPhone,
    contacts: &[RawContact],
    m: RawMessage,
) -> Result<WhatsAppMessage, ParseError> {
    let message_id = required(m.id, || format!("{at}.id"))?;
    let timestamp = m
        .timestamp
        .ok_or_else(|| ParseError::MissingField(format!("{at}.timestamp")))?
        .as_i64(&format!("{at}.timestamp"))?;
    let from = non_empty(m.from);
    let from_user_id = non_empty(m.from_user_id);
    let contact = find_contact(contacts, from.as_deref(), from_user_id.as_deref());
    let mut sender = user_from_contact(contact);
    // The message's own identifiers win over the contact's: they name the actual sender.
    if from.is_some() {
        sender.wa_id = from;
    }
    if from_user_id.is_some() {
        sender.user_id = from_user_id;
    }
    if let Some(p) = non_empty(m.from_parent_user_id) {
        sender.parent_user_id = Some(p);
    }
    if sender.wa_id.is_none() && sender.user_id.is_none() {
        return Err(ParseError::MissingField(format!(
            "{at}.from (or from_user_id, or a contact with wa_id or user_id)"
        )));
    }
    let kind = required(m.kind, || format!("{at}.type"))?;
    let media = RawMediaFields {
        image: m.image,
        audio: m.audio,
        video: m.video,
        document: m.document,
    };
    let content = read_content(at, &kind, m.text, media, m.interactive, m.button)?;
    Ok(WhatsAppMessage {
        business: business.clone(),
        message_id,
        sender,
        timestamp,
        reply_to: m.context.and_then(|c| non_empty(c.id)),
        content,
        errors: errors(m.errors),
    })
}

fn read_content(
    at: &str,
    kind: &str,
    text: Option<RawText>,
    media: RawMediaFields,
    interactive: Option<RawInteractive>,
    button: Option<RawButton>,
) -> Result<WhatsAppContent, ParseError> {
    let media_kind = match kind {
        "text" => {
            let body = text.and_then(|t| t.body);
            // An empty text body is possible (whitespace trimmed by the client); absent is not.
            let body = body.ok_or_else(|| ParseError::MissingField(format!("{at}.text.body")))?;
            return Ok(WhatsAppContent::Text { body });
        }
        "image" => Some((MediaKind::Image, media.image)),
        "audio" => Some((MediaKind::Audio, media.audio)),
        "video" => Some((MediaKind::Video, media.video)),
        "document" => Some((MediaKind::Document, media.document)),
        _ => None,
    };
    if let Some((kind, raw)) = media_kind {
        let at = format!("{at}.{}", kind.as_str());
        let raw = raw.ok_or_else(|| ParseError::MissingField(at.clone()))?;
        return Ok(WhatsAppContent::Media(WhatsAppMedia {
            kind,
            media_id: required(raw.id, || format!("{at}.id"))?,
            mime_type: required(raw.mime_type, || format!("{at}.mime_type"))?,
            caption: non_empty(raw.caption),
            filename: non_empty(raw.filename),
            sha256: non_empty(raw.sha256),
            url: non_empty(raw.url),
            voice: raw.voice.unwrap_or(false),
        }));
    }
    match kind {
        "interactive" => {
            let at = format!("{at}.interactive");
            let i = interactive.ok_or_else(|| ParseError::MissingField(at.clone()))?;
            let sub = required(i.kind, || format!("{at}.type"))?;
            let reply = match sub.as_str() {
                "button_reply" => i.button_reply,
                "list_reply" => i.list_reply,
                _ => {
                    return Ok(WhatsAppContent::Unsupported {
                        message_type: format!("interactive.{sub}"),
                    });
                }
            };
            let at = format!("{at}.{sub}");
            let r = reply.ok_or_else(|| ParseError::MissingField(at.clone()))?;
            let id = required(r.id, || format!("{at}.id"))?;
            let title = r.title.unwrap_or_default();
            Ok(if sub == "button_reply" {
                WhatsAppContent::ButtonReply { id, title }
            } else {
                WhatsAppContent::ListReply {
                    id,
                    title,
                    description: non_empty(r.description),
                }
            })
        }
        "button" => {
            let at = format!("{at}.button");
            let b = button.ok_or_else(|| ParseError::MissingField(at.clone()))?;
            Ok(WhatsAppContent::QuickReply {
                payload: required(b.payload, || format!("{at}.payload"))?,
                text: b.text.unwrap_or_default(),
            })
        }
        other => Ok(WhatsAppContent::Unsupported {
            message_type: other.to_owned(),
        }),
    }
}

fn read_status(
    at: &str,
    business: &BusinessPhone,
    contacts: &[RawContact],
    value_errors: &[ProviderError],
    s: RawStatus,
) -> Result<WhatsAppStatus, ParseError> {
    let message_id = required(s.id, || format!("{at}.id"))?;
    let status = StatusKind::parse(&required(s.status, || format!("{at}.status"))?);
    let timestamp = s
        .timestamp
        .ok_or_else(|| ParseError::MissingField(format!("{at}.timestamp")))?
        .as_i64(&format!("{at}.timestamp"))?;
    let recipient_id = non_empty(s.recipient_id);
    let recipient_user_id = non_empty(s.recipient_user_id);
    let contact = find_contact(
        contacts,
        recipient_id.as_deref(),
        recipient_user_id.as_deref(),
    );
    let mut recipient = user_from_contact(contact);
    if recipient_id.is_some() {
        recipient.wa_id = recipient_id;
    }
    if recipient_user_id.is_some() {
        recipient.user_id = recipient_user_id;
    }
    // Meta puts the cause on the status, or for some failures on the enclosing value.
    let mut errs = errors(s.errors);
    if errs.is_empty() {
        errs = value_errors.to_vec();
    }
    Ok(WhatsAppStatus {
        business: business.clone(),
        message_id,
        status,
        timestamp,
        recipient,
        callback_data: non_empty(s.biz_opaque_callback_data),
        conversation_id: s.conversation.and_then(|c| non_empty(c.id)),
        pricing_category: s.pricing.and_then(|p| non_empty(p.category)),
        errors: errs,
    })
}

/// The contact matching the message's identifiers, or the only contact when none match.
fn find_contact<'a>(
    contacts: &'a [RawContact],
    wa_id: Option<&str>,
    user_id: Option<&str>,
) -> Option<&'a RawContact> {
    let matching = contacts.iter().find(|c| {
        (wa_id.is_some() && c.wa_id.as_deref() == wa_id)
            || (user_id.is_some() && c.user_id.as_deref() == user_id)
    });
    match (matching, contacts) {
        (Some(c), _) => Some(c),
        (None, [only]) => Some(only),
        (None, _) => None,
    }
}

fn user_from_contact(contact: Option<&RawContact>) -> WhatsAppUser {
    let Some(c) = contact else {
        return WhatsAppUser::default();
    };
    let profile = c.profile.clone().unwrap_or_default();
    WhatsAppUser {
        wa_id: non_empty(c.wa_id.clone()),
        user_id: non_empty(c.user_id.clone()),
        parent_user_id: non_empty(c.parent_user_id.clone()),
        name: non_empty(profile.name),
        username: non_empty(profile.username),
    }
}

fn errors(raw: Option<Vec<RawError>>) -> Vec<ProviderError> {
    raw.unwrap_or_default()
        .into_iter()
        // An error object without a code says nothing we can map; Meta always sends one.
        .filter_map(|e| {
            let code = e.code?.as_i64("code").ok()?;
            Some(ProviderError::from_meta(
                code,
                non_empty(e.title),
                non_empty(e.message),
                e.error_data.and_then(|d| non_empty(d.details)),
            ))
        })
        .collect()
}

// The wire format. Every field is optional so that presence is checked by the code above, with
// a path in the error, rather than by serde with a bare field name.

#[derive(Deserialize)]
struct RawEnvelope {
    object: Option<String>,
    entry: Option<Vec<RawEntry>>,
}

#[derive(Deserialize)]
struct RawEntry {
    id: Option<String>,
    changes: Option<Vec<RawChange>>,
}

#[derive(Deserialize)]
struct RawChange {
    field: Option<String>,
    value: Option<RawValue>,
}

#[derive(Deserialize)]
struct RawValue {
    metadata: Option<RawMetadata>,
    contacts: Option<Vec<RawContact>>,
    messages: Option<Vec<RawMessage>>,
    statuses: Option<Vec<RawStatus>>,
    errors: Option<Vec<RawError>>,
}

#[derive(Deserialize, Default)]
struct RawMetadata {
    display_phone_number: Option<String>,
    phone_number_id: Option<String>,
}

#[derive(Deserialize)]
struct RawContact {
    wa_id: Option<String>,
    user_id: Option<String>,
    parent_user_id: Option<String>,
    profile: Option<RawProfile>,
}

#[derive(Deserialize, Default, Clone)]
struct RawProfile {
    name: Option<String>,
    username: Option<String>,
}

#[derive(Deserialize)]
struct RawMessage {
    from: Option<String>,
    from_user_id: Option<String>,
    from_parent_user_id: Option<String>,
    id: Option<String>,
    timestamp: Option<Loose>,
    #[serde(rename = "type")]
    kind: Option<String>,
    text: Option<RawText>,
    image: Option<RawMedia>,
    audio: Option<RawMedia>,
    video: Option<RawMedia>,
    document: Option<RawMedia>,
    interactive: Option<RawInteractive>,
    button: Option<RawButton>,
    context: Option<RawContext>,
    errors: Option<Vec<RawError>>,
}

/// The media objects of a message, of which the `type` says which one to read.
struct RawMediaFields {
    image: Option<RawMedia>,
    audio: Option<RawMedia>,
    video: Option<RawMedia>,
    document: Option<RawMedia>,
}

#[derive(Deserialize)]
struct RawText {
    body: Option<String>,
}

#[derive(Deserialize)]
struct RawMedia {
    id: Option<String>,
    mime_type: Option<String>,
    caption: Option<String>,
    filename: Option<String>,
    sha256: Option<String>,
    url: Option<String>,
    voice: Option<bool>,
}

#[derive(Deserialize)]
struct RawInteractive {
    #[serde(rename = "type")]
    kind: Option<String>,
    button_reply: Option<RawReply>,
    list_reply: Option<RawReply>,
}

#[derive(Deserialize)]
struct RawReply {
    id: Option<String>,
    title: Option<String>,
    description: Option<String>,
}

#[derive(Deserialize)]
struct RawButton {
    payload: Option<String>,
    text: Option<String>,
}

#[derive(Deserialize)]
struct RawContext {
    id: Option<String>,
}

#[derive(Deserialize)]
struct RawStatus {
    id: Option<String>,
    status: Option<String>,
    timestamp: Option<Loose>,
    recipient_id: Option<String>,
    recipient_user_id: Option<String>,
    biz_opaque_callback_data: Option<String>,
    conversation: Option<RawConversation>,
    pricing: Option<RawPricing>,
    errors: Option<Vec<RawError>>,
}

#[derive(Deserialize)]
struct RawConversation {
    id: Option<String>,
}

#[derive(Deserialize)]
struct RawPricing {
    category: Option<String>,
}

#[derive(Deserialize)]
struct RawError {
    code: Option<Loose>,
    title: Option<String>,
    message: Option<String>,
    error_data: Option<RawErrorData>,
}

#[derive(Deserialize)]
struct RawErrorData {
    details: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_core::ErrorCode;
    use serde_json::{Value, json};

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/meta");

    fn fixture_files() -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<_> = std::fs::read_dir(FIXTURES)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("whatsapp_") && n.ends_with(".json"))
            .map(|n| {
                let bytes = std::fs::read(format!("{FIXTURES}/{n}")).unwrap();
                (n, bytes)
            })
            .collect();
        files.sort();
        files
    }

    fn only_event(body: &[u8]) -> WhatsAppEvent {
        let mut w = parse(body).unwrap();
        assert_eq!(w.events.len(), 1, "{w:?}");
        w.events.remove(0)
    }

    fn s(v: &Value) -> Option<String> {
        v.as_str().map(str::to_owned)
    }

    fn check_user(user: &WhatsAppUser, want: &Value, ctx: &str) {
        assert_eq!(user.wa_id, s(&want["wa_id"]), "{ctx} wa_id");
        assert_eq!(user.user_id, s(&want["user_id"]), "{ctx} user_id");
        assert_eq!(user.name, s(&want["name"]), "{ctx} name");
        assert_eq!(user.username, s(&want["username"]), "{ctx} username");
    }

    fn check_business(r: &BusinessPhone, want: &Value, ctx: &str) {
        assert_eq!(Some(r.waba_id.clone()), s(&want["waba_id"]), "{ctx}");
        assert_eq!(
            Some(r.phone_number_id.clone()),
            s(&want["phone_number_id"]),
            "{ctx}"
        );
        assert_eq!(
            r.display_phone_number,
            s(&want["display_phone_number"]),
            "{ctx}"
        );
    }

    #[test]
    fn every_fixture_parses_as_pywa_read_it() {
        let expected: Value =
            serde_json::from_str(include_str!("../../fixtures/meta/pywa_expected.json")).unwrap();
        let files = fixture_files();
        assert!(files.len() >= 20, "only {} fixtures", files.len());
        for (name, body) in &files {
            let want = &expected["fixtures"][name.as_str()];
            assert!(want.is_object(), "{name} has no pywa expectation");
            let ctx = name.as_str();
            match (only_event(body), want["kind"].as_str().unwrap()) {
                (WhatsAppEvent::Status(st), "status") => {
                    assert_eq!(Some(st.message_id.clone()), s(&want["id"]), "{ctx}");
                    check_business(&st.business, want, ctx);
                    check_user(&st.recipient, want, ctx);
                    assert_eq!(Some(st.timestamp), want["timestamp"].as_i64(), "{ctx}");
                    let name = match &st.status {
                        StatusKind::Sent => "sent",
                        StatusKind::Delivered => "delivered",
                        StatusKind::Read => "read",
                        StatusKind::Played => "played",
                        StatusKind::Failed => "failed",
                        StatusKind::Other(o) => o.as_str(),
                    };
                    assert_eq!(Some(name), want["status"].as_str(), "{ctx}");
                    assert_eq!(
                        st.error().map(|e| e.provider_code.clone()),
                        want["error_code"].as_i64().map(|c| c.to_string()),
                        "{ctx}"
                    );
                    assert_eq!(st.callback_data, s(&want["tracker"]), "{ctx}");
                }
                (WhatsAppEvent::Message(m), kind) => {
                    assert_eq!(Some(m.message_id.clone()), s(&want["id"]), "{ctx}");
                    check_business(&m.business, want, ctx);
                    check_user(&m.sender, want, ctx);
                    assert_eq!(Some(m.timestamp), want["timestamp"].as_i64(), "{ctx}");
                    assert_eq!(m.reply_to, s(&want["reply_to"]), "{ctx}");
                    match (kind, &m.content) {
                        ("message", WhatsAppContent::Text { body }) => {
                            assert_eq!(want["type"], "text", "{ctx}");
                            assert_eq!(Some(body.clone()), s(&want["text"]), "{ctx}");
                        }
                        ("message", WhatsAppContent::Media(media)) => {
                            assert_eq!(want["type"], media.kind.as_str(), "{ctx}");
                            let wm = &want["media"];
                            assert_eq!(Some(media.media_id.clone()), s(&wm["id"]), "{ctx}");
                            assert_eq!(Some(media.mime_type.clone()), s(&wm["mime_type"]), "{ctx}");
                            assert_eq!(media.caption, s(&wm["caption"]), "{ctx}");
                            assert_eq!(media.filename, s(&wm["filename"]), "{ctx}");
                        }
                        ("message", WhatsAppContent::Unsupported { message_type }) => {
                            assert_eq!(Some(message_type.clone()), s(&want["type"]), "{ctx}");
                        }
                        ("button", WhatsAppContent::ButtonReply { id, title }) => {
                            assert_eq!(want["type"], "interactive", "{ctx}");
                            assert_eq!(Some(id.clone()), s(&want["data"]), "{ctx}");
                            assert_eq!(Some(title.clone()), s(&want["title"]), "{ctx}");
                        }
                        ("button", WhatsAppContent::QuickReply { payload, text }) => {
                            assert_eq!(want["type"], "button", "{ctx}");
                            assert_eq!(Some(payload.clone()), s(&want["data"]), "{ctx}");
                            assert_eq!(Some(text.clone()), s(&want["title"]), "{ctx}");
                        }
                        (
                            "selection",
                            WhatsAppContent::ListReply {
                                id,
                                title,
                                description,
                            },
                        ) => {
                            assert_eq!(Some(id.clone()), s(&want["data"]), "{ctx}");
                            assert_eq!(Some(title.clone()), s(&want["title"]), "{ctx}");
                            assert_eq!(description.clone(), s(&want["description"]), "{ctx}");
                        }
                        (k, c) => panic!("{ctx}: pywa saw {k}, we parsed {c:?}"),
                    }
                    if kind == "message" {
                        assert_eq!(
                            m.errors.first().map(|e| e.provider_code.clone()),
                            want["error_code"].as_i64().map(|c| c.to_string()),
                            "{ctx}"
                        );
                    }
                }
                (e, k) => panic!("{ctx}: pywa saw {k}, we parsed {e:?}"),
            }
        }
    }

    fn fixture(name: &str) -> WhatsAppEvent {
        let body = std::fs::read(format!("{FIXTURES}/whatsapp_{name}.json")).unwrap();
        only_event(&body)
    }

    fn status_of(name: &str) -> WhatsAppStatus {
        match fixture(name) {
            WhatsAppEvent::Status(s) => s,
            other => panic!("{other:?}"),
        }
    }

    fn message_of(name: &str) -> WhatsAppMessage {
        match fixture(name) {
            WhatsAppEvent::Message(m) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn statuses_map_to_entry_status_and_error_codes() {
        assert_eq!(
            status_of("status_sent").entry_status(),
            Some(EntryStatus::Sent)
        );
        assert_eq!(
            status_of("status_delivered").entry_status(),
            Some(EntryStatus::Delivered)
        );
        assert_eq!(
            status_of("status_read").entry_status(),
            Some(EntryStatus::Read)
        );
        let window = status_of("status_failed_131047");
        assert_eq!(window.entry_status(), Some(EntryStatus::Failed));
        let e = window.error().unwrap();
        assert_eq!(e.code, ErrorCode::WindowClosed);
        assert_eq!(e.provider_code, "131047");
        assert!(e.details.as_deref().unwrap().contains("24 hours"));
        assert_eq!(
            status_of("status_failed_131026").error().unwrap().code,
            ErrorCode::DestinationInvalid
        );
        let rate = status_of("status_failed_130429");
        assert!(rate.error().unwrap().retryable);
        assert_eq!(
            status_of("status_failed_132000").error().unwrap().code,
            ErrorCode::ContentRejected
        );
        let sent = status_of("status_sent");
        assert_eq!(sent.pricing_category.as_deref(), Some("service"));
        assert!(sent.conversation_id.is_some());
    }

    #[test]
    fn content_kinds() {
        assert_eq!(
            message_of("sticker").content,
            WhatsAppContent::Unsupported {
                message_type: "sticker".into()
            }
        );
        for (name, ty) in [
            ("location", "location"),
            ("contacts_card", "contacts"),
            ("reaction", "reaction"),
            ("unsupported", "unsupported"),
        ] {
            assert_eq!(
                message_of(name).content,
                WhatsAppContent::Unsupported {
                    message_type: ty.into()
                },
                "{name}"
            );
        }
        let voice = message_of("audio_voice");
        match voice.content {
            WhatsAppContent::Media(m) => {
                assert_eq!(m.kind, MediaKind::Audio);
                assert!(m.voice);
                assert!(m.url.is_some());
                assert!(m.sha256.is_some());
            }
            other => panic!("{other:?}"),
        }
        let unsupported = message_of("unsupported");
        assert_eq!(
            unsupported.errors[0].code,
            ErrorCode::AttachmentTypeUnsupported
        );
        let user_only = message_of("user_id_only");
        assert_eq!(user_only.sender.wa_id, None);
        assert_eq!(
            user_only.sender.user_id.as_deref(),
            Some("GB.13491208655302741918")
        );
        assert_eq!(user_only.sender.username.as_deref(), Some("ada.l"));
    }

    fn envelope(value: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}]
        }))
        .unwrap()
    }

    fn meta() -> Value {
        json!({"display_phone_number": "15550783881", "phone_number_id": "106540352242922"})
    }

    #[test]
    fn batches_flatten_in_document_order_and_other_fields_are_listed() {
        let body = serde_json::to_vec(&json!({
            "object": "whatsapp_business_account",
            "entry": [
                {"id": "1", "changes": [
                    {"field": "message_template_status_update", "value": {"event": "APPROVED"}},
                    {"field": "messages", "value": {
                        "metadata": meta(),
                        "contacts": [
                            {"profile": {"name": "A"}, "wa_id": "111", "user_id": "US.1"},
                            {"profile": {"name": "B"}, "wa_id": "222", "user_id": "US.2"}
                        ],
                        "messages": [
                            {"from": "222", "id": "m1", "timestamp": "10", "type": "text", "text": {"body": "b"}},
                            {"from": "111", "id": "m2", "timestamp": 11, "type": "text", "text": {"body": "a"}}
                        ]
                    }}
                ]},
                {"id": "2", "changes": [{"field": "messages", "value": {
                    "metadata": meta(),
                    "statuses": [
                        {"id": "s1", "status": "delivered", "timestamp": "12", "recipient_id": "111"},
                        {"id": "s2", "status": "deleted", "timestamp": "13", "recipient_id": "111"}
                    ]
                }}]}
            ]
        }))
        .unwrap();
        let w = parse(&body).unwrap();
        assert_eq!(w.ignored_fields, vec!["message_template_status_update"]);
        assert_eq!(w.events.len(), 4);
        match (&w.events[0], &w.events[1]) {
            (WhatsAppEvent::Message(a), WhatsAppEvent::Message(b)) => {
                // Each message is matched to its own contact, not to the first one.
                assert_eq!(a.sender.name.as_deref(), Some("B"));
                assert_eq!(a.sender.user_id.as_deref(), Some("US.2"));
                assert_eq!(b.sender.name.as_deref(), Some("A"));
                assert_eq!(b.timestamp, 11);
            }
            other => panic!("{other:?}"),
        }
        match (&w.events[2], &w.events[3]) {
            (WhatsAppEvent::Status(a), WhatsAppEvent::Status(b)) => {
                assert_eq!(a.business.waba_id, "2");
                assert_eq!(a.entry_status(), Some(EntryStatus::Delivered));
                assert_eq!(b.status, StatusKind::Other("deleted".into()));
                assert_eq!(b.entry_status(), None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn failed_status_without_contacts_and_value_level_errors() {
        let body = envelope(json!({
            "metadata": meta(),
            "statuses": [{"id": "s1", "status": "failed", "timestamp": "1", "recipient_id": "447400123456"}],
            "errors": [{"code": 131049, "title": "This message was not delivered to maintain healthy ecosystem engagement."}]
        }));
        match only_event(&body) {
            WhatsAppEvent::Status(s) => {
                assert_eq!(s.recipient.wa_id.as_deref(), Some("447400123456"));
                assert_eq!(s.recipient.name, None);
                assert_eq!(s.error().unwrap().code, ErrorCode::CarrierBlocked);
                assert_eq!(s.error().unwrap().provider_code, "131049");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn interactive_subtypes_we_do_not_show_are_unsupported() {
        let body = envelope(json!({
            "metadata": meta(),
            "contacts": [{"wa_id": "1", "user_id": "US.1"}],
            "messages": [{"from": "1", "id": "m", "timestamp": "1", "type": "interactive",
                "interactive": {"type": "nfm_reply", "nfm_reply": {"name": "flow", "response_json": "{}"}}}]
        }));
        match only_event(&body) {
            WhatsAppEvent::Message(m) => assert_eq!(
                m.content,
                WhatsAppContent::Unsupported {
                    message_type: "interactive.nfm_reply".into()
                }
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_payloads_give_typed_errors_with_paths() {
        assert!(matches!(parse(b"not json"), Err(ParseError::Json(_))));
        assert_eq!(
            parse(br#"{"object":"page","entry":[]}"#),
            Err(ParseError::UnexpectedObject {
                expected: OBJECT,
                found: "page".into()
            })
        );
        assert_eq!(
            parse(&envelope(json!({"messages": [{"id": "m"}]}))),
            Err(ParseError::MissingField(
                "entry[0].changes[0].value.metadata.phone_number_id".into()
            ))
        );
        let no_sender = envelope(json!({
            "metadata": meta(),
            "messages": [{"id": "m", "timestamp": "1", "type": "text", "text": {"body": "x"}}]
        }));
        assert!(matches!(
            parse(&no_sender),
            Err(ParseError::MissingField(p)) if p.starts_with("entry[0].changes[0].value.messages[0].from")
        ));
        let no_body = envelope(json!({
            "metadata": meta(),
            "messages": [{"from": "1", "id": "m", "timestamp": "1", "type": "text"}]
        }));
        assert_eq!(
            parse(&no_body),
            Err(ParseError::MissingField(
                "entry[0].changes[0].value.messages[0].text.body".into()
            ))
        );
        let no_media_id = envelope(json!({
            "metadata": meta(),
            "messages": [{"from": "1", "id": "m", "timestamp": "1", "type": "image", "image": {"mime_type": "image/png"}}]
        }));
        assert_eq!(
            parse(&no_media_id),
            Err(ParseError::MissingField(
                "entry[0].changes[0].value.messages[0].image.id".into()
            ))
        );
        let bad_time = envelope(json!({
            "metadata": meta(),
            "statuses": [{"id": "s", "status": "sent", "timestamp": "yesterday"}]
        }));
        assert!(matches!(
            parse(&bad_time),
            Err(ParseError::InvalidField { path, .. }) if path.ends_with("statuses[0].timestamp")
        ));
        let wrong_type = br#"{"object":"whatsapp_business_account","entry":5}"#;
        assert!(matches!(parse(wrong_type), Err(ParseError::Json(_))));
    }

    #[test]
    fn nulls_and_empty_values_are_tolerated() {
        let body = envelope(json!({
            "metadata": meta(),
            "contacts": null,
            "messages": [{"from": "1", "id": "m", "timestamp": "1", "type": "text",
                "text": {"body": ""}, "context": null, "errors": null, "brand_new_field": {"x": 1}}],
            "statuses": null
        }));
        match only_event(&body) {
            WhatsAppEvent::Message(m) => {
                assert_eq!(
                    m.content,
                    WhatsAppContent::Text {
                        body: String::new()
                    }
                );
                assert_eq!(m.sender.wa_id.as_deref(), Some("1"));
            }
            other => panic!("{other:?}"),
        }
        let empty = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{}}]}]}"#;
        assert!(parse(empty).unwrap().events.is_empty());
    }

    #[test]
    fn never_panics_on_truncated_or_mangled_fixtures() {
        for (_, body) in fixture_files() {
            for end in (0..body.len()).step_by(7) {
                let _ = parse(&body[..end]);
            }
            let mangled: Vec<u8> = body
                .iter()
                .map(|&b| if b == b'"' { b'\'' } else { b })
                .collect();
            let _ = parse(&mangled);
        }
    }
}
