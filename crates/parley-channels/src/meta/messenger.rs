//! Facebook Messenger webhooks (`object: page`), flattened into events.
//!
//! Each `entry[]` is one Page; its `messaging[]` holds events for one conversation each, told
//! apart by which key is present: `message` (a customer's message, or with `is_echo` one the Page
//! sent), `delivery`, `read`, `postback`. Anything else (reactions, referrals, opt-ins, handover)
//! becomes [`MessengerEvent::Unsupported`] with its key, so nothing is dropped unseen. The customer
//! is identified by the page-scoped id (PSID) in `sender.id`. Messenger timestamps are
//! milliseconds since the Unix epoch.

use parley_core::model::EntryStatus;
use serde::Deserialize;

use super::parse::{Loose, ParseError, non_empty, required};

/// The `object` of a Messenger webhook.
pub const OBJECT: &str = "page";

/// A parsed Messenger webhook body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessengerWebhook {
    pub events: Vec<MessengerEvent>,
}

/// Who and where, common to every Messenger event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participants {
    /// `entry[].id`: the Page, which identifies the channel.
    pub page_id: String,
    /// `sender.id`: the customer's PSID, or the Page for echoes.
    pub sender_id: String,
    /// `recipient.id`: the Page, or the customer for echoes.
    pub recipient_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessengerEvent {
    Message(MessengerMessage),
    Delivery(MessengerDelivery),
    Read(MessengerRead),
    Postback(MessengerPostback),
    /// An event Parley does not act on; `kind` is its key (`reaction`, `optin`, `referral`...).
    Unsupported {
        who: Participants,
        kind: String,
    },
}

impl MessengerEvent {
    /// The status a delivery or read receipt gives our outbound messages.
    pub fn entry_status(&self) -> Option<EntryStatus> {
        match self {
            Self::Delivery(_) => Some(EntryStatus::Delivered),
            Self::Read(_) => Some(EntryStatus::Read),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessengerMessage {
    pub who: Participants,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// `mid`: the dedupe key.
    pub mid: String,
    pub text: Option<String>,
    pub attachments: Vec<MessengerAttachment>,
    /// The payload of the quick reply the customer tapped.
    pub quick_reply_payload: Option<String>,
    /// The `mid` this message replies to.
    pub reply_to: Option<String>,
    /// Sent by the Page (from Parley or another app), echoed back to us.
    pub is_echo: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessengerAttachment {
    /// Meta's type: `image`, `audio`, `video`, `file`, `location`, `fallback`, `template`...
    pub kind: String,
    pub url: Option<String>,
    /// Set when an `image` attachment is a sticker.
    pub sticker_id: Option<String>,
}

/// Messages up to `watermark` (and those in `mids`) reached the customer's device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessengerDelivery {
    pub who: Participants,
    pub mids: Vec<String>,
    /// Milliseconds; every message sent before it is delivered.
    pub watermark: i64,
}

/// The customer read every message sent before `watermark`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessengerRead {
    pub who: Participants,
    pub watermark: i64,
}

/// A tap on a postback button.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessengerPostback {
    pub who: Participants,
    pub timestamp: Option<i64>,
    pub title: Option<String>,
    pub payload: String,
    pub mid: Option<String>,
}

/// Parses a Messenger webhook body.
pub fn parse(body: &[u8]) -> Result<MessengerWebhook, ParseError> {
    let raw: RawEnvelope = serde_json::from_slice(body)?;
    let object = raw.object.unwrap_or_default();
    if object != OBJECT {
        return Err(ParseError::UnexpectedObject {
            expected: OBJECT,
            found: object,
        });
    }
    let mut out = MessengerWebhook::default();
    for (e, entry) in raw.entry.unwrap_or_default().into_iter().enumerate() {
        let page_id = required(entry.id.map(|l| l.to_text()), || format!("entry[{e}].id"))?;
        for (i, ev) in entry.messaging.unwrap_or_default().into_iter().enumerate() {
            let at = format!("entry[{e}].messaging[{i}]");
            out.events.push(read_event(&at, &page_id, ev)?);
        }
    }
    Ok(out)
}

fn read_event(at: &str, page_id: &str, ev: RawEvent) -> Result<MessengerEvent, ParseError> {
    let who = Participants {
        page_id: page_id.to_owned(),
        sender_id: required(ev.sender.and_then(|p| p.id).map(|l| l.to_text()), || {
            format!("{at}.sender.id")
        })?,
        recipient_id: required(ev.recipient.and_then(|p| p.id).map(|l| l.to_text()), || {
            format!("{at}.recipient.id")
        })?,
    };
    let timestamp = ev
        .timestamp
        .map(|t| t.as_i64(&format!("{at}.timestamp")))
        .transpose()?;

    if let Some(m) = ev.message {
        let at = format!("{at}.message");
        let timestamp =
            timestamp.ok_or_else(|| ParseError::MissingField(format!("{at}.timestamp")))?;
        let attachments = m
            .attachments
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(k, a)| {
                let payload = a.payload.unwrap_or_default();
                Ok(MessengerAttachment {
                    kind: required(a.kind, || format!("{at}.attachments[{k}].type"))?,
                    url: non_empty(payload.url),
                    sticker_id: payload.sticker_id.map(|s| s.to_text()),
                })
            })
            .collect::<Result<Vec<_>, ParseError>>()?;
        return Ok(MessengerEvent::Message(MessengerMessage {
            who,
            timestamp,
            mid: required(m.mid, || format!("{at}.mid"))?,
            text: non_empty(m.text),
            attachments,
            quick_reply_payload: m.quick_reply.and_then(|q| non_empty(q.payload)),
            reply_to: m.reply_to.and_then(|r| non_empty(r.mid)),
            is_echo: m.is_echo.unwrap_or(false),
        }));
    }
    if let Some(d) = ev.delivery {
        let at = format!("{at}.delivery.watermark");
        let watermark = d
            .watermark
            .ok_or_else(|| ParseError::MissingField(at.clone()))?
            .as_i64(&at)?;
        return Ok(MessengerEvent::Delivery(MessengerDelivery {
            who,
            mids: d.mids.unwrap_or_default(),
            watermark,
        }));
    }
    if let Some(r) = ev.read {
        let at = format!("{at}.read.watermark");
        let watermark = r
            .watermark
            .ok_or_else(|| ParseError::MissingField(at.clone()))?
            .as_i64(&at)?;
        return Ok(MessengerEvent::Read(MessengerRead { who, watermark }));
    }
    if let Some(p) = ev.postback {
        return Ok(MessengerEvent::Postback(MessengerPostback {
            who,
            timestamp,
            title: non_empty(p.title),
            payload: required(p.payload, || format!("{at}.postback.payload"))?,
            mid: non_empty(p.mid),
        }));
    }
    // A key outside the envelope names the event (the alphabetically first, if several).
    let kind = ev
        .rest
        .keys()
        .next()
        .cloned()
        .unwrap_or_else(|| "unknown".to_owned());
    Ok(MessengerEvent::Unsupported { who, kind })
}

