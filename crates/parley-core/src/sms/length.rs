//! Message body length limits per channel: DESIGN.md section 5 "Lengths (AMB-01)", settling
//! inventory CH-29 (840 characters for SMS and the composer; WhatsApp 1,600 Std / 4,096 Enh;
//! Messenger 2,000) against SMS-04 (at most 6 concatenated segments). Longer bodies are refused with
//! error 3004 ([`ErrorCode::BodyTooLarge`]).
//!
//! "Characters" here are Unicode scalar values on every channel: what Rust's `str::chars` and
//! JavaScript's `[...text]` count. An emoji outside the BMP is one character (two UTF-16 units),
//! a ZWJ family emoji is as many characters as it has code points, and a decomposed accent is two.
//! Scalar values are stable across Unicode versions (grapheme clusters are not) and never undercount
//! what a provider receives.

use serde::Serialize;

use super::{Encoding, SmsAnalysis, analyze};
use crate::ErrorCode;
use crate::model::ChannelKind;

/// SMS: at most this many characters (CH-29, AMB-01).
pub const SMS_MAX_CHARACTERS: usize = 840;
/// SMS: at most this many concatenated segments (SMS-04, AMB-01): 918 GSM septets or 402 UCS-2
/// units.
pub const SMS_MAX_SEGMENTS: usize = 6;
/// WhatsApp: the Enhanced limit of CH-29, as DESIGN.md section 5 decides.
pub const WHATSAPP_MAX_CHARACTERS: usize = 4096;
/// Messenger (CH-29, FB Enh outbound).
pub const MESSENGER_MAX_CHARACTERS: usize = 2000;
/// Web messaging (DESIGN.md section 5).
pub const WEB_MAX_CHARACTERS: usize = 4096;

/// The most characters a body may have on a channel of `kind`.
pub const fn max_characters(kind: ChannelKind) -> usize {
    match kind {
        ChannelKind::Sms => SMS_MAX_CHARACTERS,
        ChannelKind::Whatsapp => WHATSAPP_MAX_CHARACTERS,
        ChannelKind::Messenger => MESSENGER_MAX_CHARACTERS,
        ChannelKind::Web => WEB_MAX_CHARACTERS,
    }
}

/// A body that fits its channel, with the numbers a composer shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct BodyLength {
    /// Unicode scalar values in the body.
    pub characters: usize,
    /// The channel's character limit.
    pub max_characters: usize,
    /// Encoding and segments, for SMS only.
    pub sms: Option<SmsAnalysis>,
}

/// A body too long for its channel. Every variant is error 3004, see [`LengthError::error_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LengthError {
    #[error("the message has {characters} characters; {kind} allows at most {max}")]
    TooManyCharacters {
        kind: ChannelKind,
        characters: usize,
        max: usize,
    },
    #[error(
        "the message needs {segments} {name} segments; SMS allows at most {max} \
         (about {max_units} {name} units)",
        name = .encoding.label()
    )]
    TooManySegments {
        encoding: Encoding,
        segments: usize,
        max: usize,
        max_units: usize,
    },
}

impl LengthError {
    /// The catalogue code for every length refusal: 3004, "message body is too large".
    pub const fn error_code(&self) -> ErrorCode {
        ErrorCode::BodyTooLarge
    }
}

