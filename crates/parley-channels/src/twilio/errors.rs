//! Twilio error codes mapped onto Parley's public catalogue (DESIGN.md section 6).
//!
//! One table, [`map_error_code`], serves both places a Twilio code shows up: the `ErrorCode` of a
//! status callback and the `code` of a failed REST API call. The Twilio code itself is always kept
//! beside the catalogue code ([`ProviderError::provider_code`]), so the mapping can be refined
//! without losing history. Codes the table does not know become 0002, not retried.

use parley_core::ErrorCode;

/// What Parley does with one Twilio error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorMapping {
    /// The catalogue code agents and the API see.
    pub code: ErrorCode,
    /// Whether sending the same message again later may succeed (rate limits, outages); permanent
    /// failures are not retried.
    pub retryable: bool,
    /// Twilio says the recipient has opted out (replied STOP to this sender): the caller must record
    /// the opt-out for this messaging user, not just fail the message.
    pub opt_out: bool,
}

/// A Twilio failure as Parley stores it: the catalogue mapping with the original kept beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderError {
    pub code: ErrorCode,
    /// Twilio's own code, as sent ("21610").
    pub provider_code: String,
    /// Twilio's message, when it sent a non-empty one.
    pub message: Option<String>,
    pub retryable: bool,
    pub opt_out: bool,
}

impl ProviderError {
    /// Maps a numeric Twilio code through [`map_error_code`].
    pub fn from_twilio(code: u32, message: Option<String>) -> Self {
        let m = map_error_code(code);
        Self {
            code: m.code,
            provider_code: code.to_string(),
            message: message.filter(|s| !s.trim().is_empty()),
            retryable: m.retryable,
            opt_out: m.opt_out,
        }
    }
}

const fn permanent(code: ErrorCode) -> ErrorMapping {
    ErrorMapping {
        code,
        retryable: false,
        opt_out: false,
    }
}

const fn transient(code: ErrorCode) -> ErrorMapping {
    ErrorMapping {
        code,
        retryable: true,
        opt_out: false,
    }
}

/// The mapping table. Choices where the catalogue leaves room (AMB-30):
///
/// | Twilio | meaning | catalogue | retry |
/// |---|---|---|---|
/// | 21610 | recipient replied STOP (unsubscribed) | 2002, **opt-out** | no |
/// | 21211, 21614 | invalid / not a mobile 'To' number | 2001 | no |
/// | 21612 | 'To' not reachable from this sender | 2001 | no |
/// | 21408 | no permission for the 'To' region (geo permissions) | 0003 | no |
/// | 21606, 21212, 21659, 21660 | 'From' not usable by this account | 1002 | no |
/// | 21602 | empty body | 3001 | no |
/// | 21617 | body over 1600 characters | 3004 | no |
/// | 21620 | invalid media URL | 3002 | no |
/// | 21623 | too many media | 3006 | no |
/// | 30019 | media larger than the carrier accepts | 3005 | no |
/// | 21611, 30001 | sender queue full / queue overflow | 0005 | yes |
/// | 30002 | account suspended | 0003 | no |
/// | 30003 | unreachable handset | 2001 | no |
/// | 30004 | blocked by carrier or recipient | 2004 | no |
/// | 30005, 30006, 63024, 63003 | unknown handset, landline, invalid channel address | 2001 | no |
/// | 30007, 30038 | carrier filtering (spam) | 3003 | no |
/// | 30008, 30009 | unknown error, missing segment | 0002 | yes |
/// | 30010 | price above the configured maximum | 0003 | no |
/// | 30022, 63018 | sender or channel rate limit | 0005 | yes |
/// | 30032, 30034 | toll-free unverified, 10DLC unregistered | 1003 | no |
/// | 30023 | 10DLC daily cap reached | 0005 | yes |
/// | 63016 | WhatsApp outside the 24-hour window | 0004 | no |
/// | 20003 | authentication failed | 0003 | no |
/// | 20429 | API request rate limit | 0001 | yes |
/// | 20500, 20503 | Twilio internal error / unavailable | 0001 | yes |
///
/// Any other code maps to 0002 without retry: an unrecognised failure is shown, never looped on.
pub const fn map_error_code(code: u32) -> ErrorMapping {
    use ErrorCode as E;
    match code {
        21610 => ErrorMapping {
            code: E::RecipientBlockedUs,
            retryable: false,
            opt_out: true,
        },
        21211 | 21614 | 21612 => permanent(E::DestinationInvalid),
        21408 => permanent(E::ServiceMisconfigured),
        21606 | 21212 | 21659 | 21660 => permanent(E::SourceInvalid),
        21602 => permanent(E::ContentRejected),
        21617 => permanent(E::BodyTooLarge),
        21620 => permanent(E::AttachmentTypeUnsupported),
        21623 => permanent(E::TooManyAttachments),
        30019 => permanent(E::AttachmentTooLarge),
        21611 | 30001 => transient(E::ChannelUnavailable),
        30002 => permanent(E::ServiceMisconfigured),
        30003 => permanent(E::DestinationInvalid),
        30004 => permanent(E::CarrierBlocked),
        30005 | 30006 | 63024 | 63003 => permanent(E::DestinationInvalid),
        30007 | 30038 => permanent(E::FlaggedAsSpam),
        30008 | 30009 => transient(E::ServiceError),
        30010 => permanent(E::ServiceMisconfigured),
        30022 | 63018 | 30023 => transient(E::ChannelUnavailable),
        30032 | 30034 => permanent(E::SourceUnverified),
        63016 => permanent(E::WindowClosed),
        20003 => permanent(E::ServiceMisconfigured),
        20429 | 20500 | 20503 => transient(E::ServiceUnavailable),
        _ => permanent(E::ServiceError),
    }
}