#[derive(Deserialize)]
struct RawEnvelope {
    object: Option<String>,
    entry: Option<Vec<RawEntry>>,
}

#[derive(Deserialize)]
struct RawEntry {
    id: Option<Loose>,
    messaging: Option<Vec<RawEvent>>,
}

#[derive(Deserialize)]
struct RawEvent {
    sender: Option<RawParty>,
    recipient: Option<RawParty>,
    timestamp: Option<Loose>,
    message: Option<RawMessage>,
    delivery: Option<RawWatermark>,
    read: Option<RawWatermark>,
    postback: Option<RawPostback>,
    /// Every other key, to name an event we do not model.
    #[serde(flatten)]
    rest: std::collections::BTreeMap<String, serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct RawParty {
    id: Option<Loose>,
}

#[derive(Deserialize)]
struct RawMessage {
    mid: Option<String>,
    text: Option<String>,
    attachments: Option<Vec<RawAttachment>>,
    quick_reply: Option<RawQuickReply>,
    reply_to: Option<RawReplyTo>,
    is_echo: Option<bool>,
}

#[derive(Deserialize)]
struct RawAttachment {
    #[serde(rename = "type")]
    kind: Option<String>,
    payload: Option<RawAttachmentPayload>,
}

#[derive(Deserialize, Default)]
struct RawAttachmentPayload {
    url: Option<String>,
    sticker_id: Option<Loose>,
}

#[derive(Deserialize)]
struct RawQuickReply {
    payload: Option<String>,
}

#[derive(Deserialize)]
struct RawReplyTo {
    mid: Option<String>,
}

#[derive(Deserialize)]
struct RawWatermark {
    mids: Option<Vec<String>>,
    watermark: Option<Loose>,
}

#[derive(Deserialize)]
struct RawPostback {
    title: Option<String>,
    payload: Option<String>,
    mid: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/meta");

    fn load(name: &str) -> MessengerWebhook {
        let body = std::fs::read(format!("{FIXTURES}/messenger_{name}.json")).unwrap();
        parse(&body).unwrap()
    }

    fn single(name: &str) -> MessengerEvent {
        let mut w = load(name);
        assert_eq!(w.events.len(), 1, "{w:?}");
        w.events.remove(0)
    }

    #[test]
    fn every_fixture_parses() {
        let mut n = 0;
        for e in std::fs::read_dir(FIXTURES).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            if name.starts_with("messenger_") {
                let body = std::fs::read(format!("{FIXTURES}/{name}")).unwrap();
                let w = parse(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(!w.events.is_empty(), "{name}");
                n += 1;
            }
        }
        assert!(n >= 8, "only {n} Messenger fixtures");
    }

