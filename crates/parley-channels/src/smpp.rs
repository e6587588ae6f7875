//! SMPP 3.4 `command_status` values (submit_sm_resp, bind_transceiver_resp) mapped to the error
//! catalogue. The raw status is always kept beside the code on the entry (`provider_error`).
//!
//! | command_status | SMPP name | catalogue |
//! |---|---|---|
//! | 0x01 | ESME_RINVMSGLEN | 3004 body too large |
//! | 0x104 | ESME_RINVDCS | 3001 content rejected |
//! | 0x0A, 0x48, 0x49 | ESME_RINVSRCADR, ESME_RINVSRCTON, ESME_RINVSRCNPI | 1002 source invalid |
//! | 0x0B, 0x50, 0x51 | ESME_RINVDSTADR, ESME_RINVDSTTON, ESME_RINVDSTNPI | 2001 destination invalid |
//! | 0x08, 0x14, 0x58, 0x64 | ESME_RSYSERR, ESME_RMSGQFUL, ESME_RTHROTTLED, ESME_RX_T_APPN (transient) | 0001 service unavailable |
//! | 0x04, 0x0D, 0x0E, 0x0F, 0x53 | ESME_RINVBNDSTS, ESME_RBINDFAIL, ESME_RINVPASWD, ESME_RINVSYSID, ESME_RINVSYSTYP | 0003 service misconfigured |
//! | 0x45, 0xFE, 0xFF and every other value | ESME_RSUBMITFAIL, ESME_RDELIVERYFAILURE, ESME_RUNKNOWNERR, ... | 0002 service error |

use parley_core::ErrorCode;
use parley_core::model::{ChannelKind, Provider};
use serde::Deserialize;
use serde_json::Value;

use crate::fields::{FieldKind, FieldSpec, SettingsForm};

use crate::adapter::{
    Capabilities, ChannelConfig, ProviderAdapter, SendPath, SettingsError, optional, read_section,
    required,
};

/// The SMPP port when `settings.port` is not given.
pub const DEFAULT_PORT: u16 = 2775;
/// Submits in flight per bind when `settings.window` is not given.
pub const DEFAULT_WINDOW: usize = 10;

/// `settings` of an SMPP channel. The object also holds the channel's behaviour, so unknown keys
/// are not refused here.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SmppSettings {
    /// The SMSC's host name or address.
    #[serde(default)]
    pub host: Option<String>,
    /// A JSON number or a string of digits.
    #[serde(default)]
    pub port: Option<Value>,
    /// Submits in flight per bind.
    #[serde(default)]
    pub window: Option<Value>,
    #[serde(default)]
    pub system_type: Option<String>,
}

/// `secrets` of an SMPP channel.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmppSecrets {
    #[serde(default)]
    pub system_id: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

/// Everything a bind needs, read from a channel's typed settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmppBind {
    pub host: String,
    pub port: u16,
    pub system_id: String,
    pub password: String,
    pub system_type: String,
    pub window: usize,
}

/// A number written as a JSON number or a string of digits.
fn number(field: &str, v: Option<&Value>) -> Result<Option<u64>, SettingsError> {
    let bad = || SettingsError::new(field, "must be a positive whole number");
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(bad),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

impl SmppSettings {
    pub fn read(channel: &ChannelConfig<'_>) -> Result<Self, SettingsError> {
        let s: Self = read_section("settings", channel.settings)?;
        s.port()?;
        s.window()?;
        Ok(s)
    }

    pub fn port(&self) -> Result<u16, SettingsError> {
        match number("settings.port", self.port.as_ref())? {
            None => Ok(DEFAULT_PORT),
            Some(p) => u16::try_from(p)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| SettingsError::new("settings.port", "must be 1 to 65535")),
        }
    }

    /// A window of 0 or one too large to mean anything falls back to the default.
    pub fn window(&self) -> Result<usize, SettingsError> {
        Ok(number("settings.window", self.window.as_ref())?
            .and_then(|w| usize::try_from(w).ok())
            .filter(|w| *w > 0)
            .unwrap_or(DEFAULT_WINDOW))
    }
}

impl SmppBind {
    /// The bind of a channel: `settings.host` (`port`, `window`, `system_type` optional) and
    /// `secrets.system_id` and `secrets.password`.
    pub fn read(channel: &ChannelConfig<'_>) -> Result<Self, SettingsError> {
        let settings = SmppSettings::read(channel)?;
        let secrets: SmppSecrets = read_section("secrets", channel.secrets)?;
        Ok(Self {
            host: required("settings.host", settings.host.as_deref())?.to_owned(),
            port: settings.port()?,
            system_id: required("secrets.system_id", secrets.system_id.as_deref())?.to_owned(),
            // A password may legitimately be empty; only its absence is a mistake.
            password: secrets
                .password
                .clone()
                .ok_or_else(|| SettingsError::missing("secrets.password"))?,
            system_type: optional(settings.system_type.as_deref())
                .unwrap_or_default()
                .to_owned(),
            window: settings.window()?,
        })
    }
}

/// SMPP 3.4 through the engine's links (`parley-smpp`).
#[derive(Debug, Default)]
pub struct SmppAdapter;

impl ProviderAdapter for SmppAdapter {
    fn id(&self) -> Provider {
        Provider::Smpp
    }

