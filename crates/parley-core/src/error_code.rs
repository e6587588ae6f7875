//! The public error vocabulary of DESIGN.md section 6 (inventory ERR). Every provider error maps to
//! one of these; the provider's own code is kept beside it on the entry.

use serde::{Deserialize, Serialize};

/// A catalogue error code. The wire form is the four-digit string with leading zeros ("0001");
/// there is no 2003 (ERR-01).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorCode {
    #[serde(rename = "0001")]
    ServiceUnavailable,
    #[serde(rename = "0002")]
    ServiceError,
    #[serde(rename = "0003")]
    ServiceMisconfigured,
    #[serde(rename = "0004")]
    WindowClosed,
    #[serde(rename = "0005")]
    ChannelUnavailable,
    #[serde(rename = "0006")]
    SessionControlledElsewhere,
    #[serde(rename = "1001")]
    SourceRejected,
    #[serde(rename = "1002")]
    SourceInvalid,
    #[serde(rename = "1003")]
    SourceUnverified,
    #[serde(rename = "1004")]
    SourceBlocked,
    #[serde(rename = "2001")]
    DestinationInvalid,
    #[serde(rename = "2002")]
    RecipientBlockedUs,
    #[serde(rename = "2004")]
    CarrierBlocked,
    #[serde(rename = "3001")]
    ContentRejected,
    #[serde(rename = "3002")]
    AttachmentTypeUnsupported,
    #[serde(rename = "3003")]
    FlaggedAsSpam,
    #[serde(rename = "3004")]
    BodyTooLarge,
    #[serde(rename = "3005")]
    AttachmentTooLarge,
    #[serde(rename = "3006")]
    TooManyAttachments,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 19] = [
        Self::ServiceUnavailable,
        Self::ServiceError,
        Self::ServiceMisconfigured,
        Self::WindowClosed,
        Self::ChannelUnavailable,
        Self::SessionControlledElsewhere,
        Self::SourceRejected,
        Self::SourceInvalid,
        Self::SourceUnverified,
        Self::SourceBlocked,
        Self::DestinationInvalid,
        Self::RecipientBlockedUs,
        Self::CarrierBlocked,
        Self::ContentRejected,
        Self::AttachmentTypeUnsupported,
        Self::FlaggedAsSpam,
        Self::BodyTooLarge,
        Self::AttachmentTooLarge,
        Self::TooManyAttachments,
    ];

    /// The four-digit code as stored and shown.
    pub const fn code(self) -> &'static str {
        match self {
            Self::ServiceUnavailable => "0001",
            Self::ServiceError => "0002",
            Self::ServiceMisconfigured => "0003",
            Self::WindowClosed => "0004",
            Self::ChannelUnavailable => "0005",
            Self::SessionControlledElsewhere => "0006",
            Self::SourceRejected => "1001",
            Self::SourceInvalid => "1002",
            Self::SourceUnverified => "1003",
            Self::SourceBlocked => "1004",
            Self::DestinationInvalid => "2001",
            Self::RecipientBlockedUs => "2002",
            Self::CarrierBlocked => "2004",
            Self::ContentRejected => "3001",
            Self::AttachmentTypeUnsupported => "3002",
            Self::FlaggedAsSpam => "3003",
            Self::BodyTooLarge => "3004",
            Self::AttachmentTooLarge => "3005",
            Self::TooManyAttachments => "3006",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }

    /// What an agent reads next to a failed message.
    pub const fn message(self) -> &'static str {
        match self {
            Self::ServiceUnavailable | Self::ServiceError => {
                "Can't contact the messaging service right now. Try again later."
            }
            Self::ServiceMisconfigured => {
                "Can't contact the messaging service right now. Ask your admin to check the channel settings."
            }
            Self::WindowClosed => {
                "This message timed out. You can't contact this user until they contact you again."
            }
            Self::ChannelUnavailable => {
                "Can't send messages on this channel right now. Try again later."
            }
            Self::SessionControlledElsewhere => {
                "We couldn't send this message because another app is controlling the messaging session."
            }
            Self::SourceRejected | Self::SourceInvalid => {
                "Can't send messages from this channel. Ask your admin to check the channel settings."
            }
            Self::SourceUnverified => {
                "Can't send messages from this channel because the channel's phone number isn't verified."
            }
            Self::SourceBlocked => {
                "Can't send messages from this channel because the channel's phone number is blocked."
            }
            Self::DestinationInvalid => {
                "Can't send messages to this number. Make sure that the contact information is correct and try again."
            }
            Self::RecipientBlockedUs => {
                "Can't send messages to this recipient because they blocked you."
            }
            Self::CarrierBlocked => {
                "Messages to this recipient are getting blocked by their carrier. Try contacting them another way."
            }
            Self::ContentRejected => "Can't send this message. Try rewriting the message.",
            Self::AttachmentTypeUnsupported => {
                "Can't send attached files because the file types aren't supported."
            }
            Self::FlaggedAsSpam => {
                "Can't send this message because the message body is flagged as spam."
            }
            Self::BodyTooLarge => "Can't send this message because the message body is too large.",
            Self::AttachmentTooLarge => {
                "Can't send this message because the attachment is too large."
            }
            Self::TooManyAttachments => "The message has exceeded the number of attachments limit.",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.code()), "duplicate {}", c.code());
            assert_eq!(ErrorCode::from_code(c.code()), Some(c));
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.code())
            );
        }
        assert_eq!(ErrorCode::from_code("2003"), None);
    }
}
