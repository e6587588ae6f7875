//! The form Twilio posts when a customer's SMS, MMS or WhatsApp message reaches one of our
//! numbers, read into [`InboundMessage`].
//!
//! Media arrive as `NumMedia` plus `MediaUrl0..N-1` and `MediaContentType0..N-1`. Twilio never
//! sends more than ten, so a larger count, a missing pair or a stray index means the form was not
//! built by Twilio and is refused rather than half-read.

use super::fields::{Fields, ParseError};
use super::form::FormParams;

/// The most media Twilio attaches to one message.
pub const MAX_MEDIA: usize = 10;

/// One inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    /// `MessageSid`, or its legacy aliases `SmsMessageSid` / `SmsSid`. The dedupe key.
    pub message_sid: String,
    pub account_sid: String,
    pub messaging_service_sid: Option<String>,
    /// The customer's address as Twilio spells it: E.164 (`+14155550100`), or prefixed for other
    /// channels (`whatsapp:+447400123456`).
    pub from: String,
    /// Our number (or short code) that received the message.
    pub to: String,
    /// The text; empty for a media-only message.
    pub body: String,
    /// Attachments in index order.
    pub media: Vec<InboundMedia>,
    pub num_segments: Option<u32>,
    pub geo: Geo,
    /// Fields this parser does not model (`ApiVersion`, `SmsStatus`, WhatsApp's `ProfileName`,
    /// `WaId`, `ButtonPayload`...), in wire order.
    pub extra: Vec<(String, String)>,
}

/// One attachment: Twilio's URL for the media and its MIME type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMedia {
    pub url: String,
    pub content_type: String,
}

/// Where the carrier says the two numbers are; any of it may be absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Geo {
    pub from_city: Option<String>,
    pub from_state: Option<String>,
    pub from_zip: Option<String>,
    pub from_country: Option<String>,
    pub to_city: Option<String>,
    pub to_state: Option<String>,
    pub to_zip: Option<String>,
    pub to_country: Option<String>,
}

impl InboundMessage {
    /// Reads a raw `application/x-www-form-urlencoded` body.
    pub fn parse(body: &[u8]) -> Result<Self, ParseError> {
        Self::from_form(FormParams::parse(body)?)
    }

    /// Reads an already decoded form (e.g. the one signature verification returned).
    pub fn from_form(form: FormParams) -> Result<Self, ParseError> {
        let mut f = Fields::new(form);
        let message_sid = message_sid(&mut f)?;
        let account_sid = f.required_sid("AccountSid")?;
        let messaging_service_sid = f.optional_sid("MessagingServiceSid")?;
        let from = f.required("From")?;
        let to = f.required("To")?;
        let body = f.optional("Body")?.unwrap_or_default();
        let media = media(&mut f)?;
        let num_segments = f
            .optional_u64("NumSegments")?
            .map(|n| {
                u32::try_from(n).map_err(|_| ParseError::InvalidField {
                    field: "NumSegments".to_owned(),
                    reason: "number too large".to_owned(),
                })
            })
            .transpose()?;
        let geo = Geo {
            from_city: f.optional("FromCity")?,
            from_state: f.optional("FromState")?,
            from_zip: f.optional("FromZip")?,
            from_country: f.optional("FromCountry")?,
            to_city: f.optional("ToCity")?,
            to_state: f.optional("ToState")?,
            to_zip: f.optional("ToZip")?,
            to_country: f.optional("ToCountry")?,
        };
        Ok(Self {
            message_sid,
            account_sid,
            messaging_service_sid,
            from,
            to,
            body,
            media,
            num_segments,
            geo,
            extra: f.into_rest(),
        })
    }

