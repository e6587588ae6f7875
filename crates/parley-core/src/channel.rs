//! What makes a channel's configuration valid, and the throughput it gets when none is set.

use crate::model::{ChannelKind, NumberType};
use crate::phone::E164;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelRuleError {
    #[error(
        "an SMS channel needs a number_type (long_code, toll_free, short_code, shared_short_code)"
    )]
    MissingNumberType,
    #[error("number_type applies to SMS channels only")]
    NumberTypeNotSms,
    #[error("invalid channel address: {0}")]
    InvalidAddress(String),
    #[error(
        "a shared short code channel needs its provider keyword (the first word customers text, e.g. 'baby')"
    )]
    MissingProviderKeyword,
    #[error("only shared short code channels have a provider keyword")]
    ProviderKeywordNotShared,
    #[error("a provider keyword is one word of letters and digits, got '{0}'")]
    InvalidProviderKeyword(String),
    #[error("invalid customer address: {0}")]
    InvalidPlatformKey(String),
    #[error("throughput must be between 1 and 10000 messages per second, got {0}")]
    InvalidThroughput(u32),
}

/// Checks a channel's address against its kind and number type and returns it normalised: E.164
/// for phone numbers, 3-8 digits for short codes (CH-04), a numeric page id for Messenger, and a
/// lowercase slug for a web deployment.
pub fn normalize_address(
    kind: ChannelKind,
    number_type: Option<NumberType>,
    address: &str,
) -> Result<String, ChannelRuleError> {
    let address = address.trim();
    match (kind, number_type) {
        (ChannelKind::Sms, None) => Err(ChannelRuleError::MissingNumberType),
        (ChannelKind::Sms, Some(t)) if t.is_short_code() => {
            let digits = address.len();
            if (3..=8).contains(&digits) && address.bytes().all(|b| b.is_ascii_digit()) {
                Ok(address.to_owned())
            } else {
                Err(ChannelRuleError::InvalidAddress(format!(
                    "a short code is 3 to 8 digits, got '{address}'"
                )))
            }
        }
        (ChannelKind::Sms | ChannelKind::Whatsapp, _) => {
            if kind == ChannelKind::Whatsapp && number_type.is_some() {
                return Err(ChannelRuleError::NumberTypeNotSms);
            }
            E164::parse(address)
                .map(E164::into_string)
                .map_err(|e| ChannelRuleError::InvalidAddress(e.to_string()))
        }
        (_, Some(_)) => Err(ChannelRuleError::NumberTypeNotSms),
        (ChannelKind::Messenger, None) => {
            if !address.is_empty()
                && address.len() <= 32
                && address.bytes().all(|b| b.is_ascii_digit())
            {
                Ok(address.to_owned())
            } else {
                Err(ChannelRuleError::InvalidAddress(format!(
                    "a Messenger channel's address is its numeric page id, got '{address}'"
                )))
            }
        }
        (ChannelKind::Web, None) => {
            let ok = !address.is_empty()
                && address.len() <= 64
                && address
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if ok {
                Ok(address.to_owned())
            } else {
                Err(ChannelRuleError::InvalidAddress(format!(
                    "a web deployment's address is 1-64 lowercase letters, digits or '-', got '{address}'"
                )))
            }
        }
    }
}

/// The provider keyword of a shared short code program (CH-04, KP): required there, refused
/// elsewhere, one word, kept lowercase since matching ignores case.
pub fn normalize_provider_keyword(
    number_type: Option<NumberType>,
    keyword: Option<&str>,
) -> Result<Option<String>, ChannelRuleError> {
    let keyword = keyword.map(str::trim).filter(|k| !k.is_empty());
    match (number_type, keyword) {
        (Some(NumberType::SharedShortCode), None) => Err(ChannelRuleError::MissingProviderKeyword),
        (Some(NumberType::SharedShortCode), Some(k)) => {
            if k.len() <= 32 && k.chars().all(char::is_alphanumeric) {
                Ok(Some(k.to_lowercase()))
            } else {
                Err(ChannelRuleError::InvalidProviderKeyword(k.to_owned()))
            }
        }
        (_, Some(_)) => Err(ChannelRuleError::ProviderKeywordNotShared),
        (_, None) => Ok(None),
    }
}

/// Where a customer's address comes from, which sets how strictly it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// Delivered by the provider: the network vouches for the number, so only its form is
    /// checked, and a WhatsApp user may come as a user id with no number.
    Network,
    /// Typed by a person (an import, the simulator, the API): the number must be valid.
    Person,
}

/// Longest opaque user id accepted (Messenger page-scoped ids, web user ids).
pub const MAX_USER_ID_CHARS: usize = 128;