    #[test]
    fn text_message() {
        match single("text") {
            MessengerEvent::Message(m) => {
                assert_eq!(m.who.page_id, "104885245713421");
                assert_eq!(m.who.sender_id, "6783451290871234");
                assert_eq!(m.who.recipient_id, "104885245713421");
                assert_eq!(m.text.as_deref(), Some("Where is my parcel?"));
                assert_eq!(m.timestamp, 1_763_719_200_045);
                assert!(m.mid.starts_with("m_"));
                assert!(!m.is_echo);
                assert!(m.attachments.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn attachments_quick_replies_and_echoes() {
        match single("attachments") {
            MessengerEvent::Message(m) => {
                assert_eq!(m.text, None);
                let kinds: Vec<_> = m.attachments.iter().map(|a| a.kind.as_str()).collect();
                assert_eq!(kinds, ["image", "file", "image"]);
                assert!(
                    m.attachments[1]
                        .url
                        .as_deref()
                        .unwrap()
                        .ends_with("invoice.pdf")
                );
                assert_eq!(m.attachments[0].sticker_id, None);
                assert_eq!(
                    m.attachments[2].sticker_id.as_deref(),
                    Some("369239263222822")
                );
            }
            other => panic!("{other:?}"),
        }
        match single("quick_reply") {
            MessengerEvent::Message(m) => {
                assert_eq!(m.quick_reply_payload.as_deref(), Some("CONFIRM_YES"))
            }
            other => panic!("{other:?}"),
        }
        match single("echo") {
            MessengerEvent::Message(m) => {
                assert!(m.is_echo);
                assert_eq!(m.who.sender_id, m.who.page_id);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn receipts_and_postbacks() {
        let d = single("delivery");
        assert_eq!(d.entry_status(), Some(EntryStatus::Delivered));
        match d {
            MessengerEvent::Delivery(d) => {
                assert_eq!(d.mids, ["m_echo_0001"]);
                assert_eq!(d.watermark, 1_763_719_231_000);
            }
            other => panic!("{other:?}"),
        }
        let r = single("read");
        assert_eq!(r.entry_status(), Some(EntryStatus::Read));
        assert!(matches!(
            r,
            MessengerEvent::Read(MessengerRead {
                watermark: 1_763_719_231_000,
                ..
            })
        ));
        match single("postback") {
            MessengerEvent::Postback(p) => {
                assert_eq!(p.payload, "AGENT");
                assert_eq!(p.title.as_deref(), Some("Talk to an agent"));
                assert_eq!(p.mid.as_deref(), Some("m_pb_0001"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn batches_keep_order_and_name_unsupported_events() {
        let w = load("batch_mixed");
        assert_eq!(w.events.len(), 3);
        assert!(matches!(&w.events[0], MessengerEvent::Message(m) if m.mid == "m_batch_1"));
        assert!(
            matches!(&w.events[1], MessengerEvent::Unsupported { kind, .. } if kind == "reaction")
        );
        assert!(matches!(&w.events[2], MessengerEvent::Message(m) if m.mid == "m_batch_2"));
        assert_eq!(w.events[1].entry_status(), None);
    }

    #[test]
    fn malformed_payloads_give_typed_errors_with_paths() {
        assert_eq!(
            parse(br#"{"object":"whatsapp_business_account"}"#),
            Err(ParseError::UnexpectedObject {
                expected: OBJECT,
                found: "whatsapp_business_account".into()
            })
        );
        let body = |ev: serde_json::Value| {
            serde_json::to_vec(
                &json!({"object": "page", "entry": [{"id": "9", "messaging": [ev]}]}),
            )
            .unwrap()
        };
        assert_eq!(
            parse(&body(
                json!({"recipient": {"id": "9"}, "timestamp": 1, "message": {"mid": "m"}})
            )),
            Err(ParseError::MissingField(
                "entry[0].messaging[0].sender.id".into()
            ))
        );
        assert_eq!(
            parse(&body(
                json!({"sender": {"id": "1"}, "recipient": {"id": "9"}, "timestamp": 1, "message": {"text": "x"}})
            )),
            Err(ParseError::MissingField(
                "entry[0].messaging[0].message.mid".into()
            ))
        );
        assert_eq!(
            parse(&body(
                json!({"sender": {"id": "1"}, "recipient": {"id": "9"}, "read": {}})
            )),
            Err(ParseError::MissingField(
                "entry[0].messaging[0].read.watermark".into()
            ))
        );
        assert_eq!(
            parse(&body(
                json!({"sender": {"id": "1"}, "recipient": {"id": "9"}, "postback": {"title": "t"}})
            )),
            Err(ParseError::MissingField(
                "entry[0].messaging[0].postback.payload".into()
            ))
        );
        // Numeric ids, as some Graph API versions send, are read as text.
        let numeric = parse(&body(json!({"sender": {"id": 123}, "recipient": {"id": 9},
            "timestamp": "5", "message": {"mid": "m", "text": "hi", "new_field": true}})))
        .unwrap();
        assert!(
            matches!(&numeric.events[0], MessengerEvent::Message(m) if m.who.sender_id == "123" && m.timestamp == 5)
        );
        let empty =
            parse(br#"{"object":"page","entry":[{"id":"9","time":1,"standby":[]}]}"#).unwrap();
        assert!(empty.events.is_empty());
    }

    #[test]
    fn never_panics_on_truncated_fixtures() {
        for name in ["text", "attachments", "batch_mixed", "delivery"] {
            let body = std::fs::read(format!("{FIXTURES}/messenger_{name}.json")).unwrap();
            for end in 0..body.len() {
                let _ = parse(&body[..end]);
            }
        }
    }
}
