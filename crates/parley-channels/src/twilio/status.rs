//! The status callback Twilio posts as an outbound message moves (queued, sent, delivered,
//! failed...), read into [`StatusCallback`] with the status mapped to Parley's
//! [`EntryStatus`] and any error mapped through [`map_error_code`](super::map_error_code).

use parley_core::model::EntryStatus;

use super::errors::ProviderError;
use super::fields::{Fields, ParseError, parse_u64};
use super::form::FormParams;
use super::inbound::message_sid;

/// A message status as Twilio names it. Unknown names are kept, not refused: Twilio adds
/// statuses from time to time, and a callback we cannot place is better ignored than failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TwilioStatus {
    Accepted,
    Scheduled,
    Queued,
    Sending,
    Sent,
    Delivered,
    Undelivered,
    Failed,
    Read,
    Receiving,
    Received,
    Canceled,
    PartiallyDelivered,
    Other(String),
}

impl TwilioStatus {
    pub fn parse(s: &str) -> Self {
        match s {
            "accepted" => Self::Accepted,
            "scheduled" => Self::Scheduled,
            "queued" => Self::Queued,
            "sending" => Self::Sending,
            "sent" => Self::Sent,
            "delivered" => Self::Delivered,
            "undelivered" => Self::Undelivered,
            "failed" => Self::Failed,
            "read" => Self::Read,
            "receiving" => Self::Receiving,
            "received" => Self::Received,
            "canceled" => Self::Canceled,
            "partially_delivered" => Self::PartiallyDelivered,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Accepted => "accepted",
            Self::Scheduled => "scheduled",
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Undelivered => "undelivered",
            Self::Failed => "failed",
            Self::Read => "read",
            Self::Receiving => "receiving",
            Self::Received => "received",
            Self::Canceled => "canceled",
            Self::PartiallyDelivered => "partially_delivered",
            Self::Other(s) => s,
        }
    }

    /// Parley's status for this one. Everything before the carrier has it (accepted, scheduled,
    /// queued, sending) is `Queued`; a canceled scheduled message never left, so it is `Failed`;
    /// a group MMS delivered to some recipients counts as `Delivered`. `None` for unknown names.
    pub fn entry_status(&self) -> Option<EntryStatus> {
        Some(match self {
            Self::Accepted | Self::Scheduled | Self::Queued | Self::Sending => EntryStatus::Queued,
            Self::Sent => EntryStatus::Sent,
            Self::Delivered | Self::PartiallyDelivered => EntryStatus::Delivered,
            Self::Read => EntryStatus::Read,
            Self::Undelivered => EntryStatus::Undelivered,
            Self::Failed | Self::Canceled => EntryStatus::Failed,
            Self::Receiving | Self::Received => EntryStatus::Received,
            Self::Other(_) => return None,
        })
    }
}

/// The status word Twilio's Messages API shows (and calls back) for an entry's status.
pub fn api_status(status: EntryStatus) -> &'static str {
    match status {
        EntryStatus::Received => "received",
        EntryStatus::Queued => "queued",
        EntryStatus::Unknown => "sending",
        EntryStatus::Sent => "sent",
        EntryStatus::Delivered => "delivered",
        EntryStatus::Read => "read",
        EntryStatus::Undelivered => "undelivered",
        EntryStatus::Failed => "failed",
    }
}

/// The API statuses a message reached before `status` when it reached them, in the order they
/// are called back: a receiver sees `sent` before `delivered`, and `delivered` before `read`.
pub fn api_statuses_before(status: &str) -> &'static [&'static str] {
    match status {
        "delivered" | "undelivered" | "failed" => &["sent"],
        "read" => &["sent", "delivered"],
        _ => &[],
    }
}

/// One status callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCallback {
    /// The SID returned when the message was created: how the callback finds its entry.
    pub message_sid: String,
    pub account_sid: String,
    pub messaging_service_sid: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// `MessageStatus` (or the legacy `SmsStatus`).
    pub status: TwilioStatus,
    /// Present when Twilio sent a non-empty `ErrorCode`.
    pub error: Option<ProviderError>,
    /// Fields this parser does not model, in wire order.
    pub extra: Vec<(String, String)>,
}

impl StatusCallback {
    /// Reads a raw `application/x-www-form-urlencoded` body.
    pub fn parse(body: &[u8]) -> Result<Self, ParseError> {
        Self::from_form(FormParams::parse(body)?)
    }

    /// Reads an already decoded form.
    pub fn from_form(form: FormParams) -> Result<Self, ParseError> {
        let mut f = Fields::new(form);
        let message_sid = message_sid(&mut f)?;
        let account_sid = f.required_sid("AccountSid")?;
        let messaging_service_sid = f.optional_sid("MessagingServiceSid")?;
        let from = f.optional("From")?;
        let to = f.optional("To")?;
        let status = match (f.optional("MessageStatus")?, f.optional("SmsStatus")?) {
            (Some(s), _) | (None, Some(s)) => TwilioStatus::parse(&s),
            (None, None) => return Err(ParseError::MissingField("MessageStatus")),
        };
        let message = f.optional("ErrorMessage")?;
        let error = match f.optional("ErrorCode")? {
            Some(code) => {
                let n = parse_u64("ErrorCode", &code)?;
                let n = u32::try_from(n).map_err(|_| ParseError::InvalidField {
                    field: "ErrorCode".to_owned(),
                    reason: "number too large".to_owned(),
                })?;
                Some(ProviderError::from_twilio(n, message))
            }
            None => None,
        };
        Ok(Self {
            message_sid,
            account_sid,
            messaging_service_sid,
            from,
            to,
            status,
            error,
            extra: f.into_rest(),
        })
    }

