//! WhatsApp Cloud API error codes mapped onto Parley's public catalogue (DESIGN.md section 6).
//!
//! The same codes come back in `statuses[].errors[]` of a webhook and in the error body of a
//! failed Graph API send, so one table, [`map_error_code`], serves both; the original code, title
//! and details are always kept ([`ProviderError`]).

use parley_core::ErrorCode;

/// What Parley does with one Meta error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorMapping {
    pub code: ErrorCode,
    /// Whether sending the same message again later may succeed (throughput and rate limits,
    /// transient platform errors).
    pub retryable: bool,
}

/// A Meta failure as Parley stores it: the catalogue mapping with the original beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderError {
    pub code: ErrorCode,
    /// Meta's numeric code, as text ("131047").
    pub provider_code: String,
    pub title: Option<String>,
    pub message: Option<String>,
    /// `error_data.details`, Meta's most specific explanation.
    pub details: Option<String>,
    pub retryable: bool,
}

impl ProviderError {
    pub fn from_meta(
        code: i64,
        title: Option<String>,
        message: Option<String>,
        details: Option<String>,
    ) -> Self {
        let m = map_error_code(code);
        Self {
            code: m.code,
            provider_code: code.to_string(),
            title,
            message,
            details,
            retryable: m.retryable,
        }
    }
}

const fn permanent(code: ErrorCode) -> ErrorMapping {
    ErrorMapping {
        code,
        retryable: false,
    }
}

const fn transient(code: ErrorCode) -> ErrorMapping {
    ErrorMapping {
        code,
        retryable: true,
    }
}

/// The mapping table. Choices where the catalogue leaves room (AMB-30):
///
/// | Meta | meaning | catalogue | retry |
/// |---|---|---|---|
/// | 131047 | re-engagement: more than 24 h since the customer wrote | 0004 | no |
/// | 131026 | message undeliverable (no WhatsApp, old app, ...) | 2001 | no |
/// | 131021 | recipient is the sender | 2001 | no |
/// | 130429, 131056, 80007 | throughput, pair or account rate limit | 0005 | yes |
/// | 131048 | spam rate limit | 3003 | no |
/// | 131049 | held back "to maintain healthy ecosystem engagement" | 2004 | no |
/// | 130472 | recipient is in a Meta experiment | 2004 | no |
/// | 131050 | recipient stopped marketing messages from us | 2002 | no |
/// | 131051, 131052, 131053 | unsupported message type, media download / upload error | 3002 | no |
/// | 100, 131008, 131009, 135000 | invalid or missing parameter, generic user error | 3001 | no |
/// | 132000, 132007, 132012, 132018, other 132xxx | template parameters or content | 3001 | no |
/// | 132005 | template text too long once filled | 3004 | no |
/// | 132001, 132015, 132016, 132068 | template missing, paused, disabled; flow blocked | 0003 | no |
/// | 132069 | flow throttled | 0005 | yes |
/// | 0, 3, 10, 190, 200-299, 131005, 131042, 131055, 130497, 133xxx | auth, permission, payment, country or registration setup | 0003 | no |
/// | 131031, 368 | business account locked or restricted | 1004 | no |
/// | 131037, 131045 | display name not approved, number not registered | 1003 | no |
/// | 1, 2, 4, 131016, 131057 | unknown API error, service down, app rate limit, maintenance | 0001 | yes |
/// | 131000 | "something went wrong" | 0002 | yes |
///
/// Any other code maps to 0002 without retry.
pub const fn map_error_code(code: i64) -> ErrorMapping {
    use ErrorCode as E;
    match code {
        131047 => permanent(E::WindowClosed),
        131026 | 131021 => permanent(E::DestinationInvalid),
        130429 | 131056 | 80007 => transient(E::ChannelUnavailable),
        131048 => permanent(E::FlaggedAsSpam),
        131049 | 130472 => permanent(E::CarrierBlocked),
        131050 => permanent(E::RecipientBlockedUs),
        131051..=131053 => permanent(E::AttachmentTypeUnsupported),
        100 | 131008 | 131009 | 135000 => permanent(E::ContentRejected),
        132005 => permanent(E::BodyTooLarge),
        132001 | 132015 | 132016 | 132068 => permanent(E::ServiceMisconfigured),
        132069 => transient(E::ChannelUnavailable),
        132000..=132999 => permanent(E::ContentRejected),
        0 | 3 | 10 | 190 | 200..=299 | 131005 | 131042 | 131055 | 130497 => {
            permanent(E::ServiceMisconfigured)
        }
        133000..=133999 => permanent(E::ServiceMisconfigured),
        131031 | 368 => permanent(E::SourceBlocked),
        131037 | 131045 => permanent(E::SourceUnverified),
        1 | 2 | 4 | 131016 | 131057 => transient(E::ServiceUnavailable),
        131000 => transient(E::ServiceError),
        _ => permanent(E::ServiceError),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_codes_map_as_documented() {
        let cases: &[(i64, &str, bool)] = &[
            (131047, "0004", false),
            (131026, "2001", false),
            (130429, "0005", true),
            (131049, "2004", false),
            (131051, "3002", false),
            (132000, "3001", false),
            (132001, "0003", false),
            (132005, "3004", false),
            (132999, "3001", false),
            (131048, "3003", false),
            (131050, "2002", false),
            (133010, "0003", false),
            (131016, "0001", true),
            (131000, "0002", true),
            (190, "0003", false),
        ];
        for &(meta, ours, retry) in cases {
            let m = map_error_code(meta);
            assert_eq!(m.code.code(), ours, "{meta}");
            assert_eq!(m.retryable, retry, "{meta}");
        }
        assert_eq!(map_error_code(-5), permanent(ErrorCode::ServiceError));
        assert_eq!(map_error_code(999_999), permanent(ErrorCode::ServiceError));
    }

    #[test]
    fn provider_error_keeps_the_original() {
        let e = ProviderError::from_meta(
            131047,
            Some("Re-engagement message".into()),
            None,
            Some("more than 24 hours".into()),
        );
        assert_eq!(e.code, ErrorCode::WindowClosed);
        assert_eq!(e.provider_code, "131047");
        assert_eq!(e.details.as_deref(), Some("more than 24 hours"));
        assert!(!e.retryable);
    }
}