    fn capabilities(&self) -> Capabilities {
        // No MMS over SMPP.
        Capabilities {
            kinds: &[ChannelKind::Sms],
            files: false,
            components: false,
            read_receipts: false,
            care_window: false,
        }
    }

    fn check_settings(&self, channel: &ChannelConfig<'_>) -> Result<(), SettingsError> {
        SmppSettings::read(channel)?;
        read_section::<SmppSecrets>("secrets", channel.secrets)?;
        Ok(())
    }

    fn settings_form(&self, _kind: ChannelKind) -> SettingsForm {
        const SETTINGS: &[FieldSpec] = &[
            FieldSpec::new("host", FieldKind::Text, "channel_settings.help.smpp_host")
                .required()
                .example("smsc.example.com"),
            FieldSpec::new("port", FieldKind::Number, "channel_settings.help.smpp_port").default("2775"),
            FieldSpec::new("system_type", FieldKind::Text, "channel_settings.help.smpp_system_type"),
            FieldSpec::new("window", FieldKind::Number, "channel_settings.help.smpp_window").default("10"),
        ];
        const SECRETS: &[FieldSpec] = &[
            FieldSpec::new("system_id", FieldKind::Secret, "channel_settings.help.smpp_system_id").required(),
            FieldSpec::new("password", FieldKind::Secret, "channel_settings.help.smpp_password").required(),
        ];
        SettingsForm { settings: SETTINGS, secrets: SECRETS }
    }

    fn send_path(&self) -> SendPath {
        SendPath::SmppLink
    }
}

/// The catalogue code for an SMPP `command_status` (see the module's table).
pub const fn error_code_for_command_status(status: u32) -> ErrorCode {
    match status {
        0x01 => ErrorCode::BodyTooLarge,
        0x104 => ErrorCode::ContentRejected,
        0x0A | 0x48 | 0x49 => ErrorCode::SourceInvalid,
        0x0B | 0x50 | 0x51 => ErrorCode::DestinationInvalid,
        0x08 | 0x14 | 0x58 | 0x64 => ErrorCode::ServiceUnavailable,
        0x04 | 0x0D | 0x0E | 0x0F | 0x53 => ErrorCode::ServiceMisconfigured,
        _ => ErrorCode::ServiceError,
    }
}

/// Whether a delivery receipt's `text:` field (`quoted`: the first characters of the message as
/// the SMSC saw it) quotes `body`. It is how a receipt finds a message whose submit_sm_resp was
/// lost, so whose SMSC id was never stored. SMSCs quote either the decoded text or the raw
/// octets with unprintable ones as `.` (the npm SMSC does the latter: UCS-2 text then reads
/// `.H.i`, and a concatenated message's first segment starts with its 6-octet UDH), so a `.`
/// matches any character and both forms are tried. An empty or all-dot quote matches nothing.
pub fn receipt_quotes(quoted: &str, body: &str) -> bool {
    let quoted = quoted.trim_end();
    if quoted.chars().all(|c| c == '.') {
        return false;
    }
    let same = |quote: &str, text: &mut dyn Iterator<Item = char>| {
        quote
            .chars()
            .all(|q| text.next().is_some_and(|c| q == '.' || q == c))
    };
    let ucs2 = || {
        body.encode_utf16().flat_map(|u| {
            u.to_be_bytes().map(|b| {
                if (0x20..0x7f).contains(&b) {
                    char::from(b)
                } else {
                    '.'
                }
            })
        })
    };
    // The 8-bit concatenation UDH is 6 octets: "05 00 03 ref total 1".
    let after_udh = quoted.char_indices().nth(6).map(|(i, _)| &quoted[i..]);
    same(quoted, &mut body.chars())
        || same(quoted, &mut ucs2())
        || after_udh.is_some_and(|rest| {
            !rest.is_empty() && (same(rest, &mut body.chars()) || same(rest, &mut ucs2()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_quote_the_start_of_the_text() {
        assert!(receipt_quotes("Hello there", "Hello there, your order"));
        assert!(receipt_quotes("Price 10.00", "Price 10\u{20ac}00 today"));
        assert!(receipt_quotes(".H.i", "Hi"));
        assert!(receipt_quotes("......Part one", &format!("Part one{}", "x".repeat(200))));
        assert!(!receipt_quotes("Hello", "Goodbye"));
        assert!(!receipt_quotes("Hello there", "Hello"));
        assert!(!receipt_quotes("", "Hello"));
        assert!(!receipt_quotes("....", "Hello"));
    }

    #[test]
    fn common_statuses_map_to_the_catalogue() {
        assert_eq!(
            error_code_for_command_status(0x0B),
            ErrorCode::DestinationInvalid
        );
        assert_eq!(
            error_code_for_command_status(0x0A),
            ErrorCode::SourceInvalid
        );
        assert_eq!(error_code_for_command_status(0x01), ErrorCode::BodyTooLarge);
        assert_eq!(
            error_code_for_command_status(0x58),
            ErrorCode::ServiceUnavailable
        );
        assert_eq!(
            error_code_for_command_status(0x0E),
            ErrorCode::ServiceMisconfigured
        );
        assert_eq!(error_code_for_command_status(0x45), ErrorCode::ServiceError);
        assert_eq!(
            error_code_for_command_status(0x401),
            ErrorCode::ServiceError
        );
    }
}