    /// Parley's status for this callback; see [`TwilioStatus::entry_status`].
    pub fn entry_status(&self) -> Option<EntryStatus> {
        self.status.entry_status()
    }

    /// Twilio reported that the recipient unsubscribed (21610): the caller records an opt-out.
    pub fn recipient_opted_out(&self) -> bool {
        self.error.as_ref().is_some_and(|e| e.opt_out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_core::ErrorCode;

    #[test]
    fn later_statuses_follow_the_earlier_ones() {
        assert_eq!(api_statuses_before("sent"), [] as [&str; 0]);
        assert_eq!(api_statuses_before("delivered"), ["sent"]);
        assert_eq!(api_statuses_before("failed"), ["sent"]);
        assert_eq!(api_statuses_before("read"), ["sent", "delivered"]);
        assert_eq!(api_statuses_before("queued"), [] as [&str; 0]);
    }

    fn cb(status: &str, code: Option<&str>) -> String {
        let mut s = format!(
            "SmsSid=SM1&SmsStatus={status}&MessageStatus={status}&To=%2B447400123456\
             &MessagingServiceSid=MG1&MessageSid=SM1&AccountSid=AC1&From=%2B14155550100&ApiVersion=2010-04-01"
        );
        if let Some(c) = code {
            s.push_str(&format!("&ErrorCode={c}&ErrorMessage=Something+failed"));
        }
        s
    }

    #[test]
    fn maps_every_known_status() {
        let cases = [
            ("accepted", Some(EntryStatus::Queued)),
            ("scheduled", Some(EntryStatus::Queued)),
            ("queued", Some(EntryStatus::Queued)),
            ("sending", Some(EntryStatus::Queued)),
            ("sent", Some(EntryStatus::Sent)),
            ("delivered", Some(EntryStatus::Delivered)),
            ("partially_delivered", Some(EntryStatus::Delivered)),
            ("read", Some(EntryStatus::Read)),
            ("undelivered", Some(EntryStatus::Undelivered)),
            ("failed", Some(EntryStatus::Failed)),
            ("canceled", Some(EntryStatus::Failed)),
            ("receiving", Some(EntryStatus::Received)),
            ("received", Some(EntryStatus::Received)),
            ("teleported", None),
        ];
        for (name, want) in cases {
            let c = StatusCallback::parse(cb(name, None).as_bytes()).unwrap();
            assert_eq!(c.entry_status(), want, "{name}");
            assert_eq!(c.status.as_str(), name);
            assert_eq!(c.error, None);
        }
    }

    #[test]
    fn unsubscribed_recipient_flags_the_opt_out() {
        let c = StatusCallback::parse(cb("undelivered", Some("21610")).as_bytes()).unwrap();
        let e = c.error.clone().unwrap();
        assert_eq!(e.code, ErrorCode::RecipientBlockedUs);
        assert_eq!(e.provider_code, "21610");
        assert_eq!(e.message.as_deref(), Some("Something failed"));
        assert!(c.recipient_opted_out());
        assert_eq!(c.entry_status(), Some(EntryStatus::Undelivered));
        assert_eq!(
            c.extra,
            vec![("ApiVersion".to_owned(), "2010-04-01".to_owned())]
        );
    }

    #[test]
    fn spam_and_whatsapp_window_codes_map() {
        let spam = StatusCallback::parse(cb("failed", Some("30007")).as_bytes()).unwrap();
        assert_eq!(spam.error.unwrap().code, ErrorCode::FlaggedAsSpam);
        let window = StatusCallback::parse(cb("failed", Some("63016")).as_bytes()).unwrap();
        assert_eq!(window.error.as_ref().unwrap().code, ErrorCode::WindowClosed);
        assert!(!window.recipient_opted_out());
    }

    #[test]
    fn empty_error_code_is_no_error_and_bad_ones_are_refused() {
        let c =
            StatusCallback::parse(b"MessageSid=SM1&AccountSid=AC1&MessageStatus=sent&ErrorCode=")
                .unwrap();
        assert_eq!(c.error, None);
        assert!(matches!(
            StatusCallback::parse(
                b"MessageSid=SM1&AccountSid=AC1&MessageStatus=failed&ErrorCode=3000x"
            ),
            Err(ParseError::InvalidField { .. })
        ));
        assert!(matches!(
            StatusCallback::parse(
                b"MessageSid=SM1&AccountSid=AC1&MessageStatus=failed&ErrorCode=99999999999"
            ),
            Err(ParseError::InvalidField { .. })
        ));
        assert_eq!(
            StatusCallback::parse(b"MessageSid=SM1&AccountSid=AC1"),
            Err(ParseError::MissingField("MessageStatus"))
        );
        assert_eq!(
            StatusCallback::parse(b"AccountSid=AC1&MessageStatus=sent"),
            Err(ParseError::MissingField("MessageSid"))
        );
    }

    #[test]
    fn legacy_sms_status_alone_is_read() {
        let c = StatusCallback::parse(b"SmsSid=SM1&AccountSid=AC1&SmsStatus=delivered").unwrap();
        assert_eq!(c.status, TwilioStatus::Delivered);
        assert_eq!(c.from, None);
    }
}