    /// The value of an unmodelled field, if Twilio sent it.
    pub fn extra(&self, name: &str) -> Option<&str> {
        self.extra
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `MessageSid`, falling back to the legacy names. When several are present they must agree, since
/// the SID is what deduplicates a redelivered webhook.
pub(crate) fn message_sid(f: &mut Fields) -> Result<String, ParseError> {
    let mut found: Option<String> = None;
    for name in ["MessageSid", "SmsMessageSid", "SmsSid"] {
        if let Some(sid) = f.optional_sid(name)? {
            match &found {
                Some(first) if *first != sid => {
                    return Err(ParseError::InvalidField {
                        field: name.to_owned(),
                        reason: format!("disagrees with MessageSid '{first}'"),
                    });
                }
                Some(_) => {}
                None => found = Some(sid),
            }
        }
    }
    found.ok_or(ParseError::MissingField("MessageSid"))
}

fn media(f: &mut Fields) -> Result<Vec<InboundMedia>, ParseError> {
    let declared = f.optional_u64("NumMedia")?.unwrap_or(0);
    if declared > MAX_MEDIA as u64 {
        return Err(ParseError::TooManyMedia(declared));
    }
    // Bounded by MAX_MEDIA just above.
    let n = usize::try_from(declared).unwrap_or(MAX_MEDIA);
    let inconsistent = |detail: String| ParseError::InconsistentMedia {
        num_media: n,
        detail,
    };

    // Any MediaUrl/MediaContentType beyond the declared count, or spelled oddly, is refused: it
    // would otherwise be silently dropped.
    for name in f.names() {
        for prefix in ["MediaUrl", "MediaContentType"] {
            if let Some(index) = name.strip_prefix(prefix) {
                let canonical = index
                    .parse::<usize>()
                    .ok()
                    .filter(|i| i.to_string() == index);
                match canonical {
                    Some(i) if i < n => {}
                    Some(_) => return Err(inconsistent(format!("unexpected {name}"))),
                    None if index.bytes().all(|b| b.is_ascii_digit()) => {
                        return Err(inconsistent(format!("malformed index in {name}")));
                    }
                    // Another field that merely starts with the prefix is not media.
                    None => {}
                }
            }
        }
    }

    let mut media = Vec::with_capacity(n);
    for i in 0..n {
        let url_name = format!("MediaUrl{i}");
        let type_name = format!("MediaContentType{i}");
        let url = f
            .optional(&url_name)?
            .ok_or_else(|| inconsistent(format!("{url_name} is missing")))?;
        let content_type = f
            .optional(&type_name)?
            .ok_or_else(|| inconsistent(format!("{type_name} is missing")))?;
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(ParseError::InvalidField {
                field: url_name,
                reason: "expected an http(s) URL".to_owned(),
            });
        }
        if !content_type.contains('/') {
            return Err(ParseError::InvalidField {
                field: type_name,
                reason: "expected a MIME type such as image/jpeg".to_owned(),
            });
        }
        media.push(InboundMedia { url, content_type });
    }
    Ok(media)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMS: &str = "ToCountry=US&ToState=CA&SmsMessageSid=SM0123456789abcdef0123456789abcdef\
        &NumMedia=0&ToCity=SAN+FRANCISCO&FromZip=94105&SmsSid=SM0123456789abcdef0123456789abcdef\
        &FromState=CA&SmsStatus=received&FromCity=SAN+FRANCISCO&Body=Stop+please%21\
        &FromCountry=US&To=%2B14155550100&MessagingServiceSid=MGaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\
        &ToZip=94105&NumSegments=1&MessageSid=SM0123456789abcdef0123456789abcdef\
        &AccountSid=ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb&From=%2B14155550199&ApiVersion=2010-04-01";

    fn mms(n: usize, declared: &str) -> String {
        let mut s =
            format!("MessageSid=MM1&AccountSid=AC1&From=%2B1&To=%2B2&Body=&NumMedia={declared}");
        for i in 0..n {
            s.push_str(&format!(
                "&MediaUrl{i}=https%3A%2F%2Fapi.twilio.com%2FMedia%2FME{i}&MediaContentType{i}=image%2Fjpeg"
            ));
        }
        s
    }

    #[test]
    fn reads_a_real_sms_form() {
        let m = InboundMessage::parse(SMS.as_bytes()).unwrap();
        assert_eq!(m.message_sid, "SM0123456789abcdef0123456789abcdef");
        assert_eq!(m.account_sid, "ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
        assert_eq!(
            m.messaging_service_sid.as_deref(),
            Some("MGaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
        );
        assert_eq!(m.from, "+14155550199");
        assert_eq!(m.to, "+14155550100");
        assert_eq!(m.body, "Stop please!");
        assert!(m.media.is_empty());
        assert_eq!(m.num_segments, Some(1));
        assert_eq!(m.geo.from_city.as_deref(), Some("SAN FRANCISCO"));
        assert_eq!(m.geo.to_zip.as_deref(), Some("94105"));
        assert_eq!(m.geo.to_country.as_deref(), Some("US"));
        // The aliases of MessageSid are consumed; the rest is kept in wire order.
        assert_eq!(
            m.extra,
            vec![
                ("SmsStatus".to_owned(), "received".to_owned()),
                ("ApiVersion".to_owned(), "2010-04-01".to_owned())
            ]
        );
        assert_eq!(m.extra("ApiVersion"), Some("2010-04-01"));
    }

    #[test]
    fn reads_media_in_index_order_up_to_ten() {
        let m = InboundMessage::parse(mms(10, "10").as_bytes()).unwrap();
        assert_eq!(m.media.len(), 10);
        assert_eq!(m.media[9].url, "https://api.twilio.com/Media/ME9");
        assert_eq!(m.media[0].content_type, "image/jpeg");
        assert_eq!(m.body, "");
    }

    #[test]
    fn refuses_too_many_or_inconsistent_media() {
        assert_eq!(
            InboundMessage::parse(mms(11, "11").as_bytes()),
            Err(ParseError::TooManyMedia(11))
        );
        assert!(matches!(
            InboundMessage::parse(mms(2, "3").as_bytes()),
            Err(ParseError::InconsistentMedia { num_media: 3, .. })
        ));
        assert!(matches!(
            InboundMessage::parse(mms(3, "2").as_bytes()),
            Err(ParseError::InconsistentMedia { num_media: 2, .. })
        ));
        let no_type =
            "MessageSid=MM1&AccountSid=AC1&From=a&To=b&NumMedia=1&MediaUrl0=https%3A%2F%2Fx";
        assert!(matches!(
            InboundMessage::parse(no_type.as_bytes()),
            Err(ParseError::InconsistentMedia { .. })
        ));
        let padded = format!("{}&MediaUrl01=https%3A%2F%2Fx", mms(2, "2"));
        assert!(matches!(
            InboundMessage::parse(padded.as_bytes()),
            Err(ParseError::InconsistentMedia { .. })
        ));
        let huge = "MessageSid=MM1&AccountSid=AC1&From=a&To=b&NumMedia=99999999999999999999999";
        assert!(matches!(
            InboundMessage::parse(huge.as_bytes()),
            Err(ParseError::InvalidField { .. })
        ));
        let not_url = "MessageSid=MM1&AccountSid=AC1&From=a&To=b&NumMedia=1&MediaUrl0=javascript:x&MediaContentType0=image%2Fpng";
        assert!(matches!(
            InboundMessage::parse(not_url.as_bytes()),
            Err(ParseError::InvalidField { .. })
        ));
    }

    #[test]
    fn media_without_num_media_is_inconsistent() {
        let s = "MessageSid=MM1&AccountSid=AC1&From=a&To=b&MediaUrl0=https%3A%2F%2Fx&MediaContentType0=image%2Fpng";
        assert!(matches!(
            InboundMessage::parse(s.as_bytes()),
            Err(ParseError::InconsistentMedia { num_media: 0, .. })
        ));
    }

    #[test]
    fn missing_duplicate_and_malformed_fields_are_named() {
        assert_eq!(
            InboundMessage::parse(b"AccountSid=AC1&From=a&To=b"),
            Err(ParseError::MissingField("MessageSid"))
        );
        assert_eq!(
            InboundMessage::parse(b"MessageSid=SM1&From=a&To=b"),
            Err(ParseError::MissingField("AccountSid"))
        );
        assert_eq!(
            InboundMessage::parse(b"MessageSid=SM1&AccountSid=AC1&From=&To=b"),
            Err(ParseError::MissingField("From"))
        );
        assert_eq!(
            InboundMessage::parse(b"MessageSid=SM1&AccountSid=AC1&From=a&From=c&To=b"),
            Err(ParseError::DuplicateField {
                field: "From".into(),
                count: 2
            })
        );
        assert!(matches!(
            InboundMessage::parse(b"MessageSid=SM1&SmsSid=SM2&AccountSid=AC1&From=a&To=b"),
            Err(ParseError::InvalidField { .. })
        ));
        assert!(matches!(
            InboundMessage::parse(b"MessageSid=SM%3Cscript%3E&AccountSid=AC1&From=a&To=b"),
            Err(ParseError::InvalidField { .. })
        ));
        assert!(matches!(
            InboundMessage::parse(b"MessageSid=SM1&AccountSid=AC1&From=a&To=b&NumSegments=x"),
            Err(ParseError::InvalidField { .. })
        ));
        assert!(matches!(
            InboundMessage::parse(b"MessageSid=SM1&AccountSid=AC1&From=a&To=b&Body=%FF"),
            Err(ParseError::Form(_))
        ));
    }

    #[test]
    fn legacy_sid_alone_is_enough_and_whatsapp_fields_are_kept() {
        let s = "SmsSid=SM9&AccountSid=AC1&From=whatsapp%3A%2B447400123456&To=whatsapp%3A%2B14155238886\
            &Body=Hi&ProfileName=Ada&WaId=447400123456";
        let m = InboundMessage::parse(s.as_bytes()).unwrap();
        assert_eq!(m.message_sid, "SM9");
        assert_eq!(m.from, "whatsapp:+447400123456");
        assert_eq!(m.extra("ProfileName"), Some("Ada"));
        assert_eq!(m.extra("WaId"), Some("447400123456"));
        assert_eq!(m.num_segments, None);
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        // A cheap deterministic fuzz: every prefix of a real form and some byte soup.
        let full = mms(3, "3");
        for end in 0..=full.len() {
            let _ = InboundMessage::parse(&full.as_bytes()[..end]);
        }
        let mut x: u32 = 0x1234_5678;
        for _ in 0..2000 {
            let mut buf = Vec::new();
            for _ in 0..(x % 64) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                buf.push(b"%&=+MediaUrl0NumMedia1AC\xff"[(x % 25) as usize]);
            }
            let _ = InboundMessage::parse(&buf);
        }
    }
}