/// The key of a messaging user on a channel (MU-03): E.164 for SMS and WhatsApp, the platform's
/// own id (1 to 128 characters, trimmed) on Messenger and the web.
pub fn platform_key(
    kind: ChannelKind,
    raw: &str,
    source: KeySource,
) -> Result<String, ChannelRuleError> {
    let raw = raw.trim();
    let opaque = || {
        let n = raw.chars().count();
        if n == 0 || n > MAX_USER_ID_CHARS {
            Err(ChannelRuleError::InvalidPlatformKey(format!(
                "a {kind} user id is 1 to {MAX_USER_ID_CHARS} characters"
            )))
        } else {
            Ok(raw.to_owned())
        }
    };
    match (kind, source) {
        (ChannelKind::Sms | ChannelKind::Whatsapp, KeySource::Person) => E164::parse(raw)
            .map(E164::into_string)
            .map_err(|e| ChannelRuleError::InvalidPlatformKey(e.to_string())),
        (ChannelKind::Sms | ChannelKind::Whatsapp, KeySource::Network) => {
            match E164::from_network(raw) {
                Ok(n) => Ok(n.into_string()),
                Err(_) if kind == ChannelKind::Whatsapp && !raw.starts_with('+') => opaque(),
                Err(e) => Err(ChannelRuleError::InvalidPlatformKey(e.to_string())),
            }
        }
        (ChannelKind::Messenger | ChannelKind::Web, _) => opaque(),
    }
}

/// Messages per second a sender may send: the configured value, or the default for its number
/// type (SMS) or kind.
pub fn effective_throughput(
    kind: ChannelKind,
    number_type: Option<NumberType>,
    configured: Option<u32>,
) -> Result<u32, ChannelRuleError> {
    match configured {
        Some(n) if (1..=10_000).contains(&n) => Ok(n),
        Some(n) => Err(ChannelRuleError::InvalidThroughput(n)),
        None => Ok(number_type.map_or(kind.default_throughput(), NumberType::default_throughput)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sms_addresses_follow_number_type() {
        use ChannelKind::*;
        use NumberType::*;
        assert_eq!(
            normalize_address(Sms, Some(LongCode), "+1 415 555 2671").unwrap(),
            "+14155552671"
        );
        assert_eq!(
            normalize_address(Sms, Some(ShortCode), "11221").unwrap(),
            "11221"
        );
        assert!(normalize_address(Sms, Some(ShortCode), "11a21").is_err());
        assert!(normalize_address(Sms, Some(ShortCode), "123456789").is_err());
        assert_eq!(
            normalize_address(Sms, None, "+14155552671"),
            Err(ChannelRuleError::MissingNumberType)
        );
        assert!(normalize_address(Whatsapp, Some(LongCode), "+14155552671").is_err());
        assert!(normalize_address(Whatsapp, None, "+447700900123").is_err());
        assert_eq!(
            normalize_address(Messenger, None, "10442").unwrap(),
            "10442"
        );
        assert!(normalize_address(Web, None, "Shop Site").is_err());
        assert_eq!(
            normalize_address(Web, None, "shop-site").unwrap(),
            "shop-site"
        );
    }

    #[test]
    fn provider_keywords_only_on_shared_short_codes() {
        use NumberType::*;
        assert_eq!(
            normalize_provider_keyword(Some(SharedShortCode), Some(" Baby ")).unwrap(),
            Some("baby".to_owned())
        );
        assert!(normalize_provider_keyword(Some(SharedShortCode), None).is_err());
        assert!(normalize_provider_keyword(Some(SharedShortCode), Some("two words")).is_err());
        assert!(normalize_provider_keyword(Some(ShortCode), Some("baby")).is_err());
        assert_eq!(normalize_provider_keyword(None, Some("  ")).unwrap(), None);
    }

    #[test]
    fn platform_keys_by_kind_and_source() {
        use ChannelKind::*;
        use KeySource::*;
        assert_eq!(
            platform_key(Sms, " +1 (415) 555-2671 ", Person).unwrap(),
            "+14155552671"
        );
        assert!(
            platform_key(Sms, "+447700900123", Person).is_err(),
            "not a valid number"
        );
        assert_eq!(
            platform_key(Sms, "+447700900123", Network).unwrap(),
            "+447700900123"
        );
        assert!(platform_key(Sms, "447400123456", Network).is_err());
        assert_eq!(
            platform_key(Whatsapp, "US.13491208655302741918", Network).unwrap(),
            "US.13491208655302741918"
        );
        assert!(platform_key(Whatsapp, "US.1349", Person).is_err());
        assert_eq!(
            platform_key(Messenger, " 2495867 ", Person).unwrap(),
            "2495867"
        );
        assert!(platform_key(Web, "", Network).is_err());
        assert!(platform_key(Web, &"x".repeat(129), Network).is_err());
    }

    #[test]
    fn throughput_defaults_by_number_type_then_kind() {
        use ChannelKind::*;
        use NumberType::*;
        assert_eq!(effective_throughput(Sms, Some(LongCode), None).unwrap(), 1);
        assert_eq!(effective_throughput(Sms, Some(TollFree), None).unwrap(), 25);
        assert_eq!(
            effective_throughput(Sms, Some(ShortCode), None).unwrap(),
            100
        );
        assert_eq!(effective_throughput(Whatsapp, None, None).unwrap(), 80);
        assert_eq!(effective_throughput(Messenger, None, None).unwrap(), 250);
        assert_eq!(effective_throughput(Sms, None, Some(7)).unwrap(), 7);
        assert!(effective_throughput(Sms, None, Some(0)).is_err());
    }
}