/// Checks `text` against the limits of a channel of `kind` (DESIGN.md section 5 "Lengths", AMB-01,
/// settling CH-29 and SMS-04): SMS at most 840 characters and at most 6 segments; WhatsApp 4,096,
/// Messenger 2,000 and web 4,096 characters. Characters are Unicode scalar values (see the module
/// doc). A refusal is error 3004 ([`LengthError::error_code`]).
///
/// SMS must satisfy both rules; when both fail the segment rule is reported, since for UCS-2 text
/// it is the one that binds (402 units long before 840 characters).
pub fn check_length(kind: ChannelKind, text: &str) -> Result<BodyLength, LengthError> {
    let max = max_characters(kind);
    let (characters, sms) = match kind {
        ChannelKind::Sms => {
            let analysis = analyze(text);
            if analysis.segments > SMS_MAX_SEGMENTS {
                return Err(LengthError::TooManySegments {
                    encoding: analysis.encoding,
                    segments: analysis.segments,
                    max: SMS_MAX_SEGMENTS,
                    max_units: analysis
                        .encoding
                        .concatenated_segment_units()
                        .saturating_mul(SMS_MAX_SEGMENTS),
                });
            }
            (analysis.characters, Some(analysis))
        }
        ChannelKind::Whatsapp | ChannelKind::Messenger | ChannelKind::Web => {
            (text.chars().count(), None)
        }
    };
    if characters > max {
        return Err(LengthError::TooManyCharacters {
            kind,
            characters,
            max,
        });
    }
    Ok(BodyLength {
        characters,
        max_characters: max,
        sms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sms_840_gsm_characters_fit_841_do_not() {
        let ok = check_length(ChannelKind::Sms, &"a".repeat(840)).unwrap();
        assert_eq!(ok.characters, 840);
        assert_eq!(ok.sms.unwrap().segments, 6);
        let err = check_length(ChannelKind::Sms, &"a".repeat(841)).unwrap_err();
        assert_eq!(
            err,
            LengthError::TooManyCharacters {
                kind: ChannelKind::Sms,
                characters: 841,
                max: 840
            }
        );
        assert_eq!(err.error_code(), ErrorCode::BodyTooLarge);
        assert_eq!(err.error_code().code(), "3004");
    }

    #[test]
    fn sms_extension_characters_can_exceed_six_segments_under_840_characters() {
        // 800 characters, 100 of them '€': 900 septets fits 6 segments of 153 (918).
        let text = format!("{}{}", "a".repeat(700), "€".repeat(100));
        assert_eq!(
            check_length(ChannelKind::Sms, &text)
                .unwrap()
                .sms
                .unwrap()
                .segments,
            6
        );
        // 800 characters, 130 of them '€': 930 septets needs 7 segments.
        let text = format!("{}{}", "a".repeat(670), "€".repeat(130));
        assert_eq!(
            check_length(ChannelKind::Sms, &text).unwrap_err(),
            LengthError::TooManySegments {
                encoding: Encoding::Gsm7,
                segments: 7,
                max: 6,
                max_units: 918
            }
        );
    }

    #[test]
    fn sms_ucs2_is_bound_by_402_units() {
        assert!(check_length(ChannelKind::Sms, &"ж".repeat(402)).is_ok());
        let err = check_length(ChannelKind::Sms, &"ж".repeat(403)).unwrap_err();
        assert!(matches!(
            err,
            LengthError::TooManySegments {
                encoding: Encoding::Ucs2,
                segments: 7,
                ..
            }
        ));
        // Far past both limits, the segment rule is the one reported.
        let err = check_length(ChannelKind::Sms, &"中".repeat(900)).unwrap_err();
        assert!(matches!(err, LengthError::TooManySegments { .. }));
        // A surrogate pair is never split, so a 67-unit segment holds 33 emoji: 198 fit in six
        // segments, and 199 need a seventh although they are only 398 units.
        let ok = check_length(ChannelKind::Sms, &"\u{1F600}".repeat(198)).unwrap();
        assert_eq!((ok.characters, ok.sms.unwrap().segments), (198, 6));
        assert!(matches!(
            check_length(ChannelKind::Sms, &"\u{1F600}".repeat(199)),
            Err(LengthError::TooManySegments { segments: 7, .. })
        ));
    }

    #[test]
    fn other_channels_count_scalar_values() {
        for (kind, max) in [
            (ChannelKind::Whatsapp, 4096),
            (ChannelKind::Messenger, 2000),
            (ChannelKind::Web, 4096),
        ] {
            let ok = check_length(kind, &"\u{1F600}".repeat(max)).unwrap();
            assert_eq!((ok.characters, ok.max_characters, ok.sms), (max, max, None));
            let err = check_length(kind, &"x".repeat(max + 1)).unwrap_err();
            assert_eq!(
                err,
                LengthError::TooManyCharacters {
                    kind,
                    characters: max + 1,
                    max
                }
            );
            assert_eq!(err.error_code(), ErrorCode::BodyTooLarge);
        }
        assert!(check_length(ChannelKind::Web, "").is_ok());
    }

    #[test]
    fn every_kind_has_a_limit() {
        for kind in ChannelKind::ALL {
            assert!(max_characters(*kind) >= SMS_MAX_CHARACTERS);
        }
    }

    #[test]
    fn messages_read_well() {
        let err = check_length(ChannelKind::Sms, &"ж".repeat(500)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the message needs 8 UCS-2 segments; SMS allows at most 6 (about 402 UCS-2 units)"
        );
    }
}