/// The Twilio error code Parley's Twilio-compatible Messages API answers for a catalogue code
/// (the reverse direction of [`map_error_code`]): the exclusion, when the send was refused for
/// one, says more than the catalogue code (out of country and an invalid number are both 2001).
/// One table, used for refused sends and for failures reported later (status and callbacks).
pub fn api_error_code(
    code: ErrorCode,
    exclusion: Option<parley_core::campaign::eligibility::Exclusion>,
) -> u32 {
    use parley_core::campaign::eligibility::Exclusion as X;
    match (exclusion, code) {
        (Some(X::OptedOut | X::NoConsent | X::ConsentTooLow | X::NotExplicitlyOptedIn), _) => {
            21610
        }
        (Some(X::NoMessagingUser), _) => 21610,
        (Some(X::OutOfCountry), _) => 21408,
        (Some(X::OutsideCareWindow), _) | (_, ErrorCode::WindowClosed) => 63016,
        (Some(X::InvalidNumber), _) | (_, ErrorCode::DestinationInvalid) => 21211,
        (_, ErrorCode::RecipientBlockedUs) => 21610,
        (_, ErrorCode::CarrierBlocked) => 30007,
        (_, ErrorCode::BodyTooLarge) => 21617,
        (_, ErrorCode::FlaggedAsSpam) => 30007,
        (_, ErrorCode::ContentRejected) => 30007,
        (_, ErrorCode::AttachmentTypeUnsupported) => 21623,
        (_, ErrorCode::AttachmentTooLarge) => 11751,
        (_, ErrorCode::TooManyAttachments) => 21623,
        (_, ErrorCode::SourceInvalid | ErrorCode::SourceRejected) => 21606,
        (_, ErrorCode::SourceUnverified | ErrorCode::SourceBlocked) => 30034,
        (_, ErrorCode::ServiceUnavailable | ErrorCode::ChannelUnavailable) => 30001,
        (_, ErrorCode::SessionControlledElsewhere) => 30008,
        (_, ErrorCode::ServiceError | ErrorCode::ServiceMisconfigured) => 30008,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_codes_map_as_documented() {
        let cases: &[(u32, &str, bool)] = &[
            (21610, "2002", false),
            (21211, "2001", false),
            (21614, "2001", false),
            (21408, "0003", false),
            (21612, "2001", false),
            (30003, "2001", false),
            (30004, "2004", false),
            (30005, "2001", false),
            (30006, "2001", false),
            (30007, "3003", false),
            (30008, "0002", true),
            (63016, "0004", false),
            (20429, "0001", true),
            (20003, "0003", false),
            (21617, "3004", false),
            (21623, "3006", false),
            (30019, "3005", false),
            (30022, "0005", true),
        ];
        for &(twilio, ours, retry) in cases {
            let m = map_error_code(twilio);
            assert_eq!(m.code.code(), ours, "{twilio}");
            assert_eq!(m.retryable, retry, "{twilio}");
            assert_eq!(m.opt_out, twilio == 21610, "{twilio}");
        }
    }

    #[test]
    fn unknown_codes_are_permanent_service_errors() {
        assert_eq!(map_error_code(20404), permanent(ErrorCode::ServiceError));
        assert_eq!(map_error_code(39999), permanent(ErrorCode::ServiceError));
        assert_eq!(map_error_code(0), permanent(ErrorCode::ServiceError));
    }

    #[test]
    fn provider_error_keeps_the_original() {
        let e = ProviderError::from_twilio(21610, Some("Unsubscribed recipient".into()));
        assert_eq!(e.code, ErrorCode::RecipientBlockedUs);
        assert_eq!(e.provider_code, "21610");
        assert!(e.opt_out);
        assert_eq!(e.message.as_deref(), Some("Unsubscribed recipient"));
        assert_eq!(
            ProviderError::from_twilio(30007, Some(" ".into())).message,
            None
        );
    }

    #[test]
    fn api_codes_name_the_exclusion_before_the_catalogue_code() {
        use parley_core::campaign::eligibility::Exclusion;
        let out = super::api_error_code(ErrorCode::DestinationInvalid, Some(Exclusion::OutOfCountry));
        assert_eq!(out, 21408);
        assert_eq!(super::api_error_code(ErrorCode::DestinationInvalid, None), 21211);
        assert_eq!(super::api_error_code(ErrorCode::RecipientBlockedUs, Some(Exclusion::OptedOut)), 21610);
        assert_eq!(super::api_error_code(ErrorCode::WindowClosed, None), 63016);
        assert_eq!(super::api_error_code(ErrorCode::BodyTooLarge, None), 21617);
    }
}
